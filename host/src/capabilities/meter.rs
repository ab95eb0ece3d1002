//! The call's [`Meter`]: every host function of warden's interfaces counts
//! itself here first (the host-call limit), and records its denials here.

use std::sync::Arc;

use crate::limits::Tripped;
use crate::policy::Capability;
use crate::receipt::{HostCalls, Receipt};

/// Host-call counts, the limit, and the denials of one call.
#[derive(Debug)]
pub(crate) struct Meter {
    pub(crate) plugin: Arc<str>,
    limit: u64,
    total: u64,
    counts: HostCalls,
    denials: Vec<String>,
    pub(crate) tripped: Option<Tripped>,
}

impl Meter {
    pub(crate) fn new(plugin: Arc<str>, limit: u64) -> Self {
        Meter {
            plugin,
            limit,
            total: 0,
            counts: HostCalls::default(),
            denials: Vec::new(),
            tripped: None,
        }
    }

    pub(crate) fn reset(&mut self, limit: u64) {
        *self = Meter::new(self.plugin.clone(), limit);
    }

    /// Count one host call of `cap`; trap when the limit is passed.
    pub(crate) fn count(&mut self, cap: Capability) -> wasmtime::Result<()> {
        self.total += 1;
        self.counts.bump(cap);
        if self.total > self.limit {
            self.trip(Tripped::HostCalls);
            wasmtime::bail!("host call limit of {} reached", self.limit);
        }
        Ok(())
    }

    /// Record that a host function stopped the guest for a limit (the first
    /// cause is kept: later failures are consequences of it).
    pub(crate) fn trip(&mut self, what: Tripped) {
        self.tripped.get_or_insert(what);
    }

    /// Record a denial of `what` under `cap`; the message for the guest.
    pub(crate) fn deny(&mut self, cap: Capability, what: &str) -> String {
        let msg = format!("{cap}: {what} is not granted");
        tracing::debug!(plugin = %self.plugin, "denied {msg}");
        self.denials.push(msg.clone());
        msg
    }

    /// Counts and denials into the receipt (WASI capabilities add theirs after).
    pub(crate) fn record(&mut self, receipt: &mut Receipt) {
        receipt.host_calls = std::mem::take(&mut self.counts);
        receipt.denials.append(&mut self.denials);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_until_the_limit_then_trips() {
        let mut m = Meter::new("p".into(), 2);
        m.count(Capability::Kv).unwrap();
        m.count(Capability::Log).unwrap();
        assert!(m.count(Capability::Kv).is_err());
        assert_eq!(m.tripped, Some(Tripped::HostCalls));
        let msg = m.deny(Capability::Events, "topic `x`");
        assert_eq!(msg, "events: topic `x` is not granted");
        let mut r = Receipt::default();
        m.record(&mut r);
        assert_eq!((r.host_calls.kv, r.host_calls.log), (2, 1));
        assert_eq!(r.denials, vec![msg]);
        m.reset(5);
        assert_eq!(m.tripped, None);
        m.record(&mut r);
        assert_eq!(r.host_calls.total(), 0);
    }
}
