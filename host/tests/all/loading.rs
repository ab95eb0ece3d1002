//! Every bad input gets a clear, typed error, and the host keeps serving.

use warden_fixtures as fx;
use warden_host::{ErrorCode, PluginKind, Policy, SourceKind};

use crate::support;

fn load_err(bytes: &[u8]) -> warden_host::Error {
    support::host()
        .load_bytes("bad", bytes)
        .expect_err("must not load")
}

#[test]
fn bytes_that_are_not_wasm() {
    let e = load_err(b"\x7fELF\x02\x01\x01\0 not wasm at all");
    assert_eq!(e.code(), ErrorCode::NotWasm);
    assert!(e.to_string().contains("7f 45 4c 46"), "{e}");
    assert_eq!(load_err(b"").code(), ErrorCode::NotWasm);
    assert_eq!(load_err(b"hello world").code(), ErrorCode::NotWasm);
}

#[test]
fn invalid_wat_names_the_position() {
    let e = load_err(b"(component\n  (oops))");
    assert_eq!(e.code(), ErrorCode::NotWasm);
    assert!(e.to_string().contains("invalid WAT"), "{e}");
    assert!(e.to_string().contains(":2:"), "line number expected: {e}");
}

#[test]
fn core_module_without_wasi_is_not_a_component() {
    let e = load_err(br#"(module (func (export "f")))"#);
    assert_eq!(e.code(), ErrorCode::NotAComponent);
    assert!(e.to_string().contains("wasm32-wasip2"), "{e}");
}

#[test]
fn broken_component_is_a_compile_error() {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend_from_slice(&[0xff; 32]);
    let e = load_err(&bytes);
    assert_eq!(e.code(), ErrorCode::Compile, "{e}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = support::host()
        .load_file("/nonexistent/plugin.wasm")
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Io);
    assert!(e.to_string().contains("/nonexistent/plugin.wasm"), "{e}");
}

#[test]
fn kinds_and_sources_are_detected() {
    assert_eq!(support::load(fx::HELLO).kind(), PluginKind::Plugin);
    assert_eq!(support::load(fx::COMMAND).kind(), PluginKind::Command);
    assert_eq!(support::load(fx::TYPED_EXPORTS).kind(), PluginKind::Library);
    let p1 = support::load(fx::P1_COMMAND);
    assert_eq!(p1.kind(), PluginKind::Command);
    assert_eq!(p1.source_kind(), SourceKind::Preview1Command);
    assert_eq!(
        support::load(fx::HELLO).source_kind(),
        SourceKind::Component
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_export_lists_what_exists() {
    let out = support::load(fx::TYPED_EXPORTS)
        .prepare(Policy::deny_all())
        .unwrap()
        .run("{}")
        .await;
    let e = out.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::MissingExport);
    let msg = e.to_string();
    assert!(msg.contains("run"), "{msg}");
    assert!(
        msg.contains("warden:typed/calc@0.1.0#add: func(a: s32, b: s32) -> s32"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_input() {
    let e = support::load(fx::HELLO)
        .run(Policy::deny_all(), "{not json")
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    assert!(e.to_string().contains("input is not JSON"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_error_is_its_own_code() {
    // hello refuses a name that is not a string with its own error value.
    let e = support::load(fx::HOST_CALLBACK)
        .prepare(
            Policy::deny_all().with_grants(warden_host::Grants::none().allow_host_fns(["add"])),
        )
        .unwrap()
        .run(r#"{"name":"add","args":{"a":"x"}}"#)
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::GuestError);
    assert!(e.to_string().contains("a must be an integer"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_granted_directory_is_reported() {
    let e = support::load(fx::FILE_READER)
        .prepare(
            Policy::deny_all().with_grants(warden_host::Grants::none().allow_dir(
                "/nonexistent/dir",
                ".",
                false,
            )),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Io);
    assert!(e.to_string().contains("/nonexistent/dir"), "{e}");
}
