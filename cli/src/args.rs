//! Flags shared by several commands: grants, limits, the cache, and how they
//! become a [`Policy`] and a [`Host`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use warden_host::{
    BuiltinFn, Capability, Ceiling, EngineOptions, Event, ExecConfig, Grants, Host, HostConfig,
    HostFnGrant, KvConfig, KvGrant, LimitOverrides, Policy, TrustLevel, lower_config,
};

use crate::report::usage;

/// What a plugin may touch. Everything is denied unless granted here (or by a
/// `--trust` preset); the flags add to the preset.
#[derive(Debug, Clone, Default, Args)]
pub struct GrantArgs {
    /// Start from a preset: low (log; 1 s, 32 MiB), medium (log, kv, events;
    /// 5 s, 64 MiB) or high (medium + every host function, kv 16 MiB; 30 s,
    /// 256 MiB). Without it nothing is granted and the limits are medium's.
    #[arg(long, value_name = "LEVEL", value_parser = parse_trust)]
    pub trust: Option<TrustLevel>,

    /// Grant a capability with its broadest scope: log, kv (the plugin's own
    /// namespace), host (every host function) or events (every topic). Scoped
    /// capabilities have their own flags: --allow-host, --allow-socket,
    /// --allow-dir, --env.
    #[arg(long = "allow", value_name = "CAP", value_parser = parse_capability)]
    pub allow: Vec<Capability>,

    /// Allow outbound HTTP to HOST: `api.example.com`, `*.example.com`,
    /// `localhost:8080`, `*` (repeatable).
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,

    /// Allow TCP/UDP connects and binds to ADDR: `127.0.0.1:8080`,
    /// `127.0.0.1:*` (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub allow_socket: Vec<String>,

    /// Preopen a host directory: `HOSTPATH[=GUESTPATH][:ro|:rw]`, read-only
    /// unless `:rw`. GUESTPATH defaults to `.` for the first --allow-dir and to
    /// HOSTPATH as written for the others. `..` and symlinks cannot leave it.
    /// Example: `--allow-dir ./data` (guest sees it as `.`),
    /// `--allow-dir /tmp/out=/out:rw`.
    #[arg(long, value_name = "SPEC", value_parser = parse_dir)]
    pub allow_dir: Vec<DirSpec>,

    /// Give the guest an environment variable: `NAME` passes the host's value
    /// (if set), `NAME=VALUE` sets it (repeatable).
    #[arg(long, value_name = "NAME[=VALUE]", value_parser = parse_env)]
    pub env: Vec<EnvSpec>,

    /// Allow one host function by name (repeatable). The CLI provides `echo`
    /// (returns its arguments) and `now` (unix time in milliseconds);
    /// `--allow host` allows both.
    #[arg(long, value_name = "NAME")]
    pub allow_fn: Vec<String>,

    /// Allow events on topics matching PATTERN: `orders.created`, `metrics.*`,
    /// `*` (repeatable). Events are printed to stderr as `[guest event TOPIC] JSON`.
    #[arg(long, value_name = "PATTERN")]
    pub allow_topic: Vec<String>,

    /// Byte quota of the kv namespace (e.g. 64KiB, 16MiB); needs kv granted.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub kv_quota: Option<u64>,
}

/// `HOSTPATH[=GUESTPATH][:ro|:rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSpec {
    pub host: PathBuf,
    pub guest: Option<String>,
    pub writable: bool,
}

/// `NAME` or `NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    pub name: String,
    pub value: Option<String>,
}

/// Hard limits of one call; each overrides the preset's.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Wall-clock limit of the call: 500ms, 2s, 1m (TIMEOUT).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Linear memory limit: 16MiB, 1GiB (MEMORY_LIMIT).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub memory: Option<u64>,

    /// Meter fuel and stop after N units (FUEL_EXHAUSTED). Builds a
    /// fuel-metering engine, which runs guests ~10% slower.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,

    /// Calls into warden capabilities (log, kv, host, events) per call
    /// (HOST_CALL_LIMIT).
    #[arg(long, value_name = "N")]
    pub host_calls: Option<u64>,

    /// Output limit: the result plus stdout, stderr and log lines (OUTPUT_TOO_LARGE).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_output: Option<u64>,

    /// Input limit (INPUT_TOO_LARGE).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_input: Option<u64>,
}

/// Where compiled components are cached.
#[derive(Debug, Clone, Default, Args)]
pub struct CacheArgs {
    /// Cache compiled components (.cwasm) in DIR [default: $WARDEN_CACHE_DIR,
    /// else $XDG_CACHE_HOME/warden, else ~/.cache/warden].
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,

