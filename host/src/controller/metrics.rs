//! Controller metrics: one set of counters, read as a struct
//! ([`MetricsSnapshot`]) or as Prometheus text (prometheus-client).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecLabels {
    runtime: String,
    /// `ok` or the error code.
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuntimeLabel {
    runtime: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: String,
}

fn latency_histogram() -> Histogram {
    // 1 µs … ~67 s, doubling.
    Histogram::new(exponential_buckets(1e-6, 2.0, 27))
}

pub use warden_api::{MetricsSnapshot, RuntimeMetrics};

/// The live metrics.
pub(crate) struct Metrics {
    registry: Registry,
    executions: Family<ExecLabels, Counter>,
    latency: Family<RuntimeLabel, Histogram, fn() -> Histogram>,
    pub(crate) queue_depth: Gauge<i64, AtomicI64>,
    pub(crate) in_flight: Gauge<i64, AtomicI64>,
    jobs_submitted: Counter<u64, AtomicU64>,
    jobs_cancelled: Counter<u64, AtomicU64>,
    snapshot: Mutex<MetricsSnapshot>,
    /// The hot path's handles, resolved once per runtime: the `ok` counter
    /// and the latency histogram (the families would allocate labels per call).
    hot: std::sync::RwLock<std::collections::HashMap<String, (Counter, Histogram)>>,
    cache_hit: Counter,
    cache_miss: Counter,
    instance_hit: Counter,
    instance_miss: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let executions = Family::<ExecLabels, Counter>::default();
        let latency = Family::<RuntimeLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let queue_depth = Gauge::<i64, AtomicI64>::default();
        let in_flight = Gauge::<i64, AtomicI64>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        let jobs_submitted = Counter::<u64, AtomicU64>::default();
        let jobs_cancelled = Counter::<u64, AtomicU64>::default();
        registry.register(
            "executions",
            "Finished executions by runtime and outcome (ok or the error code)",
            executions.clone(),
        );
        registry.register(
            "execution_seconds",
            "Execution wall time by runtime (queueing excluded)",
            latency.clone(),
        );
        registry.register(
            "queue_depth",
            "Calls waiting for a slot",
            queue_depth.clone(),
        );
        registry.register("in_flight", "Calls running", in_flight.clone());
        registry.register(
            "module_cache_lookups",
            "Compiled-code lookups of one-shot executions, by result (hit or miss)",
            cache.clone(),
        );
        let cache_hit = cache
            .get_or_create(&CacheLabels {
                result: "hit".into(),
            })
            .clone();
        let cache_miss = cache
            .get_or_create(&CacheLabels {
                result: "miss".into(),
            })
            .clone();
        let instances = Family::<CacheLabels, Counter>::default();
        registry.register(
            "instance_cache_lookups",
            "Instances of one-shot executions looked up by policy, by result (hit or miss)",
            instances.clone(),
        );
        let instance = |result: &str| {
            instances
                .get_or_create(&CacheLabels {
                    result: result.into(),
                })
                .clone()
        };
        let (instance_hit, instance_miss) = (instance("hit"), instance("miss"));
        registry.register("jobs_submitted", "Jobs submitted", jobs_submitted.clone());
        registry.register("jobs_cancelled", "Jobs cancelled", jobs_cancelled.clone());
        Metrics {
            registry,
            executions,
            latency,
            queue_depth,
            in_flight,
            jobs_submitted,
            jobs_cancelled,
            snapshot: Mutex::new(MetricsSnapshot::default()),
            hot: std::sync::RwLock::default(),
            cache_hit,
            cache_miss,
            instance_hit,
            instance_miss,
        }
    }

    fn snap(&self) -> std::sync::MutexGuard<'_, MetricsSnapshot> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One finished execution; `code` is `None` on success.
    /// The `ok` counter and latency histogram of `runtime`.
    fn hot(&self, runtime: &str) -> (Counter, Histogram) {
        if let Some(h) = self
            .hot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(runtime)
        {
            return h.clone();
        }
        let ok = self
            .executions
            .get_or_create(&ExecLabels {
                runtime: runtime.to_string(),
                outcome: "ok".into(),
            })
            .clone();
        let latency = self
            .latency
            .get_or_create(&RuntimeLabel {
                runtime: runtime.to_string(),
            })
            .clone();
        self.hot
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(runtime.to_string(), (ok.clone(), latency.clone()));
        (ok, latency)
    }

    pub(crate) fn record(&self, runtime: &str, code: Option<&str>, elapsed: Option<Duration>) {
        let (ok, latency) = self.hot(runtime);
        match code {
            None => {
                ok.inc();
            }
            Some(code) => {
                self.executions
                    .get_or_create(&ExecLabels {
                        runtime: runtime.to_string(),
                        outcome: code.to_string(),
                    })
                    .inc();
            }
        }
        if let Some(e) = elapsed {
            latency.observe(e.as_secs_f64());
        }
        let mut s = self.snap();
        s.executions += 1;
        if !s.by_runtime.contains_key(runtime) {
            s.by_runtime
                .insert(runtime.to_string(), RuntimeMetrics::default());
        }
        let Some(r) = s.by_runtime.get_mut(runtime) else {
            return;
        };
        r.executions += 1;
        if let Some(e) = elapsed {
            r.latency_sum_us += e.as_micros() as u64;
            r.latency_mean_us = r.latency_sum_us as f64 / r.executions as f64;
        }
        match code {
            None => {
                r.succeeded += 1;
                s.succeeded += 1;
            }
            Some(code) => {
                r.failed += 1;
                *r.failures_by_code.entry(code.to_string()).or_default() += 1;
                s.failed += 1;
                *s.failures_by_code.entry(code.to_string()).or_default() += 1;
            }
        }
    }

    pub(crate) fn cache_lookup(&self, hit: bool) {
        if hit {
            self.cache_hit.inc();
        } else {
            self.cache_miss.inc();
        }
        let mut s = self.snap();
        if hit {
            s.module_cache_hits += 1;
        } else {
            s.module_cache_misses += 1;
        }
    }

    /// One instance lookup of a one-shot execution (lock-free: the
    /// snapshot reads the counters).
    pub(crate) fn instance_lookup(&self, hit: bool) {
        if hit {
            self.instance_hit.inc();
        } else {
            self.instance_miss.inc();
        }
    }

    pub(crate) fn job_submitted(&self) {
        self.jobs_submitted.inc();
        self.snap().jobs_submitted += 1;
    }

    pub(crate) fn job_cancelled(&self) {
        self.jobs_cancelled.inc();
        self.snap().jobs_cancelled += 1;
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let mut s = self.snap().clone();
        s.queue_depth = self.queue_depth.get();
        s.in_flight = self.in_flight.get();
        s.instance_cache_hits = self.instance_hit.get();
        s.instance_cache_misses = self.instance_miss.get();
        s
    }

    pub(crate) fn prometheus(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
