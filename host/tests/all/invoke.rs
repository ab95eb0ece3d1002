//! Any export, not only `run`: WAVE and JSON arguments and results.

use serde_json::json;
use warden_fixtures as fx;
use warden_host::{ErrorCode, Invoked, Policy, Prepared};

use crate::support;

fn typed() -> Prepared {
    support::load(fx::TYPED_EXPORTS)
        .prepare(Policy::deny_all())
        .unwrap()
}

async fn wave(call: &str) -> Invoked {
    typed()
        .invoke(call)
        .await
        .into_result()
        .unwrap_or_else(|e| panic!("{call}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn wave_calls() {
    assert_eq!(wave("add(1, 2)").await.wave, ["3"]);
    assert_eq!(wave("add(1, 2)").await.json, Some(json!(3)));
    assert_eq!(wave("calc#add(-5, 2)").await.wave, ["-3"]);
    assert_eq!(wave("warden:typed/calc@0.1.0#add(1, 1)").await.wave, ["2"]);
    assert_eq!(wave("warden:typed/calc#add(1, 1)").await.wave, ["2"]);
    assert_eq!(
        wave(r#"greet("ann", some(2))"#).await.json,
        Some(json!(["hello, ann", "hello, ann"]))
    );
    // Trailing options may be omitted.
    assert_eq!(
        wave(r#"greet("bo")"#).await.json,
        Some(json!(["hello, bo"]))
    );
    assert_eq!(wave("norm({x: 3.0, y: 4.0})").await.wave, ["5"]);
    assert_eq!(wave("area(square(2.0))").await.json, Some(json!(4.0)));
    assert_eq!(
        wave("describe(green, [true, false])").await.json,
        Some(json!({"ok": "green: 2 flags, 1 set"}))
    );
    let err = wave("describe(red, [])").await;
    assert!(err.wave[0].starts_with("err("), "{:?}", err.wave);
    assert_eq!(wave("version()").await.wave, [r#""1.0""#]);
    assert_eq!(wave("version").await.json, Some(json!("1.0")));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_calls() {
    let p = typed();
    let r = p
        .invoke_json("add", &[json!(40), json!(2)])
        .await
        .into_result()
        .unwrap();
    assert_eq!(r.json, Some(json!(42)));
    let r = p
        .invoke_json("norm", &[json!({"x": 6.0, "y": 8.0})])
        .await
        .into_result()
        .unwrap();
    assert_eq!(r.json, Some(json!(10.0)));
    let r = p
        .invoke_json("area", &[json!({"circle": 1.0})])
        .await
        .into_result()
        .unwrap();
    assert!((r.json.unwrap().as_f64().unwrap() - std::f64::consts::PI).abs() < 1e-9);
    let r = p
        .invoke_json("greet", &[json!("x"), json!(null)])
        .await
        .into_result()
        .unwrap();
    assert_eq!(r.json, Some(json!(["hello, x"])));
    let r = p
        .invoke_json("describe", &[json!("blue"), json!([])])
        .await
        .into_result()
        .unwrap();
    assert!(r.json.unwrap().get("err").is_some());
    // Flags: an object of the set flags, both ways (an array of names is
    // accepted too); an unknown flag names the known ones.
    let r = p
        .invoke_json("toggle-write", &[json!({"read": true, "write": false})])
        .await
        .into_result()
        .unwrap();
    assert_eq!(r.json, Some(json!({"read": true, "write": true})));
    let r = p
        .invoke_json("toggle-write", &[json!(["write", "exec"])])
        .await
        .into_result()
        .unwrap();
    assert_eq!(r.json, Some(json!({"exec": true})));
    let e = p
        .invoke_json("toggle-write", &[json!({"delete": true})])
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
    assert!(e.to_string().contains("read, write, exec"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_invocations_are_typed() {
    let p = typed();
    let e = p.invoke("nope(1)").await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::MissingExport, "{e}");
    assert!(e.to_string().contains("warden:typed/calc@0.1.0#add"), "{e}");
    let e = p.invoke("add(1, \"two\")").await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
    let e = p.invoke("add(1").await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
    let e = p.invoke("add(1)").await.into_result().unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
    let e = p
        .invoke_json("add", &[json!(1)])
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
    let e = p
        .invoke_json("add", &[json!(1), json!(1.5)])
        .await
        .into_result()
        .unwrap_err();
    assert!(e.to_string().contains("argument 2"), "{e}");
    let e = p
        .invoke_json("norm", &[json!({"x": 1.0})])
        .await
        .into_result()
        .unwrap_err();
    assert!(e.to_string().contains("missing field `y`"), "{e}");
    // `run` of a plugin is invocable too.
    let hello = support::load(fx::HELLO)
        .prepare(Policy::deny_all())
        .unwrap();
    let r = hello
        .invoke(r#"run("{\"name\":\"wave\"}")"#)
        .await
        .into_result()
        .unwrap();
    assert!(r.wave[0].contains("hello, wave"), "{:?}", r.wave);
}

#[test]
fn byte_shapes_point_at_the_byte_lists_of_results() {
    let bytes = std::fs::read(fx::TYPED_EXPORTS).unwrap();
    let shapes = warden_host::byte_shapes_of("typed", &bytes).unwrap();
    assert_eq!(
        shapes,
        json!({ "calc#reverse-bytes": { "result": { "ok": "bytes", "err": null } } })
    );
    let ts = warden_host::typescript_of("typed", &bytes).unwrap();
    assert!(
        ts.contains("reverseBytes(data: Uint8Array): { ok: Uint8Array } | { err: string };"),
        "{ts}"
    );
}
