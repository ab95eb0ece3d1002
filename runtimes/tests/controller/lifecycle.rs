//! The lifecycle: compile, instantiate, execute by id, destroy, and their errors.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_and_its_errors() {
    let c = controller();
    let module = c
        .compile(
            Language::JavaScript,
            b"globalThis.n = (globalThis.n ?? 0) + 1; export function run(i) { return [globalThis.n, i]; }",
            &Hints::default(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(module.decision.runtime, "js");
    let instance = c.instantiate(&module.id, &ExecConfig::default()).unwrap();
    // Each execution is a fresh sandbox: module state does not carry over.
    for i in 0..2 {
        let e = c
            .execute_instance(&instance, &Input::Json(i.to_string()))
            .await;
        assert_eq!(e.into_result().unwrap(), json!([1, i]));
    }
    c.destroy(&instance).unwrap();
    let e = c.execute_instance(&instance, &Input::null()).await;
    let e = e.result.unwrap_err();
    assert_eq!(e.code().as_str(), "NOT_FOUND");
    assert!(e.to_string().contains(&instance), "{e}");
    assert_eq!(
        c.destroy(&instance).unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
    assert_eq!(
        c.instantiate("mod_nope", &ExecConfig::default())
            .unwrap_err()
            .code()
            .as_str(),
        "NOT_FOUND"
    );
    // The config's rules apply to instances too: JS cannot grant HTTP.
    let http = ExecConfig::default().with_grants(Grants::none().allow_http("example.com"));
    let e = c.instantiate(&module.id, &http).unwrap_err();
    assert_eq!(e.code().as_str(), "NO_RUNTIME");
    assert!(e.to_string().contains("http"), "{e}");
    c.drop_module(&module.id).unwrap();
    assert_eq!(
        c.instantiate(&module.id, &ExecConfig::default())
            .unwrap_err()
            .code()
            .as_str(),
        "NOT_FOUND"
    );
    // Ids are opaque and distinct.
    let m2 = c
        .compile(Language::JavaScript, b"() => 2", &Hints::default(), None)
        .await
        .unwrap();
    assert_ne!(m2.id, module.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn capabilities_through_the_controller() {
    let c = controller();
    let kv_code = "async () => { kv.set('k', 'v'); return kv.get('k'); }";
    // Denied by default, named.
    let (code, msg) = err(&c, ExecuteRequest::new(Language::JavaScript, kv_code)).await;
    assert_eq!(code, "CAPABILITY_DENIED");
    assert!(msg.contains("kv"), "{msg}");
    // Granted explicitly, or by a trust level.
    let granted = ExecConfig::default().with_grants(Grants::none().allow(Capability::Kv).unwrap());
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(Language::JavaScript, kv_code).config(granted),
    )
    .await;
    assert_eq!(v, json!("v"));
    let trusted = ExecConfig::default().with_trust(TrustLevel::Medium);
    let e = c
        .execute(ExecuteRequest::new(Language::JavaScript, kv_code).config(trusted))
        .await;
    assert_eq!(e.receipt.host_calls.kv, 2);
    assert_eq!(e.into_result().unwrap(), json!("v"));
    // Limits from the config: a runaway stops at the timeout.
    let (code, _) = err(
        &c,
        ExecuteRequest::new(Language::JavaScript, "() => { for (;;) {} }")
            .config(ExecConfig::default().with_timeout(Duration::from_millis(200))),
    )
    .await;
    assert_eq!(code, "TIMEOUT");
    // Oversized code is refused before anything runs.
    let small = controller_with(
        ControllerOptions {
            max_code_bytes: 16,
            ..ControllerOptions::default()
        },
        None,
    );
    let (code, _) = err(
        &small,
        ExecuteRequest::new(
            Language::JavaScript,
            "() => 'this is longer than sixteen bytes'",
        ),
    )
    .await;
    assert_eq!(code, "INPUT_TOO_LARGE");
}
