//! What a plugin may touch: [`Grants`] (deny by default) of each [`Capability`],
//! and the [`TrustLevel`] presets' names. The presets' contents are in
//! [`crate::Policy::trust`].

use std::collections::BTreeSet;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
pub use crate::interfaces::Capability;

fn default_quota() -> u64 {
    KvGrant::default().quota_bytes
}

/// A directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (e.g. `.` or `/data`).
    pub guest: String,
    /// Read-write when true, read-only otherwise.
    pub writable: bool,
}

/// An environment variable made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvGrant {
    /// The variable's name.
    pub name: String,
    /// A fixed value, or `None` to pass the host's value (if the host has it set).
    pub value: Option<String>,
}

/// Key-value grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvGrant {
    /// The namespace; `None` means the plugin's own name.
    pub namespace: Option<String>,
    /// The most bytes (keys plus values) the namespace may hold.
    #[serde(with = "crate::units::size", default = "default_quota")]
    #[schemars(schema_with = "crate::units::size::schema")]
    pub quota_bytes: u64,
}

impl Default for KvGrant {
    fn default() -> Self {
        KvGrant {
            namespace: None,
            quota_bytes: 1 << 20,
        }
    }
}

/// A name pattern: exact (`api.example.com`, `fetch`), a `*.`-prefixed domain
/// wildcard (`*.example.com` matches `a.example.com`, not `example.com`), a
/// trailing `*` prefix wildcard (`metrics.*`), or `*` for everything.
/// For hosts an optional `:port` (or `:*`) restricts the port; without one any
/// port matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Pattern(pub String);

impl Pattern {
    /// Does `name` match this pattern?
    pub fn matches(&self, name: &str) -> bool {
        let p = self.0.as_str();
        if p == "*" || p == name {
            return true;
        }
        if let Some(suffix) = p.strip_prefix("*.") {
            return name.len() > suffix.len() + 1
                && name.ends_with(suffix)
                && name.as_bytes()[name.len() - suffix.len() - 1] == b'.';
        }
        if let Some(prefix) = p.strip_suffix('*') {
            return name.starts_with(prefix);
        }
        false
    }

    /// Does `host` with `port` match this pattern, read as `host[:port]`?
    pub fn matches_host(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let (hp, pp) = split_host_port(&self.0);
        let host_ok = Pattern(hp.to_ascii_lowercase()).matches(&host.to_ascii_lowercase());
        let port_ok = match pp {
            None | Some("*") => true,
            Some(p) => p.parse::<u16>().ok() == Some(port),
        };
        host_ok && port_ok
    }
}

fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        // [v6]:port
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':'));
        }
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (s, None),
    }
}

/// Which embedder functions a guest may call through `warden:plugin/host`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HostFnGrant {
    /// None (the capability is not granted).
    #[default]
    None,
    /// Every function the embedder registered.
    All,
    /// Only these names.
    Only(BTreeSet<String>),
}

impl HostFnGrant {
    /// Whether the function `name` may be called.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            HostFnGrant::None => false,
            HostFnGrant::All => true,
            HostFnGrant::Only(set) => set.contains(name),
        }
    }
}

/// What a plugin is granted. [`Grants::default`] grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// `warden:plugin/log`.
    pub log: bool,
    /// `warden:plugin/kv`.
    pub kv: Option<KvGrant>,
    /// `warden:plugin/host`.
    pub host_fns: HostFnGrant,
    /// `warden:plugin/events`: topics the guest may emit on.
    pub event_topics: Vec<Pattern>,
    /// `wasi:http/outgoing-handler`: hosts the guest may send requests to.
    pub http_hosts: Vec<Pattern>,
    /// `wasi:sockets`: addresses (`ip:port`, `ip:*`) the guest may connect to or bind.
    pub socket_addrs: Vec<Pattern>,
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Environment variables.
    pub env: Vec<EnvGrant>,
}

impl Grants {
    /// Grants nothing (the default).
    pub fn none() -> Self {
        Grants::default()
    }

