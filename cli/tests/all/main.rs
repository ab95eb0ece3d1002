//! End-to-end tests of the `warden` binary against the guest fixtures, one
//! test binary with a module per topic.

mod cli;
mod exec_controller;
mod exec_ebpf;
mod exec_js;
mod grants;
mod run;
mod serve;
mod support;
