//! `warden-ebpf-sidecar`: the privileged process that compiles, verifies and
//! runs eBPF programs for unprivileged warden hosts over a Unix socket.
//!
//! ```text
//! warden-ebpf-sidecar [--socket PATH] [--cache N]
//! ```
//!
//! `--socket` defaults to `/run/warden/ebpf.sock`; `--cache` is the number of
//! loaded programs kept (default 64). Needs `CAP_BPF` and `CAP_NET_ADMIN`
//! (in practice: run it as root).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use warden_ebpf::sidecar::{DEFAULT_SOCKET, bind, serve};
use warden_ebpf::{Kernel, KernelOptions, Source};

const USAGE: &str = "usage: warden-ebpf-sidecar [--socket PATH] [--cache N]";

struct Args {
    socket: PathBuf,
    cache: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        socket: PathBuf::from(DEFAULT_SOCKET),
        cache: KernelOptions::default().cache_capacity,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = |n: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .with_context(|| format!("{n} needs a value\n{USAGE}"))
        };
        match name.as_str() {
            "--socket" => args.socket = PathBuf::from(value("--socket")?),
            "--cache" => {
                let v = value("--cache")?;
                args.cache = v
                    .parse()
                    .with_context(|| format!("--cache: `{v}` is not a number"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warden-ebpf-sidecar: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let args = parse_args()?;
    let runtime = Arc::new(Kernel::new(KernelOptions {
        cache_capacity: args.cache.max(1),
        ..KernelOptions::default()
    }));
    // Check eBPF works before accepting anyone.
    let probe = Source::Function("int probe(void *data, int data_len) { return 0; }".into());
    let rt = Arc::clone(&runtime);
    let probed = tokio::task::spawn_blocking(move || rt.run(&probe, &[0; 14]))
        .await
        .context("probe task failed")?;
    if let Err(e) = probed {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        let hint = if euid != 0 {
            format!(
                "not running as root (euid {euid}): the sidecar needs CAP_BPF and \
                 CAP_NET_ADMIN; run it as root (e.g. `sudo warden-ebpf-sidecar --socket {}`)",
                args.socket.display()
            )
        } else {
            "eBPF is unavailable even as root: check that the kernel supports BPF, \
             that clang is installed, and that no seccomp/LSM policy blocks bpf(2)"
                .to_owned()
        };
        bail!(
            "cannot load a trivial eBPF program ({}: {e})\n{hint}",
            e.code()
        );
    }
    let listener = bind(&args.socket)
        .await
        .with_context(|| format!("binding {}", args.socket.display()))?;
    eprintln!(
        "warden-ebpf-sidecar: serving on {} (cache {})",
        args.socket.display(),
        args.cache.max(1)
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        () = serve(listener, runtime) => {}
        r = tokio::signal::ctrl_c() => { r.context("waiting for ctrl-c")?; }
        _ = term.recv() => {}
    }
    let _ = std::fs::remove_file(&args.socket);
    Ok(())
}
