//! Run small eBPF C snippets in the real kernel.
//!
//! `warden-ebpf` takes one of three inputs ([`Source`]):
//!
//! * a bare C function of the shape `int f(void *data, int data_len)`, which
//!   is wrapped in an XDP program so that `data` points at a copy of the input
//!   bytes and `data_len` is the caller's real length,
//! * a complete eBPF C program (XDP, `classifier`, `socket` or `cgroup_skb`
//!   sections), or
//! * a prebuilt eBPF ELF object.
//!
//! C is compiled with Debian clang (`-target bpf -O2 -g`), loaded with aya
//! (verifier log level `STATS` by default, the full log on request) and run
//! once on the given bytes with `BPF_PROG_TEST_RUN`. The result carries the
//! return value, the kernel-measured duration and the contents of the
//! program's hash and array maps.
//!
//! Loaded programs are cached by a hash of their source: compiling and
//! verifying happens once, a repeat costs one `BPF_PROG_TEST_RUN` syscall.
//! The cache is a bounded LRU; evicting an entry drops the aya [`aya::Ebpf`]
//! and so closes its program and map file descriptors. Maps are restored to
//! their state right after load before every run, so a cached program does
//! not see the writes of earlier runs.
//!
//! Everything here needs `CAP_BPF` and `CAP_NET_ADMIN` (in practice: root);
//! without them [`Kernel::run`] returns [`EbpfError::NotPermitted`].

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use aya::maps::{Map, MapData};
use aya::programs::{Program, ProgramError, TestRun, TestRunOptions};
use aya::{EbpfLoader, VerifierLogLevel};

#[cfg(feature = "controller")]
pub mod controller;
pub mod protocol;
pub mod sidecar;

/// Largest input XDP's `BPF_PROG_TEST_RUN` passes as linear data.
pub const MAX_INPUT_LEN: usize = 3520;
/// Shortest input `BPF_PROG_TEST_RUN` accepts (an Ethernet header); shorter
/// inputs are zero-padded to this length.
pub const MIN_INPUT_LEN: usize = 14;
/// The most entries read from one map for [`RunOutput::maps`].
pub const MAX_MAP_ENTRIES_DUMPED: usize = 4096;

/// Name of the XDP entry point generated around a bare function.
const WRAPPER_ENTRY: &str = "warden_entry";
/// Name of the per-CPU scratch map the wrapper copies the input into.
const WRAPPER_SCRATCH: &str = "warden_scratch";
/// What the user is told when privileges are missing.
const PRIVILEGE_NEEDED: &str = "CAP_BPF and CAP_NET_ADMIN (run as root)";

/// The program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A C function `int NAME(void *data, int data_len)` (plus any helpers
    /// before it). It is made `static __always_inline` and wrapped in an XDP
    /// program.
    Function(String),
    /// A complete eBPF C program. `section_fn` names the program (C function)
    /// to run; without it the object must contain exactly one program.
    ///
    /// The program sees the input as packet data; inputs shorter than
    /// [`MIN_INPUT_LEN`] arrive zero-padded (only bare functions are told
    /// the real length).
    Program {
        /// The C source.
        c: String,
        /// The function to run when the object holds several programs.
        section_fn: Option<String>,
    },
    /// A prebuilt eBPF ELF object holding exactly one program.
    Object(Vec<u8>),
}

/// How much verifier output to request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifierLog {
    /// Statistics and the error only (`BPF_LOG_STATS`); the safe choice for
    /// untrusted code: long loops are rejected quickly and the log stays small.
    #[default]
    Stats,
    /// The full instruction-by-instruction log (`BPF_LOG_LEVEL2 | STATS`).
    Full,
}

/// Options for [`Kernel::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelOptions {
    /// Most loaded programs kept; at least one is always kept.
    pub cache_capacity: usize,
    /// Verifier log level used when loading.
    pub verifier_log: VerifierLog,
}

impl Default for KernelOptions {
    fn default() -> Self {
        Self {
            cache_capacity: 64,
            verifier_log: VerifierLog::Stats,
        }
    }
}

