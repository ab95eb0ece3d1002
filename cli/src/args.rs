//! Flags shared by several commands: grants, limits, the cache, and how they
//! become a [`Policy`] and a [`Host`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use warden_host::{
    Capability, EngineOptions, Event, FileKv, Grants, Host, HostBuilder, HostFnGrant, Policy,
    TrustLevel,
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
            self.cache_dir
                .clone()
                .or_else(warden_host::default_cache_dir)
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

pub fn parse_bytes(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("`{s}` is not a size ({e}); examples: 65536, 64KiB, 16MiB, 1GiB"))
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); examples: 200ms, 2s, 1m"))?;
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
    /// The preset, then every grant flag added to it.
    pub fn policy(&self) -> Result<Policy> {
        let mut policy = match self.trust {
            Some(level) => Policy::trust(level),
            None => Policy::deny_all(),
        };
        let mut g: Grants = std::mem::take(&mut policy.grants);
        // Named host functions first: `--allow host` (or a preset's "every
        // function") must not be narrowed by a later list of names.
        if !self.allow_fn.is_empty() && g.host_fns != HostFnGrant::All {
            g = g.allow_host_fns(self.allow_fn.iter().cloned());
        }
        for cap in &self.allow {
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
        if let Some(q) = self.kv_quota {
            match g.kv.as_mut() {
                Some(kv) => kv.quota_bytes = q,
                None => {
                    return Err(usage(
                        "--kv-quota needs kv granted: add --allow kv (or --trust medium|high)",
                    ));
                }
            }
        }
        policy.grants = g;
        Ok(policy)
    }
}

impl LimitArgs {
    /// Override `policy`'s limits with the flags given.
    pub fn apply(&self, policy: &mut Policy) -> Result<()> {
        let l = &mut policy.limits;
        if let Some(t) = self.timeout {
            l.timeout = t;
        }
        if let Some(m) = self.memory {
            l.memory_bytes = to_usize(m, "--memory")?;
        }
        if let Some(f) = self.fuel {
            l.fuel = Some(f);
        }
        if let Some(h) = self.host_calls {
            l.host_calls = h;
        }
        if let Some(o) = self.max_output {
            l.output_bytes = to_usize(o, "--max-output")?;
        }
        if let Some(i) = self.max_input {
            l.input_bytes = to_usize(i, "--max-input")?;
        }
        Ok(())
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
    /// The grants (trust preset plus flags) with the limit flags applied.
    pub fn policy(&self) -> Result<Policy> {
        let mut policy = self.grants.policy()?;
        self.limits.apply(&mut policy)?;
        Ok(policy)
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

/// A host with the CLI's built-in host functions (`echo`, `now`), events
/// printed to stderr, and the cache from `cache`.
pub fn build_host(cache: &CacheArgs, options: HostOptions<'_>) -> Result<Host> {
    let mut builder: HostBuilder = Host::builder()
        .host_fn("echo", |call| async move { Ok(call.args) })
        .host_fn("now", |_call| async move {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| format!("the system clock is before 1970: {e}"))?
                .as_millis();
            Ok(serde_json::json!(ms as u64))
        })
        .event_sink(|event: Event| {
            eprintln!("[guest event {}] {}", event.topic, event.payload);
        });
    if let Some(dir) = cache.dir() {
        builder = builder.cache_dir(dir);
    }
    if options.fuel {
        builder = builder.engine(EngineOptions {
            fuel: true,
            ..EngineOptions::default()
        });
    }
    if let Some(dir) = options.kv_dir {
        builder = builder.kv(FileKv::open(dir)?);
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_specs() {
        let d = parse_dir("data").unwrap();
        assert_eq!((d.host, d.guest, d.writable), ("data".into(), None, false));
        let d = parse_dir("/tmp/out=/out:rw").unwrap();
        assert_eq!(
            (d.host, d.guest, d.writable),
            ("/tmp/out".into(), Some("/out".into()), true)
        );
        let d = parse_dir("x:ro").unwrap();
        assert!(!d.writable);
        assert!(parse_dir(":rw").is_err());
        assert!(parse_dir("x=").is_err());
    }

    #[test]
    fn first_dir_is_dot() {
        let g = GrantArgs {
            allow_dir: vec![parse_dir("a").unwrap(), parse_dir("b").unwrap()],
            ..GrantArgs::default()
        };
        let p = g.policy().unwrap();
        assert_eq!(p.grants.dirs[0].guest, ".");
        assert_eq!(p.grants.dirs[1].guest, "b");
    }

    #[test]
    fn scoped_capabilities_point_to_their_flag() {
        assert!(parse_capability("kv").is_ok());
        let e = parse_capability("http").unwrap_err();
        assert!(e.contains("--allow-host"), "{e}");
        assert!(parse_capability("nope").unwrap_err().contains("unknown"));
    }

    #[test]
    fn allow_fn_does_not_narrow_all() {
        let g = GrantArgs {
            trust: Some(TrustLevel::High),
            allow_fn: vec!["echo".into()],
            ..GrantArgs::default()
        };
        assert_eq!(g.policy().unwrap().grants.host_fns, HostFnGrant::All);
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert!(parse_duration("0s").is_err());
    }
}
