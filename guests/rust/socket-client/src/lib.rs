//! `socket-client`: a TCP client through Rust std (`std::net`, backed by wasi:sockets).
//!
//! Input:  `{"addr":"127.0.0.1:1234","send":"ping"}` (`send` default "")
//! Output: `{"received":"..."}` — connects, writes `send`, shuts down the write half,
//!         reads until EOF (lossy UTF-8).
//! Errors: `Err("socket error: <Display> (kind: <io::ErrorKind Debug>)")`, `Err("invalid input: ...")`.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

struct SocketClient;

fn sock_err(e: std::io::Error) -> String {
    format!("socket error: {e} (kind: {:?})", e.kind())
}

impl Guest for SocketClient {
    fn run(input: String) -> Result<String, String> {
        let v: Value = serde_json::from_str(&input).map_err(|e| format!("invalid input: {e}"))?;
        let addr = v
            .get("addr")
            .and_then(Value::as_str)
            .ok_or("invalid input: missing string field \"addr\"")?;
        let send = v.get("send").and_then(Value::as_str).unwrap_or("");
        let mut stream = TcpStream::connect(addr).map_err(sock_err)?;
        stream.write_all(send.as_bytes()).map_err(sock_err)?;
        stream.shutdown(Shutdown::Write).map_err(sock_err)?;
        let mut received = Vec::new();
        stream.read_to_end(&mut received).map_err(sock_err)?;
        Ok(json!({ "received": String::from_utf8_lossy(&received) }).to_string())
    }
}

export!(SocketClient);
