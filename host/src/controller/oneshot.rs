//! The one-shot path: `execute(request)` compiles (cached by content hash),
//! instantiates (cached by policy), runs and drops, in one call.

use std::sync::Arc;
use std::time::Instant;

use warden_api::{Ceiling, CompileReport, Decision, ExecuteRequest, lower_unchecked};

use super::caches::{MEMO_HASH_FROM, ModuleEntry, PLANS_KEPT, Plan, Refusal};
use super::queue::QueueRule;
use super::{Controller, Execution};
use crate::error::{Error, Result};
use crate::lock;

impl Controller {
    /// Compile (cached by content hash), instantiate, run and drop: the
    /// output, the runtime and why, the timings, the memory and the receipt.
    pub async fn execute(&self, request: ExecuteRequest) -> Execution {
        self.execute_with(request, &self.inner.options.ceiling, || {})
            .await
    }

    /// [`Controller::execute`] under a caller's own ceiling (a server's
    /// per-token ceiling, a worker's): a request above it is refused with
    /// `OVER_CEILING`.
    pub async fn execute_within(&self, request: ExecuteRequest, ceiling: &Ceiling) -> Execution {
        self.execute_with(request, ceiling, || {}).await
    }

    /// [`Controller::execute_within`], stopped when `cancel` resolves first:
    /// the call's future is dropped, so its guest stops within an epoch tick,
    /// and the execution is `CANCELLED` (by `by`, named in the error).
    pub async fn execute_until(
        &self,
        request: ExecuteRequest,
        ceiling: &Ceiling,
        cancel: impl Future<Output = ()>,
        by: &str,
    ) -> Execution {
        let started = Instant::now();
        tokio::select! {
            // Cancel first: a call cancelled before it began never runs.
            biased;
            () = cancel => {
                let e = Error::Aborted { by: by.to_string() };
                self.inner.metrics.record("-", Some(e.code().as_str()), None);
                Execution::refused(e, None, started)
            }
            execution = self.execute_with(request, ceiling, || {}) => execution,
        }
    }

    pub(super) async fn execute_with(
        &self,
        req: ExecuteRequest,
        ceiling: &Ceiling,
        on_admitted: impl FnOnce(),
    ) -> Execution {
        let started = Instant::now();
        let metrics = &self.inner.metrics;
        let refuse = |e: Error, d: Option<Decision>| {
            metrics.record(
                d.as_ref().map(|d| d.runtime.as_str()).unwrap_or("-"),
                Some(e.code().as_str()),
                None,
            );
            Execution::refused(e, d, started)
        };
        if let Err(e) = self.check_code(&req.code) {
            return refuse(e, None);
        }
        let plan = match self.plan(&req) {
            Ok(p) => p,
            Err(r) => {
                let (e, d) = *r;
                return refuse(e, d);
            }
        };
        if let Err(e) = ceiling.check(req.config.trust, &plan.policy) {
            return refuse(e.into(), Some(plan.decision.clone()));
        }
        let (decision, i) = (plan.decision.clone(), plan.runtime);
        let queue = QueueRule {
            timeout: plan.policy.limits.timeout,
            include: req.config.include_queue_time,
        };
        let slot = match self
            .inner
            .admission
            .admit(metrics, queue.admission_deadline())
            .await
        {
            Ok(s) => s,
            Err(e) => return refuse(e, Some(decision)),
        };
        on_admitted();
        let queued = slot.queued;
        let (entry, compile) = match self.cached_module(i, &req, &decision).await {
            Ok(x) => x,
            Err(e) => return refuse(e, Some(decision)),
        };
        let instance = match entry.instance(&plan.policy) {
            Ok((i, hit)) => {
                metrics.instance_lookup(hit);
                i
            }
            Err(e) => return refuse(e, Some(decision)),
        };
        let outcome = queue
            .run(&*instance, &req.input, &decision.runtime, queued)
            .await;
        drop(instance);
        drop(slot);
        self.finish(outcome, decision, Some(compile), queued, started)
    }

