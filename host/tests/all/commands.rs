//! WASI command components (`wasi:cli/run`), including adapted preview1 modules.

use warden_fixtures as fx;
use warden_host::{ErrorCode, Limits, Policy};

use crate::support;

async fn check_command(path: &str) {
    let p = support::load(path).prepare(Policy::deny_all()).unwrap();
    let out = p.run_command(b"shout please", &[]).await;
    assert_eq!(out.stdout.as_ref(), b"SHOUT PLEASE");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to stderr"));
    assert_eq!(out.result.unwrap(), 0);

    // The guest exits with 3; WASI 0.2's stable `exit` carries only success
    // or failure, so a non-zero code arrives as 1.
    let out = p.run_command(b"this will fail", &[]).await;
    assert_eq!(out.result.unwrap(), 1);
    assert_eq!(out.stdout.as_ref(), b"THIS WILL FAIL");
}

#[tokio::test(flavor = "multi_thread")]
async fn wasip2_command() {
    check_command(fx::COMMAND).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn adapted_preview1_command() {
    check_command(fx::P1_COMMAND).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn command_output_is_capped() {
    let p = support::load(fx::COMMAND)
        .prepare(Policy::deny_all().with_limits(Limits {
            output_bytes: 10,
            ..Limits::default()
        }))
        .unwrap();
    let e = p
        .run_command(b"more than ten bytes of output", &[])
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::OutputTooLarge, "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_on_a_command_is_a_missing_export() {
    let p = support::load(fx::COMMAND)
        .prepare(Policy::deny_all())
        .unwrap();
    assert_eq!(
        p.run("{}").await.into_result().unwrap_err().code(),
        ErrorCode::MissingExport
    );
    let hello = support::load(fx::HELLO)
        .prepare(Policy::deny_all())
        .unwrap();
    let e = hello.run_command(b"", &[]).await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::MissingExport);
}