    /// Is this capability granted at all?
    pub fn has(&self, cap: Capability) -> bool {
        match cap {
            Capability::Log => self.log,
            Capability::Kv => self.kv.is_some(),
            Capability::Host => self.host_fns != HostFnGrant::None,
            Capability::Events => !self.event_topics.is_empty(),
            Capability::Http => !self.http_hosts.is_empty(),
            Capability::Sockets => !self.socket_addrs.is_empty(),
            Capability::Filesystem => !self.dirs.is_empty(),
            Capability::Env => !self.env.is_empty(),
        }
    }

    /// Grant a capability with its broadest default scope: `log`; `kv` with the
    /// plugin's own namespace and a 1 MiB quota; `host` every registered
    /// function; `events` every topic. `http`, `sockets`, `filesystem` and
    /// `env` need a scope (hosts, addresses, directories, names): use the
    /// dedicated builders, e.g. [`Grants::allow_http`].
    pub fn allow(mut self, cap: Capability) -> Result<Self, ApiError> {
        match cap {
            Capability::Log => self.log = true,
            Capability::Kv => {
                self.kv.get_or_insert_with(KvGrant::default);
            }
            Capability::Host => self.host_fns = HostFnGrant::All,
            Capability::Events => self.event_topics.push(Pattern("*".into())),
            Capability::Http | Capability::Sockets | Capability::Filesystem | Capability::Env => {
                return Err(ApiError::NeedsScope { capability: cap });
            }
        }
        Ok(self)
    }

    /// Allow outbound HTTP to hosts matching `pattern` (see [`Pattern`]).
    pub fn allow_http(mut self, pattern: impl Into<String>) -> Self {
        self.http_hosts.push(Pattern(pattern.into()));
        self
    }

    /// Allow socket connections/binds to addresses matching `pattern` (`127.0.0.1:8080`, `127.0.0.1:*`).
    pub fn allow_socket(mut self, pattern: impl Into<String>) -> Self {
        self.socket_addrs.push(Pattern(pattern.into()));
        self
    }

    /// Preopen a host directory as `guest` path.
    pub fn allow_dir(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
        writable: bool,
    ) -> Self {
        self.dirs.push(DirGrant {
            host: host.into(),
            guest: guest.into(),
            writable,
        });
        self
    }

    /// Pass the host's environment variable `name` through.
    pub fn allow_env(mut self, name: impl Into<String>) -> Self {
        self.env.push(EnvGrant {
            name: name.into(),
            value: None,
        });
        self
    }

    /// Set environment variable `name` to `value` in the guest.
    pub fn set_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push(EnvGrant {
            name: name.into(),
            value: Some(value.into()),
        });
        self
    }

    /// Use `grant` for kv.
    pub fn with_kv(mut self, grant: KvGrant) -> Self {
        self.kv = Some(grant);
        self
    }

    /// Allow these embedder functions (added to any already named; a grant
    /// of every function stays a grant of every function).
    pub fn allow_host_fns<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        let mut set = match std::mem::take(&mut self.host_fns) {
            HostFnGrant::Only(s) => s,
            HostFnGrant::All => {
                self.host_fns = HostFnGrant::All;
                return self;
            }
            HostFnGrant::None => BTreeSet::new(),
        };
        set.extend(names.into_iter().map(Into::into));
        self.host_fns = HostFnGrant::Only(set);
        self
    }

    /// Allow events on topics matching `pattern`.
    pub fn allow_events(mut self, pattern: impl Into<String>) -> Self {
        self.event_topics.push(Pattern(pattern.into()));
        self
    }

    /// The capabilities granted, for display.
    pub fn granted(&self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| self.has(*c))
            .collect()
    }

    /// Whether the embedder function `name` may be called.
    pub fn host_fn_allowed(&self, name: &str) -> bool {
        self.host_fns.allows(name)
    }
}

/// Named presets of grants and limits.
///
/// | level  | grants                                   | timeout | memory  | host calls | in/out  |
/// |--------|------------------------------------------|---------|---------|------------|---------|
/// | low    | log                                      | 1 s     | 32 MiB  | 1 000      | 64 KiB  |
/// | medium | log, kv (1 MiB), events (any topic)      | 5 s     | 64 MiB  | 10 000     | 1 MiB   |
/// | high   | medium + every host function, kv 16 MiB | 30 s    | 256 MiB | 100 000    | 16 MiB  |
///
/// No level grants files, environment variables, HTTP or sockets: those
/// always need an explicit scope.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TrustLevel {
    /// Untrusted code: log only, tight limits.
    Low,
    /// The default: state and events, moderate limits.
    Medium,
    /// Code you wrote: every embedder function, generous limits.
    High,
}

