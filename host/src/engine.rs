//! The Wasmtime engine: component model, pooling allocator with explicit
//! sizes, epoch interruption driven by one ticker thread per engine, optional
//! fuel, Cranelift.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::{Error, Result};

/// How the engine is built. The defaults suit a multi-tenant server on a
/// 64-bit host; every size is explicit so capacity is predictable. Data:
/// a front end reads it from its flags, a TOML file or an options object
/// (durations and sizes in `warden-api`'s one JSON form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineOptions {
    /// Meter fuel. Costs ~10 % of guest speed and changes compiled code, so
    /// it is an engine property (and part of the cache key), not per call.
    pub fuel: bool,
    /// Period of the epoch ticker: the resolution of timeouts.
    #[serde(with = "warden_api::units::duration")]
    pub epoch_tick: Duration,
    /// Use the pooling allocator (fast, copy-on-write instantiation). Turn off
    /// only for tools that create one instance and exit.
    pub pooling: bool,
    /// Component instances alive at once (pool slots).
    pub max_instances: u32,
    /// Largest linear memory a single memory may reach (pool slot size).
    /// Per-call memory limits sit below this.
    #[serde(with = "warden_api::units::usize_size")]
    pub max_memory_size: usize,
    /// Largest table (elements) in the pool.
    pub max_table_elements: usize,
    /// Core instances one component may hold (wit-component adapters and
    /// componentize-py components have many).
    pub max_core_instances_per_component: u32,
    /// Bytes of runtime state (Wasmtime's `VMComponentContext` plus every
    /// core instance's `VMContext`) one component instance may need.
    /// Wasmtime's default, 1 MiB, refuses large components at
    /// instantiation: a componentize-py plugin that carries a native
    /// extension needs about 1.04 MiB. An upper bound, not a reservation.
    #[serde(with = "warden_api::units::usize_size")]
    pub max_component_instance_size: usize,
    /// Bytes of runtime state one core instance inside a component may need
    /// (Wasmtime's `max_core_instance_size`; also an upper bound).
    #[serde(with = "warden_api::units::usize_size")]
    pub max_core_instance_size: usize,
    /// Guest stack size (a deep recursion traps with "call stack exhausted").
    #[serde(with = "warden_api::units::usize_size")]
    pub max_wasm_stack: usize,
    /// Bytes of each recycled memory slot kept resident and reset in place
    /// (on Linux ≥ 6.7 only the dirty pages, found with PAGEMAP_SCAN) instead
    /// of being discarded: a fresh instance then takes no copy-on-write page
    /// faults for the memory its predecessor touched. Costs that much RSS
    /// per warm slot.
    #[serde(with = "warden_api::units::usize_size")]
    pub keep_resident_bytes: usize,
    /// Drop finished stores on a background thread. Dropping a store resets
    /// its pool slot (the dirty pages copied back from the image), which for
    /// a large guest (CPython) takes longer than the call itself; done in
    /// the background, the caller has its result first. At most
    /// [`RETIRE_QUEUE`] stores wait; beyond that they are dropped in place.
    pub deferred_teardown: bool,
    /// Write `/tmp/perf-PID.map` so `perf report` names guest functions
    /// (the CLI sets it from `WARDEN_PERFMAP=1`).
    pub perfmap: bool,
}

/// Stores waiting for the background teardown at most.
pub const RETIRE_QUEUE: usize = 16;

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            fuel: false,
            epoch_tick: Duration::from_millis(5),
            pooling: true,
            max_instances: 256,
            max_memory_size: 1 << 30,
            max_table_elements: 100_000,
            max_core_instances_per_component: 64,
            max_component_instance_size: 4 << 20,
            max_core_instance_size: 2 << 20,
            max_wasm_stack: 1 << 20,
            keep_resident_bytes: 32 << 20,
            deferred_teardown: true,
            perfmap: false,
        }
    }
}

impl EngineOptions {
    /// The pooling allocator configuration these options describe (also
    /// used by `warden-bench` so its bare-Wasmtime peer has the same pool).
    pub fn pooling_config(&self) -> PoolingAllocationConfig {
        let n = self.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_core_instances_per_component(self.max_core_instances_per_component)
            .max_component_instance_size(self.max_component_instance_size)
            .max_core_instance_size(self.max_core_instance_size)
            .max_memories_per_component(16)
            .max_tables_per_component(32)
            .max_memory_size(self.max_memory_size)
            .table_elements(self.max_table_elements)
            .linear_memory_keep_resident(self.keep_resident_bytes)
            .table_keep_resident(64 << 10)
            // Keep a few warm slots so a fresh instance reuses a recent slot.
            .max_unused_warm_slots(16);
        pool
    }
}

