//! WASI command components (`wasi:cli/run`), including adapted preview1 modules.

use warden_fixtures as fx;
use warden_host::{Call, Called, ErrorCode, Limits, Policy};

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

    // argv[0] is the plugin's name, once, then the arguments.
    let name = p.plugin().name().to_string();
    let out = p.run_command(b"argv", &["a".into(), "-b c".into()]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{name} a -b c")
    );
    let out = p.run_command(b"argv", &[]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), name);
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

/// `Prepared::call`: what each kind of call does on each kind of component.
#[tokio::test(flavor = "multi_thread")]
async fn one_call_for_every_kind() {
    let command = support::load(fx::COMMAND)
        .prepare(Policy::deny_all())
        .unwrap();
    let plugin = support::load(fx::HELLO)
        .prepare(Policy::deny_all())
        .unwrap();
    let library = support::load(fx::TYPED_EXPORTS)
        .prepare(Policy::deny_all())
        .unwrap();
    let json = |s: &str| Call::Json(s.to_string());
    let raw = |stdin: &[u8]| Call::Command {
        stdin: stdin.to_vec(),
        args: vec!["x".into()],
    };

    // JSON on a plugin is `run`; on a command it is stdin, and stdout the output.
    let out = plugin.call(&json(r#"{"name":"w"}"#)).await;
    assert!(
        matches!(out.result, Ok(Called::Json(ref s)) if s.contains('w')),
        "{:?}",
        out.result
    );
    let out = command.call(&json(r#""quiet""#)).await;
    assert_eq!(out.result.unwrap(), Called::Json(r#""QUIET""#.into()));
    assert!(
        out.stdout.is_empty(),
        "stdout is the output, not a side channel"
    );
    // A command's non-zero exit under a JSON call is a guest error with its stderr.
    let e = command
        .call(&json(r#""fail""#))
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::GuestError);
    assert!(e.to_string().contains("to stderr"), "{e}");
    let e = command.call(&json("{")).await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);

    // A raw command call gives the exit code and passes stdout through.
    let out = command.call(&raw(b"argv")).await;
    assert_eq!(out.result.unwrap(), Called::Exit(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "command x");
    let e = plugin.call(&raw(b"")).await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);

    // A library needs an invoke; the error lists its exports with signatures.
    let e = library.call(&json("{}")).await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::MissingExport);
    assert!(
        e.to_string().contains("add: func(a: s32, b: s32) -> s32"),
        "{e}"
    );
    match library.call(&Call::Invoke("add(1, 2)".into())).await.result {
        Ok(Called::Invoked(inv)) => assert_eq!(inv.wave, ["3"]),
        other => panic!("{other:?}"),
    }
}
