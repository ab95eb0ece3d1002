//! Real-kernel tests. Without eBPF privileges each test prints a SKIP line
//! and passes, unless `REQUIRE_EBPF=1`.

use std::process::Command;
use std::time::Instant;

use warden_ebpf::{EbpfError, Kernel, KernelOptions, MAX_INPUT_LEN, Source, VerifierLog};

mod common;

fn runtime(capacity: usize) -> Option<Kernel> {
    let options = KernelOptions {
        cache_capacity: capacity,
        verifier_log: VerifierLog::Stats,
    };
    // Probe on a separate Kernel: the tests expect an empty cache.
    common::ebpf_usable(&Kernel::new(options)).then(|| Kernel::new(options))
}

fn func(body: &str) -> Source {
    Source::Function(body.to_owned())
}

const RETURN_LEN: &str = "int ret_len(void *data, int data_len)\n{\n    return data_len;\n}\n";

#[test]
fn bare_function_returns_data_len() {
    let Some(rt) = runtime(8) else { return };
    let out = rt.run(&func(RETURN_LEN), &[7; 20]).expect("runs");
    assert_eq!(out.retval, 20);
    assert!(!out.cached);
    assert!(out.maps.is_empty(), "{:?}", out.maps);
    // Padded to 14 bytes, the real length is passed.
    let out = rt.run(&func(RETURN_LEN), &[1, 2, 3, 4, 5]).expect("runs");
    assert_eq!(out.retval, 5);
    assert!(out.cached);
    let out = rt.run(&func(RETURN_LEN), &[]).expect("runs");
    assert_eq!(out.retval, 0);
    let out = rt
        .run(&func(RETURN_LEN), &[0; MAX_INPUT_LEN])
        .expect("runs");
    assert_eq!(out.retval, MAX_INPUT_LEN as u32);
}

#[test]
fn bare_function_reads_a_byte() {
    let Some(rt) = runtime(8) else { return };
    let src = func(
        "static int pick(int i) { return i; }\n\
         int third(void *data, int data_len)\n\
         {\n\
             unsigned char *p = data;\n\
             if (data_len < 3)\n\
                 return 255;\n\
             return p[pick(2)];\n\
         }\n",
    );
    let out = rt.run(&src, &[10, 20, 30, 40]).expect("runs");
    assert_eq!(out.retval, 30);
    let out = rt.run(&src, &[10, 20]).expect("runs");
    assert_eq!(out.retval, 255);
    let mut big = vec![0u8; 100];
    big[2] = 99;
    assert_eq!(rt.run(&src, &big).expect("runs").retval, 99);
}