impl std::str::FromStr for TrustLevel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "low" => Ok(TrustLevel::Low),
            "medium" => Ok(TrustLevel::Medium),
            "high" => Ok(TrustLevel::High),
            other => Err(format!(
                "unknown trust level `{other}` (expected low, medium or high)"
            )),
        }
    }
}

impl Grants {
    /// Add `other`'s grants to these: flags are or-ed, lists appended
    /// (without repeats), a host-function list merged (every function stays
    /// every function), and `other`'s kv grant, when it has one, replaces
    /// this one's (it names the scope the caller asked for).
    pub fn merge(&mut self, other: &Grants) {
        self.log |= other.log;
        if let Some(kv) = &other.kv {
            self.kv = Some(kv.clone());
        }
        match &other.host_fns {
            HostFnGrant::None => {}
            HostFnGrant::All => self.host_fns = HostFnGrant::All,
            HostFnGrant::Only(names) => {
                let g = std::mem::take(self);
                *self = g.allow_host_fns(names.iter().cloned());
            }
        }
        fn extend<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
            for x in from {
                if !into.contains(x) {
                    into.push(x.clone());
                }
            }
        }
        extend(&mut self.event_topics, &other.event_topics);
        extend(&mut self.http_hosts, &other.http_hosts);
        extend(&mut self.socket_addrs, &other.socket_addrs);
        extend(&mut self.dirs, &other.dirs);
        extend(&mut self.env, &other.env);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn patterns() {
        let p = |s: &str| Pattern(s.into());
        assert!(p("*").matches("anything"));
        assert!(p("fetch").matches("fetch"));
        assert!(!p("fetch").matches("fetch2"));
        assert!(p("metrics.*").matches("metrics.cpu"));
        assert!(!p("metrics.*").matches("logs.cpu"));
        assert!(p("*.example.com").matches("api.example.com"));
        assert!(!p("*.example.com").matches("example.com"));
        assert!(!p("*.example.com").matches("evilexample.com"));
        assert!(p("127.0.0.1:8080").matches_host("127.0.0.1", 8080));
        assert!(!p("127.0.0.1:8080").matches_host("127.0.0.1", 8081));
        assert!(p("127.0.0.1").matches_host("127.0.0.1", 9));
        assert!(p("127.0.0.1:*").matches_host("127.0.0.1", 9));
        assert!(p("*.Example.com:443").matches_host("API.example.COM", 443));
        assert!(p("[::1]:80").matches_host("[::1]", 80));
        assert!(!p("localhost").matches_host("127.0.0.1", 80));
    }

    #[test]
    fn allow_host_fns_adds_names_but_never_narrows_all() {
        let g = Grants::none().allow_host_fns(["a"]).allow_host_fns(["b"]);
        assert!(g.host_fn_allowed("a") && g.host_fn_allowed("b") && !g.host_fn_allowed("c"));
        let all = Grants::none()
            .allow(Capability::Host)
            .unwrap()
            .allow_host_fns(["a"]);
        assert!(all.host_fn_allowed("anything"));
    }

    #[test]
    fn trust_levels_are_ordered() {
        let low = Policy::trust(TrustLevel::Low);
        let med = Policy::trust(TrustLevel::Medium);
        let high = Policy::trust(TrustLevel::High);
        assert!(low.limits.memory_bytes < med.limits.memory_bytes);
        assert!(med.limits.memory_bytes < high.limits.memory_bytes);
        assert!(!low.grants.has(Capability::Kv));
        assert!(med.grants.has(Capability::Kv));
        assert!(!med.grants.has(Capability::Host));
        assert!(high.grants.has(Capability::Host));
        for p in [low, med, high] {
            assert!(!p.grants.has(Capability::Http));
            assert!(!p.grants.has(Capability::Filesystem));
        }
    }
}
