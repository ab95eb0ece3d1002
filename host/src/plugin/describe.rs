//! [`Plugin::describe`]: what a plugin is, its WIT, and how a set of grants
//! covers its imports, as the one wire type every front end shows.

use warden_api::{ImportInfo, PluginDescription};

use super::Plugin;
use crate::componentize::to_component;
use crate::policy::{Grants, Policy};

impl Plugin {
    /// Describe this plugin under `grants`. Pass the bytes it was loaded from
    /// to have its world decoded as WIT (the compiled component no longer
    /// holds it); without them, or when they cannot be decoded, `wit` is
    /// `None` and the imports and exports still are there.
    pub fn describe(&self, grants: &Grants, loaded_from: Option<&[u8]>) -> PluginDescription {
        let imports: Vec<ImportInfo> = self
            .imports()
            .iter()
            .map(|i| ImportInfo::classify(i, grants))
            .collect();
        let mut needs: Vec<_> = imports.iter().filter_map(|i| i.capability).collect();
        needs.sort();
        needs.dedup();
        let policy = Policy {
            grants: grants.clone(),
            ..Policy::default()
        };
        PluginDescription {
            name: self.name().to_string(),
            kind: self.kind(),
            source_kind: self.source_kind(),
            content_hash: self.content_hash().to_string(),
            cache: self.cache_status(),
            wit: loaded_from.and_then(|bytes| match wit_of(self.name(), bytes) {
                Ok(wit) => Some(wit),
                Err(e) => {
                    tracing::warn!(
                        plugin = self.name(),
                        "cannot decode the component's WIT: {e}"
                    );
                    None
                }
            }),
            imports,
            exports: self.exports().to_vec(),
            needs,
            granted: grants.granted(),
            policy_error: self.prepare(policy).err().map(|e| e.body()),
        }
    }
}

/// The world of the component in `bytes` (WAT and preview1 modules are
/// componentized first) as WIT: the component's own world, then the
/// non-WASI packages it uses (warden's and its own interfaces).
pub fn wit_of(name: &str, bytes: &[u8]) -> Result<String, String> {
    let (bytes, _) = to_component(name, bytes).map_err(|e| e.to_string())?;
    let decoded = wit_component::decode(&bytes).map_err(|e| format!("{e:#}"))?;
    let resolve = decoded.resolve();
    let main = decoded.package();
    let nested = resolve
        .packages
        .iter()
        .filter(|(id, p)| *id != main && p.name.namespace != "wasi")
        .map(|(id, _)| (id, false));
    let mut parts = Vec::new();
    for (id, is_main) in std::iter::once((main, true)).chain(nested) {
        let mut printer = wit_component::WitPrinter::default();
        printer.emit_docs(false);
        printer
            .print_package(resolve, id, is_main)
            .map_err(|e| format!("{e:#}"))?;
        parts.push(printer.output.to_string().trim_end().to_string());
    }
    Ok(parts.join("\n\n"))
}
