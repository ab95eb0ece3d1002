//! [`Limits`] (every resource a call can use, each a hard stop with its own
//! error code), [`LimitOverrides`] (what a caller changes of a preset's) and
//! [`Policy`] (grants plus limits, and the trust presets).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::grants::{Grants, HostFnGrant, KvGrant, Pattern, TrustLevel};

/// Limits for one call. Every field is a hard stop with its own typed error.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time for the whole call, host callbacks included (`TIMEOUT`).
    #[serde(with = "crate::units::duration")]
    #[schemars(schema_with = "crate::units::duration::schema")]
    pub timeout: Duration,
    /// Fuel budget (`FUEL_EXHAUSTED`). Only enforced by engines built with
    /// fuel on; `None` means unmetered.
    pub fuel: Option<u64>,
    /// Bytes of linear memory, summed over the instance's memories (`MEMORY_LIMIT`).
    #[serde(with = "crate::units::usize_size")]
    #[schemars(schema_with = "crate::units::usize_size::schema")]
    pub memory_bytes: usize,
    /// Elements per table (`TABLE_LIMIT`).
    pub table_elements: usize,
    /// Calls into warden capabilities (log, kv, host, events) per call (`HOST_CALL_LIMIT`).
    pub host_calls: u64,
    /// Bytes of input (`INPUT_TOO_LARGE`).
    #[serde(with = "crate::units::usize_size")]
    #[schemars(schema_with = "crate::units::usize_size::schema")]
    pub input_bytes: usize,
    /// Bytes of output: the result plus stdout, stderr and log lines (`OUTPUT_TOO_LARGE`).
    #[serde(with = "crate::units::usize_size")]
    #[schemars(schema_with = "crate::units::usize_size::schema")]
    pub output_bytes: usize,
}

impl Default for Limits {
    /// The `medium` trust level's limits: 5 s, 64 MiB, 10 000 host calls, 1 MiB in and out.
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(5),
            fuel: None,
            memory_bytes: 64 << 20,
            table_elements: 100_000,
            host_calls: 10_000,
            input_bytes: 1 << 20,
            output_bytes: 1 << 20,
        }
    }
}

/// Changes to a preset's limits: each field given replaces the preset's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    /// See [`Limits::timeout`].
    #[serde(
        with = "crate::units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "crate::units::opt_duration::schema")]
    pub timeout: Option<Duration>,
    /// See [`Limits::fuel`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// See [`Limits::memory_bytes`].
    #[serde(
        with = "crate::units::opt_usize_size",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "crate::units::opt_usize_size::schema")]
    pub memory_bytes: Option<usize>,
    /// See [`Limits::table_elements`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_elements: Option<usize>,
    /// See [`Limits::host_calls`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_calls: Option<u64>,
    /// See [`Limits::input_bytes`].
    #[serde(
        with = "crate::units::opt_usize_size",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "crate::units::opt_usize_size::schema")]
    pub input_bytes: Option<usize>,
    /// See [`Limits::output_bytes`].
    #[serde(
        with = "crate::units::opt_usize_size",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "crate::units::opt_usize_size::schema")]
    pub output_bytes: Option<usize>,
}

impl LimitOverrides {
    /// Every limit of `limits`, as overrides (a whole set of limits).
    pub fn all(limits: &Limits) -> Self {
        LimitOverrides {
            timeout: Some(limits.timeout),
            fuel: limits.fuel,
            memory_bytes: Some(limits.memory_bytes),
            table_elements: Some(limits.table_elements),
            host_calls: Some(limits.host_calls),
            input_bytes: Some(limits.input_bytes),
            output_bytes: Some(limits.output_bytes),
        }
    }

    /// Apply these to `limits`.
    pub fn apply(&self, limits: &mut Limits) {
        if let Some(t) = self.timeout {
            limits.timeout = t;
        }
        if self.fuel.is_some() {
            limits.fuel = self.fuel;
        }
        if let Some(m) = self.memory_bytes {
            limits.memory_bytes = m;
        }
        if let Some(t) = self.table_elements {
            limits.table_elements = t;
        }
        if let Some(h) = self.host_calls {
            limits.host_calls = h;
        }
        if let Some(i) = self.input_bytes {
            limits.input_bytes = i;
        }
        if let Some(o) = self.output_bytes {
            limits.output_bytes = o;
        }
    }
}

/// Grants plus limits: everything that decides what one call may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// What is granted.
    pub grants: Grants,
    /// The limits.
    pub limits: Limits,
}

impl Policy {
    /// No capabilities, default limits.
    pub fn deny_all() -> Self {
        Policy::default()
    }

    /// The preset for `level`.
    pub fn trust(level: TrustLevel) -> Self {
        let base = Limits::default();
        match level {
            TrustLevel::Low => Policy {
                grants: Grants {
                    log: true,
                    ..Grants::default()
                },
                limits: Limits {
                    timeout: Duration::from_secs(1),
                    memory_bytes: 32 << 20,
                    host_calls: 1_000,
                    input_bytes: 64 << 10,
                    output_bytes: 64 << 10,
                    ..base
                },
            },
            TrustLevel::Medium => Policy {
                grants: Grants {
                    log: true,
                    kv: Some(KvGrant::default()),
                    event_topics: vec![Pattern("*".into())],
                    ..Grants::default()
                },
                limits: base,
            },
            TrustLevel::High => Policy {
                grants: Grants {
                    log: true,
                    kv: Some(KvGrant {
                        namespace: None,
                        quota_bytes: 16 << 20,
                    }),
                    host_fns: HostFnGrant::All,
                    event_topics: vec![Pattern("*".into())],
                    ..Grants::default()
                },
                limits: Limits {
                    timeout: Duration::from_secs(30),
                    memory_bytes: 256 << 20,
                    host_calls: 100_000,
                    input_bytes: 16 << 20,
                    output_bytes: 16 << 20,
                    ..base
                },
            },
        }
    }

    /// Replace the grants.
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Replace the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
