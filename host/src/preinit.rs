//! Pre-initialization (snapshotting) of components with `wasmtime-wizer`,
//! inside warden: the component is instrumented, instantiated with warden's
//! own linker under a deny-all policy, its init function is called, and the
//! resulting memories and globals become the new component's initial state.
//! Script engines use it to start every fresh instance with the runtime (and a
//! baked-in script) already loaded. Snapshots are cached by content hash.

use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::{Component, Instance, Lift, Val, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use crate::error::{Error, Result};
use crate::host::Host;
use crate::limits::Limits;
use crate::policy::Grants;
use crate::state::CallState;

const WIZER_VERSION: &str = "wasmtime-wizer-50";

impl Host {
    /// Snapshot `component` after calling its export `init_func` with `args`.
    /// `check` sees the init function's results and may refuse them (for
    /// example a script that does not compile), in which case no snapshot is
    /// taken. The snapshot is cached (when the host has a cache directory)
    /// under the hash of the component, the function and the arguments.
    pub async fn pre_initialize(
        &self,
        name: &str,
        component: &[u8],
        init_func: &str,
        args: Vec<Val>,
        check: impl FnOnce(&[Val]) -> Result<()>,
    ) -> Result<Vec<u8>> {
        let key = {
            let mut h = blake3::Hasher::new();
            h.update(WIZER_VERSION.as_bytes());
            h.update(component);
            h.update(init_func.as_bytes());
            for a in &args {
                h.update(format!("{a:?}").as_bytes());
            }
            h.finalize().to_hex()[..32].to_string()
        };
        if let Some(bytes) = self.inner.cache_get_raw(&key) {
            return Ok(bytes);
        }

        let compile = |e: wasmtime::Error| Error::Compile {
            plugin: name.to_string(),
            message: format!("pre-initializing: {e:#}"),
        };
        let mut wizer = Wizer::new();
        // Keep the init export: removing it strips the core function the
        // component's `canon lift` still refers to.
        wizer.init_func(init_func).keep_init_func(true);
        let (cx, instrumented) = wizer.instrument_component(component).map_err(compile)?;
        let engine = &self.inner.engine;
        let compiled = Component::new(engine.wasmtime(), &instrumented).map_err(compile)?;
        let limits = Limits {
            timeout: Duration::from_secs(60),
            memory_bytes: engine.options().max_memory_size,
            ..Limits::default()
        };
        let state = CallState::new(
            name.into(),
            &self.inner.backends,
            &Grants::none(),
            &limits,
            None,
            &[],
        )?;
        let mut store = Store::new(engine.wasmtime(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(engine.ticks_for(limits.timeout));
        store.epoch_deadline_trap();
        if engine.options().fuel {
            store.set_fuel(u64::MAX).map_err(Error::internal)?;
        }
        let trap = |e: wasmtime::Error| Error::Trap {
            plugin: name.to_string(),
            message: format!("pre-initializing: {e:#}"),
            backtrace: None,
        };
        let instance = self
            .inner
            .linker
            .instantiate_async(&mut store, &compiled)
            .await
            .map_err(trap)?;
        let func =
            instance
                .get_func(&mut store, init_func)
                .ok_or_else(|| Error::MissingExport {
                    plugin: name.to_string(),
                    export: init_func.to_string(),
                    available: Vec::new(),
                })?;
        let mut results = vec![Val::Bool(false); func.ty(&store).results().len()];
        func.call_async(&mut store, &args, &mut results)
            .await
            .map_err(trap)?;
        check(&results)?;
        // The guest's code is done; what runs now is wizer's own accessors
        // (reads of globals and memory). Lift the deadline and the fuel so a
        // slow initialization cannot make them trap, which wizer's accessor
        // interface could only report by panicking.
        store.epoch_deadline_callback(|_| Ok(wasmtime::UpdateDeadline::Continue(1)));
        if engine.options().fuel {
            store.set_fuel(u64::MAX).map_err(Error::internal)?;
        }
        let snapshot = wizer
            .snapshot_component(
                &cx,
                &mut WizerState {
                    store: &mut store,
                    instance,
                },
            )
            .await
            .map_err(compile)?;
        self.inner.cache_put_raw(&key, &snapshot);
        Ok(snapshot)
    }
}

/// Lets wasmtime-wizer read the instance's state through the accessor
/// functions it added while instrumenting.
struct WizerState<'a> {
    store: &'a mut Store<CallState>,
    instance: Instance,
}

impl WizerState<'_> {
    async fn call<R: Lift + Send + Sync + 'static, R2>(
        &mut self,
        instance: &str,
        func: &str,
        use_ret: impl FnOnce(&mut Store<CallState>, R) -> R2,
    ) -> R2 {
        // The accessors exist by construction (wizer added them); a failure
        // here is a wizer bug, so it panics like wizer's own implementation.
        let (_, inst) = self
            .instance
            .get_export(&mut *self.store, None, instance)
            .expect("wizer accessor instance");
        let (_, f) = self
            .instance
            .get_export(&mut *self.store, Some(&inst), func)
            .expect("wizer accessor function");
        let f = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *self.store, f)
            .expect("wizer accessor type");
        let ret = f
            .call_async(&mut *self.store, ())
            .await
            .expect("wizer accessor call")
            .0;
        use_ret(&mut *self.store, ret)
    }
}

impl ComponentInstanceState for WizerState<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        self.call(instance, func, |store, list: WasmList<u8>| {
            contents(list.as_le_slice(&*store));
        })
        .await
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, r| r).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, r| r).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, r: f32| r.to_bits()).await
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, r: f64| r.to_bits()).await
    }
}
