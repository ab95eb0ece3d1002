//! The lifecycle: compile → module id, instantiate → instance id, execute
//! an instance, destroy; and the scheduler's decision.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warden_api::{Decision, ExecConfig, Hints, Input, Language, Policy};

use super::caches::{DECISIONS_KEPT, DecisionKey, InstanceEntry, ModuleEntry};
use super::queue::QueueRule;
use super::runtime::{CompileReport, RunOutcome};
use super::schedule::{self, Demands};
use super::{Controller, Execution, ModuleHandle};
use crate::error::{Error, Result};
use crate::lock;
use crate::policy::lower_config;

impl Controller {
    /// The scheduler's decision for `language` under `hints` and `config`,
    /// without running anything (also what `--explain` prints).
    pub fn decide(
        &self,
        language: Language,
        hints: &Hints,
        config: &ExecConfig,
        runtime: Option<&str>,
    ) -> Result<Decision> {
        let policy = lower_config(config, &self.inner.options.ceiling)?;
        self.decide_with(language, hints, config, &policy, runtime)
    }

    /// [`Controller::decide`] with the config's policy already made.
    pub(super) fn decide_with(
        &self,
        language: Language,
        hints: &Hints,
        config: &ExecConfig,
        policy: &Policy,
        runtime: Option<&str>,
    ) -> Result<Decision> {
        let key = DecisionKey {
            language,
            hints: *hints,
            runtime: runtime.map(str::to_string),
            capabilities: config.demanded(),
            fuel: policy.limits.fuel.is_some(),
            timeout: policy.limits.timeout,
        };
        let generation = {
            let cache = lock(&self.inner.decisions);
            if let Some(d) = cache.entries.get(&key) {
                return Ok(d.clone());
            }
            cache.generation
        };
        let demands = Demands {
            capabilities: &key.capabilities,
            fuel: key.fuel,
            timeout: Some(key.timeout),
        };
        let decision = schedule::schedule(language, hints, &demands, &self.candidates(), runtime)?;
        let mut cache = lock(&self.inner.decisions);
        if cache.usable && cache.generation == generation {
            if cache.entries.len() >= DECISIONS_KEPT {
                cache.entries.clear();
            }
            cache.entries.insert(key, decision.clone());
        }
        Ok(decision)
    }

    pub(super) fn check_code(&self, code: &[u8]) -> Result<()> {
        let limit = self.inner.options.max_code_bytes;
        if code.len() > limit {
            return Err(Error::InputTooLarge {
                plugin: "code".into(),
                size: code.len(),
                limit,
            });
        }
        Ok(())
    }

    pub(super) async fn compile_on(
        &self,
        i: usize,
        language: Language,
        code: &[u8],
        decision: Decision,
    ) -> Result<Arc<ModuleEntry>> {
        self.ensure_started(i, false).await?;
        let r = &self.inner.runtimes[i];
        let (module, compile) = r.runtime.compile(language, code).await?;
        Ok(Arc::new(ModuleEntry {
            runtime: i,
            language,
            decision,
            module,
            compile,
            instances: Mutex::new(Vec::new()),
        }))
    }

    /// Compile `code` on the runtime the scheduler picks (or `runtime`):
    /// a module id to instantiate. Compiling does not take a slot.
    pub async fn compile(
        &self,
        language: Language,
        code: &[u8],
        hints: &Hints,
        runtime: Option<&str>,
    ) -> Result<ModuleHandle> {
        self.check_code(code)?;
        let decision = self.decide(language, hints, &ExecConfig::default(), runtime)?;
        let i = self.index(&decision.runtime)?;
        let entry = self.compile_on(i, language, code, decision).await?;
        let id = self.new_id("mod");
        lock(&self.inner.modules).insert(id.clone(), entry.clone());
        Ok(ModuleHandle {
            id,
            decision: entry.decision.clone(),
            compile: entry.compile.clone(),
        })
    }

