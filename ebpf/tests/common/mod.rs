//! Shared by the real-kernel test files: is eBPF usable here?

use warden_ebpf::{Kernel, Source};

/// Run a trivial program on `rt`. When that fails, print a SKIP line and
/// return false — or panic when `REQUIRE_EBPF=1` (CI), so a machine without
/// eBPF cannot pass by skipping.
pub fn ebpf_usable(rt: &Kernel) -> bool {
    let probe = Source::Function("int probe(void *data, int data_len) { return 0; }".into());
    match rt.run(&probe, &[0; 14]) {
        Ok(_) => true,
        Err(e) => {
            let reason = format!("{} {e}", e.code());
            if std::env::var("REQUIRE_EBPF").as_deref() == Ok("1") {
                panic!("eBPF required but unavailable: {reason}");
            }
            println!("SKIP: eBPF unavailable ({reason})");
            false
        }
    }
}
