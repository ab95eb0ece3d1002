//! `hello-http`: a `wasi:http/proxy` component (exports
//! `wasi:http/incoming-handler`), served by `warden serve --route` and by
//! `wasmtime serve` in `make bench-http`.
//!
//! Answers every request with 200, `content-type: text/plain` and the body
//! `hello from wasi:http: METHOD PATH\n`. Imports nothing that needs a grant.

use std::io::Write as _;

use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(HelloHttp);

struct HelloHttp;

impl wasip2::exports::http::incoming_handler::Guest for HelloHttp {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Post => "POST".to_string(),
            Method::Put => "PUT".to_string(),
            Method::Delete => "DELETE".to_string(),
            Method::Other(m) => m,
            other => format!("{other:?}").to_uppercase(),
        };
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        let headers = Fields::new();
        let _ = headers.set("content-type", &[b"text/plain".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body, once");
        ResponseOutparam::set(response_out, Ok(response));
        let mut out = body.write().expect("the body's stream, once");
        let _ = out.write_all(format!("hello from wasi:http: {method} {path}\n").as_bytes());
        let _ = out.flush();
        drop(out);
        let _ = OutgoingBody::finish(body, None);
    }
}