/// Map contents: key bytes and value bytes per entry.
pub type MapEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// The outcome of one [`Kernel::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The program's return value (for XDP: `XDP_*` or the bare function's value).
    pub retval: u32,
    /// Run time as measured by the kernel.
    pub duration_ns: u64,
    /// True when the program came from the cache (no compile, no verify).
    pub cached: bool,
    /// Contents of the program's hash, LRU hash and array maps after the run
    /// (including `.bss`/`.data` globals), by map name. Best effort.
    pub maps: BTreeMap<String, MapEntries>,
}

impl RunOutput {
    /// `{"retval", "duration_ns", "maps": {name: [[key hex, value hex], …]}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let maps: serde_json::Map<String, serde_json::Value> = self
            .maps
            .iter()
            .map(|(name, entries)| {
                let e: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|(k, v)| serde_json::json!([hex(k), hex(v)]))
                    .collect();
                (name.clone(), serde_json::Value::Array(e))
            })
            .collect();
        serde_json::json!({
            "retval": self.retval, "duration_ns": self.duration_ns, "maps": maps,
        })
    }
}

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    /// clang rejected the source; `message` holds its diagnostics with
    /// `snippet.c:LINE:COL` positions.
    #[error("compile error:\n{message}")]
    Compile {
        /// clang's diagnostics.
        message: String,
    },
    /// The source is not of an accepted shape.
    #[error("invalid source: {message}")]
    InvalidSource {
        /// What is wrong.
        message: String,
    },
    /// The kernel verifier rejected the program.
    #[error("verifier rejected the program:\n{log}")]
    VerifierRejected {
        /// The verifier log (with C source lines, the code is built with `-g`).
        log: String,
    },
    /// The input is longer than XDP's linear data limit.
    #[error("input is {len} bytes; at most {max} bytes are supported")]
    BufferTooLarge {
        /// Input length.
        len: usize,
        /// The limit ([`MAX_INPUT_LEN`]).
        max: usize,
    },
    /// The process lacks the privileges to use eBPF.
    #[error("operation not permitted: eBPF needs {what}")]
    NotPermitted {
        /// What is needed.
        what: &'static str,
    },
    /// Loading the object failed for another reason than the verifier.
    #[error("load failed: {message}")]
    Load {
        /// The error chain.
        message: String,
    },
    /// `BPF_PROG_TEST_RUN` failed.
    #[error("test run failed: {message}")]
    Run {
        /// The error chain.
        message: String,
    },
    /// An I/O error (temporary files, starting clang).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A malformed request reached the sidecar (bad JSON, wrong shape).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong.
        message: String,
    },
    /// The eBPF sidecar could not be reached or broke the protocol.
    #[error("{message}")]
    Sidecar {
        /// What happened, and what to do about it.
        message: String,
    },
    /// A bug or an unexpected state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EbpfError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Compile { .. } => "COMPILE",
            Self::InvalidSource { .. } => "INVALID_SOURCE",
            Self::VerifierRejected { .. } => "VERIFIER_REJECTED",
            Self::BufferTooLarge { .. } => "INPUT_TOO_LARGE",
            Self::NotPermitted { .. } => "NOT_PERMITTED",
            Self::Load { .. } => "LOAD",
            Self::Run { .. } => "RUN",
            Self::Io { .. } => "IO",
            Self::InvalidInput { .. } => "INVALID_INPUT",
            Self::Sidecar { .. } => "SIDECAR",
            Self::Internal(_) => "INTERNAL",
        }
    }

    fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Compiles, verifies, caches and runs eBPF programs.
#[derive(Debug)]
pub struct Kernel {
    options: KernelOptions,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    entries: HashMap<[u8; 32], Entry>,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    ebpf: aya::Ebpf,
    program: String,
    wrapped: bool,
    maps: Vec<MapState>,
    /// True once a run may have changed the maps.
    dirty: bool,
    last_used: u64,
}

