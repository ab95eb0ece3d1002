//! The [`Kernel`]: compiles a [`Source`] (see `c`), loads and verifies it
//! with aya, keeps loaded programs in a bounded LRU cache keyed by a hash of
//! the source, and runs them once per call with `BPF_PROG_TEST_RUN`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aya::maps::Map;
use aya::programs::{Program, ProgramError, TestRun, TestRunOptions};
use aya::{EbpfLoader, VerifierLogLevel};

use crate::c::{MAX_INPUT_LEN, WRAPPER_ENTRY, WRAPPER_SCRATCH, compile, wrap_function};
use crate::error::{EbpfError, chain_has_eperm, error_chain, not_permitted};
use crate::maps::{Aligned, MapEntries, MapState};

/// Shortest input `BPF_PROG_TEST_RUN` accepts (an Ethernet header); shorter
/// inputs are zero-padded to this length.
pub const MIN_INPUT_LEN: usize = 14;

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

#[cfg(test)]
mod tests {
    use super::*;

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
