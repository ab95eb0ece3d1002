//! `warden:plugin/host`: JSON-in, JSON-out callbacks into async functions the
//! embedder registered. Which names a plugin may call is part of its grants.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::bindings::WitError;
use crate::bindings::warden::plugin::host::Host;
use crate::policy::Capability;
use crate::state::CallState;

/// What a host function receives.
#[derive(Debug, Clone)]
pub struct HostCall {
    /// The calling plugin.
    pub plugin: String,
    /// The arguments, parsed from the guest's JSON.
    pub args: serde_json::Value,
}

/// The boxed future a host function returns: a JSON value or an error message
/// (which the guest receives as `failed(message)`).
pub type HostFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send>>;

/// A registered host function.
pub type HostFn = Arc<dyn Fn(HostCall) -> HostFuture + Send + Sync>;

impl Host for CallState {
    async fn call(
        &mut self,
        name: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, WitError>> {
        self.count_call(Capability::Host)?;
        if !self.grants.host_fn_allowed(&name) {
            let msg = self.denied(Capability::Host, &format!("host function `{name}`"));
            return Ok(Err(WitError::Denied(msg)));
        }
        self.receipt.host_fns.insert(name.clone());
        let Some(f) = self.shared.host_fns.get(&name).cloned() else {
            let mut known: Vec<_> = self.shared.host_fns.keys().cloned().collect();
            known.sort();
            return Ok(Err(WitError::Invalid(format!(
                "no host function named `{name}` (registered: {})",
                known.join(", ")
            ))));
        };
        let args = match serde_json::from_str(&args_json) {
            Ok(v) => v,
            Err(e) => return Ok(Err(WitError::Invalid(format!("args are not JSON: {e}")))),
        };
        let result = f(HostCall {
            plugin: self.plugin.to_string(),
            args,
        })
        .await;
        Ok(match result {
            Ok(v) => Ok(v.to_string()),
            Err(msg) => Err(WitError::Failed(msg)),
        })
    }
}
