//! The componentize-py command line, written once: `build.rs` includes this
//! file (`#[path]`) to build the engine, and [`crate::build_plugin`] uses it
//! to build a plugin. It depends on nothing but std so both can.

use std::path::Path;
use std::process::Command;

/// `componentize-py -d wit -w script-engine componentize app -p DIR… -o OUT`,
/// run in `root` (which holds `wit/`), with each of `paths` on the Python
/// path. `VIRTUAL_ENV` is removed: with it set, componentize-py would add the
/// venv's own site-packages to the component.
pub fn command<P: AsRef<Path>>(cpy: &Path, root: &Path, paths: &[P], out: &Path) -> Command {
    let mut cmd = Command::new(cpy);
    cmd.current_dir(root).env_remove("VIRTUAL_ENV").args([
        "-d",
        "wit",
        "-w",
        "script-engine",
        "componentize",
        "app",
    ]);
    for p in paths {
        cmd.arg("-p").arg(p.as_ref());
    }
    cmd.arg("-o").arg(out);
    cmd
}