#[derive(Debug)]
struct MapState {
    name: String,
    fd: RawFd,
    key_size: usize,
    value_size: usize,
    is_array: bool,
    initial: MapEntries,
}

impl Kernel {
    /// Creates a [`Kernel`] with an empty cache.
    pub fn new(options: KernelOptions) -> Self {
        Self {
            options,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The options this [`Kernel`] was created with.
    pub fn options(&self) -> KernelOptions {
        self.options
    }

    /// Number of loaded programs in the cache.
    pub fn cached_programs(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles and loads `source` unless cached, then hands the loaded aya
    /// program to `f` (for callers that drive `BPF_PROG_TEST_RUN` themselves,
    /// e.g. benchmarks). The cache stays locked while `f` runs.
    pub fn with_program<R>(
        &self,
        source: &Source,
        f: impl FnOnce(&Program) -> R,
    ) -> Result<R, EbpfError> {
        let key = cache_key(source);
        let mut cache = self.lock();
        cache.tick += 1;
        let tick = cache.tick;
        let entry = self.entry(&mut cache, key, source)?.0;
        entry.last_used = tick;
        let program = entry
            .ebpf
            .program(&entry.program)
            .ok_or_else(|| EbpfError::Internal("loaded program missing".into()))?;
        Ok(f(program))
    }

    /// The cache entry for `key`, built and inserted (evicting the least
    /// recently used entry when full) if missing; the flag says it was cached.
    fn entry<'c>(
        &self,
        cache: &'c mut Cache,
        key: [u8; 32],
        source: &Source,
    ) -> Result<(&'c mut Entry, bool), EbpfError> {
        let cached = cache.entries.contains_key(&key);
        if !cached {
            let entry = self.build(source)?;
            let capacity = self.options.cache_capacity.max(1);
            while cache.entries.len() >= capacity {
                let oldest = cache
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, _)| *k);
                match oldest {
                    // Dropping the entry drops the `Ebpf`, closing its fds.
                    Some(k) => drop(cache.entries.remove(&k)),
                    None => break,
                }
            }
            cache.entries.insert(key, entry);
        }
        let entry = cache
            .entries
            .get_mut(&key)
            .ok_or_else(|| EbpfError::Internal("cache entry vanished".into()))?;
        Ok((entry, cached))
    }

    /// Compiles and loads `source` unless cached, then runs it once on `data`.
    pub fn run(&self, source: &Source, data: &[u8]) -> Result<RunOutput, EbpfError> {
        if data.len() > MAX_INPUT_LEN {
            return Err(EbpfError::BufferTooLarge {
                len: data.len(),
                max: MAX_INPUT_LEN,
            });
        }
        let key = cache_key(source);
        let mut cache = self.lock();
        cache.tick += 1;
        let tick = cache.tick;
        let (entry, cached) = self.entry(&mut cache, key, source)?;
        entry.last_used = tick;
        let mut out = entry.run(data)?;
        out.cached = cached;
        Ok(out)
    }

    /// Runs `source` only if it is already cached, has no maps to restore or
    /// dump, and the cache is not busy (another thread compiling); otherwise
    /// returns `None` without blocking. Such a run costs one
    /// `BPF_PROG_TEST_RUN`, so async callers may make it inline instead of
    /// handing [`Kernel::run`] to a blocking thread.
    pub fn try_run_cached(
        &self,
        source: &Source,
        data: &[u8],
    ) -> Option<Result<RunOutput, EbpfError>> {
        if data.len() > MAX_INPUT_LEN {
            return None;
        }
        let key = cache_key(source);
        let mut cache = match self.cache.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        cache.tick += 1;
        let tick = cache.tick;
        let entry = cache.entries.get_mut(&key)?;
        if !entry.maps.is_empty() {
            return None;
        }
        entry.last_used = tick;
        Some(entry.run(data).map(|mut out| {
            out.cached = true;
            out
        }))
    }

