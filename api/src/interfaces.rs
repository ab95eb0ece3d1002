//! The capabilities ([`Capability`]), the one list of warden's own WIT interfaces, and how every import a
//! component may have is satisfied. The policy's import check, the CLI's
//! `inspect` and both script adapters read it from here.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The capabilities warden can grant. Each is one WIT interface (or WASI
/// family) and one module under `capabilities/`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `warden:plugin/log`.
    Log,
    /// `warden:plugin/kv`.
    Kv,
    /// `warden:plugin/host`: callbacks into embedder functions.
    Host,
    /// `warden:plugin/events`.
    Events,
    /// `wasi:http/outgoing-handler`.
    Http,
    /// `wasi:sockets` connections and binds.
    Sockets,
    /// Preopened directories through `wasi:filesystem`.
    Filesystem,
    /// Environment variables through `wasi:cli/environment`.
    Env,
}

impl Capability {
    /// Every capability, for listings.
    pub const ALL: [Capability; 8] = [
        Capability::Log,
        Capability::Kv,
        Capability::Host,
        Capability::Events,
        Capability::Http,
        Capability::Sockets,
        Capability::Filesystem,
        Capability::Env,
    ];

    /// The name used on the command line and in errors.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Kv => "kv",
            Capability::Host => "host",
            Capability::Events => "events",
            Capability::Http => "http",
            Capability::Sockets => "sockets",
            Capability::Filesystem => "filesystem",
            Capability::Env => "env",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown capability `{s}` (known: {})",
                    Capability::ALL.map(|c| c.name()).join(", ")
                )
            })
    }
}

/// The WIT package of warden's own interfaces.
pub const WARDEN_PACKAGE: &str = "warden:plugin";

/// warden's own capability interfaces: the capability and its interface
/// name in [`WARDEN_PACKAGE`]. The others (`http`, `sockets`, `filesystem`,
/// `env`) are WASI's.
pub const WARDEN_INTERFACES: [(Capability, &str); 4] = [
    (Capability::Log, "log"),
    (Capability::Kv, "kv"),
    (Capability::Host, "host"),
    (Capability::Events, "events"),
];

impl Capability {
    /// Whether this is one of warden's own interfaces (linked for script
    /// engines and checked per call) rather than a WASI family.
    pub fn is_warden_interface(self) -> bool {
        self.warden_interface().is_some()
    }

    /// `warden:plugin/<name>` for warden's own interfaces.
    pub fn warden_interface(self) -> Option<&'static str> {
        WARDEN_INTERFACES
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, name)| *name)
    }

    /// The capability of `warden:plugin/<interface>`.
    pub fn of_warden_interface(interface: &str) -> Option<Capability> {
        WARDEN_INTERFACES
            .iter()
            .find(|(_, name)| *name == interface)
            .map(|(c, _)| *c)
    }

    /// The WIT interfaces (or WASI families) this capability covers, for
    /// listings: `warden:plugin/kv`, `wasi:http/outgoing-handler`, …
    pub fn wit(self) -> &'static str {
        match self {
            Capability::Log => "warden:plugin/log",
            Capability::Kv => "warden:plugin/kv",
            Capability::Host => "warden:plugin/host",
            Capability::Events => "warden:plugin/events",
            Capability::Http => "wasi:http/outgoing-handler",
            Capability::Sockets => "wasi:sockets/*",
            Capability::Filesystem => "wasi:filesystem/* (preopens)",
            Capability::Env => "wasi:cli/environment",
        }
    }
}

/// How warden satisfies one import of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportClass {
    /// Needs this capability granted.
    Capability(Capability),
    /// Always linked; contents governed by the grants (cli, io, filesystem, sockets)
    /// or always granted (clocks, random). See the module docs.
    Base,
    /// Types only (`warden:plugin/types`, `wasi:http/types`): nothing reaches
    /// out through them.
    Types,
    /// Nothing in warden provides it.
    Unknown,
}

/// Classify an import name such as `warden:plugin/kv@0.1.0` or `wasi:http/outgoing-handler@0.2.12`.
pub fn classify_import(name: &str) -> ImportClass {
    let unversioned = name.split('@').next().unwrap_or(name);
    let Some((package, interface)) = unversioned.split_once('/') else {
        return ImportClass::Unknown;
    };
    match package {
        WARDEN_PACKAGE => match Capability::of_warden_interface(interface) {
            Some(cap) => ImportClass::Capability(cap),
            None if interface == "types" => ImportClass::Types,
            None => ImportClass::Unknown,
        },
        // Only the outgoing handler reaches out; `types` builds values (a
        // served `wasi:http/proxy` answers with them) and
        // `incoming-handler` is what a proxy exports.
        "wasi:http" if interface == "outgoing-handler" => ImportClass::Capability(Capability::Http),
        "wasi:http" if interface == "types" => ImportClass::Types,
        "wasi:http" => ImportClass::Capability(Capability::Http),
        "wasi:cli" | "wasi:io" | "wasi:clocks" | "wasi:random" | "wasi:filesystem"
        | "wasi:sockets" => ImportClass::Base,
        _ => ImportClass::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_classified() {
        assert_eq!(
            classify_import("warden:plugin/kv@0.1.0"),
            ImportClass::Capability(Capability::Kv)
        );
        assert_eq!(
            classify_import("wasi:http/outgoing-handler@0.2.12"),
            ImportClass::Capability(Capability::Http)
        );
        assert_eq!(classify_import("wasi:cli/stdout@0.2.0"), ImportClass::Base);
        assert_eq!(
            classify_import("wasi:http/types@0.2.12"),
            ImportClass::Types
        );
        assert_eq!(
            classify_import("warden:plugin/types@0.1.0"),
            ImportClass::Types
        );
        assert_eq!(classify_import("acme:evil/net"), ImportClass::Unknown);
        for (cap, name) in WARDEN_INTERFACES {
            let import = format!("{WARDEN_PACKAGE}/{name}@0.1.0");
            assert_eq!(classify_import(&import), ImportClass::Capability(cap));
            assert_eq!(cap.wit(), &import[..import.len() - 6]);
        }
    }
}
