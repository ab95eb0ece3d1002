//! A plugin checked against a policy ([`Prepared`]): the store of each call
//! with its limits and capability contexts, the deadline, the classification
//! of traps into typed errors, and the `run` and WASI command calls.

use super::outcome::{Outcome, RunOutput, script_error};
use super::*;

pub(super) struct Warm {
    pub(super) store: Store<CallState>,
    pub(super) instance: crate::bindings::Plugin,
}

/// A plugin checked against a policy. Each call gets a fresh instance unless
/// reuse was turned on. Cheap to clone; calls may run concurrently.
#[derive(Clone)]
pub struct Prepared {
    pub(super) plugin: Plugin,
    pub(super) grants: Arc<Grants>,
    pub(super) limits: Arc<Limits>,
    pub(super) reuse: Option<Arc<Mutex<Vec<Warm>>>>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("plugin", &self.plugin)
            .field("reuse", &self.reuse.is_some())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// The plugin.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Reuse instances of `run` between calls (throughput over isolation):
    /// guest globals and memory persist from one call to the next; limits,
    /// counters, output and the receipt are reset per call. An instance that
    /// failed is discarded.
    pub fn with_reuse(mut self) -> Self {
        self.reuse = Some(Arc::default());
        self
    }

    pub(super) fn new_store(
        &self,
        stdin: Option<Vec<u8>>,
        args: &[String],
    ) -> Result<Store<CallState>> {
        let host = &self.plugin.inner.host.inner;
        let state = CallState::new(
            self.plugin.inner.name.clone(),
            &host.backends,
            &self.grants,
            &self.limits,
            stdin,
            args,
        )?;
        let mut store = Store::new(host.engine.wasmtime(), state);
        store.limiter(|s| &mut s.limiter);
        Ok(store)
    }

