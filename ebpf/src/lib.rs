//! Run small eBPF C snippets in the real kernel.
//!
//! `warden-ebpf` takes one of three inputs ([`Source`]):
//!
//! * a bare C function of the shape `int f(void *data, int data_len)`, which
//!   is wrapped in an XDP program so that `data` points at a copy of the input
//!   bytes and `data_len` is the caller's real length,
//! * a complete eBPF C program (XDP, `classifier`, `socket` or `cgroup_skb`
//!   sections), or
//! * a prebuilt eBPF ELF object.
//!
//! C is compiled with Debian clang (`-target bpf -O2 -g`), loaded with aya
//! (verifier log level `STATS` by default, the full log on request) and run
//! once on the given bytes with `BPF_PROG_TEST_RUN`. The result carries the
//! return value, the kernel-measured duration and the contents of the
//! program's hash and array maps.
//!
//! Loaded programs are cached by a hash of their source: compiling and
//! verifying happens once, a repeat costs one `BPF_PROG_TEST_RUN` syscall.
//! The cache is a bounded LRU; evicting an entry drops the aya [`aya::Ebpf`]
//! and so closes its program and map file descriptors. Maps are restored to
//! their state right after load before every run, so a cached program does
//! not see the writes of earlier runs.
//!
//! Everything here needs `CAP_BPF` and `CAP_NET_ADMIN` (in practice: root);
//! without them [`Kernel::run`] returns [`EbpfError::NotPermitted`].

#[cfg(feature = "controller")]
pub mod controller;
pub mod protocol;
pub mod sidecar;

mod c;
mod error;
mod kernel;
mod maps;

pub use c::MAX_INPUT_LEN;
pub use error::EbpfError;
pub use kernel::{Kernel, KernelOptions, MIN_INPUT_LEN, RunOutput, Source, VerifierLog};
pub use maps::{MAX_MAP_ENTRIES_DUMPED, MapEntries};
