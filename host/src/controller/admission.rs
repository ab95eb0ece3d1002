//! Admission: a global limit on calls running at once, and a bounded queue
//! in front of it. A call that finds the queue full is refused with `BUSY`
//! at once; a queued call may count its wait against its timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::metrics::Metrics;
use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
    max_in_flight: usize,
    queue_capacity: usize,
    waiting: AtomicUsize,
}

/// A running call's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    _permit: OwnedSemaphorePermit,
    metrics: &'a Metrics,
    pub(crate) queued: Duration,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
    }
}

/// Counts a waiting call, also when its future is dropped (cancelled).
struct Waiting<'a> {
    admission: &'a Admission,
    metrics: &'a Metrics,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.admission.waiting.fetch_sub(1, Ordering::AcqRel);
        self.metrics.queue_depth.dec();
    }
}

impl Admission {
    pub(crate) fn new(max_in_flight: usize, queue_capacity: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            queue_capacity,
            waiting: AtomicUsize::new(0),
        }
    }

    fn busy(&self) -> Error {
        Error::Busy {
            in_flight: self.max_in_flight,
            queued: self.waiting.load(Ordering::Acquire),
        }
    }

    /// Whether a new call would be refused right now.
    pub(crate) fn is_full(&self) -> bool {
        self.slots.available_permits() == 0
            && self.waiting.load(Ordering::Acquire) >= self.queue_capacity
    }

    /// Wait for a slot. `deadline`: give up with `TIMEOUT` after this long
    /// in the queue. A free slot is taken without awaiting anything; the
    /// queue's state machine is boxed, so callers' futures stay small.
    pub(crate) async fn admit<'a>(
        &'a self,
        metrics: &'a Metrics,
        deadline: Option<Duration>,
    ) -> Result<Slot<'a>> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            metrics.in_flight.inc();
            return Ok(Slot {
                _permit: permit,
                metrics,
                queued: Duration::ZERO,
            });
        }
        Box::pin(self.queue(metrics, deadline)).await
    }

    /// Wait in the queue for a slot, or refuse with `BUSY` when it is full.
    async fn queue<'a>(
        &'a self,
        metrics: &'a Metrics,
        deadline: Option<Duration>,
    ) -> Result<Slot<'a>> {
        // Reserve a place in the queue, or refuse.
        let mut current = self.waiting.load(Ordering::Acquire);
        loop {
            if current >= self.queue_capacity {
                return Err(self.busy());
            }
            match self.waiting.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        metrics.queue_depth.inc();
        let waiting = Waiting {
            admission: self,
            metrics,
        };
        let started = Instant::now();
        let acquire = self.slots.clone().acquire_owned();
        let permit = match deadline {
            Some(limit) => match tokio::time::timeout(limit, acquire).await {
                Ok(p) => p,
                Err(_) => return Err(Error::QueueTimeout { limit }),
            },
            None => acquire.await,
        }
        .map_err(|_| Error::internal("the admission semaphore was closed"))?;
        drop(waiting);
        metrics.in_flight.inc();
        Ok(Slot {
            _permit: permit,
            metrics,
            queued: started.elapsed(),
        })
    }
}