    fn build(&self, source: &Source) -> Result<Entry, EbpfError> {
        let (object, program, wrapped) = match source {
            Source::Function(text) => {
                let c = wrap_function(text)?;
                (
                    compile(&c, Some(text))?,
                    Some(WRAPPER_ENTRY.to_owned()),
                    true,
                )
            }
            Source::Program { c, section_fn } => (compile(c, None)?, section_fn.clone(), false),
            Source::Object(bytes) => (bytes.clone(), None, false),
        };
        match self.options.verifier_log {
            VerifierLog::Full => load(
                &object,
                program,
                wrapped,
                VerifierLogLevel::VERBOSE | VerifierLogLevel::STATS,
            ),
            VerifierLog::Stats => {
                // First without a log: aya retries a failed load once with a
                // log buffer, which would run the whole verification again.
                // Without a log level that retry fails at once (the kernel
                // refuses a buffer without a level), so an accepted program
                // costs one verification and a rejected one too.
                let started = std::time::Instant::now();
                let first = load(&object, program.clone(), wrapped, VerifierLogLevel::DISABLE);
                let took = started.elapsed();
                match first {
                    Err(EbpfError::VerifierRejected { .. }) if took >= GAVE_UP_AFTER => {
                        // Only the verifier's complexity limit takes this
                        // long; verifying again for the log would take as long.
                        Err(EbpfError::VerifierRejected {
                            log: format!(
                                "the verifier analysed the program for {} ms without accepting it: \
                                 an unbounded loop, or a program too complex to verify (the kernel \
                                 stops at 1,000,000 processed instructions). The log was not \
                                 requested, because that would repeat the whole analysis; bound \
                                 every loop by a constant.",
                                took.as_millis()
                            ),
                        })
                    }
                    Err(EbpfError::VerifierRejected { .. }) => {
                        self.load_with_log(&object, program, wrapped)
                    }
                    other => other,
                }
            }
        }
    }

    /// Load again for the verifier's STATS log, and when verification was
    /// cheap, once more with the instruction log, whose tail names the C
    /// lines.
    fn load_with_log(
        &self,
        object: &[u8],
        program: Option<String>,
        wrapped: bool,
    ) -> Result<Entry, EbpfError> {
        match load(object, program.clone(), wrapped, VerifierLogLevel::STATS) {
            Err(EbpfError::VerifierRejected { log })
                if processed_insns(&log).is_some_and(|n| n <= RELOG_MAX_INSNS) =>
            {
                match load(
                    object,
                    program,
                    wrapped,
                    VerifierLogLevel::DEBUG | VerifierLogLevel::STATS,
                ) {
                    Err(EbpfError::VerifierRejected { log: full }) => {
                        Err(EbpfError::VerifierRejected {
                            log: tail_lines(&full, RELOG_TAIL_LINES),
                        })
                    }
                    _ => Err(EbpfError::VerifierRejected { log }),
                }
            }
            other => other,
        }
    }
}

/// A rejection without a log that took at least this long is the verifier
/// giving up on complexity (ordinary rejections take a few milliseconds).
const GAVE_UP_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

/// Re-verify with the instruction log when the first attempt processed at
/// most this many instructions.
const RELOG_MAX_INSNS: u64 = 100_000;
/// Lines kept from the end of such a log.
const RELOG_TAIL_LINES: usize = 80;

