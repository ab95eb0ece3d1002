//! The receipt of a call: what it cost and what it touched. The host builds
//! it as plain counters and small sets inside the store while the call runs,
//! so it costs next to nothing when the guest touches nothing.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::grants::Capability;

/// Host calls by capability.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostCalls {
    /// `warden:plugin/log` calls.
    pub log: u64,
    /// `warden:plugin/kv` calls.
    pub kv: u64,
    /// `warden:plugin/host` calls.
    pub host: u64,
    /// `warden:plugin/events` calls.
    pub events: u64,
    /// Outbound HTTP requests.
    pub http: u64,
    /// Socket connects and binds.
    pub sockets: u64,
}

impl HostCalls {
    /// Count one call of `cap`.
    pub fn bump(&mut self, cap: Capability) {
        match cap {
            Capability::Log => self.log += 1,
            Capability::Kv => self.kv += 1,
            Capability::Host => self.host += 1,
            Capability::Events => self.events += 1,
            Capability::Http => self.http += 1,
            Capability::Sockets => self.sockets += 1,
            Capability::Filesystem | Capability::Env => {}
        }
    }

    /// Sum over all capabilities.
    pub fn total(&self) -> u64 {
        self.log + self.kv + self.host + self.events + self.http + self.sockets
    }
}

/// What one call cost and touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Receipt {
    /// The plugin's name.
    pub plugin: String,
    /// The export that was called (`run`, `wasi:cli/run`, or the invoked function).
    pub export: String,
    /// Wall-clock time of the call, instantiation included, in microseconds.
    pub wall_time_us: u64,
    /// Time spent instantiating, in microseconds (0 for a reused instance).
    pub instantiate_us: u64,
    /// Whether the call ran in a reused instance.
    pub reused_instance: bool,
    /// Fuel consumed (when the engine meters fuel).
    pub fuel_used: Option<u64>,
    /// Peak linear memory across the instance's memories, in bytes.
    pub peak_memory_bytes: usize,
    /// Output bytes produced (result, stdout, stderr, logs).
    pub output_bytes: usize,
    /// Host calls by capability.
    pub host_calls: HostCalls,
    /// HTTP authorities requested (allowed or not).
    pub http_hosts: BTreeSet<String>,
    /// Socket addresses connected to or bound (allowed or not).
    pub socket_addrs: BTreeSet<String>,
    /// Paths the guest opened (as given to `open-at`, relative to the
    /// directory it opened them from; the first 256).
    pub paths: BTreeSet<String>,
    /// kv keys read or written.
    pub kv_keys: BTreeSet<String>,
    /// Embedder functions called.
    pub host_fns: BTreeSet<String>,
    /// Event topics emitted on.
    pub event_topics: BTreeSet<String>,
    /// Directories granted to the call (host path → guest path).
    pub dirs: Vec<String>,
    /// Every denial, naming the capability and what was asked.
    pub denials: Vec<String>,
}

/// One line the guest logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
}
