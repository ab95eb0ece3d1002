//! Jobs: submit, poll, wait, cancel.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn jobs_submit_poll_cancel_expire() {
    let c = controller_with(
        ControllerOptions {
            job_ttl: Duration::from_millis(300),
            ..ControllerOptions::default()
        },
        None,
    );
    let id = c
        .submit(ExecuteRequest::new(Language::JavaScript, "(i) => i * 3").input_json("14"))
        .unwrap();
    let done = c.wait(&id).await.unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    let exec = done.execution.unwrap();
    assert_eq!(exec.result.as_ref().unwrap(), &json!(42));
    // Cancelling a finished job changes nothing.
    assert_eq!(c.cancel(&id).unwrap(), JobState::Succeeded);

    // A runaway job, cancelled while running: its slot is freed.
    let spin = c
        .submit(
            ExecuteRequest::new(Language::JavaScript, "() => { for (;;) {} }")
                .config(ExecConfig::default().with_timeout(Duration::from_secs(30))),
        )
        .unwrap();
    wait_until("the job running", || {
        c.job(&spin).unwrap().state == JobState::Running && c.metrics().in_flight == 1
    })
    .await;
    assert_eq!(c.cancel(&spin).unwrap(), JobState::Cancelled);
    let status = c.job(&spin).unwrap();
    assert_eq!(status.state, JobState::Cancelled);
    let e = status.execution.unwrap();
    assert_eq!(e.result.as_ref().unwrap_err().code().as_str(), "CANCELLED");
    wait_until("the slot freed", || c.metrics().in_flight == 0).await;
    assert_eq!(c.metrics().jobs_cancelled, 1);

    // Results expire after the TTL.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.job(&id).unwrap_err().code().as_str(), "NOT_FOUND");
    assert_eq!(
        c.job("job_unknown").unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
    assert_eq!(
        c.cancel("job_unknown").unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
}
