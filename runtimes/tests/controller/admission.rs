//! Admission: the queue full, the queue timeout, an embedder's own calls.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn queue_full_is_busy_and_queued_time_counts() {
    let c = controller_with(
        ControllerOptions {
            max_in_flight: 1,
            queue_capacity: 1,
            ..ControllerOptions::default()
        },
        None,
    );
    // Warm the engine so the runaway below starts at once.
    ok(&c, ExecuteRequest::new(Language::JavaScript, "() => 0")).await;
    let spin = |ms: u64| {
        ExecuteRequest::new(Language::JavaScript, "() => { for (;;) {} }")
            .config(ExecConfig::default().with_timeout(Duration::from_millis(ms)))
    };
    let running = tokio::spawn({
        let c = c.clone();
        let req = spin(1500);
        async move { c.execute(req).await }
    });
    wait_until("one call in flight", || c.metrics().in_flight == 1).await;
    // The queued call's 300 ms timeout includes its wait: it never runs.
    let queued = tokio::spawn({
        let c = c.clone();
        let req = spin(300);
        async move { c.execute(req).await }
    });
    wait_until("one call queued", || c.metrics().queue_depth == 1).await;
    let (code, msg) = err(&c, ExecuteRequest::new(Language::JavaScript, "() => 1")).await;
    assert_eq!(code, "BUSY", "{msg}");
    let queued = queued.await.unwrap();
    let e = queued.result.as_ref().unwrap_err();
    assert_eq!(e.code().as_str(), "TIMEOUT");
    assert!(e.to_string().contains("queue"), "{e}");
    assert_eq!(
        running.await.unwrap().result.unwrap_err().code().as_str(),
        "TIMEOUT"
    );
    let m = c.metrics();
    assert_eq!((m.in_flight, m.queue_depth), (0, 0));
    assert_eq!(m.failures_by_code.get("BUSY"), Some(&1));
    // Not counting the queue: a queued call waits and then runs.
    let blocker = tokio::spawn({
        let c = c.clone();
        let req = spin(300);
        async move { c.execute(req).await }
    });
    wait_until("one call in flight", || c.metrics().in_flight == 1).await;
    let mut patient = ExecConfig::default().with_timeout(Duration::from_millis(100));
    patient.include_queue_time = false;
    let e = c
        .execute(ExecuteRequest::new(Language::JavaScript, "() => 'ran'").config(patient))
        .await;
    assert!(e.queued >= Duration::from_millis(100), "{:?}", e.queued);
    assert_eq!(e.into_result().unwrap(), json!("ran"));
    blocker.await.unwrap();
}

/// An embedder's own call ([`Controller::admitted`]) takes a slot like an
/// execution does: while it holds the only one, executions and other
/// admitted calls are BUSY.
#[tokio::test(flavor = "multi_thread")]
async fn an_embedders_own_calls_share_the_slots_and_the_queue() {
    let c = controller_with(
        ControllerOptions {
            max_in_flight: 1,
            queue_capacity: 0,
            ..ControllerOptions::default()
        },
        None,
    );
    let (hold, release) = tokio::sync::oneshot::channel::<()>();
    let held = tokio::spawn({
        let c = c.clone();
        async move { c.admitted(None, async { release.await.ok() }).await }
    });
    // Wait until the holder has the slot: then an execution is BUSY, and
    // so is another admitted call.
    for _ in 0..500 {
        if c.metrics().in_flight == 1 {
            break;
        }
        assert!(!held.is_finished(), "the holder ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(c.metrics().in_flight, 1, "the holder never got its slot");
    let busy = c
        .execute(ExecuteRequest::new(Language::JavaScript, "() => 1"))
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(busy.code(), ErrorCode::Busy);
    let e = c.admitted(None, async {}).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Busy);
    hold.send(()).unwrap();
    assert_eq!(held.await.unwrap().unwrap(), Some(()));
    // Free again.
    c.admitted(None, async {}).await.unwrap();
}
