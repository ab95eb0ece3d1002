//! Hard limits on every resource a call can use ([`Limits`], a
//! `warden-api` type), and the Wasmtime
//! [`ResourceLimiter`] that enforces memory and tables while recording the
//! peak (for the receipt) and which limit stopped the guest (for the error).

use wasmtime::ResourceLimiter;

pub use warden_api::Limits;

/// Which limit stopped the guest, recorded by the limiter so the trap can be
/// turned into the right typed error afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tripped {
    Memory { wanted: usize },
    Table { wanted: usize },
    HostCalls,
    Output { stream: &'static str },
}

/// Per-store limiter: enforces [`Limits::memory_bytes`] across all memories and
/// [`Limits::table_elements`] per table, and records the peak.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_limit: usize,
    table_limit: usize,
    /// Bytes currently committed across all memories of the store.
    memory_total: usize,
    pub(crate) peak_memory: usize,
    pub(crate) tripped: Option<Tripped>,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Limiter {
            memory_limit: limits.memory_bytes,
            table_limit: limits.table_elements,
            memory_total: 0,
            peak_memory: 0,
            tripped: None,
        }
    }

    pub(crate) fn trip(&mut self, what: Tripped) {
        // Keep the first cause: later failures are consequences of it.
        self.tripped.get_or_insert(what);
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_total - current.min(self.memory_total) + desired;
        if total > self.memory_limit {
            self.trip(Tripped::Memory { wanted: total });
            // An error (rather than `Ok(false)`) traps at the `memory.grow`
            // so the guest cannot mistake the limit for a recoverable OOM.
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes reached",
                self.memory_limit
            ));
        }
        self.memory_total = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_limit {
            self.trip(Tripped::Table { wanted: desired });
            return Err(wasmtime::format_err!(
                "table limit of {} elements reached",
                self.table_limit
            ));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        // Components built by wit-component and componentize-py hold tens of
        // core instances; the pool bounds the total anyway.
        10_000
    }

    fn memories(&self) -> usize {
        10_000
    }

    fn tables(&self) -> usize {
        10_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limit_counts_all_memories_and_records_peak() {
        let mut l = Limiter::new(&Limits {
            memory_bytes: 100,
            ..Limits::default()
        });
        assert!(l.memory_growing(0, 60, None).unwrap());
        // A second memory: 60 + 30 fits.
        assert!(l.memory_growing(0, 30, None).unwrap());
        assert_eq!(l.peak_memory, 90);
        // Growing the first from 60 to 80 would make 110.
        assert!(l.memory_growing(60, 80, None).is_err());
        assert_eq!(l.tripped, Some(Tripped::Memory { wanted: 110 }));
    }

    #[test]
    fn table_limit_trips() {
        let mut l = Limiter::new(&Limits {
            table_elements: 10,
            ..Limits::default()
        });
        assert!(l.table_growing(0, 10, None).unwrap());
        assert!(l.table_growing(10, 11, None).is_err());
        assert_eq!(l.tripped, Some(Tripped::Table { wanted: 11 }));
    }
}