    /// The policy, decision and runtime for a one-shot request: a kept plan,
    /// or decided now (and kept while no runtime state changed meanwhile).
    fn plan(&self, req: &ExecuteRequest) -> std::result::Result<Arc<Plan>, Refusal> {
        let generation = {
            let cache = lock(&self.inner.decisions);
            if let Some(p) = cache.plans.iter().find(|p| p.matches(req)) {
                return Ok(p.clone());
            }
            cache.generation
        };
        let policy = lower_unchecked(&req.config);
        let decision = self
            .decide_with(
                req.language,
                &req.hints,
                &req.config,
                &policy,
                req.runtime.as_deref(),
            )
            .map_err(|e| Box::new((e, None)))?;
        let runtime = match self.index(&decision.runtime) {
            Ok(i) => i,
            Err(e) => return Err(Box::new((e, Some(decision)))),
        };
        let plan = Arc::new(Plan {
            language: req.language,
            hints: req.hints,
            runtime_override: req.runtime.clone(),
            config: req.config.clone(),
            policy,
            decision,
            runtime,
        });
        let mut cache = lock(&self.inner.decisions);
        if cache.usable && cache.generation == generation {
            if cache.plans.len() >= PLANS_KEPT {
                cache.plans.remove(0);
            }
            cache.plans.push(plan.clone());
        }
        Ok(plan)
    }

    /// The code cache key of a one-shot request: BLAKE3 over (runtime,
    /// language, then the code itself when small, else its remembered
    /// digest), with a tag byte keeping the two forms apart. Not async, so
    /// the hasher's state stays out of `execute`'s future.
    fn code_key(&self, i: usize, req: &ExecuteRequest) -> [u8; 32] {
        let address = Arc::as_ptr(&req.code) as *const u8 as usize;
        // Small sources hash faster than a lookup.
        let memo = req.code.len() >= MEMO_HASH_FROM;
        let known = if memo {
            lock(&self.inner.code_cache)
                .by_buffer
                .get(&address)
                .filter(|(buf, _)| Arc::ptr_eq(buf, &req.code))
                .map(|(_, hash)| *hash)
        } else {
            None
        };
        let mut h = blake3::Hasher::new();
        h.update(self.inner.runtimes[i].info.name.as_bytes());
        h.update(&[0, req.language as u8, 0]);
        match known {
            Some(digest) => {
                h.update(&[2]).update(&digest);
            }
            None if !memo => {
                h.update(&[1]).update(&req.code);
            }
            None => {
                let digest: [u8; 32] = blake3::hash(&req.code).into();
                let mut cache = lock(&self.inner.code_cache);
                if cache.by_buffer.len() >= self.inner.options.module_cache_capacity.max(1) {
                    cache.by_buffer.clear();
                }
                cache.by_buffer.insert(address, (req.code.clone(), digest));
                drop(cache);
                h.update(&[2]).update(&digest);
            }
        }
        h.finalize().into()
    }

    /// The compiled module for a one-shot request, from the code cache or
    /// compiled now.
    async fn cached_module(
        &self,
        i: usize,
        req: &ExecuteRequest,
        decision: &Decision,
    ) -> Result<(Arc<ModuleEntry>, CompileReport)> {
        let hit = |entry| {
            self.inner.metrics.cache_lookup(true);
            Ok((entry, CompileReport::hit()))
        };
        let recent = lock(&self.inner.code_cache).recent(i, req);
        if let Some(entry) = recent {
            return hit(entry);
        }
        let key = self.code_key(i, req);
        {
            let mut cache = lock(&self.inner.code_cache);
            cache.tick += 1;
            let tick = cache.tick;
            if let Some((entry, used)) = cache.entries.get_mut(&key) {
                *used = tick;
                let entry = entry.clone();
                cache.remember(i, req, entry.clone());
                drop(cache);
                return hit(entry);
            }
        }
        self.inner.metrics.cache_lookup(false);
        // Boxed: the compile path is cold, and its state would otherwise
        // make every call's future larger.
        let entry = Box::pin(self.compile_on(i, req.language, &req.code, decision.clone())).await?;
        let report = entry.compile.clone();
        let mut cache = lock(&self.inner.code_cache);
        let capacity = self.inner.options.module_cache_capacity.max(1);
        while cache.entries.len() >= capacity {
            let Some(oldest) = cache
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            cache.entries.remove(&oldest);
        }
        cache.tick += 1;
        let tick = cache.tick;
        cache.entries.insert(key, (entry.clone(), tick));
        cache.remember(i, req, entry.clone());
        Ok((entry, report))
    }
}
