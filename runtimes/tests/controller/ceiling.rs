//! The queue-time rule and the ceiling.

use super::*;

/// Calls that waited in the queue run under the same policy as calls that
/// did not (the queue time is taken from the run, not from the policy), so
/// they share the module's instance: one instantiation for all of them.
#[tokio::test(flavor = "multi_thread")]
async fn queued_repeat_calls_hit_the_instance_cache() {
    let c = controller_with(
        ControllerOptions {
            max_in_flight: 1,
            ..ControllerOptions::default()
        },
        None,
    );
    // ~30 ms of work per call, so the later calls queue behind the first.
    let busy = "(i) => { const t = Date.now(); while (Date.now() - t < 30) {} return i + 1 }";
    let config = ExecConfig::default().with_timeout(Duration::from_secs(10));
    let req = || {
        ExecuteRequest::new(Language::JavaScript, busy)
            .input_json("1")
            .config(config.clone())
    };
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (c, req) = (c.clone(), req());
            async move { c.execute(req).await }
        })
        .collect();
    let done = futures_join(runs).await;
    let mut queued = 0;
    for e in &done {
        assert_eq!(e.result.as_ref().unwrap(), &json!(2));
        if !e.queued.is_zero() {
            queued += 1;
        }
    }
    assert!(queued >= 2, "the calls did not queue: {queued}");
    let m = c.metrics();
    assert_eq!(
        (m.instance_cache_misses, m.instance_cache_hits),
        (1, 3),
        "{m:?}"
    );
}

async fn futures_join<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

/// A request above its ceiling is refused with OVER_CEILING naming the
/// field, whether the ceiling is the controller's or the caller's; never
/// silently lowered.
#[tokio::test(flavor = "multi_thread")]
async fn requests_over_the_ceiling_are_refused_with_the_field() {
    let ceiling = Ceiling {
        max_trust: Some(TrustLevel::Low),
        capabilities: Some([Capability::Log].into()),
        limits: warden_host::LimitOverrides {
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        },
        ..Ceiling::default()
    };
    let c = controller_with(
        ControllerOptions {
            ceiling: ceiling.clone(),
            ..ControllerOptions::default()
        },
        None,
    );
    let js =
        |config: ExecConfig| ExecuteRequest::new(Language::JavaScript, "(i) => i").config(config);
    // Within the ceiling: runs.
    let low = ExecConfig::default().with_trust(TrustLevel::Low);
    assert_eq!(ok(&c, js(low.clone())).await.0, json!(null));
    for (config, field) in [
        (
            ExecConfig::default().with_trust(TrustLevel::Medium),
            "trust",
        ),
        (
            low.clone().with_grants(Grants::none().allow_events("t")),
            "grants.events",
        ),
        (
            low.clone().with_timeout(Duration::from_secs(3)),
            "limits.timeout",
        ),
    ] {
        // `decide` (what --explain shows) refuses it the same way.
        let d = c.decide(Language::JavaScript, &Hints::default(), &config, None);
        assert_eq!(d.unwrap_err().code().as_str(), "OVER_CEILING");
        let e = c.execute(js(config)).await;
        let err = e.result.as_ref().unwrap_err();
        assert_eq!(err.code().as_str(), "OVER_CEILING", "{err}");
        let body = err.body();
        assert_eq!(body.details["field"], field, "{body:?}");
        assert_eq!(err.class().exit_code(), 3);
    }
    // A caller's own ceiling, on a controller that allows everything.
    let open = controller_with(ControllerOptions::default(), None);
    let e = open
        .execute_within(
            js(ExecConfig::default().with_trust(TrustLevel::High)),
            &ceiling,
        )
        .await;
    assert_eq!(e.result.unwrap_err().code().as_str(), "OVER_CEILING");
    assert_eq!(
        ok(
            &open,
            js(ExecConfig::default().with_trust(TrustLevel::High))
        )
        .await
        .0,
        json!(null)
    );
    // The wire form names the field too.
    let e = open
        .execute_within(
            js(ExecConfig::default().with_trust(TrustLevel::High)),
            &ceiling,
        )
        .await;
    let report = serde_json::to_value(e.report()).unwrap();
    assert_eq!(report["error"]["code"], "OVER_CEILING");
    assert_eq!(report["error"]["details"]["field"], "trust");
    assert_eq!(report["error"]["details"]["allowed"], "at most low");
}

/// A runtimes config is data: it reads from JSON (what a server's TOML or
/// the Node binding's options give), refuses unknown fields, and the
/// controller it makes has the runtimes it names.
#[tokio::test(flavor = "multi_thread")]
async fn runtimes_config_is_data() {
    let config: warden_runtimes::RuntimesConfig = serde_json::from_value(json!({
        "python": false,
        "rust": null,
        "ebpf": null,
        "controller": { "max_in_flight": 2, "job_ttl": "1m", "max_code_bytes": "1MiB",
                         "ceiling": { "max_trust": "medium" } }
    }))
    .unwrap();
    assert_eq!(config.controller.job_ttl, Duration::from_secs(60));
    assert_eq!(config.controller.max_code_bytes, 1 << 20);
    let c = warden_runtimes::controller(&host(), config.clone()).unwrap();
    let names: Vec<String> = c
        .runtimes()
        .await
        .into_iter()
        .map(|r| r.info.name)
        .collect();
    assert_eq!(names, ["wasm", "js"]);
    let e = c
        .execute(
            ExecuteRequest::new(Language::JavaScript, "() => 1")
                .config(ExecConfig::default().with_trust(TrustLevel::High)),
        )
        .await;
    assert_eq!(e.result.unwrap_err().code().as_str(), "OVER_CEILING");
    let e = serde_json::from_value::<warden_runtimes::RuntimesConfig>(json!({"pyhton": false}))
        .unwrap_err();
    assert!(e.to_string().contains("unknown field `pyhton`"), "{e}");
    let sidecar: warden_runtimes::RuntimesConfig =
        serde_json::from_value(json!({"ebpf": {"sidecar": "/run/w.sock"}})).unwrap();
    assert_eq!(sidecar.ebpf, Some(EbpfMode::Sidecar("/run/w.sock".into())));
}

/// `execute_until`: a runaway call stops when its caller gives up, is
/// `CANCELLED` naming who, and frees its slot.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_stops_when_its_caller_gives_up() {
    let c = controller();
    let started = Instant::now();
    let runaway = ExecuteRequest::new(Language::JavaScript, "() => { for (;;) {} }")
        .config(ExecConfig::default().with_timeout(Duration::from_secs(30)));
    let cancel = tokio::time::sleep(Duration::from_millis(300));
    let e = c
        .execute_until(runaway, &c.options().ceiling, cancel, "an AbortSignal")
        .await;
    let err = e.into_result().unwrap_err();
    assert_eq!(err.code().as_str(), "CANCELLED");
    assert!(err.to_string().contains("an AbortSignal"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    wait_until("the slot freed", || c.metrics().in_flight == 0).await;

    // Nothing to cancel: the call finishes as usual.
    let quick = ExecuteRequest::new(Language::JavaScript, "(i) => i + 1").input_json("1");
    let e = c
        .execute_until(
            quick,
            &c.options().ceiling,
            std::future::pending(),
            "nobody",
        )
        .await;
    assert_eq!(e.into_result().unwrap(), json!(2));
}
