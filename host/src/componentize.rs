//! What a plugin file may hold — a component, WAT text, or a WASI preview1
//! core module (adapted with the preview1 adapter) — turned into component
//! bytes, with a typed error for anything else.

use crate::error::{Error, Result};

pub use warden_api::SourceKind;

/// Turn what a plugin file holds — a component, WAT text, or a WASI
/// preview1 core module (adapted with the preview1 adapter) — into component
/// bytes, as [`Host::load_bytes`] does before compiling. `name` is only used
/// in errors.
pub fn componentize(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, SourceKind)> {
    to_component(name, bytes)
}

pub(crate) fn to_component(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, SourceKind)> {
    if wasmparser::Parser::is_component(bytes) {
        return Ok((bytes.to_vec(), SourceKind::Component));
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return adapt_core_module(name, bytes);
    }
    if bytes.starts_with(b"\0asm") {
        return Err(Error::NotWasm {
            plugin: name.into(),
            detail: "unsupported WebAssembly version or layer in the header".into(),
        });
    }
    // Text? Try WAT.
    match std::str::from_utf8(bytes) {
        Ok(text) if looks_like_wat(text) => {
            let parsed = wat::parse_str(text).map_err(|e| Error::NotWasm {
                plugin: name.into(),
                detail: format!("invalid WAT: {e}"),
            })?;
            if wasmparser::Parser::is_component(&parsed) {
                Ok((parsed, SourceKind::Wat))
            } else {
                adapt_core_module(name, &parsed).map(|(b, _)| (b, SourceKind::Wat))
            }
        }
        _ => {
            let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Err(Error::NotWasm {
                plugin: name.into(),
                detail: format!(
                    "expected the `\\0asm` magic or WAT text, found bytes [{}] ({} bytes in all)",
                    head.join(" "),
                    bytes.len()
                ),
            })
        }
    }
}

fn looks_like_wat(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('(') || t.starts_with(";;")
}

/// Adapt a WASI preview1 core module into a component with the adapter from
/// `wasi-preview1-component-adapter-provider`.
fn adapt_core_module(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, SourceKind)> {
    let mut imports_wasi = false;
    let mut has_start = false;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::ImportSection(reader)) => {
                for imp in reader.into_imports().flatten() {
                    if imp.module == "wasi_snapshot_preview1" {
                        imports_wasi = true;
                    }
                }
            }
            Ok(wasmparser::Payload::ExportSection(reader)) => {
                for exp in reader.into_iter().flatten() {
                    if exp.name == "_start" {
                        has_start = true;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                return Err(Error::NotWasm {
                    plugin: name.into(),
                    detail: format!("malformed core module: {e}"),
                });
            }
        }
    }
    if !imports_wasi {
        return Err(Error::NotAComponent {
            plugin: name.into(),
            detail: "this is a core WebAssembly module without WASI preview1 imports; warden runs \
                     components: build for wasm32-wasip2, or for wasm32-wasip1 so warden can adapt it"
                .into(),
        });
    }
    let (adapter, kind) = if has_start {
        (
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
            SourceKind::Preview1Command,
        )
    } else {
        (
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            SourceKind::Preview1Reactor,
        )
    };
    let encoded = wit_component::ComponentEncoder::default()
        .module(bytes)
        .and_then(|e| e.adapter("wasi_snapshot_preview1", adapter))
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| Error::NotAComponent {
            plugin: name.into(),
            detail: format!("adapting the preview1 module failed: {e:#}"),
        })?;
    Ok((encoded, kind))
}