/// `message` (a Wasmtime error) with the engine option to raise appended
/// when it is the pooling allocator refusing an instance's size.
pub(crate) fn with_pool_hint(mut message: String) -> String {
    let option = if message.contains("`VMComponentContext`") {
        "max_component_instance_size"
    } else if message.contains("`VMContext`") && message.contains("exceeds the configured maximum")
    {
        "max_core_instance_size"
    } else {
        return message;
    };
    message.push_str(&format!(
        "; raise the engine option `{option}` (EngineOptions, `host.engine` in a front end's config)"
    ));
    message
}

/// A Wasmtime engine plus its epoch ticker. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WardenEngine {
    pub(crate) engine: Engine,
    pub(crate) options: Arc<EngineOptions>,
    pub(crate) fingerprint: Arc<str>,
    _ticker: Arc<Ticker>,
    /// The background teardown thread's queue (see
    /// [`EngineOptions::deferred_teardown`]); the thread ends when the last
    /// clone of the engine is dropped.
    retire: Option<std::sync::mpsc::SyncSender<Box<dyn Send>>>,
}

#[derive(Debug)]
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl WardenEngine {
    /// Build an engine and start its epoch ticker.
    pub fn new(options: EngineOptions) -> Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(options.fuel);
        config.max_wasm_stack(options.max_wasm_stack);
        // Fiber stacks must hold the guest stack plus host frames.
        config.async_stack_size(options.max_wasm_stack + (1 << 20));
        config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
        // For profiling: /tmp/perf-PID.map, so `perf report` names guest
        // functions.
        if options.perfmap {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if options.pooling {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(
                options.pooling_config(),
            ));
        }
        let engine = Engine::new(&config).map_err(|e| Error::internal(format!("engine: {e}")))?;

        let fingerprint = {
            let mut h = HashWriter(blake3::Hasher::new());
            std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
            h.0.update(b"warden-cache-v1");
            h.0.update(env!("CARGO_PKG_VERSION").as_bytes());
            h.0.finalize().to_hex()[..16].to_string()
        };

        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let tick = options.epoch_tick;
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name("warden-epoch".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| Error::io("spawning the epoch ticker", e))?;

        let retire = if options.deferred_teardown {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Box<dyn Send>>(RETIRE_QUEUE);
            std::thread::Builder::new()
                .name("warden-teardown".into())
                .spawn(move || {
                    while let Ok(store) = rx.recv() {
                        drop(store);
                    }
                })
                .map_err(|e| Error::io("spawning the teardown thread", e))?;
            Some(tx)
        } else {
            None
        };

        Ok(WardenEngine {
            engine,
            options: Arc::new(options),
            fingerprint: fingerprint.into(),
            _ticker: Arc::new(Ticker { stop }),
            retire,
        })
    }

    /// Drop `store` on the teardown thread, or here when that is off or
    /// its queue is full.
    pub(crate) fn retire<T: Send + 'static>(&self, store: T) {
        if let Some(tx) = &self.retire {
            match tx.try_send(Box::new(store)) {
                Ok(()) => {}
                Err(std::sync::mpsc::TrySendError::Full(s))
                | Err(std::sync::mpsc::TrySendError::Disconnected(s)) => drop(s),
            }
        }
    }

    /// The underlying Wasmtime engine.
    pub fn wasmtime(&self) -> &Engine {
        &self.engine
    }

    /// The options it was built with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Identifies the compiled-code format: a `.cwasm` only loads into an
    /// engine with the same fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Epoch ticks that cover `timeout`: one more than the quotient, because
    /// the current epoch is already partly over, so the deadline never comes
    /// before the timeout (it may come up to one tick after it).
    pub(crate) fn ticks_for(&self, timeout: Duration) -> u64 {
        let tick = self.options.epoch_tick.as_nanos().max(1);
        timeout.as_nanos().div_ceil(tick) as u64 + 1
    }
}

struct HashWriter(blake3::Hasher);

impl std::hash::Hasher for HashWriter {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
