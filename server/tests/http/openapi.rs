//! The OpenAPI document parses, lists every route, and every route it
//! lists is served.

use crate::support::{self, Options};

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_route_and_the_router_serves_each() {
    let s = support::start(Options::default()).await;
    let (status, doc) = s
        .call(reqwest::Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ExecuteRequest",
        "ExecutionReport",
        "ErrorBody",
        "JobStatus",
        "ServerMessage",
    ] {
        assert!(schemas.contains_key(name), "{name} is a component");
    }
    // Every $ref points at a component that exists.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for route in warden_server::routes::ROUTES {
        let op = &paths[route.path][route.method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is documented",
            route.method,
            route.path
        );
        documented += 1;
        // The router has it: any answer but the fallback's "no such route".
        let path = route.path.replace("{id}", "x").replace("{name}", "x");
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        let (status, body) = s.call(method, &path, Some(&s.admin), None).await;
        let fallback = body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no such route"));
        assert!(
            !fallback && status != 405,
            "{} {}: {status} {body}",
            route.method,
            route.path
        );
    }
    assert_eq!(
        documented,
        paths
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum::<usize>()
    );
}
