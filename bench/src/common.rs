//! What the suites share: statistics and duration formatting, finding files
//! of the repository, running the Node.js peers, usage errors and stdout.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

// ---------------------------------------------------------------- statistics

#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) samples: usize,
    pub(crate) median: f64,
    pub(crate) p90: f64,
    pub(crate) mean: f64,
}

pub(crate) fn stats(mut v: Vec<u64>) -> Stats {
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        return Stats {
            samples: 0,
            median: 0.0,
            p90: 0.0,
            mean: 0.0,
        };
    }
    let median = if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0
    };
    let p90 = v[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1] as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    Stats {
        samples: n,
        median,
        p90,
        mean,
    }
}

pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

// ---------------------------------------------------------------- the repository

/// `rel` (a path inside the repository) found above the executable, above the
/// current directory, or in the checkout this binary was built from, if `ok`
/// accepts it.
pub(crate) fn find_in_repo(rel: &str, ok: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        bases.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        bases.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    // bench/ -> the repository root, for a target dir outside the checkout.
    if let Some(root) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
        bases.push(root.to_path_buf());
    }
    bases.into_iter().map(|b| b.join(rel)).find(|p| ok(p))
}

/// Run a Node.js peer script `dir/peers.mjs` on the cases in `spec` (written
/// to a temporary JSON file) and parse the JSON it prints.
pub(crate) fn run_node_peers(dir: &Path, spec: &serde_json::Value) -> Result<serde_json::Value> {
    let file = tempfile::NamedTempFile::new().context("creating the peers' case file")?;
    std::fs::write(file.path(), serde_json::to_vec(spec)?).context("writing the peers' cases")?;
    let out = std::process::Command::new("node")
        .arg(dir.join("peers.mjs"))
        .arg(file.path())
        .current_dir(dir)
        .output()
        .context("running node (the peers need Node.js)")?;
    if !out.status.success() {
        bail!(
            "the peers in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("the peers' JSON")
}

// ---------------------------------------------------------------- errors and output

/// A bad command line that clap could not catch (exit code 2).
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A [`Usage`] error as an `anyhow::Error`.
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Write to stdout, treating a closed pipe (`warden-bench | head`) as success.
pub(crate) fn stdout_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Write one line to stdout (see [`stdout_bytes`]).
pub(crate) fn stdout_line(line: &str) -> std::io::Result<()> {
    stdout_bytes(format!("{line}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90() {
        let s = stats((1..=10).collect());
        assert_eq!(s.median, 5.5);
        assert_eq!(s.p90, 9.0);
        let s = stats(vec![7]);
        assert_eq!((s.median, s.p90), (7.0, 7.0));
    }

    #[test]
    fn durations_format() {
        assert_eq!(fmt_ns(850.0), "850 ns");
        assert_eq!(fmt_ns(31_200.0), "31.2 µs");
        assert_eq!(fmt_ns(2_500_000.0), "2.50 ms");
    }
}
