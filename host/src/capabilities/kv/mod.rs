//! `warden:plugin/kv`: key-value state, one namespace per plugin (or the
//! namespace its grant names), with a byte quota (keys plus values). The
//! stores themselves are in [`store`]: one backend shared by every plugin of
//! a host, partitioned by namespace.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Ctx;
use crate::bindings::WitError;
use crate::bindings::warden::plugin::kv::Host;
use crate::policy::{Capability, KvGrant};
use crate::receipt::Receipt;

mod store;

pub use store::{FileKv, KvBackend, KvError, MemoryKv};

/// Longest key accepted.
pub const MAX_KEY_BYTES: usize = 512;

/// The kv capability of one call: the backend, the namespace and quota the
/// grant resolves to (`None`: not granted), and the keys touched.
#[derive(Debug)]
pub(crate) struct KvCtx {
    backend: Arc<dyn KvBackend>,
    scope: Option<(String, u64)>,
    keys: BTreeSet<String>,
}

impl KvCtx {
    pub(crate) fn new(plugin: &str, backend: Arc<dyn KvBackend>, grant: Option<&KvGrant>) -> Self {
        KvCtx {
            backend,
            scope: grant.map(|g| {
                let ns = g.namespace.clone().unwrap_or_else(|| plugin.to_string());
                (ns, g.quota_bytes)
            }),
            keys: BTreeSet::new(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.keys.clear();
    }

    pub(crate) fn record(&mut self, receipt: &mut Receipt) {
        receipt.kv_keys.append(&mut self.keys);
    }
}

impl Ctx<'_, KvCtx> {
    /// Count the call, then the namespace and quota, or the denial. The
    /// key (when the operation has one) is checked and recorded.
    fn scope(
        &mut self,
        what: &str,
        key: Option<&str>,
    ) -> wasmtime::Result<Result<(String, u64), WitError>> {
        self.meter.count(Capability::Kv)?;
        let Some(scope) = self.cap.scope.clone() else {
            return Ok(Err(WitError::Denied(self.meter.deny(Capability::Kv, what))));
        };
        if let Some(key) = key {
            if key.is_empty() || key.len() > MAX_KEY_BYTES {
                return Ok(Err(WitError::Invalid(format!(
                    "kv keys must be 1 to {MAX_KEY_BYTES} bytes, got {}",
                    key.len()
                ))));
            }
            self.cap.keys.insert(key.to_string());
        }
        Ok(Ok(scope))
    }
}

fn storage(e: KvError) -> WitError {
    match e {
        KvError::QuotaExceeded { .. } => WitError::LimitExceeded(e.to_string()),
        KvError::Storage(_) => WitError::Failed(e.to_string()),
    }
}

impl Host for Ctx<'_, KvCtx> {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        Ok(match self.scope(&format!("kv get `{key}`"), Some(&key))? {
            Ok((ns, _)) => self.cap.backend.get(&ns, &key).map_err(storage),
            Err(e) => Err(e),
        })
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), WitError>> {
        Ok(match self.scope(&format!("kv set `{key}`"), Some(&key))? {
            Ok((ns, quota)) => self
                .cap
                .backend
                .set(&ns, &key, &value, quota)
                .map_err(storage),
            Err(e) => Err(e),
        })
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, WitError>> {
        Ok(
            match self.scope(&format!("kv delete `{key}`"), Some(&key))? {
                Ok((ns, _)) => self.cap.backend.delete(&ns, &key).map_err(storage),
                Err(e) => Err(e),
            },
        )
    }

    fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, WitError>> {
        Ok(match self.scope("kv list-keys", None)? {
            Ok((ns, _)) => self.cap.backend.list(&ns, &prefix).map_err(storage),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Meter;
    use super::*;

    fn ctx(grant: Option<KvGrant>, backend: &Arc<dyn KvBackend>) -> KvCtx {
        KvCtx::new("plug", backend.clone(), grant.as_ref())
    }

    #[test]
    fn own_namespace_quota_keys_and_receipt_without_wasm() {
        let backend: Arc<dyn KvBackend> = Arc::new(MemoryKv::new());
        let mut meter = Meter::new("plug".into(), 100);
        let grant = KvGrant {
            namespace: None,
            quota_bytes: 8,
        };
        let mut kv = ctx(Some(grant), &backend);
        let mut cx = Ctx {
            cap: &mut kv,
            meter: &mut meter,
        };
        cx.set("k".into(), b"1234".to_vec()).unwrap().unwrap();
        assert_eq!(cx.get("k".into()).unwrap().unwrap(), Some(b"1234".to_vec()));
        // The namespace is the plugin's name.
        assert_eq!(backend.get("plug", "k").unwrap(), Some(b"1234".to_vec()));
        assert!(matches!(
            cx.set("k2".into(), b"12345".to_vec()).unwrap(),
            Err(WitError::LimitExceeded(_))
        ));
        assert!(matches!(
            cx.get(String::new()).unwrap(),
            Err(WitError::Invalid(_))
        ));
        assert_eq!(cx.list_keys(String::new()).unwrap().unwrap(), vec!["k"]);
        assert!(cx.delete("k".into()).unwrap().unwrap());

        let mut receipt = Receipt::default();
        kv.record(&mut receipt);
        meter.record(&mut receipt);
        assert_eq!(receipt.kv_keys.iter().collect::<Vec<_>>(), ["k", "k2"]);
        assert_eq!(receipt.host_calls.kv, 6);
        assert!(receipt.denials.is_empty());
    }

    #[test]
    fn named_namespace_and_denial() {
        let backend: Arc<dyn KvBackend> = Arc::new(MemoryKv::new());
        let mut meter = Meter::new("plug".into(), 100);
        let grant = KvGrant {
            namespace: Some("shared".into()),
            ..KvGrant::default()
        };
        let mut kv = ctx(Some(grant), &backend);
        Ctx {
            cap: &mut kv,
            meter: &mut meter,
        }
        .set("a".into(), b"x".to_vec())
        .unwrap()
        .unwrap();
        assert!(backend.get("shared", "a").unwrap().is_some());

        let mut none = ctx(None, &backend);
        let mut cx = Ctx {
            cap: &mut none,
            meter: &mut meter,
        };
        match cx.get("a".into()).unwrap() {
            Err(WitError::Denied(m)) => assert_eq!(m, "kv: kv get `a` is not granted"),
            other => panic!("{other:?}"),
        }
        // A denied call records no key.
        let mut receipt = Receipt::default();
        none.record(&mut receipt);
        assert!(receipt.kv_keys.is_empty());
    }
}