/// `processed N insns` from a verifier STATS log.
fn processed_insns(log: &str) -> Option<u64> {
    let at = log.find("processed ")? + "processed ".len();
    let digits: String = log[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn tail_lines(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let skip = lines.len().saturating_sub(n);
    let mut out = String::new();
    if skip > 0 {
        out.push_str(&format!("... ({skip} earlier lines omitted)\n"));
    }
    out.push_str(&lines[skip..].join("\n"));
    out
}

fn load(
    object: &[u8],
    program: Option<String>,
    wrapped: bool,
    level: VerifierLogLevel,
) -> Result<Entry, EbpfError> {
    {
        let aligned = Aligned::new(object);
        let mut ebpf = EbpfLoader::new()
            .verifier_log_level(level)
            .load(aligned.bytes())
            .map_err(|e| {
                if chain_has_eperm(&e) {
                    not_permitted()
                } else {
                    EbpfError::Load {
                        message: error_chain(&e),
                    }
                }
            })?;
        let names: Vec<String> = ebpf.programs().map(|(n, _)| n.to_owned()).collect();
        let program = match program {
            Some(p) if names.contains(&p) => p,
            Some(p) => {
                return Err(EbpfError::InvalidSource {
                    message: format!("no program named `{p}` (found: {})", names.join(", ")),
                });
            }
            None if names.len() == 1 => names.into_iter().next().unwrap_or_default(),
            None => {
                return Err(EbpfError::InvalidSource {
                    message: format!(
                        "expected exactly one program, found {} ({}); name one with section_fn",
                        names.len(),
                        names.join(", ")
                    ),
                });
            }
        };
        let loaded = match ebpf.program_mut(&program) {
            Some(Program::Xdp(p)) => p.load(),
            Some(Program::SchedClassifier(p)) => p.load(),
            Some(Program::SocketFilter(p)) => p.load(),
            Some(Program::CgroupSkb(p)) => p.load(),
            Some(_) => {
                return Err(EbpfError::InvalidSource {
                    message: format!(
                        "program `{program}` has a type BPF_PROG_TEST_RUN cannot run here \
                         (use SEC(\"xdp\"), SEC(\"classifier\"), SEC(\"socket\") or SEC(\"cgroup_skb/ingress\"))"
                    ),
                });
            }
            None => return Err(EbpfError::Internal(format!("program `{program}` vanished"))),
        };
        loaded.map_err(|e| match e {
            ProgramError::LoadError {
                io_error,
                verifier_log,
            } => {
                if io_error.raw_os_error() == Some(libc::EPERM) {
                    not_permitted()
                } else {
                    let log = verifier_log.to_string();
                    EbpfError::VerifierRejected {
                        log: if log.trim().is_empty() {
                            format!("({io_error}; the verifier produced no log)")
                        } else {
                            log
                        },
                    }
                }
            }
            other if chain_has_eperm(&other) => not_permitted(),
            other => EbpfError::Load {
                message: error_chain(&other),
            },
        })?;

        let mut maps = Vec::new();
        for (name, map) in ebpf.maps() {
            if name.starts_with(".rodata") || (wrapped && name == WRAPPER_SCRATCH) {
                continue;
            }
            let (data, is_array) = match map {
                Map::HashMap(d) | Map::LruHashMap(d) => (d, false),
                Map::Array(d) => (d, true),
                _ => continue,
            };
            if let Some(state) = MapState::new(name, data, is_array) {
                maps.push(state);
            }
        }
        Ok(Entry {
            ebpf,
            program,
            wrapped,
            maps,
            dirty: false,
            last_used: 0,
        })
    }
}

impl Entry {
    fn run(&mut self, data: &[u8]) -> Result<RunOutput, EbpfError> {
        if self.dirty {
            for m in &self.maps {
                m.restore();
            }
        }
        // Input: for wrapped functions 4 bytes of XDP metadata holding the
        // real length, then the data zero-padded to MIN_INPUT_LEN.
        let mut buf = [0u8; 4 + MAX_INPUT_LEN];
        let meta = if self.wrapped { 4 } else { 0 };
        let padded = data.len().max(MIN_INPUT_LEN);
        let len32 = u32::try_from(data.len()).map_err(|_| EbpfError::BufferTooLarge {
            len: data.len(),
            max: MAX_INPUT_LEN,
        })?;
        if self.wrapped {
            buf[..4].copy_from_slice(&len32.to_ne_bytes());
        }
        buf[meta..meta + data.len()].copy_from_slice(data);
        let data_in = &buf[..meta + padded];
        let ctx = xdp_md_bytes(meta as u32, (meta + padded) as u32);
        let opts = TestRunOptions {
            data_in: Some(data_in),
            ctx_in: if self.wrapped { Some(&ctx) } else { None },
            ..TestRunOptions::new()
        };
        let result = match self.ebpf.program(&self.program) {
            Some(Program::Xdp(p)) => p.test_run(opts),
            Some(Program::SchedClassifier(p)) => p.test_run(opts),
            Some(Program::SocketFilter(p)) => p.test_run(opts),
            Some(Program::CgroupSkb(p)) => p.test_run(opts),
            _ => return Err(EbpfError::Internal("loaded program missing".into())),
        };
        self.dirty = !self.maps.is_empty();
        let result = result.map_err(|e| {
            if chain_has_eperm(&e) {
                not_permitted()
            } else {
                EbpfError::Run {
                    message: error_chain(&e),
                }
            }
        })?;
        let maps = self
            .maps
            .iter()
            .map(|m| (m.name.clone(), m.dump()))
            .collect();
        Ok(RunOutput {
            retval: result.return_value,
            duration_ns: u64::try_from(result.duration.as_nanos()).unwrap_or(u64::MAX),
            cached: false,
            maps,
        })
    }
}

/// `struct xdp_md` for `ctx_in`: data offset (= metadata length), data_end,
/// data_meta 0, and zero interface / queue indices.
fn xdp_md_bytes(data: u32, data_end: u32) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..4].copy_from_slice(&data.to_ne_bytes());
    out[4..8].copy_from_slice(&data_end.to_ne_bytes());
    out
}

