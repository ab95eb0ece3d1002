//! Loading a plugin off the async runtime, with a spinner when it is slow.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use warden_host::{Host, Plugin};

/// Show the spinner only when loading takes longer than this.
const SPINNER_AFTER: Duration = Duration::from_millis(300);

/// `host.load_file(path)` on the blocking pool. When it takes longer than
/// ~300 ms (a compile rather than a cache hit) and stderr is a terminal, a
/// "compiling <name>…" spinner ticks until it is done. Returns the plugin and
/// how long loading took. Warden's own errors come back unwrapped so their
/// code is reported.
pub async fn load(host: &Host, path: &Path) -> Result<(Plugin, Duration)> {
    let started = Instant::now();
    let h = host.clone();
    let p = path.to_path_buf();
    let mut task = tokio::task::spawn_blocking(move || h.load_file(&p));
    let joined = match tokio::time::timeout(SPINNER_AFTER, &mut task).await {
        Ok(joined) => joined,
        Err(_) => {
            let spinner = std::io::stderr().is_terminal().then(|| spinner(path));
            let joined = task.await;
            if let Some(s) = spinner {
                s.finish_and_clear();
            }
            joined
        }
    };
    let plugin = joined.context("the loading thread panicked")??;
    Ok((plugin, started.elapsed()))
}

fn spinner(path: &Path) -> indicatif::ProgressBar {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("compiling {name}…"));
    bar.enable_steady_tick(Duration::from_millis(80));
    bar
}
