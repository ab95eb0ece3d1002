//! Jobs: a one-shot execution in the background, polled, awaited or
//! cancelled by id; finished ones are kept for the job TTL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_api::{Ceiling, ExecuteRequest, JobState};

use super::{Controller, Execution};
use crate::capabilities::host_call::CallFunctions;
use crate::error::{Error, Result};
use crate::lock;

/// A job as polled, with its typed execution; [`JobSnapshot::report`] is
/// its wire form ([`warden_api::JobStatus`]).
#[derive(Debug, Clone)]
pub struct JobSnapshot {
    /// The job id.
    pub id: String,
    /// Its state.
    pub state: JobState,
    /// Time since it was submitted.
    pub age: Duration,
    /// The execution, once finished.
    pub execution: Option<Arc<Execution>>,
}

impl JobSnapshot {
    /// The wire form.
    pub fn report(&self) -> warden_api::JobStatus {
        warden_api::JobStatus {
            id: self.id.clone(),
            state: self.state,
            age_us: self.age.as_micros() as u64,
            execution: self.execution.as_ref().map(|e| e.report()),
        }
    }
}

#[derive(Debug)]
pub(super) struct Job {
    state: JobState,
    submitted: Instant,
    finished: Option<Instant>,
    execution: Option<Arc<Execution>>,
    abort: Option<tokio::task::AbortHandle>,
    changed: tokio::sync::watch::Sender<JobState>,
}

impl Controller {
    fn sweep_jobs(&self, jobs: &mut HashMap<String, Job>) {
        let ttl = self.inner.options.job_ttl;
        jobs.retain(|_, j| j.finished.is_none_or(|f| f.elapsed() < ttl));
    }

    /// Submit a one-shot execution to run in the background: its job id.
    /// `BUSY` at once when the queue is full or too many jobs are kept. Call
    /// it within a Tokio runtime (the job is a Tokio task).
    pub fn submit(&self, request: ExecuteRequest) -> Result<String> {
        let ceiling = self.inner.options.ceiling.clone();
        self.submit_within(request, ceiling)
    }

    /// [`Controller::submit`] under a caller's own ceiling.
    pub fn submit_within(&self, request: ExecuteRequest, ceiling: Ceiling) -> Result<String> {
        if self.inner.admission.is_full() {
            let e = Error::Busy {
                in_flight: self.inner.options.max_in_flight,
                queued: self.inner.options.queue_capacity,
            };
            self.inner
                .metrics
                .record("-", Some(e.code().as_str()), None);
            return Err(e);
        }
        let id = self.new_id("job");
        let (tx, _rx) = tokio::sync::watch::channel(JobState::Queued);
        {
            let mut jobs = lock(&self.inner.jobs);
            if jobs.len() >= self.inner.options.max_jobs {
                self.sweep_jobs(&mut jobs);
            }
            if jobs.len() >= self.inner.options.max_jobs {
                return Err(Error::Busy {
                    in_flight: self.inner.options.max_in_flight,
                    queued: jobs.len(),
                });
            }
            jobs.insert(
                id.clone(),
                Job {
                    state: JobState::Queued,
                    submitted: Instant::now(),
                    finished: None,
                    execution: None,
                    abort: None,
                    changed: tx,
                },
            );
        }
        self.inner.metrics.job_submitted();
        let this = self.clone();
        let job_id = id.clone();
        // The submitter's own host functions go with the job.
        let call_fns = CallFunctions::current().unwrap_or_default();
        let task = tokio::spawn(call_fns.scope(async move {
            let running = {
                let this = this.clone();
                let job_id = job_id.clone();
                move || this.set_job_state(&job_id, JobState::Running)
            };
            let execution = this.execute_with(request, &ceiling, running).await;
            let state = if execution.result.is_ok() {
                JobState::Succeeded
            } else {
                JobState::Failed
            };
            let mut jobs = lock(&this.inner.jobs);
            if let Some(job) = jobs.get_mut(&job_id)
                && !job.state.is_finished()
            {
                job.state = state;
                job.finished = Some(Instant::now());
                job.execution = Some(Arc::new(execution));
                job.abort = None;
                job.changed.send_replace(state);
            }
        }));
        if let Some(job) = lock(&self.inner.jobs).get_mut(&id)
            && !job.state.is_finished()
        {
            job.abort = Some(task.abort_handle());
        }
        Ok(id)
    }

    fn set_job_state(&self, id: &str, state: JobState) {
        if let Some(job) = lock(&self.inner.jobs).get_mut(id)
            && !job.state.is_finished()
        {
            job.state = state;
            job.changed.send_replace(state);
        }
    }

    /// Poll a job.
    pub fn job(&self, id: &str) -> Result<JobSnapshot> {
        let mut jobs = lock(&self.inner.jobs);
        self.sweep_jobs(&mut jobs);
        let job = jobs.get(id).ok_or_else(|| Error::NotFound {
            kind: "job",
            id: id.to_string(),
        })?;
        Ok(JobSnapshot {
            id: id.to_string(),
            state: job.state,
            age: job.submitted.elapsed(),
            execution: job.execution.clone(),
        })
    }

    /// A job's state as it changes (`queued`, `running`, then a finished
    /// state): what a server streams to a client. The channel closes when
    /// the job is swept after its TTL.
    pub fn job_updates(&self, id: &str) -> Result<tokio::sync::watch::Receiver<JobState>> {
        let jobs = lock(&self.inner.jobs);
        let job = jobs.get(id).ok_or_else(|| Error::NotFound {
            kind: "job",
            id: id.to_string(),
        })?;
        Ok(job.changed.subscribe())
    }

    /// Wait until a job finishes; its status.
    pub async fn wait(&self, id: &str) -> Result<JobSnapshot> {
        let mut rx = {
            let jobs = lock(&self.inner.jobs);
            let job = jobs.get(id).ok_or_else(|| Error::NotFound {
                kind: "job",
                id: id.to_string(),
            })?;
            job.changed.subscribe()
        };
        // The sender lives as long as the job; a sweep drops it, and then
        // `job` reports NOT_FOUND.
        let _ = rx.wait_for(|s| s.is_finished()).await;
        self.job(id)
    }

    /// Cancel a job: a queued one never runs, a running one is stopped (its
    /// sandbox is dropped). Cancelling a finished job changes nothing; its
    /// state is returned either way.
    pub fn cancel(&self, id: &str) -> Result<JobState> {
        let mut jobs = lock(&self.inner.jobs);
        let job = jobs.get_mut(id).ok_or_else(|| Error::NotFound {
            kind: "job",
            id: id.to_string(),
        })?;
        if job.state.is_finished() {
            return Ok(job.state);
        }
        if let Some(abort) = job.abort.take() {
            abort.abort();
        }
        job.state = JobState::Cancelled;
        job.finished = Some(Instant::now());
        let started = job.submitted;
        job.execution = Some(Arc::new(Execution::refused(
            Error::Cancelled {
                job: id.to_string(),
            },
            None,
            started,
        )));
        job.changed.send_replace(JobState::Cancelled);
        drop(jobs);
        self.inner.metrics.job_cancelled();
        self.inner.metrics.record("-", Some("CANCELLED"), None);
        Ok(JobState::Cancelled)
    }
}