fn not_permitted() -> EbpfError {
    EbpfError::NotPermitted {
        what: PRIVILEGE_NEEDED,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn chain_has_eperm(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<io::Error>()
            && io.raw_os_error() == Some(libc::EPERM)
        {
            return true;
        }
        cur = c.source();
    }
    false
}

fn cache_key(source: &Source) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    match source {
        Source::Function(t) => {
            h.update(b"function\0");
            h.update(t.as_bytes());
        }
        Source::Program { c, section_fn } => {
            h.update(b"program\0");
            h.update(&(c.len() as u64).to_le_bytes());
            h.update(c.as_bytes());
            h.update(section_fn.as_deref().unwrap_or("\0none").as_bytes());
        }
        Source::Object(b) => {
            h.update(b"object\0");
            h.update(b);
        }
    }
    *h.finalize().as_bytes()
}

/// A copy of an object file in 8-byte aligned storage (aya wants 4).
struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl Aligned {
    fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_ne_bytes(b);
        }
        Self {
            words,
            len: bytes.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialised bytes; u8 has no
        // alignment or validity requirements.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

// ---------------------------------------------------------------------------
// Raw map access (aya's typed maps need compile-time key/value sizes).

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf_map_call(cmd: libc::c_long, fd: RawFd, key: *const u8, value: *const u8) -> bool {
    let attr = MapElemAttr {
        map_fd: fd as u32,
        _pad: 0,
        key: key as u64,
        value: value as u64,
        flags: 0,
    };
    // SAFETY: `attr` is a valid bpf_attr prefix for the map element commands;
    // the key/value pointers point to buffers of the map's key/value size
    // (or are null where the kernel allows it), which outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            &attr as *const MapElemAttr,
            std::mem::size_of::<MapElemAttr>(),
        )
    };
    ret == 0
}

impl MapState {
    fn new(name: &str, data: &MapData, is_array: bool) -> Option<Self> {
        let info = data.info().ok()?;
        let mut state = Self {
            name: name.to_owned(),
            fd: data.fd().as_fd().as_raw_fd(),
            key_size: info.key_size() as usize,
            value_size: info.value_size() as usize,
            is_array,
            initial: Vec::new(),
        };
        state.initial = state.dump();
        Some(state)
    }

    fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut next = vec![0u8; self.key_size];
        let mut prev: Option<Vec<u8>> = None;
        while keys.len() < MAX_MAP_ENTRIES_DUMPED {
            let key_ptr = prev.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
            if !bpf_map_call(BPF_MAP_GET_NEXT_KEY, self.fd, key_ptr, next.as_mut_ptr()) {
                break;
            }
            keys.push(next.clone());
            prev = Some(next.clone());
        }
        keys
    }

    fn dump(&self) -> MapEntries {
        let mut out = Vec::new();
        for key in self.keys() {
            let mut value = vec![0u8; self.value_size];
            if bpf_map_call(
                BPF_MAP_LOOKUP_ELEM,
                self.fd,
                key.as_ptr(),
                value.as_mut_ptr(),
            ) {
                out.push((key, value));
            }
        }
        out
    }

    fn restore(&self) {
        if !self.is_array {
            for key in self.keys() {
                bpf_map_call(BPF_MAP_DELETE_ELEM, self.fd, key.as_ptr(), std::ptr::null());
            }
        }
        for (k, v) in &self.initial {
            bpf_map_call(BPF_MAP_UPDATE_ELEM, self.fd, k.as_ptr(), v.as_ptr());
        }
    }
}

// ---------------------------------------------------------------------------
// C handling.

/// Compiles C to a BPF object with clang; diagnostics name the file `snippet.c`.
///
/// With `original`, `c` is generated code (written as `wrapped.c`) whose
/// `#line` directives point into `original` (written as `snippet.c`, so that
/// clang's BTF line info quotes the user's own lines).
fn compile(c: &str, original: Option<&str>) -> Result<Vec<u8>, EbpfError> {
    let dir = tempfile::Builder::new()
        .prefix("warden-ebpf-")
        .tempdir()
        .map_err(|e| EbpfError::io("creating a temporary directory", e))?;
    let main = if original.is_some() {
        "wrapped.c"
    } else {
        "snippet.c"
    };
    let obj = dir.path().join("snippet.o");
    std::fs::write(dir.path().join(main), c)
        .map_err(|e| EbpfError::io(format!("writing {main}"), e))?;
    if let Some(original) = original {
        std::fs::write(dir.path().join("snippet.c"), original)
            .map_err(|e| EbpfError::io("writing snippet.c", e))?;
    }
    let output = Command::new("clang")
        .current_dir(dir.path())
        .args([
            "-target",
            "bpf",
            "-O2",
            "-g",
            "-fno-color-diagnostics",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
            main,
            "-o",
            "snippet.o",
        ])
        .output()
        .map_err(|e| EbpfError::io("running clang (is it installed?)", e))?;
    if !output.status.success() {
        let mut message = String::from_utf8_lossy(&output.stderr).into_owned();
        message = scrub_paths(&message, dir.path());
        if message.trim().is_empty() {
            message = format!("clang failed with {}", output.status);
        }
        return Err(EbpfError::Compile { message });
    }
    std::fs::read(&obj).map_err(|e| EbpfError::io("reading snippet.o", e))
}

fn scrub_paths(message: &str, dir: &Path) -> String {
    let d = dir.display().to_string();
    message
        .replace(&format!("{d}/snippet.c"), "snippet.c")
        .replace(&format!("{d}/"), "")
        .replace(&d, ".")
}

/// Where the user's entry function is: byte offset of its `int`, and its name.
fn find_function(text: &str) -> Option<(usize, String)> {
    let b = text.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut from = 0;
    while let Some(rel) = text[from..].find("int") {
        let start = from + rel;
        from = start + 3;
        if start > 0 && is_ident(b[start - 1]) {
            continue;
        }
        let mut p = Parser { b, pos: start };
        if let Some(name) = p.signature() {
            return Some((start, name));
        }
    }
    None
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.pos < self.b.len() && self.b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.ws();
        let start = self.pos;
        while self.pos < self.b.len()
            && (self.b[self.pos].is_ascii_alphanumeric() || self.b[self.pos] == b'_')
        {
            self.pos += 1;
        }
        if start == self.pos || self.b[start].is_ascii_digit() {
            return None;
        }
        Some(String::from_utf8_lossy(&self.b[start..self.pos]).into_owned())
    }

    fn punct(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    fn keyword(&mut self, k: &str) -> Option<()> {
        (self.ident()? == k).then_some(())
    }

    /// `int NAME ( void * ID , int ID ) {`
    fn signature(&mut self) -> Option<String> {
        self.keyword("int")?;
        let name = self.ident()?;
        self.punct(b'(')?;
        self.keyword("void")?;
        self.punct(b'*')?;
        self.ident()?;
        self.punct(b',')?;
        self.keyword("int")?;
        self.ident()?;
        self.punct(b')')?;
        self.punct(b'{')?;
        Some(name)
    }
}

