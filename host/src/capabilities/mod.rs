//! One module per capability: the WIT interface's host functions with the
//! policy check first, plus the glue for WASI capabilities (HTTP hooks,
//! socket checks). Denials are returned to the guest as the WIT error value
//! `denied(..)`; only limit abuse (host-call floods, output floods) traps.

pub mod events;
pub mod host_call;
pub mod http;
pub mod kv;
pub mod log;
pub mod sockets;

impl crate::bindings::warden::plugin::types::Host for crate::state::CallState {}
