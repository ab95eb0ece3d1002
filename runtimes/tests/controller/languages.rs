//! Every language through `execute`.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn javascript_and_typescript() {
    let c = controller();
    let (v, rt) = ok(
        &c,
        ExecuteRequest::new(Language::JavaScript, "async (i) => ({sum: i.a + i.b})")
            .input_json(r#"{"a": 2, "b": 3}"#),
    )
    .await;
    assert_eq!((v, rt.as_str()), (json!({"sum": 5}), "js"));
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(
            Language::TypeScript,
            "export function run(i: {xs: number[]}): number { return i.xs.length; }",
        )
        .input_json(r#"{"xs": [1, 2, 3]}"#),
    )
    .await;
    assert_eq!(v, json!(3));
    // A syntax error keeps its position.
    let (code, msg) = err(&c, ExecuteRequest::new(Language::JavaScript, "(i) => {")).await;
    assert_eq!(code, "COMPILE", "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python() {
    let c = controller();
    let (v, rt) = ok(
        &c,
        ExecuteRequest::new(
            Language::Python,
            "def run(i):\n    return {'total': sum(i)}\n",
        )
        .input_json("[1, 2, 3]"),
    )
    .await;
    assert_eq!((v, rt.as_str()), (json!({"total": 6}), "python"));
    let (code, _) = err(
        &c,
        ExecuteRequest::new(
            Language::Python,
            "def run(i):\n    raise ValueError('no')\n",
        ),
    )
    .await;
    assert_eq!(code, "GUEST_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_source_compiled_and_cached() {
    let c = controller();
    // A unique source so the first compile is a real one.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let src = format!(
        "// {nonce}\nfn run(input: &str) -> String {{ format!(\"{{{{\\\"len\\\": {{}}}}}}\", input.len()) }}\n"
    );
    let first = c
        .execute(ExecuteRequest::new(Language::Rust, &src).input_json(r#""abcd""#))
        .await;
    let report = first.compile.clone().expect("compile report");
    assert!(!report.cached);
    assert!(
        report.note.as_deref().unwrap_or_default().contains("rustc"),
        "the first compile says so: {report:?}"
    );
    assert_eq!(first.runtime(), Some("rust"));
    assert_eq!(first.into_result().unwrap(), json!({"len": 6}));
    // The same source again: the controller's cache.
    let again = c
        .execute(ExecuteRequest::new(Language::Rust, &src).input_json(r#""ab""#))
        .await;
    assert!(again.compile.as_ref().unwrap().cached);
    assert_eq!(again.into_result().unwrap(), json!({"len": 4}));
    // A new controller: rustc's output comes from the disk cache.
    let fresh = controller();
    let third = fresh
        .execute(ExecuteRequest::new(Language::Rust, &src).input_json("null"))
        .await;
    assert!(
        third.compile.as_ref().unwrap().note.is_none(),
        "{:?}",
        third.compile
    );
    assert_eq!(third.into_result().unwrap(), json!({"len": 4}));
    // A damaged disk entry is rebuilt, not loaded.
    for f in std::fs::read_dir(cache_dir().join("rust"))
        .unwrap()
        .flatten()
    {
        if f.path().extension().is_some_and(|e| e == "wasm") {
            std::fs::write(f.path(), b"garbage that is not a component").unwrap();
        }
    }
    let rebuilt = controller()
        .execute(ExecuteRequest::new(Language::Rust, &src).input_json("\"xyz\""))
        .await;
    assert!(
        rebuilt.compile.as_ref().unwrap().note.is_some(),
        "{:?}",
        rebuilt.compile
    );
    assert_eq!(rebuilt.into_result().unwrap(), json!({"len": 5}));
    // A host without a cache directory compiles in a private directory.
    let uncached = warden_runtimes::controller(
        &Host::builder().build().unwrap(),
        Options {
            js: false,
            python: false,
            ebpf: None,
            ..Options::default()
        },
    )
    .unwrap();
    let (v, _) = ok(
        &uncached,
        ExecuteRequest::new(Language::Rust, "fn run(_: &str) -> bool { true }"),
    )
    .await;
    assert_eq!(v, json!(true));

    // A whole program with main.
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(
            Language::Rust,
            "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); print!(\"[{s}, {s}]\"); }",
        )
        .input_json("7"),
    )
    .await;
    assert_eq!(v, json!([7, 7]));
    // An `Err` is GUEST_ERROR with its message.
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(
            Language::Rust,
            "fn run(_: &str) -> Result<String, String> { Err(\"bad input\".into()) }",
        ),
    )
    .await;
    assert_eq!(code, "GUEST_ERROR");
    assert!(msg.contains("bad input"), "{msg}");
    // A panic aborts (wasm32 has no unwinding): a TRAP that carries the
    // panic message from stderr.
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(
            Language::Rust,
            "fn run(_: &str) -> i64 { panic!(\"boom\") }",
        ),
    )
    .await;
    assert_eq!(code, "TRAP");
    assert!(msg.contains("boom"), "{msg}");
    // Compile errors name the line of the source.
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(
            Language::Rust,
            "fn run(_: &str) -> i64 {\n    undefined_name\n}",
        ),
    )
    .await;
    assert_eq!(code, "COMPILE");
    assert!(msg.contains("snippet.rs:2:"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wasm_component_core_module_and_wat() {
    let c = controller();
    let hello = std::fs::read(warden_fixtures::HELLO).unwrap();
    let (v, rt) = ok(
        &c,
        ExecuteRequest::new(Language::Wasm, &hello).input_json(r#"{"name": "ctl"}"#),
    )
    .await;
    assert_eq!(
        (v, rt.as_str()),
        (json!({"greeting": "hello, ctl"}), "wasm")
    );
    // A WASI preview1 core module (a command: JSON on stdin, JSON on stdout).
    let p1 = std::fs::read(warden_fixtures::P1_COMMAND).unwrap();
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(Language::Wasm, &p1).input_json(r#""abc""#),
    )
    .await;
    assert_eq!(v, json!("ABC"));
    // WAT, called with an invoke input.
    let wat = r#"(component
        (core module $m (func (export "add") (param i32 i32) (result i32)
            local.get 0 local.get 1 i32.add))
        (core instance $i (instantiate $m))
        (func (export "add") (param "a" s32) (param "b" s32) (result s32)
            (canon lift (core func $i "add"))))"#;
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(Language::Wasm, wat).input(Input::Invoke("add(40, 2)".into())),
    )
    .await;
    assert_eq!(v, json!(42));
    // Bad inputs are typed.
    let (code, _) = err(&c, ExecuteRequest::new(Language::Wasm, b"not wasm at all")).await;
    assert_eq!(code, "NOT_WASM");
    let (code, _) = err(
        &c,
        ExecuteRequest::new(Language::Wasm, &hello).input_json("{not json"),
    )
    .await;
    assert_eq!(code, "INVALID_INPUT");
}

#[tokio::test(flavor = "multi_thread")]
async fn c_on_ebpf() {
    if !ebpf_expected() {
        return;
    }
    let c = controller();
    let src = "int f(void *data, int data_len) { return data_len * 2; }";
    let req = ExecuteRequest::new(Language::C, src)
        .input(Input::Bytes(vec![1, 2, 3]))
        .hints(Hints {
            latency: Some(Latency::UltraLow),
            complexity: Some(Complexity::Simple),
            expected_duration: None,
        });
    let (v, rt) = ok(&c, req.clone()).await;
    assert_eq!(rt, "ebpf");
    assert_eq!(v["retval"], json!(6));
    // JSON input: a string's bytes.
    let (v, _) = ok(&c, req.clone().input_json(r#""abcd""#)).await;
    assert_eq!(v["retval"], json!(8));
    // The verifier's refusal comes back typed, at compile time.
    let looping =
        "int f(void *data, int data_len) { volatile int i = 0; while (i >= 0) { i++; } return i; }";
    let simple = req.hints;
    let (code, _) = err(&c, ExecuteRequest::new(Language::C, looping).hints(simple)).await;
    // No hints at all: C still goes to eBPF (hints only ever narrow).
    let (v, _) = ok(&c, ExecuteRequest::new(Language::C, src)).await;
    assert_eq!(v["retval"], json!(0));
    assert!(code == "VERIFIER_REJECTED" || code == "COMPILE", "{code}");
    // A prebuilt object (what aya-ebpf builds from Rust; here clang's).
    let dir = tempfile::tempdir().unwrap();
    let c_file = dir.path().join("prog.c");
    std::fs::write(
        &c_file,
        "struct xdp_md { unsigned int data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };\n\
         #define SEC(n) __attribute__((section(n), used))\n\
         SEC(\"xdp\") int prog(struct xdp_md *ctx) { return (int)(ctx->data_end - ctx->data) + 1; }\n\
         char _license[] SEC(\"license\") = \"GPL\";\n",
    )
    .unwrap();
    let obj = dir.path().join("prog.o");
    let status = std::process::Command::new("clang")
        .args(["-target", "bpf", "-O2", "-c"])
        .arg(&c_file)
        .arg("-o")
        .arg(&obj)
        .status()
        .expect("clang");
    assert!(status.success());
    let object = std::fs::read(&obj).unwrap();
    let (v, _) = ok(
        &c,
        ExecuteRequest::new(Language::C, &object).input(Input::Bytes(vec![0; 20])),
    )
    .await;
    assert_eq!(v["retval"], json!(21));
    let (code, msg) = err(
        &c,
        ExecuteRequest::new(Language::C, "int f(void *d, int n) { return }").hints(simple),
    )
    .await;
    assert_eq!(code, "COMPILE", "{msg}");
}
