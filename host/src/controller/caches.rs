//! The controller's caches: compiled modules by content hash (LRU), the
//! last modules served, instances per module by policy, scheduler decisions
//! and whole one-shot plans. All are cleared or bypassed when a runtime's
//! state changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden_api::{Capability, Decision, ExecConfig, ExecuteRequest, Hints, Language, Policy};

use super::queue::QueueRule;
use super::runtime::{CompileReport, CompiledModule, ModuleInstance};
use crate::error::{Error, Result};
use crate::lock;

#[derive(Debug)]
pub(super) struct ModuleEntry {
    pub(super) runtime: usize,
    pub(super) language: Language,
    pub(super) decision: Decision,
    pub(super) module: Arc<dyn CompiledModule>,
    pub(super) compile: CompileReport,
    /// Instances made for one-shot executions, by policy (the few most
    /// recent; the policy holds no deadline, so calls that queued share
    /// them): instantiating checks imports and copies grants, which a
    /// repeat under the same policy need not pay. Instances keep no state
    /// between executions, so sharing one is safe.
    pub(super) instances: Mutex<Vec<(Policy, Arc<dyn ModuleInstance>)>>,
}

/// Code at least this long has its hash remembered by buffer address.
pub(super) const MEMO_HASH_FROM: usize = 4096;

/// Instances kept per module for one-shot executions.
pub(super) const INSTANCES_PER_MODULE: usize = 4;

impl ModuleEntry {
    /// The instance for `policy`: a kept one (`true`), or made now.
    pub(super) fn instance(&self, policy: &Policy) -> Result<(Arc<dyn ModuleInstance>, bool)> {
        if let Some((_, i)) = lock(&self.instances).iter().find(|(p, _)| p == policy) {
            return Ok((i.clone(), true));
        }
        let instance = self.module.instantiate(policy)?;
        let mut kept = lock(&self.instances);
        if kept.len() >= INSTANCES_PER_MODULE {
            kept.remove(0);
        }
        kept.push((policy.clone(), instance.clone()));
        Ok((instance, false))
    }
}

#[derive(Debug)]
pub(super) struct InstanceEntry {
    pub(super) module: Arc<ModuleEntry>,
    pub(super) instance: Arc<dyn ModuleInstance>,
    pub(super) queue: QueueRule,
}

#[derive(Debug, Default)]
pub(super) struct CodeCache {
    pub(super) entries: HashMap<[u8; 32], (Arc<ModuleEntry>, u64)>,
    pub(super) tick: u64,
    /// Content hashes of code buffers seen, by address: a caller that passes
    /// the same `Arc<[u8]>` again skips hashing it. The clone kept here pins
    /// the (immutable) buffer, so an address cannot be reused for other bytes
    /// while it is in this map.
    pub(super) by_buffer: HashMap<usize, (Arc<[u8]>, [u8; 32])>,
    /// The last few modules served, checked before any hashing: the same
    /// buffer, or equal small code, for the same runtime and language.
    pub(super) recent: Vec<Recent>,
    /// The slot `recent` overwrites next once full.
    pub(super) recent_next: usize,
}

#[derive(Debug)]
pub(super) struct Recent {
    pub(super) runtime: usize,
    pub(super) language: Language,
    pub(super) code: Arc<[u8]>,
    pub(super) entry: Arc<ModuleEntry>,
}

/// Modules kept in [`CodeCache::recent`].
pub(super) const RECENT_KEPT: usize = 8;

impl CodeCache {
    pub(super) fn recent(&self, runtime: usize, req: &ExecuteRequest) -> Option<Arc<ModuleEntry>> {
        self.recent
            .iter()
            .find(|r| {
                r.runtime == runtime
                    && r.language == req.language
                    && (Arc::ptr_eq(&r.code, &req.code)
                        || (req.code.len() < MEMO_HASH_FROM && *r.code == *req.code))
            })
            .map(|r| r.entry.clone())
    }

    pub(super) fn remember(
        &mut self,
        runtime: usize,
        req: &ExecuteRequest,
        entry: Arc<ModuleEntry>,
    ) {
        let r = Recent {
            runtime,
            language: req.language,
            code: req.code.clone(),
            entry,
        };
        if self.recent.len() < RECENT_KEPT {
            self.recent.push(r);
        } else {
            self.recent[self.recent_next] = r;
            self.recent_next = (self.recent_next + 1) % RECENT_KEPT;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct DecisionKey {
    pub(super) language: Language,
    pub(super) hints: Hints,
    pub(super) runtime: Option<String>,
    pub(super) capabilities: Vec<Capability>,
    pub(super) fuel: bool,
    pub(super) timeout: Duration,
}

#[derive(Debug, Default)]
pub(super) struct DecisionCache {
    /// Off while some runtime is failed or stopped.
    pub(super) usable: bool,
    /// Bumped at every state change: a decision computed across one is not kept.
    pub(super) generation: u64,
    pub(super) entries: HashMap<DecisionKey, Decision>,
    /// Whole one-shot plans (policy, decision, runtime) for the last few
    /// distinct (language, hints, runtime override, config): a repeat skips
    /// building the policy and the decision key. Same lifetime as `entries`.
    pub(super) plans: Vec<Arc<Plan>>,
}

/// What a one-shot request resolves to before its code is looked at.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) language: Language,
    pub(super) hints: Hints,
    pub(super) runtime_override: Option<String>,
    pub(super) config: ExecConfig,
    pub(super) policy: Policy,
    pub(super) decision: Decision,
    pub(super) runtime: usize,
}

impl Plan {
    pub(super) fn matches(&self, req: &ExecuteRequest) -> bool {
        self.language == req.language
            && self.hints == req.hints
            && self.runtime_override.as_deref() == req.runtime.as_deref()
            && self.config == req.config
    }
}

/// Why a request gets no plan, and the decision when there was one.
pub(super) type Refusal = Box<(Error, Option<Decision>)>;

/// Plans kept (then the oldest goes).
pub(super) const PLANS_KEPT: usize = 16;

/// Decisions kept at most (then the cache starts over).
pub(super) const DECISIONS_KEPT: usize = 1024;
