//! Metrics.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn metric_counts() {
    let c = controller_with(ControllerOptions::default(), None);
    let code = "(i) => i + 1";
    for i in 0..2 {
        ok(
            &c,
            ExecuteRequest::new(Language::JavaScript, code).input_json(i.to_string()),
        )
        .await;
    }
    err(
        &c,
        ExecuteRequest::new(Language::JavaScript, "() => { throw new Error('x') }"),
    )
    .await;
    err(
        &c,
        ExecuteRequest::new(Language::Python, "def run(i): return i").hints(hints(Latency::Low)),
    )
    .await;
    let m = c.metrics();
    assert_eq!((m.executions, m.succeeded, m.failed), (4, 2, 2));
    assert_eq!(m.failures_by_code.get("GUEST_ERROR"), Some(&1));
    assert_eq!(m.failures_by_code.get("NO_RUNTIME"), Some(&1));
    let js = &m.by_runtime["js"];
    assert_eq!((js.executions, js.succeeded, js.failed), (3, 2, 1));
    assert!(js.latency_mean_us > 0.0);
    // Two compiles (two sources), one hit (the repeat).
    assert_eq!((m.module_cache_misses, m.module_cache_hits), (2, 1));
    assert!((m.module_cache_hit_rate() - 1.0 / 3.0).abs() < 1e-9);
    let text = c.prometheus();
    assert!(
        text.contains(r#"warden_executions_total{runtime="js",outcome="ok"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"warden_executions_total{runtime="js",outcome="GUEST_ERROR"} 1"#));
    assert!(
        text.contains("warden_execution_seconds_count{runtime=\"js\"} 3"),
        "{text}"
    );
    assert!(text.contains("warden_queue_depth 0"));
    assert!(text.contains(r#"warden_module_cache_lookups_total{result="hit"} 1"#));
}
