//! Calling any export of a plugin with WAVE or JSON arguments.

use super::outcome::{Invoked, Outcome};
use super::*;

impl Prepared {
    pub(super) fn find_func(&self, target: &str) -> Result<ExportFunc> {
        let funcs = self.plugin.exports();
        let matches: Vec<&ExportFunc> = match target.rsplit_once('#') {
            Some((inst, func)) => funcs
                .iter()
                .filter(|f| {
                    f.name == func
                        && f.instance.as_deref().is_some_and(|i| {
                            let unversioned = i.split('@').next().unwrap_or(i);
                            i == inst
                                || unversioned == inst
                                || unversioned.rsplit('/').next() == Some(inst)
                        })
                })
                .collect(),
            None => {
                let top: Vec<&ExportFunc> = funcs
                    .iter()
                    .filter(|f| f.instance.is_none() && f.name == target)
                    .collect();
                if top.is_empty() {
                    funcs.iter().filter(|f| f.name == target).collect()
                } else {
                    top
                }
            }
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(self.missing(target, "a function")),
            many => Err(Error::InvalidInput {
                plugin: self.plugin.name().to_string(),
                reason: format!(
                    "`{target}` is ambiguous: {}; qualify it as `interface#function`",
                    many.iter().map(|f| f.path()).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    /// Invoke any exported function with WAVE arguments, e.g. `add(1, 2)`,
    /// `calc#greet("x", some(2))` or `warden:typed/calc@0.1.0#norm({x: 3.0, y: 4.0})`.
    pub async fn invoke(&self, call: &str) -> Outcome<Invoked> {
        let name = self.plugin.name();
        let invalid = |reason: String| Error::InvalidInput {
            plugin: name.to_string(),
            reason,
        };
        let call = call.trim();
        let (target, args) = match call.find('(') {
            Some(i) => (&call[..i], &call[i..]),
            None => (call, "()"),
        };
        if let Err(e) = self.check_input(call.as_bytes()) {
            return Outcome::failed(name, target, e);
        }
        let func = match self.find_func(target.trim()) {
            Ok(f) => f,
            Err(e) => return Outcome::failed(name, target, e),
        };
        let parsed = match wasmtime::component::wasm_wave::untyped::UntypedFuncCall::parse(
            &format!("f{args}"),
        ) {
            Ok(p) => p.into_owned(),
            Err(e) => {
                return Outcome::failed(
                    name,
                    target,
                    invalid(format!("bad WAVE call `{call}`: {e}")),
                );
            }
        };
        self.invoke_with(func, move |types| {
            parsed
                .to_wasm_params::<Val>(types.iter())
                .map_err(|e| format!("bad WAVE arguments `{args}`: {e}"))
        })
        .await
    }

    /// Invoke any exported function with JSON arguments (one per parameter).
    pub async fn invoke_json(&self, target: &str, args: &[serde_json::Value]) -> Outcome<Invoked> {
        let name = self.plugin.name();
        // Strings count as their own bytes, not their escaped JSON form.
        let size: usize = args
            .iter()
            .map(|a| match a {
                serde_json::Value::String(s) => s.len(),
                other => other.to_string().len(),
            })
            .sum();
        if size > self.limits.input_bytes {
            return Outcome::failed(
                name,
                target,
                Error::InputTooLarge {
                    plugin: name.to_string(),
                    size,
                    limit: self.limits.input_bytes,
                },
            );
        }
        let func = match self.find_func(target) {
            Ok(f) => f,
            Err(e) => return Outcome::failed(name, target, e),
        };
        let args = args.to_vec();
        self.invoke_with(func, move |types| {
            if types.len() != args.len() {
                return Err(format!(
                    "expected {} arguments, got {}",
                    types.len(),
                    args.len()
                ));
            }
            types
                .iter()
                .zip(&args)
                .enumerate()
                .map(|(i, (t, a))| {
                    crate::values::json_to_val(a, t).map_err(|e| format!("argument {}: {e}", i + 1))
                })
                .collect()
        })
        .await
    }

    pub(super) async fn invoke_with(
        &self,
        func: ExportFunc,
        params: impl FnOnce(&[wasmtime::component::Type]) -> std::result::Result<Vec<Val>, String>,
    ) -> Outcome<Invoked> {
        let started = Instant::now();
        let name = self.plugin.name();
        let export = func.path();
        let Ok(pre) = self.plugin.inner.pre.clone() else {
            return Outcome::failed(name, &export, Error::internal("no instance-pre"));
        };
        let component = &self.plugin.inner.component;
        let index = match &func.instance {
            Some(inst) => component
                .get_export_index(None, inst)
                .and_then(|i| component.get_export_index(Some(&i), &func.name)),
            None => component.get_export_index(None, &func.name),
        };
        let Some(index) = index else {
            return Outcome::failed(name, &export, self.missing(&export, "a function"));
        };
        let store = match self.new_store(None, &[]) {
            Ok(s) => s,
            Err(e) => return Outcome::failed(name, &export, e),
        };
        let plugin_name = name.to_string();
        let (outcome, _) = self
            .execute(&export, store, started, async move |store| {
                let t = Instant::now();
                let instance = pre.instantiate_async(&mut *store).await?;
                store.data_mut().instantiate_us = t.elapsed().as_micros() as u64;
                let f = instance
                    .get_func(&mut *store, index)
                    .ok_or_else(|| wasmtime::format_err!("export is not a function"))?;
                let ty = f.ty(&*store);
                let param_types: Vec<_> = ty.params().map(|(_, t)| t).collect();
                let params = match params(&param_types) {
                    Ok(p) => p,
                    Err(reason) => return Ok(Err(reason)),
                };
                let mut results = vec![Val::Bool(false); ty.results().len()];
                f.call_async(&mut *store, &params, &mut results).await?;
                Ok(Ok(results))
            })
            .await;
        outcome.map(|r| {
            let results = r.map_err(|reason| Error::InvalidInput {
                plugin: plugin_name.clone(),
                reason,
            })?;
            let wave = results
                .iter()
                .map(|v| {
                    wasmtime::component::wasm_wave::to_string(v).map_err(|e| Error::Serialization {
                        plugin: plugin_name.clone(),
                        reason: format!("result has no WAVE form: {e}"),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let json = match results.as_slice() {
                [] => Some(serde_json::Value::Null),
                [one] => crate::values::val_to_json(one).ok(),
                many => many
                    .iter()
                    .map(crate::values::val_to_json)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .ok()
                    .map(serde_json::Value::Array),
            };
            Ok(Invoked { wave, json })
        })
    }
}
