//! `wasi:http` routes: a `wasi:http/proxy` component answers under its
//! prefix, a fresh instance per request; other paths are the API's.

use serde_json::json;
use warden_fixtures as fx;

use crate::support::{self, Options};

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_http_component_serves_its_prefix() {
    let s = support::start(Options {
        http_routes: vec![("/hello".into(), fx::HELLO_HTTP.into())],
        ..Options::default()
    })
    .await;
    for (path, want) in [
        ("/hello", "hello from wasi:http: GET /hello\n"),
        (
            "/hello/a/b?x=1",
            "hello from wasi:http: GET /hello/a/b?x=1\n",
        ),
    ] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "text/plain");
        assert_eq!(resp.text().await.unwrap(), want);
    }
    let resp = s
        .client
        .post(s.url("/hello/x"))
        .body("ignored")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.text().await.unwrap(),
        "hello from wasi:http: POST /hello/x\n"
    );
    // Concurrent requests each get their own instance.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (client, url) = (s.client.clone(), s.url(&format!("/hello/{i}")));
        calls.spawn(async move { client.get(url).send().await.unwrap().text().await.unwrap() });
    }
    let mut n = 0;
    while let Some(body) = calls.join_next().await {
        assert!(
            body.unwrap()
                .starts_with("hello from wasi:http: GET /hello/")
        );
        n += 1;
    }
    assert_eq!(n, 32);
    // The API is still there, with its token.
    let (status, r) = s.js("() => 1").await;
    assert_eq!((status, &r["output"]), (200, &json!(1)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_to_a_component_that_is_not_a_proxy_is_refused_at_start() {
    let mut config = warden_server::ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        no_auth: true,
        warm_up: false,
        ..Default::default()
    };
    config.http_routes = vec![("/x".into(), fx::HELLO.into())];
    config.runtimes.python = false;
    config.runtimes.rust = None;
    config.runtimes.ebpf = None;
    let e = warden_server::Server::bind(config.clone())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("wasi:http/incoming-handler"), "{e}");
    // Without authentication, only on loopback.
    config.http_routes.clear();
    config.listen = ([0, 0, 0, 0], 0).into();
    let e = warden_server::Server::bind(config).await.unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
    assert!(warden_server::proxy::parse_route("hello=x.wasm").is_err());
    assert_eq!(
        warden_server::proxy::parse_route("/=x.wasm").unwrap().0,
        "/"
    );
}