/// Wraps a bare function in an XDP program (see the crate docs).
fn wrap_function(text: &str) -> Result<String, EbpfError> {
    let (at, name) = find_function(text).ok_or_else(|| EbpfError::InvalidSource {
        message:
            "no function definition of the shape `int NAME(void *data, int data_len) { … }` found"
                .into(),
    })?;
    if name == WRAPPER_ENTRY {
        return Err(EbpfError::InvalidSource {
            message: format!("the name `{WRAPPER_ENTRY}` is reserved"),
        });
    }
    let (before, after) = text.split_at(at);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let prefix = before[line_start..].trim();
    let has_static = prefix.split_whitespace().any(|w| w == "static");
    let qualifier = if has_static {
        "__always_inline"
    } else {
        "static __always_inline"
    };
    let head = format!(
        r#"#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#line 1 "snippet.c"
{before}{qualifier}
#line {line} "snippet.c"
{after}
"#
    );
    let wrapper_line = head.matches('\n').count() + 2;
    Ok(format!(
        r#"{head}#line {wrapper_line} "wrapped.c"
struct warden_buf {{ unsigned char b[4096]; }};
struct {{
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct warden_buf);
}} {scratch} SEC(".maps");

SEC("xdp")
int {entry}(struct xdp_md *ctx)
{{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    void *meta = (void *)(long)ctx->data_meta;
    __u32 pkt_len = (__u32)(data_end - data);
    __u32 len = pkt_len;
    if (meta + 4 <= data)
        len = *(__u32 *)meta;
    if (len > pkt_len)
        len = pkt_len;
    if (len > {max})
        len = {max};
    /* Masks keep the verifier's bounds tight through clang's rewrites:
       n is in [1, 4096], len in [0, 4095]. */
    __u64 n = pkt_len;
    if (n > {max})
        n = {max};
    n = ((n - 1) & 4095) + 1;
    __u64 real = len & 4095;
    __u32 zero = 0;
    struct warden_buf *buf = bpf_map_lookup_elem(&{scratch}, &zero);
    if (!buf)
        return 0;
    if (bpf_xdp_load_bytes(ctx, 0, buf->b, n) < 0)
        return 0;
    return {name}(buf->b, (int)real);
}}

char _license[] SEC("license") = "GPL";
"#,
        max = MAX_INPUT_LEN,
        scratch = WRAPPER_SCRATCH,
        entry = WRAPPER_ENTRY,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_function_name() {
        let src = "// hi\nstatic int helper(int x) { return x; }\nint my_fn ( void *d, int l )\n{ return l; }";
        let (at, name) = find_function(src).expect("found");
        assert_eq!(name, "my_fn");
        assert!(src[at..].starts_with("int my_fn"));
        assert!(find_function("int f(void *d, long l) { return 0; }").is_none());
        assert!(find_function("int f(void *d, int l);").is_none());
    }

    #[test]
    fn wrapper_keeps_line_numbers() {
        let c = wrap_function("\n\nint f(void *data, int data_len) { return data_len; }")
            .expect("wraps");
        assert!(c.contains("static __always_inline\n#line 3 \"snippet.c\"\nint f("));
        let c =
            wrap_function("static int f(void *data, int data_len) { return 0; }").expect("wraps");
        assert!(c.contains("static __always_inline\n#line 1"));
    }

    #[test]
    fn too_large_is_rejected_before_anything() {
        let rt = Kernel::new(KernelOptions::default());
        let err = rt
            .run(
                &Source::Function("int f(void *d, int l) { return l; }".into()),
                &[0; 4000],
            )
            .expect_err("too large");
        assert_eq!(err.code(), "INPUT_TOO_LARGE");
    }
}
