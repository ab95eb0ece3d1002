//! `http-fetch`: an outbound HTTP GET through `wasi:http/outgoing-handler@0.2.12`
//! (bindings generated from warden's own WIT, world `plugin-http`).
//!
//! Input:  `{"url":"http://127.0.0.1:1234/path"}` (http or https, no userinfo)
//! Output: `{"status":200,"body":"<utf8 body, lossy>"}`
//! Errors: `Err("http error: ErrorCode::...")` (the Debug of wasi:http's error-code),
//!         `Err("invalid input: ...")`.

wit_bindgen::generate!({ world: "plugin-http", path: "../../../wit", generate_all });

use serde_json::{Value, json};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingBody, Method, OutgoingRequest, Scheme, http_error_code};
use wasi::io::streams::StreamError;

struct HttpFetch;

/// Splits `scheme://authority/path?query` into its parts.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("invalid input: unsupported url {url:?}"));
    };
    let slash = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(slash);
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    let (scheme, authority, path) = split_url(url)?;
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .map_err(|()| "invalid input: method")?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "invalid input: scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "invalid input: authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "invalid input: path")?;

    let future =
        outgoing_handler::handle(request, None).map_err(|e| format!("http error: {e:?}"))?;
    let response = loop {
        match future.get() {
            Some(result) => break result,
            None => future.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| "http error: response already taken".to_string())?
        .map_err(|e| format!("http error: {e:?}"))?;
    let status = response.status();

    let body = response
        .consume()
        .map_err(|()| "http error: body already consumed")?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| "http error: body stream already taken")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match http_error_code(&e) {
                        Some(code) => format!("http error: {code:?}"),
                        None => format!("http error: {}", e.to_debug_string()),
                    });
                }
            }
        }
    } // the stream must be dropped before the body is finished
    let _trailers = IncomingBody::finish(body);
    Ok((status, bytes))
}

impl Guest for HttpFetch {
    fn run(input: String) -> Result<String, String> {
        let v: Value = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let url = v
            .get("url")
            .and_then(Value::as_str)
            .ok_or("invalid input: missing string field \"url\"")?;
        let (status, body) = fetch(url)?;
        Ok(json!({ "status": status, "body": String::from_utf8_lossy(&body) }).to_string())
    }
}

export!(HttpFetch);