    /// Compile without reading or writing the cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory to use, if any.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        }
    }
}

fn parse_trust(s: &str) -> Result<TrustLevel, String> {
    s.parse()
}

fn parse_capability(s: &str) -> Result<Capability, String> {
    let cap: Capability = s.parse()?;
    let flag = match cap {
        Capability::Log | Capability::Kv | Capability::Host | Capability::Events => {
            return Ok(cap);
        }
        Capability::Http => "--allow-host HOST",
        Capability::Sockets => "--allow-socket ADDR",
        Capability::Filesystem => "--allow-dir PATH",
        Capability::Env => "--env NAME[=VALUE]",
    };
    Err(format!("`{cap}` needs a scope: use {flag} instead"))
}

/// A size: the one form of `warden-api` (`65536`, `64KiB`, `16MiB`).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    warden_host::api::units::parse_size(s)
}

/// A duration with a unit (`200ms`, `2s`, `1m`), more than zero. JSON
/// takes a bare number as milliseconds; a flag does not, since `5` reads as
/// seconds as easily.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.trim().parse::<f64>().is_ok() {
        return Err(format!("`{s}` has no unit: write {0}ms or {0}s", s.trim()));
    }
    let d = warden_host::api::units::parse_duration(s)?;
    if d.is_zero() {
        return Err("the duration must be more than zero".into());
    }
    Ok(d)
}

fn parse_dir(s: &str) -> Result<DirSpec, String> {
    let (rest, writable) = if let Some(r) = s.strip_suffix(":rw") {
        (r, true)
    } else if let Some(r) = s.strip_suffix(":ro") {
        (r, false)
    } else {
        (s, false)
    };
    let (host, guest) = match rest.split_once('=') {
        Some((h, g)) => (h, Some(g)),
        None => (rest, None),
    };
    if host.is_empty() {
        return Err(format!(
            "`{s}`: the host path is empty (expected HOSTPATH[=GUESTPATH][:ro|:rw])"
        ));
    }
    if guest.is_some_and(str::is_empty) {
        return Err(format!(
            "`{s}`: the guest path after `=` is empty (expected HOSTPATH[=GUESTPATH][:ro|:rw])"
        ));
    }
    Ok(DirSpec {
        host: PathBuf::from(host),
        guest: guest.map(str::to_string),
        writable,
    })
}

fn parse_env(s: &str) -> Result<EnvSpec, String> {
    let (name, value) = match s.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (s, None),
    };
    if name.is_empty() || name.contains('\0') {
        return Err(format!("`{s}`: expected NAME or NAME=VALUE"));
    }
    Ok(EnvSpec {
        name: name.to_string(),
        value,
    })
}

fn to_usize(bytes: u64, flag: &str) -> Result<usize> {
    usize::try_from(bytes)
        .map_err(|_| usage(format!("{flag} {bytes} is too large for this platform")))
}

impl GrantArgs {
    /// The policy of these flags alone (no limit flags), through the one
    /// lowering.
    pub fn policy(&self) -> Result<Policy> {
        let config = ExecConfig {
            trust: self.trust,
            grants: self.grants()?,
            ..ExecConfig::default()
        };
        Ok(lower_config(&config, &Ceiling::unlimited())?)
    }

    /// The explicit grants of the flags alone (the preset is not in them:
    /// [`SandboxArgs::config`] names it, and the one lowering adds these to
    /// it).
    pub fn grants(&self) -> Result<Grants> {
        let mut g = Grants::none();
        if !self.allow_fn.is_empty() {
            g = g.allow_host_fns(self.allow_fn.iter().cloned());
        }
        for cap in &self.allow {
            // `--allow host` grants every function, whatever names were given.
            if *cap == Capability::Host {
                g.host_fns = HostFnGrant::All;
                continue;
            }
            g = g.allow(*cap)?;
        }
        for h in &self.allow_host {
            g = g.allow_http(h.clone());
        }
        for a in &self.allow_socket {
            g = g.allow_socket(a.clone());
        }
        for (i, d) in self.allow_dir.iter().enumerate() {
            let guest = match &d.guest {
                Some(g) => g.clone(),
                None if i == 0 => ".".to_string(),
                None => d.host.to_string_lossy().into_owned(),
            };
            g = g.allow_dir(d.host.clone(), guest, d.writable);
        }
        for e in &self.env {
            g = match &e.value {
                Some(v) => g.set_env(e.name.clone(), v.clone()),
                None => g.allow_env(e.name.clone()),
            };
        }
        for t in &self.allow_topic {
            g = g.allow_events(t.clone());
        }
        if let Some(quota) = self.kv_quota {
            let preset_kv = self
                .trust
                .and_then(|t| Policy::trust(t).grants.kv)
                .is_some();
            match g.kv.as_mut() {
                Some(kv) => kv.quota_bytes = quota,
                None if preset_kv => {
                    g.kv = Some(KvGrant {
                        namespace: None,
                        quota_bytes: quota,
                    })
                }
                None => {
                    return Err(usage(
                        "--kv-quota needs kv granted: add --allow kv (or --trust medium|high)",
                    ));
                }
            }
        }
        Ok(g)
    }
}

