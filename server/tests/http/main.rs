//! `warden-server` end to end: a real server bound to `127.0.0.1:0` in
//! this process, called with reqwest and tokio-tungstenite.

mod support;

mod auth;
mod execute;
mod jobs;
mod limits;
mod openapi;
mod plugins;
mod routes;
mod sessions;