    pub(super) fn arm(&self, store: &mut Store<CallState>) -> Result<Option<u64>> {
        let engine = &self.plugin.inner.host.inner.engine;
        // Yield to the executor at every epoch tick and trap when the
        // timeout's ticks are used up. The yields make a long call share its
        // thread with other tasks, and make dropping the call's future (a
        // cancelled job, a caller's own timeout) stop the guest within a
        // tick instead of at its deadline.
        let mut ticks_left = engine.ticks_for(self.limits.timeout);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            ticks_left = ticks_left.saturating_sub(1);
            Ok(if ticks_left == 0 {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::Yield(1)
            })
        });
        if engine.options().fuel {
            let fuel = self.limits.fuel.unwrap_or(u64::MAX);
            store.set_fuel(fuel).map_err(Error::internal)?;
            Ok(Some(fuel))
        } else {
            Ok(None)
        }
    }

    pub(super) fn check_input(&self, input: &[u8]) -> Result<()> {
        if input.len() > self.limits.input_bytes {
            return Err(Error::InputTooLarge {
                plugin: self.plugin.name().to_string(),
                size: input.len(),
                limit: self.limits.input_bytes,
            });
        }
        Ok(())
    }

    /// Run `body` in `store` under the limits, then build the outcome.
    pub(super) async fn execute<R>(
        &self,
        export: &str,
        mut store: Store<CallState>,
        started: Instant,
        body: impl AsyncFnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> (Outcome<R>, Option<Store<CallState>>) {
        let fuel_start = match self.arm(&mut store) {
            Ok(f) => f,
            Err(e) => return (Outcome::failed(self.plugin.name(), export, e), None),
        };
        let timed = tokio::time::timeout(self.limits.timeout, body(&mut store)).await;
        let result = match timed {
            Err(_) => Err(Error::Timeout {
                plugin: self.plugin.name().to_string(),
                limit: self.limits.timeout,
            }),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.classify(e, store.data())),
        };
        let fuel_used = fuel_start.map(|f| f.saturating_sub(store.get_fuel().unwrap_or(0)));
        let outcome = self.finish(export, store.data_mut(), started, fuel_used, result);
        let keep = if outcome.result.is_ok() && self.reuse.is_some() {
            Some(store)
        } else {
            self.plugin.inner.host.inner.engine.retire(store);
            None
        };
        (outcome, keep)
    }

    pub(super) fn finish<R>(
        &self,
        export: &str,
        state: &mut CallState,
        started: Instant,
        fuel_used: Option<u64>,
        result: Result<R>,
    ) -> Outcome<R> {
        let (mut receipt, logs) = state.take_record();
        receipt.plugin = self.plugin.name().to_string();
        receipt.export = export.to_string();
        receipt.wall_time_us = started.elapsed().as_micros() as u64;
        receipt.fuel_used = fuel_used;
        Outcome {
            result,
            receipt,
            stdout: state.stdio.stdout.take_contents(),
            stderr: state.stdio.stderr.take_contents(),
            logs,
        }
    }

    /// Turn a Wasmtime error into the typed error, using what the limiter and
    /// the output budget recorded.
    pub(super) fn classify(&self, e: wasmtime::Error, state: &CallState) -> Error {
        let plugin = self.plugin.name().to_string();
        match state.tripped() {
            Some(Tripped::Memory { wanted }) => {
                return Error::MemoryLimit {
                    plugin,
                    limit: self.limits.memory_bytes,
                    wanted,
                };
            }
            Some(Tripped::Table { wanted }) => {
                return Error::TableLimit {
                    plugin,
                    limit: self.limits.table_elements,
                    wanted,
                };
            }
            Some(Tripped::HostCalls) => {
                return Error::HostCallLimit {
                    plugin,
                    limit: self.limits.host_calls,
                };
            }
            Some(Tripped::Output { stream }) => {
                return Error::OutputTooLarge {
                    plugin,
                    limit: self.limits.output_bytes,
                    stream: stream.into(),
                };
            }
            None => {}
        }
        if let Some(stream) = state.stdio.budget.tripped() {
            return Error::OutputTooLarge {
                plugin,
                limit: self.limits.output_bytes,
                stream: stream.into(),
            };
        }
        if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
            match trap {
                wasmtime::Trap::Interrupt => {
                    return Error::Timeout {
                        plugin,
                        limit: self.limits.timeout,
                    };
                }
                wasmtime::Trap::OutOfFuel => {
                    return Error::FuelExhausted {
                        plugin,
                        limit: self.limits.fuel.unwrap_or(u64::MAX),
                    };
                }
                _ => {}
            }
        }
        let backtrace = e
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .map(|b| b.to_string());
        let message = match e.downcast_ref::<wasmtime::Trap>() {
            Some(t) => t.to_string(),
            None => format!("{e:#}"),
        };
        // The pool refused the instance: name the engine option to raise.
        let mut message = crate::engine::with_pool_hint(message);
        // A Rust guest's panic message goes to stderr right before the trap.
        let stderr = state.stdio.stderr.peek_tail(2048);
        if !stderr.is_empty() {
            message.push_str("; guest stderr: ");
            message.push_str(stderr.trim());
        }
        Error::Trap {
            plugin,
            message,
            backtrace,
        }
    }

    /// Call `run(input)`. The input must be JSON (`INVALID_INPUT` otherwise)
    /// and so must the output (`SERIALIZATION`); the guest's `err` is
    /// `GUEST_ERROR`.
    pub async fn run(&self, input: &str) -> Outcome<RunOutput> {
        let started = Instant::now();
        let name = self.plugin.name();
        let Some(pre) = self.plugin.inner.plugin_pre.clone() else {
            return Outcome::failed(
                name,
                "run",
                self.missing("run", "func(input: string) -> result<string, string>"),
            );
        };
        if let Err(e) = self.check_input(input.as_bytes()) {
            return Outcome::failed(name, "run", e);
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
            return Outcome::failed(
                name,
                "run",
                Error::InvalidInput {
                    plugin: name.to_string(),
                    reason: format!("input is not JSON: {e}"),
                },
            );
        }

        let warm = self
            .reuse
            .as_ref()
            .and_then(|r| r.lock().unwrap_or_else(|p| p.into_inner()).pop());
        let (store, instance, reused) = match warm {
            Some(mut w) => {
                w.store.data_mut().reset_for_call(&self.limits);
                (w.store, Some(w.instance), true)
            }
            None => match self.new_store(None, &[]) {
                Ok(s) => (s, None, false),
                Err(e) => return Outcome::failed(name, "run", e),
            },
        };
        let input = input.to_string();
        let (outcome, kept) = self
            .execute("run", store, started, async move |store| {
                let instance = match instance {
                    Some(i) => i,
                    None => {
                        let t = Instant::now();
                        let i = pre.instantiate_async(&mut *store).await?;
                        store.data_mut().instantiate_us = t.elapsed().as_micros() as u64;
                        i
                    }
                };
                let r = instance.call_run(&mut *store, &input).await?;
                Ok((r, instance))
            })
            .await;
        let mut outcome = outcome.map(|(r, instance)| Ok((r, instance)));
        outcome.receipt.reused_instance = reused;
        // Put the instance back (reuse mode) before looking at the guest's answer.
        let outcome = outcome.map(|(r, instance)| {
            if let (Some(pool), Some(store)) = (&self.reuse, kept) {
                pool.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Warm { store, instance });
            }
            Ok(r)
        });
        let limit = self.limits.output_bytes;
        let used = outcome.receipt.output_bytes;
        let mut outcome = outcome.map(|r| match r {
            Ok(output) => {
                if output.len() + used > limit {
                    return Err(Error::OutputTooLarge {
                        plugin: name.to_string(),
                        limit,
                        stream: "result".into(),
                    });
                }
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&output) {
                    return Err(Error::Serialization {
                        plugin: name.to_string(),
                        reason: format!("the guest returned text that is not JSON: {e}"),
                    });
                }
                Ok(RunOutput { output })
            }
            Err(message) if self.plugin.is_script_engine() => Err(script_error(name, &message)),
            Err(message) => Err(Error::GuestError {
                plugin: name.to_string(),
                message,
            }),
        });
        if let Ok(o) = &outcome.result {
            outcome.receipt.output_bytes += o.output.len();
        }
        outcome
    }

    pub(super) fn missing(&self, export: &str, wanted: &str) -> Error {
        let mut available: Vec<String> = self
            .plugin
            .exports()
            .iter()
            .map(|f| format!("{}: {}", f.path(), f.signature))
            .collect();
        if available.is_empty() {
            available.push("(none)".into());
        }
        Error::MissingExport {
            plugin: self.plugin.name().to_string(),
            export: format!("{export}: {wanted}"),
            available,
        }
    }

    /// Run a WASI command (`wasi:cli/run`) with `stdin` and `args`; returns
    /// the exit code. stdout and stderr are in the outcome, under the output cap.
    pub async fn run_command(&self, stdin: &[u8], args: &[String]) -> Outcome<i32> {
        let started = Instant::now();
        let name = self.plugin.name();
        let Some(pre) = self.plugin.inner.command_pre.clone() else {
            return Outcome::failed(
                name,
                "wasi:cli/run",
                self.missing("wasi:cli/run", "a WASI command"),
            );
        };
        if let Err(e) = self.check_input(stdin) {
            return Outcome::failed(name, "wasi:cli/run", e);
        }
        let store = match self.new_store(Some(stdin.to_vec()), args) {
            Ok(s) => s,
            Err(e) => return Outcome::failed(name, "wasi:cli/run", e),
        };
        let (outcome, _) = self
            .execute("wasi:cli/run", store, started, async move |store| {
                let t = Instant::now();
                let cmd = pre.instantiate_async(&mut *store).await?;
                store.data_mut().instantiate_us = t.elapsed().as_micros() as u64;
                match cmd.wasi_cli_run().call_run(&mut *store).await {
                    Ok(Ok(())) => Ok(0),
                    Ok(Err(())) => Ok(1),
                    Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                        Some(exit) => Ok(exit.0),
                        None => Err(e),
                    },
                }
            })
            .await;
        outcome
    }
}
