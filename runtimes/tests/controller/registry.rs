//! The registry: start, stop, list.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn registry_start_stop_health() {
    let c = controller_with(
        ControllerOptions::default(),
        Some(EbpfMode::Sidecar("/nonexistent/warden.sock".into())),
    );
    let names: Vec<String> = c
        .runtimes()
        .await
        .into_iter()
        .map(|r| r.info.name)
        .collect();
    assert_eq!(names, ["wasm", "rust", "js", "python", "ebpf"]);
    // Start everything: the missing sidecar fails alone, with the reason.
    let results = c.start().await;
    for (name, r) in &results {
        match name.as_str() {
            "ebpf" => {
                let e = r.as_ref().unwrap_err();
                assert_eq!(e.code().as_str(), "UNAVAILABLE");
                assert!(e.to_string().contains("warden-ebpf-sidecar"), "{e}");
            }
            _ => assert!(r.is_ok(), "{name}: {r:?}"),
        }
    }
    let listed = c.runtimes().await;
    let state = |n: &str| listed.iter().find(|r| r.info.name == n).unwrap().clone();
    assert_eq!(state("js").state.as_str(), "running");
    assert!(state("js").health.is_usable());
    assert_eq!(state("ebpf").state.as_str(), "failed");
    assert!(!state("ebpf").health.is_usable());
    // C now has no runtime, and says why.
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(Language::C, "int f(void *d, int n) { return 0; }"),
    )
    .await;
    assert_eq!(code, "NO_RUNTIME");
    assert!(msg.contains("ebpf: unavailable"), "{msg}");

    // A stopped runtime is refused until started again (also right after
    // a call that was scheduled on it: decisions are not kept across a
    // change of state).
    ok(&c, ExecuteRequest::new(Language::JavaScript, "() => 1")).await;
    c.stop_runtime("js").await.unwrap();
    let (code, msg) = err(&c, ExecuteRequest::new(Language::JavaScript, "() => 1")).await;
    assert_eq!(code, "NO_RUNTIME");
    assert!(msg.contains("stopped"), "{msg}");
    c.start_runtime("js").await.unwrap();
    ok(&c, ExecuteRequest::new(Language::JavaScript, "() => 1")).await;
    assert_eq!(
        c.start_runtime("cobol").await.unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
}

/// A repeated one-shot request reuses its plan (policy and decision) and its
/// module, but never across a change: another config, other code of the same
/// length, or a runtime stopped and started again in between.
#[tokio::test(flavor = "multi_thread")]
async fn repeats_follow_config_code_and_runtime_state() {
    // No eBPF runtime: every registered runtime is usable, so plans are kept.
    let c = controller_with(ControllerOptions::default(), None);
    let js = |code: &str| ExecuteRequest::new(Language::JavaScript, code).input_json(r#"{"n": 1}"#);
    let fueled = |code: &str| js(code).config(ExecConfig::default().with_fuel(1_000_000));
    for _ in 0..3 {
        assert_eq!(ok(&c, js("(i) => i.n + 1")).await, (json!(2), "js".into()));
        // The js engine here meters no fuel: the same code with a fuel
        // budget is refused, every time.
        let (code, msg) = err(&c, fueled("(i) => i.n + 1")).await;
        assert_eq!(code, "NO_RUNTIME");
        assert!(msg.contains("fuel"), "{msg}");
        assert_eq!(ok(&c, js("(i) => i.n + 2")).await.0, json!(3));
        assert_eq!(ok(&c, js("(i) => i.n * 7")).await.0, json!(7));
    }
    c.stop_runtime("js").await.unwrap();
    let (code, msg) = err(&c, js("(i) => i.n + 1")).await;
    assert_eq!(code, "NO_RUNTIME");
    assert!(msg.contains("stopped"), "{msg}");
    c.start_runtime("js").await.unwrap();
    assert_eq!(ok(&c, js("(i) => i.n + 1")).await.0, json!(2));
    let m = c.metrics();
    assert_eq!(m.module_cache_hits + m.module_cache_misses, 10);
    assert_eq!(m.module_cache_misses, 3, "{m:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_runtime_override() {
    let c = controller();
    let e = c
        .execute(ExecuteRequest::new(Language::JavaScript, "() => 7").runtime("js"))
        .await;
    assert!(e.decision.as_ref().unwrap().overridden);
    assert_eq!(e.into_result().unwrap(), json!(7));
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(Language::JavaScript, "() => 7").runtime("python"),
    )
    .await;
    assert_eq!(code, "NO_RUNTIME");
    assert!(msg.contains("does not run js"), "{msg}");
}
