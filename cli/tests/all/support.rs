//! Shared helpers: running the `warden` binary, temporary files, and eBPF skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The only stderr line, asserting there is exactly one.
    pub fn error_line(&self) -> &str {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one error line: {self:#?}");
        lines[0]
    }
}

/// Runs warden with a private cache directory (after the subcommand's own
/// arguments) and optional stdin.
pub struct Warden {
    cache: tempfile::TempDir,
}

impl Warden {
    pub fn new() -> Self {
        Warden {
            cache: tempfile::tempdir().expect("temp cache dir"),
        }
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, b"")
    }

    /// Runs warden and asserts its exit code, returning the output.
    #[track_caller]
    pub fn run_exit(&self, code: i32, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, code, "{out:#?}");
        out
    }

    /// Runs warden and asserts it succeeded (exit code 0).
    #[track_caller]
    pub fn run_ok(&self, args: &[&str]) -> Out {
        self.run_exit(0, args)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        let mut cmd = Command::new(WARDEN);
        cmd.args(args);
        if matches!(
            args.first(),
            Some(&("run" | "inspect" | "compile" | "exec" | "build" | "runtimes"))
        ) {
            cmd.arg("--cache-dir").arg(self.cache.path());
        }
        cmd.env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn warden");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait for warden");
        Out {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Writes `contents` to the file `name` in `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// eBPF needs root: skip visibly without it, unless REQUIRE_EBPF=1 (CI).
pub fn ebpf_unavailable(out: &Out) -> bool {
    if out.stderr.contains("error[UNAVAILABLE]") && out.stderr.contains("not permitted") {
        assert!(
            std::env::var("REQUIRE_EBPF").as_deref() != Ok("1"),
            "REQUIRE_EBPF=1 but eBPF is unavailable: {out:#?}"
        );
        eprintln!("SKIP: eBPF unavailable ({})", out.stderr.trim());
        return true;
    }
    false
}

/// Starts the `warden-ebpf-sidecar` next to warden on `sock` and waits for
/// the socket. `None` (a visible skip, unless REQUIRE_EBPF=1) when the
/// sidecar exits at once because eBPF is unavailable; the caller kills and
/// waits for the child it gets.
#[track_caller]
pub fn start_sidecar(sock: &Path) -> Option<Child> {
    // The sidecar binary sits next to warden.
    let sidecar = std::path::Path::new(WARDEN).with_file_name("warden-ebpf-sidecar");
    assert!(
        sidecar.is_file(),
        "{} is built with the workspace",
        sidecar.display()
    );
    let mut child = Command::new(&sidecar)
        .args(["--socket", sock.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the sidecar");
    for _ in 0..200 {
        if sock.exists() || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    if let Some(status) = child.try_wait().unwrap() {
        let mut msg = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut msg).unwrap();
        assert!(
            std::env::var("REQUIRE_EBPF").as_deref() != Ok("1"),
            "REQUIRE_EBPF=1 but the sidecar exited ({status}): {msg}"
        );
        eprintln!("SKIP: eBPF unavailable (the sidecar exited: {msg})");
        return None;
    }
    Some(child)
}
