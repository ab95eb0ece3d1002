//! Integration tests of warden-host against real guest components (built by
//! the `warden-fixtures` build script). One test binary, several modules, so
//! the host and Wasmtime link once.

mod support;

mod cache;
mod commands;
mod invoke;

mod layers;
mod limits;
mod loading;
mod policy_cases;
mod runs;