    /// An instance of module `module` under `config`'s grants and limits
    /// (imports are checked here). Its executions each get a fresh sandbox.
    pub fn instantiate(&self, module: &str, config: &ExecConfig) -> Result<String> {
        let entry = lock(&self.inner.modules)
            .get(module)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                kind: "module",
                id: module.to_string(),
            })?;
        // The capability and fuel rules apply to instances as to execute.
        let r = &self.inner.runtimes[entry.runtime];
        let policy = lower_config(config, &self.inner.options.ceiling)?;
        let demanded = config.demanded();
        if let Some(why) =
            schedule::refusal_for_config(&r.info, &demanded, policy.limits.fuel.is_some())
        {
            return Err(Error::NoRuntime {
                language: entry.language.to_string(),
                reason: format!("runtime `{}` {why}", r.info.name),
            });
        }
        let instance = entry.module.instantiate(&policy)?;
        let id = self.new_id("ins");
        lock(&self.inner.instances).insert(
            id.clone(),
            Arc::new(InstanceEntry {
                module: entry,
                instance,
                queue: QueueRule {
                    timeout: policy.limits.timeout,
                    include: config.include_queue_time,
                },
            }),
        );
        Ok(id)
    }

    /// Run instance `instance` once on `input`.
    pub async fn execute_instance(&self, instance: &str, input: &Input) -> Execution {
        let started = Instant::now();
        let Some(entry) = lock(&self.inner.instances).get(instance).cloned() else {
            let e = Error::NotFound {
                kind: "instance",
                id: instance.to_string(),
            };
            self.inner
                .metrics
                .record("-", Some(e.code().as_str()), None);
            return Execution::refused(e, None, started);
        };
        let decision = entry.module.decision.clone();
        let slot = match self
            .inner
            .admission
            .admit(&self.inner.metrics, entry.queue.admission_deadline())
            .await
        {
            Ok(s) => s,
            Err(e) => {
                self.inner
                    .metrics
                    .record(&decision.runtime, Some(e.code().as_str()), None);
                return Execution::refused(e, Some(decision), started);
            }
        };
        let queued = slot.queued;
        let outcome = entry
            .queue
            .run(&*entry.instance, input, &decision.runtime, queued)
            .await;
        drop(slot);
        self.finish(outcome, decision, None, queued, started)
    }

    /// Destroy an instance; later calls with its id are `NOT_FOUND`.
    pub fn destroy(&self, instance: &str) -> Result<()> {
        lock(&self.inner.instances)
            .remove(instance)
            .map(|_| ())
            .ok_or_else(|| Error::NotFound {
                kind: "instance",
                id: instance.to_string(),
            })
    }

    /// Forget a module (its instances keep working until destroyed).
    pub fn drop_module(&self, module: &str) -> Result<()> {
        lock(&self.inner.modules)
            .remove(module)
            .map(|_| ())
            .ok_or_else(|| Error::NotFound {
                kind: "module",
                id: module.to_string(),
            })
    }

    /// Run `call` (an embedder's own call of a plugin: a server's plugin
    /// run, a session's trigger) in one of this controller's slots, so it
    /// counts against the same `max_in_flight` as every execution: it waits
    /// in the queue (at most `deadline`, then `TIMEOUT`), or is refused
    /// with `BUSY` at once when the queue is full.
    pub async fn admitted<F: Future>(
        &self,
        deadline: Option<std::time::Duration>,
        call: F,
    ) -> Result<F::Output> {
        let _slot = self
            .inner
            .admission
            .admit(&self.inner.metrics, deadline)
            .await?;
        Ok(call.await)
    }

    /// Instances alive.
    pub fn instance_count(&self) -> usize {
        lock(&self.inner.instances).len()
    }

    pub(super) fn finish(
        &self,
        outcome: RunOutcome,
        decision: Decision,
        compile: Option<CompileReport>,
        queued: Duration,
        started: Instant,
    ) -> Execution {
        let execution_time = Duration::from_micros(outcome.receipt.wall_time_us);
        let code = outcome.result.as_ref().err().map(|e| e.code().as_str());
        self.inner
            .metrics
            .record(&decision.runtime, code, Some(execution_time));
        Execution {
            memory_bytes: outcome.receipt.peak_memory_bytes as u64,
            result: outcome.result,
            decision: Some(decision),
            compile,
            queued,
            execution_time,
            total_time: started.elapsed(),
            receipt: outcome.receipt,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
            logs: outcome.logs,
        }
    }
}
