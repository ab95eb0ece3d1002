//! `wasi:filesystem` glue: granted directories become preopens (cap-std
//! underneath: `..`, absolute paths and symlinks out of a directory fail in
//! the guest), and `descriptor.open-at` is wrapped so the receipt lists the
//! paths a guest opened.

use std::collections::BTreeSet;

use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;

use super::HasContexts;
use crate::error::{Error, Result};
use crate::policy::{DirGrant, Grants};
use crate::receipt::Receipt;

/// At most this many opened paths are kept for the receipt.
const MAX_RECORDED_PATHS: usize = 256;

/// The files capability of one call: the granted directories (as the
/// receipt shows them) and the paths opened.
#[derive(Debug, Default)]
pub(crate) struct FilesCtx {
    dirs: Vec<String>,
    paths: BTreeSet<String>,
}

impl FilesCtx {
    /// Preopen every granted directory on `wasi`.
    pub(crate) fn configure(wasi: &mut WasiCtxBuilder, grants: &Grants) -> Result<Self> {
        for d in &grants.dirs {
            wasi.preopened_dir(&d.host, &d.guest, perms(d))
                .map_err(|e| {
                    Error::io(
                        format!("granting directory {}", d.host.display()),
                        std::io::Error::other(e.to_string()),
                    )
                })?;
        }
        Ok(FilesCtx {
            dirs: grants.dirs.iter().map(describe).collect(),
            paths: BTreeSet::new(),
        })
    }

    pub(crate) fn reset(&mut self) {
        self.paths.clear();
    }

    pub(crate) fn opened(&mut self, path: &str) {
        if self.paths.len() < MAX_RECORDED_PATHS {
            self.paths.insert(path.to_string());
        }
    }

    pub(crate) fn record(&mut self, receipt: &mut Receipt) {
        receipt.dirs = self.dirs.clone();
        receipt.paths.append(&mut self.paths);
    }
}

/// Check that every granted directory exists (before any instance is made,
/// so a missing directory is an error of the grant, not of the guest).
pub(crate) fn check_dirs(grants: &Grants) -> Result<()> {
    for d in &grants.dirs {
        if !d.host.is_dir() {
            return Err(Error::io(
                format!("granting directory {}", d.host.display()),
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
    }
    Ok(())
}

fn perms(grant: &DirGrant) -> wasmtime_wasi::FsPerms {
    if grant.writable {
        wasmtime_wasi::FsPerms::ReadWrite
    } else {
        wasmtime_wasi::FsPerms::ReadOnly
    }
}

fn describe(d: &DirGrant) -> String {
    format!(
        "{} -> {} ({})",
        d.host.display(),
        d.guest,
        if d.writable { "rw" } else { "ro" }
    )
}

/// Wrap `descriptor.open-at` to record the path; the real work is
/// wasmtime-wasi's own implementation.
pub(crate) fn record_opened_paths<T: HasContexts>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::filesystem::types::{
        DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
    };
    type Args = (
        Resource<Descriptor>,
        PathFlags,
        String,
        OpenFlags,
        DescriptorFlags,
    );

    linker.allow_shadowing(true);
    let mut types = linker.instance("wasi:filesystem/types@0.2.12")?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store, (fd, path_flags, path, oflags, flags): Args| {
            Box::new(async move {
                let state: &mut T = store.data_mut();
                state.contexts().files.opened(&path);
                let opened = HostDescriptor::open_at(
                    &mut state.filesystem(),
                    fd,
                    path_flags,
                    path,
                    oflags,
                    flags,
                )
                .await;
                let result: Result<Resource<Descriptor>, ErrorCode> = match opened {
                    Ok(d) => Ok(d),
                    Err(e) => Err(e.downcast()?),
                };
                Ok((result,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preopens_granted_dirs_and_records_what_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let grants = Grants {
            dirs: vec![DirGrant {
                host: dir.path().into(),
                guest: "/data".into(),
                writable: false,
            }],
            ..Grants::default()
        };
        check_dirs(&grants).unwrap();
        let mut files = FilesCtx::configure(&mut WasiCtxBuilder::new(), &grants).unwrap();
        for i in 0..300 {
            files.opened(&format!("f{i:03}"));
        }
        let mut receipt = Receipt::default();
        files.record(&mut receipt);
        assert_eq!(receipt.paths.len(), MAX_RECORDED_PATHS);
        assert_eq!(receipt.dirs.len(), 1);
        assert!(
            receipt.dirs[0].ends_with("-> /data (ro)"),
            "{:?}",
            receipt.dirs
        );

        let missing = Grants {
            dirs: vec![DirGrant {
                host: dir.path().join("nope"),
                guest: "/x".into(),
                writable: true,
            }],
            ..Grants::default()
        };
        assert_eq!(
            check_dirs(&missing).unwrap_err().code(),
            crate::ErrorCode::Io
        );
    }
}
