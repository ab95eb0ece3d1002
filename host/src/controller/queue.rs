//! The one rule for time spent queued ([`QueueRule`]), for every path that
//! runs an instance.

use std::time::Duration;

use warden_api::Input;

use super::runtime::{ModuleInstance, RunOutcome};
use crate::error::Error;

/// How time spent queued counts, written once for every path: with
/// `include`, waiting for a slot uses up the timeout (admission gives up at
/// the deadline) and the run gets what is left. The policy's own timeout is
/// never shortened, so the instance a policy keys stays the same however
/// long a call queued.
#[derive(Debug, Clone, Copy)]
pub(super) struct QueueRule {
    pub(super) timeout: Duration,
    pub(super) include: bool,
}

impl QueueRule {
    /// How long admission may wait for a slot (`None`: as long as it takes).
    pub(super) fn admission_deadline(self) -> Option<Duration> {
        self.include.then_some(self.timeout)
    }

    /// Run `instance` once on `input`, after `queued` in the queue.
    pub(super) async fn run(
        self,
        instance: &dyn ModuleInstance,
        input: &Input,
        runtime: &str,
        queued: Duration,
    ) -> RunOutcome {
        let run = instance.execute(input);
        if !self.include || queued.is_zero() {
            return run.await;
        }
        // The instance's own deadline starts counting with the call; cap the
        // whole call at what is left of the timeout.
        let left = self.timeout.saturating_sub(queued);
        match tokio::time::timeout(left, run).await {
            Ok(o) => o,
            Err(_) => RunOutcome::failed(
                runtime,
                "execute",
                Error::Timeout {
                    plugin: runtime.to_string(),
                    limit: self.timeout,
                },
            ),
        }
    }
}
