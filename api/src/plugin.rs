//! What a loaded plugin is ([`PluginDescription`]): its kind, where it came
//! from, its WIT, its imports with what each needs and whether the grants
//! cover it, and its exports. `warden inspect`, the server's
//! `GET /v1/plugins/{name}` and the Node binding all show this one type.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::interfaces::{Capability, ImportClass, classify_import};

/// What a component is, by its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// Exports `run: func(input: string) -> result<string, string>`.
    Plugin,
    /// Exports `wasi:cli/run` (a WASI command).
    Command,
    /// Neither: its exports are called with an invoke.
    Library,
}

impl PluginKind {
    /// `plugin`, `command` or `library`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Plugin => "plugin",
            PluginKind::Command => "command",
            PluginKind::Library => "library",
        }
    }
}

/// What kind of Wasm was given, before it became a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A component binary.
    Component,
    /// WAT text (of a component or a module).
    Wat,
    /// A WASI preview1 command module, adapted.
    Preview1Command,
    /// A WASI preview1 reactor module, adapted.
    Preview1Reactor,
}

impl SourceKind {
    /// `component`, `wat`, `preview1-command` or `preview1-reactor`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Component => "component",
            SourceKind::Wat => "wat",
            SourceKind::Preview1Command => "preview1-command",
            SourceKind::Preview1Reactor => "preview1-reactor",
        }
    }
}

/// Where a load's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Loaded a compiled entry.
    Hit,
    /// Compiled and stored.
    Miss,
    /// An entry existed but was corrupt or stale; recompiled and replaced.
    Replaced,
    /// No cache configured.
    Disabled,
    /// The host had the same component loaded already: its compiled code
    /// and memory images are shared, nothing was read or compiled.
    Shared,
}

impl CacheStatus {
    /// `hit`, `miss`, `replaced`, `disabled` or `shared`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Replaced => "replaced",
            CacheStatus::Disabled => "disabled",
            CacheStatus::Shared => "shared",
        }
    }
}

/// An exported function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportFunc {
    /// The exported instance (interface) holding it, if any.
    pub instance: Option<String>,
    /// The function's name.
    pub name: String,
    /// Its signature, e.g. `func(a: s32, b: s32) -> s32`.
    pub signature: String,
}

impl ExportFunc {
    /// `instance#name` or `name`.
    pub fn path(&self) -> String {
        match &self.instance {
            Some(i) => format!("{i}#{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Whether the grants cover an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportStatus {
    /// A capability the grants include.
    Granted,
    /// A capability the grants leave out.
    Denied,
    /// Always linked (its contents governed by the grants) or types only.
    Base,
    /// Nothing in warden provides it.
    Unknown,
}

/// One import of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportInfo {
    /// The import's name, e.g. `warden:plugin/kv@0.1.0`.
    pub name: String,
    /// The capability it needs, if it is one.
    pub capability: Option<Capability>,
    /// Whether the grants cover it.
    pub status: ImportStatus,
}

impl ImportInfo {
    /// Classify `name` against `grants`.
    pub fn classify(name: &str, grants: &crate::Grants) -> Self {
        let (capability, status) = match classify_import(name) {
            ImportClass::Capability(cap) if grants.has(cap) => (Some(cap), ImportStatus::Granted),
            ImportClass::Capability(cap) => (Some(cap), ImportStatus::Denied),
            ImportClass::Base | ImportClass::Types => (None, ImportStatus::Base),
            ImportClass::Unknown => (None, ImportStatus::Unknown),
        };
        ImportInfo {
            name: name.to_string(),
            capability,
            status,
        }
    }
}

/// What a loaded plugin is, and how a set of grants covers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginDescription {
    /// The plugin's name.
    pub name: String,
    /// What it is by its exports.
    pub kind: PluginKind,
    /// What was given.
    pub source_kind: SourceKind,
    /// The content hash of the component bytes (the cache key and a version).
    pub content_hash: String,
    /// Where its compiled code came from at load.
    pub cache: CacheStatus,
    /// Its world as WIT, decoded from the component; `None` when it could not
    /// be decoded (the imports and exports below are always there).
    pub wit: Option<String>,
    /// Every import, classified.
    pub imports: Vec<ImportInfo>,
    /// Every exported function.
    pub exports: Vec<ExportFunc>,
    /// The capabilities its imports need, whether granted or not.
    pub needs: Vec<Capability>,
    /// The capabilities the grants include.
    pub granted: Vec<Capability>,
    /// Why the plugin cannot run under the grants (`None`: it can).
    pub policy_error: Option<ErrorBody>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Grants;

    #[test]
    fn imports_are_classified_against_the_grants() {
        let grants = Grants::none().allow(Capability::Log).unwrap();
        let row = |n| ImportInfo::classify(n, &grants);
        assert_eq!(row("warden:plugin/log@0.1.0").status, ImportStatus::Granted);
        let kv = row("warden:plugin/kv@0.1.0");
        assert_eq!(
            (kv.capability, kv.status),
            (Some(Capability::Kv), ImportStatus::Denied)
        );
        assert_eq!(row("wasi:cli/stdout@0.2.0").status, ImportStatus::Base);
        assert_eq!(row("acme:evil/net").status, ImportStatus::Unknown);
        let json = serde_json::to_value(row("warden:plugin/kv@0.1.0")).unwrap();
        assert_eq!(json["status"], "denied");
        assert_eq!(json["capability"], "kv");
    }
}
