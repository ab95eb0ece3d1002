//! What a plugin may touch: [`Grants`] (deny by default), [`Limits`], and the
//! [`TrustLevel`] presets that bundle both.
//!
//! Enforcement happens in two places, both driven by the same grants:
//! 1. **At link time** ([`check_imports`]): a component that imports a
//!    capability interface the grants do not cover is refused with
//!    `CAPABILITY_DENIED` naming the import, before any guest code runs.
//! 2. **At call time**: the first statement of every host function checks the
//!    grant for the specific resource (kv namespace, host function name, event
//!    topic, HTTP host, socket address, directory) and returns the WIT error
//!    value `denied(..)` the guest can handle.
//!
//! Always granted, by design: `wasi:clocks` (wall and monotonic) and
//! `wasi:random`, because Rust's and Python's standard libraries import them
//! on start-up and they reach nothing outside the sandbox. `wasi:cli`,
//! `wasi:io` and `wasi:filesystem` are always *linked* (every Rust std guest
//! imports them) but hold nothing unless granted: no environment variables, no
//! preopened directories, stdin empty, stdout/stderr captured under the output
//! cap. `wasi:sockets` is linked the same way (std's networking imports it);
//! every address is refused unless a socket grant allows it, and DNS lookups
//! are off.

use crate::error::{Error, Result};

pub use warden_api::{
    Capability, Ceiling, DirGrant, EnvGrant, Grants, HostFnGrant, ImportClass, KvGrant,
    LimitOverrides, Pattern, Policy, TrustLevel, classify_import, lower, lower_unchecked,
};

/// The one lowering of a caller's config to the policy its call runs
/// under, checked against `ceiling` ([`warden_api::lower`], with the host's
/// error type).
pub fn lower_config(config: &warden_api::ExecConfig, ceiling: &Ceiling) -> Result<Policy> {
    lower(config, ceiling).map_err(Error::from)
}

/// When warden's own capability interfaces (`log`, `kv`, `host`, `events`)
/// are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportCheck {
    /// Importing one that is not granted refuses the component (the default).
    AtLink,
    /// Script engines import all of them whatever the script uses: link them
    /// and let each call's grant check decide (`denied` error values).
    AtCall,
}

/// Check a component's import names against the grants: every import must be
/// provided by warden and, if it is a capability, granted.
pub fn check_imports<'a>(
    plugin: &str,
    imports: impl IntoIterator<Item = &'a str>,
    grants: &Grants,
) -> Result<()> {
    check_imports_with(plugin, imports, grants, ImportCheck::AtLink)
}

/// [`check_imports`] with an explicit [`ImportCheck`] mode.
pub fn check_imports_with<'a>(
    plugin: &str,
    imports: impl IntoIterator<Item = &'a str>,
    grants: &Grants,
    mode: ImportCheck,
) -> Result<()> {
    for name in imports {
        match classify_import(name) {
            ImportClass::Capability(cap)
                if mode == ImportCheck::AtCall && cap.is_warden_interface() => {}
            ImportClass::Capability(cap) if !grants.has(cap) => {
                return Err(Error::CapabilityDenied {
                    plugin: plugin.to_string(),
                    capability: cap.name().to_string(),
                    detail: format!("the component imports `{name}`, which is not granted"),
                });
            }
            ImportClass::Unknown => {
                return Err(Error::CapabilityDenied {
                    plugin: plugin.to_string(),
                    capability: "unknown".to_string(),
                    detail: format!(
                        "the component imports `{name}`, which warden does not provide"
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_checked() {
        // The classification itself is tested in warden-api (interfaces.rs).
        let imports = ["wasi:cli/stdout@0.2.0", "warden:plugin/kv@0.1.0"];
        let err = check_imports("p", imports, &Grants::none()).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::CapabilityDenied);
        assert!(err.to_string().contains("warden:plugin/kv@0.1.0"), "{err}");
        let granted = Grants::none().allow(Capability::Kv).unwrap();
        check_imports("p", imports, &granted).unwrap();

        let err = check_imports("p", ["acme:evil/net"], &granted).unwrap_err();
        assert!(err.to_string().contains("does not provide"), "{err}");

        // Script engines: warden's interfaces are checked per call, WASI http still at link.
        let engine = ["warden:plugin/kv@0.1.0", "warden:plugin/log@0.1.0"];
        check_imports_with("e", engine, &Grants::none(), ImportCheck::AtCall).unwrap();
        let http = ["wasi:http/outgoing-handler@0.2.12"];
        assert!(check_imports_with("e", http, &Grants::none(), ImportCheck::AtCall).is_err());
    }
}