impl LimitArgs {
    /// The limit flags given, as overrides of the preset's limits.
    pub fn overrides(&self) -> Result<LimitOverrides> {
        Ok(LimitOverrides {
            timeout: self.timeout,
            fuel: self.fuel,
            memory_bytes: self.memory.map(|m| to_usize(m, "--memory")).transpose()?,
            table_elements: None,
            host_calls: self.host_calls,
            input_bytes: self
                .max_input
                .map(|i| to_usize(i, "--max-input"))
                .transpose()?,
            output_bytes: self
                .max_output
                .map(|o| to_usize(o, "--max-output"))
                .transpose()?,
        })
    }
}

/// The flags every call command shares (`run`, `exec`): grants, kv storage,
/// limits, the receipt and the cache.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    #[command(flatten)]
    pub grants: GrantArgs,

    /// Keep kv state in files under DIR (else in memory for this run).
    #[arg(long, value_name = "DIR")]
    pub kv_dir: Option<PathBuf>,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Print the call's receipt (cost, host calls, denials) as JSON on stderr
    /// after the result, also when the call failed.
    #[arg(long)]
    pub receipt: bool,

    #[command(flatten)]
    pub cache: CacheArgs,
}

impl SandboxArgs {
    /// What the flags ask for: the `--trust` preset, the grant flags added to
    /// it, the limit flags overriding its limits.
    pub fn config(&self) -> Result<ExecConfig> {
        Ok(ExecConfig {
            trust: self.grants.trust,
            grants: self.grants.grants()?,
            limits: self.limits.overrides()?,
            include_queue_time: true,
        })
    }

    /// The policy a call runs under: [`SandboxArgs::config`] through the
    /// host's one lowering (the CLI's ceiling allows everything: its user
    /// owns the machine).
    pub fn policy(&self) -> Result<Policy> {
        Ok(lower_config(&self.config()?, &Ceiling::unlimited())?)
    }

    /// A host for these flags (fuel engine when --fuel, file kv when --kv-dir).
    pub fn host(&self) -> Result<Host> {
        build_host(
            &self.cache,
            HostOptions {
                fuel: self.limits.fuel.is_some(),
                kv_dir: self.kv_dir.as_deref(),
            },
        )
    }
}

/// What [`build_host`] needs beyond the cache.
#[derive(Debug, Default)]
pub struct HostOptions<'a> {
    /// Build a fuel-metering engine.
    pub fuel: bool,
    /// File-backed kv in this directory (else in memory).
    pub kv_dir: Option<&'a Path>,
}

/// The default cache directory: `$WARDEN_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/warden`, else `$HOME/.cache/warden`. (The libraries read
/// no environment; the CLI maps it into their configs.)
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WARDEN_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("warden"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("warden"))
}

/// The host config of these flags and the environment: the cache, a fuel
/// engine with `--fuel`, `WARDEN_PERFMAP=1` for perf, file kv with
/// `--kv-dir`, and the built-in `echo` and `now` host functions.
pub fn host_config(cache: &CacheArgs, options: HostOptions<'_>) -> HostConfig {
    HostConfig {
        cache_dir: cache.dir(),
        engine: EngineOptions {
            fuel: options.fuel,
            perfmap: std::env::var_os("WARDEN_PERFMAP").is_some_and(|v| v == "1"),
            ..EngineOptions::default()
        },
        kv: match options.kv_dir {
            Some(dir) => KvConfig::Dir {
                path: dir.to_path_buf(),
            },
            None => KvConfig::Memory,
        },
        host_fns: vec![BuiltinFn::Echo, BuiltinFn::Now],
    }
}

/// A host for [`host_config`], with guest events printed to stderr.
pub fn build_host(cache: &CacheArgs, options: HostOptions<'_>) -> Result<Host> {
    let builder = host_config(cache, options)
        .builder()?
        .event_sink(|event: Event| {
            eprintln!("[guest event {}] {}", event.topic, event.payload);
        });
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests;