const MAP_PROGRAM: &str = r#"#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int count_len(struct xdp_md *ctx)
{
    __u32 key = (__u32)(ctx->data_end - ctx->data);
    __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"#;

#[test]
fn full_program_with_map() {
    let Some(rt) = runtime(8) else { return };
    let src = Source::Program {
        c: MAP_PROGRAM.into(),
        section_fn: Some("count_len".into()),
    };
    let out = rt.run(&src, &[0; 32]).expect("runs");
    assert_eq!(out.retval, 2, "XDP_PASS");
    let entries = out.maps.get("counts").expect("counts map");
    assert_eq!(
        entries,
        &vec![(32u32.to_ne_bytes().to_vec(), 1u64.to_ne_bytes().to_vec())]
    );
    // A cached repeat starts from the freshly loaded (empty) map again.
    let out = rt.run(&src, &[0; 40]).expect("runs");
    assert!(out.cached);
    assert_eq!(
        out.maps["counts"],
        vec![(40u32.to_ne_bytes().to_vec(), 1u64.to_ne_bytes().to_vec())]
    );
}

#[test]
fn prebuilt_object() {
    let Some(rt) = runtime(8) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let c = dir.path().join("prog.c");
    let o = dir.path().join("prog.o");
    std::fs::write(
        &c,
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n\
         SEC(\"xdp\") int drop_all(struct xdp_md *ctx) { return XDP_DROP; }\n\
         char _license[] SEC(\"license\") = \"GPL\";\n",
    )
    .expect("write");
    let status = Command::new("clang")
        .args([
            "-target",
            "bpf",
            "-O2",
            "-g",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
        ])
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .status()
        .expect("clang");
    assert!(status.success());
    let bytes = std::fs::read(&o).expect("read object");
    let out = rt.run(&Source::Object(bytes), &[0; 64]).expect("runs");
    assert_eq!(out.retval, 1, "XDP_DROP");
}

#[test]
fn compile_error_has_line_and_column() {
    let Some(rt) = runtime(8) else { return };
    let src = func("int f(void *data, int data_len)\n{\n    return data_len +;\n}\n");
    let err = rt.run(&src, &[0; 16]).expect_err("compile error");
    assert_eq!(err.code(), "COMPILE");
    let EbpfError::Compile { message } = &err else {
        panic!("{err:?}")
    };
    println!("{message}");
    assert!(message.contains("snippet.c:3:"), "{message}");
    assert!(!message.contains("/tmp"), "{message}");

    let prog = Source::Program {
        c: "int x = ;\n".into(),
        section_fn: None,
    };
    let err = rt.run(&prog, &[0; 16]).expect_err("compile error");
    assert_eq!(err.code(), "COMPILE");
    assert!(err.to_string().contains("snippet.c:1:9"), "{err}");
}

#[test]
fn verifier_rejects_out_of_bounds_read() {
    let Some(rt) = runtime(8) else { return };
    let src = func(
        "int oob(void *data, int data_len)\n{\n    unsigned char *p = data;\n    return p[data_len * 2];\n}\n",
    );
    let err = rt.run(&src, &[0; 16]).expect_err("rejected");
    assert_eq!(err.code(), "VERIFIER_REJECTED", "{err}");
    let EbpfError::VerifierRejected { log } = &err else {
        panic!("{err:?}")
    };
    println!("{log}");
    assert!(log.contains("invalid access"), "{log}");
    assert!(
        log.contains("p[data_len * 2]"),
        "source line expected in: {log}"
    );
}

#[test]
fn long_loop_is_rejected_quickly() {
    let Some(rt) = runtime(8) else { return };
    let src = func(
        "int spin(void *data, int data_len)\n{\n    volatile int s = 0;\n    \
         for (int i = 0; i < data_len * 1000000 + 5; i++)\n        s += i;\n    return s;\n}\n",
    );
    let start = Instant::now();
    let err = rt.run(&src, &[0; 16]).expect_err("rejected");
    let took = start.elapsed();
    println!("long loop rejected in {took:?}: {}", err.code());
    assert_eq!(err.code(), "VERIFIER_REJECTED", "{err}");
    // Said plainly, without a second full verification for the log.
    assert!(err.to_string().contains("unbounded loop"), "{err}");
    assert!(took.as_secs() < 10, "took {took:?}");
}

#[test]
fn too_large_buffer() {
    let Some(rt) = runtime(8) else { return };
    let err = rt
        .run(&func(RETURN_LEN), &[0; 4000])
        .expect_err("too large");
    assert_eq!(err.code(), "INPUT_TOO_LARGE");
    assert!(matches!(
        err,
        EbpfError::BufferTooLarge {
            len: 4000,
            max: MAX_INPUT_LEN
        }
    ));
}

#[test]
fn cache_hits_and_evicts() {
    let Some(rt) = runtime(2) else { return };
    let a = func("int a(void *data, int data_len) { return 1; }");
    let b = func("int b(void *data, int data_len) { return 2; }");
    let c = func("int c(void *data, int data_len) { return 3; }");
    assert!(!rt.run(&a, &[0; 14]).expect("a").cached);
    assert!(rt.run(&a, &[0; 14]).expect("a").cached);
    assert!(!rt.run(&b, &[0; 14]).expect("b").cached);
    assert_eq!(rt.cached_programs(), 2);
    assert_eq!(rt.run(&c, &[0; 14]).expect("c").retval, 3);
    assert_eq!(rt.cached_programs(), 2);
    // `a` was least recently used, so it was evicted and recompiles.
    let again = rt.run(&a, &[0; 14]).expect("a");
    assert!(!again.cached);
    assert_eq!(again.retval, 1);
    // `c` survived.
    assert!(rt.run(&c, &[0; 14]).expect("c").cached);
}
