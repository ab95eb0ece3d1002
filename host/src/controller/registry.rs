//! The registry: runtimes, their lifecycle (start, stop, a failed start
//! retried after a while) and health, as the scheduler sees them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::runtime::{Health, Runtime, RuntimeInfo};
use super::schedule::Candidate;
use super::{Controller, RuntimeStatus};
use crate::error::{Error, Result};
use crate::lock;
use warden_api::RuntimeState;

#[derive(Debug, Clone)]
pub(super) enum RtState {
    Idle,
    Running,
    Stopped,
    Failed { reason: String, at: Instant },
}

#[derive(Debug)]
pub(super) struct Registered {
    pub(super) runtime: Arc<dyn Runtime>,
    pub(super) info: RuntimeInfo,
    pub(super) state: Mutex<RtState>,
    pub(super) starting: tokio::sync::Mutex<()>,
}

impl Controller {
    /// Set runtime `i`'s state and start the decision cache over.
    pub(super) fn set_state(&self, i: usize, state: RtState) {
        *lock(&self.inner.runtimes[i].state) = state;
        let usable = self
            .inner
            .runtimes
            .iter()
            .all(|r| matches!(*lock(&r.state), RtState::Idle | RtState::Running));
        let mut cache = lock(&self.inner.decisions);
        cache.entries.clear();
        cache.plans.clear();
        cache.usable = usable;
        cache.generation += 1;
    }

    pub(super) fn index(&self, name: &str) -> Result<usize> {
        self.inner
            .runtimes
            .iter()
            .position(|r| r.info.name == name)
            .ok_or_else(|| Error::NotFound {
                kind: "runtime",
                id: name.to_string(),
            })
    }

    /// Start (pre-warm) every runtime that is not running. Returns each
    /// runtime's result; a failure leaves that runtime `failed` (listed with
    /// its reason) and the others usable.
    pub async fn start(&self) -> Vec<(String, Result<()>)> {
        let mut out = Vec::new();
        for i in 0..self.inner.runtimes.len() {
            let name = self.inner.runtimes[i].info.name.clone();
            out.push((name, self.ensure_started(i, true).await));
        }
        out
    }

    /// Stop every runtime.
    pub async fn stop(&self) {
        for (i, r) in self.inner.runtimes.iter().enumerate() {
            r.runtime.stop().await;
            self.set_state(i, RtState::Stopped);
        }
    }

    /// Start one runtime (also one that was stopped or failed).
    pub async fn start_runtime(&self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        self.ensure_started(i, true).await
    }

    /// Stop one runtime: calls scheduled on it are refused (`NO_RUNTIME`,
    /// naming it stopped) until it is started again. Instances already made
    /// keep working.
    pub async fn stop_runtime(&self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        let r = &self.inner.runtimes[i];
        let _guard = r.starting.lock().await;
        r.runtime.stop().await;
        self.set_state(i, RtState::Stopped);
        Ok(())
    }

    /// Every runtime with its state and a fresh health check.
    pub async fn runtimes(&self) -> Vec<RuntimeStatus> {
        let mut out = Vec::new();
        for r in &self.inner.runtimes {
            let state = lock(&r.state).clone();
            let health = match &state {
                RtState::Stopped => Health::Unavailable("stopped".into()),
                RtState::Failed { reason, .. } => {
                    Health::Unavailable(format!("start failed: {reason}"))
                }
                _ => r.runtime.health().await,
            };
            out.push(RuntimeStatus {
                info: r.info.clone(),
                state: match state {
                    RtState::Idle => RuntimeState::Idle,
                    RtState::Running => RuntimeState::Running,
                    RtState::Stopped => RuntimeState::Stopped,
                    RtState::Failed { .. } => RuntimeState::Failed,
                },
                health,
            });
        }
        out
    }

    /// Start runtime `i` unless running. `explicit`: also a stopped or
    /// failed one.
    pub(super) async fn ensure_started(&self, i: usize, explicit: bool) -> Result<()> {
        let r = &self.inner.runtimes[i];
        let retry = self.inner.options.retry_failed_start_after;
        let check = || -> Option<Result<()>> {
            let unavailable = |reason: &str| {
                Some(Err(Error::Unavailable {
                    runtime: r.info.name.clone(),
                    reason: reason.to_string(),
                }))
            };
            match &*lock(&r.state) {
                RtState::Running => Some(Ok(())),
                RtState::Stopped if !explicit => unavailable("stopped"),
                RtState::Failed { reason, at } if !explicit && at.elapsed() < retry => {
                    unavailable(reason)
                }
                _ => None,
            }
        };
        if let Some(done) = check() {
            return done;
        }
        let _guard = r.starting.lock().await;
        // Another call may have started it while this one waited.
        if let Some(done) = check() {
            return done;
        }
        let started = Instant::now();
        match r.runtime.start().await {
            Ok(()) => {
                tracing::info!(runtime = %r.info.name, elapsed = ?started.elapsed(), "runtime started");
                self.set_state(i, RtState::Running);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(runtime = %r.info.name, "runtime failed to start: {e}");
                self.set_state(
                    i,
                    RtState::Failed {
                        reason: e.to_string(),
                        at: Instant::now(),
                    },
                );
                Err(Error::Unavailable {
                    runtime: r.info.name.clone(),
                    reason: e.to_string(),
                })
            }
        }
    }

    pub(super) fn candidates(&self) -> Vec<Candidate<'_>> {
        let retry = self.inner.options.retry_failed_start_after;
        self.inner
            .runtimes
            .iter()
            .map(|r| Candidate {
                info: &r.info,
                health: match &*lock(&r.state) {
                    RtState::Stopped => Health::Unavailable("stopped".into()),
                    RtState::Failed { reason, at } if at.elapsed() < retry => {
                        Health::Unavailable(reason.clone())
                    }
                    _ => Health::Healthy,
                },
            })
            .collect()
    }
}
