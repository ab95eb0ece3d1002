//! Jobs as the server keeps them: who owns each, and its event log
//! (`queued`, `started`, `log`, `event`, then `done` or `error`), numbered
//! from 1 so a reconnecting client resumes after its `Last-Event-ID`
//! without losing or repeating an event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden_api::{ExecuteRequest, JobState};
use warden_host::{CallFunctions, Controller};

use crate::error::ApiError;

/// One event of a job's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    /// Its id, from 1.
    pub id: u64,
    /// `queued`, `started`, `log`, `event`, `done` or `error`.
    pub name: &'static str,
    /// Its JSON data.
    pub data: Value,
}

impl JobEvent {
    /// Whether it ends the stream.
    pub fn is_last(&self) -> bool {
        matches!(self.name, "done" | "error")
    }
}

/// A job's events so far; followers wait for more on `count`.
#[derive(Debug)]
pub struct JobStream {
    events: Mutex<Vec<JobEvent>>,
    count: tokio::sync::watch::Sender<u64>,
    finished: Mutex<Option<Instant>>,
}

impl JobStream {
    fn new() -> Arc<Self> {
        Arc::new(JobStream {
            events: Mutex::default(),
            count: tokio::sync::watch::channel(0).0,
            finished: Mutex::default(),
        })
    }

    fn push(&self, name: &'static str, data: Value) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        self.push_to(&mut events, name, data);
    }

    fn push_to(&self, events: &mut Vec<JobEvent>, name: &'static str, data: Value) {
        if events.last().is_some_and(JobEvent::is_last) {
            return; // nothing after the end
        }
        let id = events.len() as u64 + 1;
        events.push(JobEvent { id, name, data });
        if name == "done" || name == "error" {
            *self.finished.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        self.count.send_replace(id);
    }

    /// `started`, once: when the controller says the job runs, or when the
    /// job logs or emits first (whichever comes first).
    fn mark_started(&self, events: &mut Vec<JobEvent>, id: &str) {
        if !events.iter().any(|e| e.name == "started") {
            self.push_to(events, "started", json!({ "id": id }));
        }
    }

    fn push_started_then(&self, id: &str, name: &'static str, data: Value) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        self.mark_started(&mut events, id);
        self.push_to(&mut events, name, data);
    }

    /// The events after `after` (0: all).
    pub fn since(&self, after: u64) -> Vec<JobEvent> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.iter().skip(after as usize).cloned().collect()
    }

    /// Wait until there are events after `after`.
    pub async fn wait_past(&self, after: u64) {
        let mut rx = self.count.subscribe();
        let _ = rx.wait_for(|n| *n > after).await;
    }

    fn finished_for(&self) -> Option<Duration> {
        self.finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    /// Whether the job ended.
    pub fn is_finished(&self) -> bool {
        self.finished_for().is_some()
    }
}

#[derive(Debug)]
struct Entry {
    owner: String,
    stream: Arc<JobStream>,
}

/// Every job the server submitted, by id.
#[derive(Debug)]
pub struct JobBook {
    jobs: Mutex<HashMap<String, Entry>>,
    ttl: Duration,
}

impl JobBook {
    /// Keep finished jobs' streams for `ttl` (the controller's job TTL).
    pub fn new(ttl: Duration) -> Self {
        JobBook {
            jobs: Mutex::default(),
            ttl,
        }
    }

    /// Submit `request` for `owner` under `ceiling`: the job id. Its logs
    /// and events go to its stream alone.
    pub fn submit(
        &self,
        controller: &Controller,
        owner: &str,
        request: ExecuteRequest,
        ceiling: warden_api::Ceiling,
    ) -> Result<String, ApiError> {
        let stream = JobStream::new();
        // The job's id, known once submitted (its events wait for it: see
        // the lock below).
        let job_id: Arc<std::sync::OnceLock<String>> = Arc::default();
        let (logs, events) = (stream.clone(), stream.clone());
        let (log_id, event_id) = (job_id.clone(), job_id.clone());
        let scope = CallFunctions::new()
            .log_sink(move |_plugin: &str, level: &str, message: &str| {
                let id = log_id.get().map(String::as_str).unwrap_or("");
                logs.push_started_then(id, "log", json!({ "level": level, "message": message }));
            })
            .event_sink(move |e: warden_host::Event| {
                let id = event_id.get().map(String::as_str).unwrap_or("");
                let data = json!({ "topic": e.topic, "payload": e.payload });
                events.push_started_then(id, "event", data);
            });
        // `queued` comes first: the job's own events wait for this lock.
        let id = {
            let mut events = stream.events.lock().unwrap_or_else(|p| p.into_inner());
            let id = scope.sync_scope(|| controller.submit_within(request, ceiling))?;
            let _ = job_id.set(id.clone());
            stream.push_to(&mut events, "queued", json!({ "id": id }));
            id
        };
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            let ttl = self.ttl;
            jobs.retain(|_, e| e.stream.finished_for().is_none_or(|d| d < ttl));
            jobs.insert(
                id.clone(),
                Entry {
                    owner: owner.to_string(),
                    stream: stream.clone(),
                },
            );
        }
        let updates = controller.job_updates(&id)?;
        tokio::spawn(follow(controller.clone(), id.clone(), updates, stream));
        Ok(id)
    }

    /// The stream of job `id`, if `owner` owns it (another's is "not found").
    pub fn stream(&self, owner: &str, id: &str) -> Result<Arc<JobStream>, ApiError> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        match jobs.get(id) {
            Some(e) if e.owner == owner => Ok(e.stream.clone()),
            _ => Err(ApiError::not_found("job", id)),
        }
    }

    /// How many jobs have not finished.
    pub fn running(&self) -> usize {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.values().filter(|e| !e.stream.is_finished()).count()
    }
}

/// Turn the controller's state changes into `started` and the last event.
async fn follow(
    controller: Controller,
    id: String,
    mut updates: tokio::sync::watch::Receiver<JobState>,
    stream: Arc<JobStream>,
) {
    let mut started = false;
    loop {
        let state = *updates.borrow_and_update();
        if state == JobState::Running && !started {
            started = true;
            let mut events = stream.events.lock().unwrap_or_else(|p| p.into_inner());
            stream.mark_started(&mut events, &id);
        }
        if state.is_finished() {
            break;
        }
        if updates.changed().await.is_err() {
            break;
        }
    }
    let status = match controller.job(&id) {
        Ok(s) => s.report(),
        Err(e) => {
            stream.push("error", json!({ "id": id, "error": e.body() }));
            return;
        }
    };
    let ran = status
        .execution
        .as_ref()
        .is_some_and(|e| e.ok || e.execution_us > 0);
    if ran {
        let mut events = stream.events.lock().unwrap_or_else(|p| p.into_inner());
        stream.mark_started(&mut events, &id);
    }
    let name = if status.state == JobState::Succeeded {
        "done"
    } else {
        "error"
    };
    stream.push(
        name,
        serde_json::to_value(&status).unwrap_or_else(|_| json!({ "id": id })),
    );
}
