//! Snippets as runtime controllers' READMEs show them run as pasted, through
//! the controller (so every front end accepts them): a JavaScript script
//! whose completion value is the result, a Rust `#[no_mangle] extern "C" fn
//! main() -> u32`, a Python notebook cell, a C packet filter, each indented
//! as it sits in a template literal. And a call's own host functions.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};
use warden_host::{
    CallFunctions, Controller, ExecConfig, ExecuteRequest, Grants, Host, Input, Language,
};
use warden_runtimes::{EbpfMode, RuntimesConfig};

fn controller() -> Controller {
    static C: OnceLock<Controller> = OnceLock::new();
    C.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("warden-python-cache");
        let host = Host::builder().cache_dir(cache).build().expect("host");
        warden_runtimes::controller(
            &host,
            RuntimesConfig {
                ebpf: Some(EbpfMode::InProcess),
                ..RuntimesConfig::default()
            },
        )
        .expect("controller")
    })
    .clone()
}

async fn run(language: Language, code: &str, input: &str) -> Result<Value, (String, String)> {
    controller()
        .execute(
            ExecuteRequest::new(language, code).input_json(if input.is_empty() {
                "null"
            } else {
                input
            }),
        )
        .await
        .result
        .map_err(|e| (e.code().as_str().to_string(), e.to_string()))
}

async fn ok(language: Language, code: &str, input: &str) -> Value {
    run(language, code, input)
        .await
        .unwrap_or_else(|(code, msg)| panic!("{code}: {msg}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn javascript_scripts_give_their_completion_value() {
    // As it sits in a template literal: indented, a blank first line.
    let fib = "
        function fibonacci(n) {
          if (n <= 1) return n;
          return fibonacci(n - 1) + fibonacci(n - 2);
        }
        fibonacci(20);
    ";
    assert_eq!(ok(Language::JavaScript, fib, "").await, json!(6765));
    assert_eq!(
        ok(Language::JavaScript, "[1, 2, 3].map(x => x * 2)", "").await,
        json!([2, 4, 6])
    );
    // The input is the global `input`; `let`/`const` and async work.
    let script = "const xs = input.xs;\nasync function total() { return xs.reduce((a, b) => a + b, 0); }\ntotal();";
    assert_eq!(
        ok(Language::JavaScript, script, r#"{"xs":[1,2,3]}"#).await,
        json!(6)
    );
    // An IIFE, and a parenthesised function (called with the input).
    assert_eq!(
        ok(
            Language::JavaScript,
            "(function () { return 'iife' })()",
            ""
        )
        .await,
        json!("iife")
    );
    assert_eq!(
        ok(Language::JavaScript, "((i) => i * 3)", "7").await,
        json!(21)
    );
    // A script that ends in a statement without a value: null.
    assert_eq!(
        ok(Language::JavaScript, "console.log('hi')", "").await,
        Value::Null
    );
    // The existing conventions are unchanged.
    assert_eq!(
        ok(
            Language::JavaScript,
            "function (input) { return input + 1 }",
            "1"
        )
        .await,
        json!(2)
    );
    assert_eq!(
        ok(Language::JavaScript, "(input) => input.x;", r#"{"x":5}"#).await,
        json!(5)
    );
    // TypeScript scripts too.
    assert_eq!(
        ok(
            Language::TypeScript,
            "function sq(n: number): number { return n * n }\nsq(9)",
            ""
        )
        .await,
        json!(81)
    );
    // A syntax error in an indented script names the pasted source's line.
    let (code, msg) = run(
        Language::JavaScript,
        "\n    const a = 1;\n    const b = ;\n    a + b;\n",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(code, "COMPILE", "{msg}");
    assert!(msg.contains(" at 3:"), "{msg}");
    // A function expression with a typo: its own error, not the script's.
    let (code, msg) = run(Language::JavaScript, "function (i) { retrun i }", "")
        .await
        .unwrap_err();
    assert_eq!(code, "COMPILE", "{msg}");
    assert!(msg.contains("1:"), "{msg}");
    // A runtime error in a script points at its line.
    let (code, msg) = run(Language::JavaScript, "const a = 1;\nnope();", "")
        .await
        .unwrap_err();
    assert_eq!(code, "GUEST_ERROR", "{msg}");
    assert!(msg.contains("nope") && msg.contains(":2:"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_value_mains_print_their_result() {
    let fib = "
        fn fibonacci(n: u32) -> u32 {
            if n <= 1 { n } else { fibonacci(n - 1) + fibonacci(n - 2) }
        }

        #[no_mangle]
        pub extern \"C\" fn main() -> u32 {
            fibonacci(20)
        }
    ";
    assert_eq!(ok(Language::Rust, fib, "").await, json!(6765));
    let unsafe_attr = fib.replace("#[no_mangle]", "#[unsafe(no_mangle)]");
    assert_eq!(ok(Language::Rust, &unsafe_attr, "").await, json!(6765));
    let stats = "use std::collections::BTreeMap;\nfn main() -> BTreeMap<String, Vec<f64>> {\n    BTreeMap::from([(\"xs\".to_string(), vec![1.5, 2.0])])\n}";
    assert_eq!(
        ok(Language::Rust, stats, "").await,
        json!({"xs": [1.5, 2.0]})
    );
    // An `Err` is the guest's error; a compile error keeps the pasted line.
    let (code, msg) = run(
        Language::Rust,
        "fn main() -> Result<u32, String> { Err(\"no\".into()) }",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (code.as_str(), msg.contains("no")),
        ("GUEST_ERROR", true),
        "{msg}"
    );
    let (code, msg) = run(
        Language::Rust,
        "\n    #[no_mangle]\n    pub extern \"C\" fn main() -> u32 {\n        missing()\n    }\n",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(code, "COMPILE", "{msg}");
    assert!(msg.contains("snippet.rs:4:"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_notebook_cells_give_their_last_expression() {
    let cell = "
        import statistics

        def analyze_data(data):
            return {'mean': statistics.mean(data), 'median': statistics.median(data)}

        data = input['values']
        result = analyze_data(data)
        result
    ";
    assert_eq!(
        ok(Language::Python, cell, r#"{"values":[1,2,3,4]}"#).await,
        json!({"mean": 2.5, "median": 2.5})
    );
    assert_eq!(ok(Language::Python, "sum([1, 2, 3])", "").await, json!(6));
    // `run` still wins, and `lambda` is still the entry.
    assert_eq!(
        ok(Language::Python, "def run(i):\n    return i * 2\nrun", "4").await,
        json!(8)
    );
    assert_eq!(ok(Language::Python, "lambda i: i + 1", "1").await, json!(2));
    // numpy: a clear message that names it and what to use instead.
    let (code, msg) = run(
        Language::Python,
        "\n    import numpy as np\n    np.mean([1, 2])\n",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(code, "GUEST_ERROR", "{msg}");
    assert!(
        msg.contains("numpy") && msg.contains("statistics") && !msg.contains("IndentationError"),
        "{msg}"
    );
    // Neither an entry nor a final expression: the message says both ways.
    let (code, msg) = run(Language::Python, "x = 1", "").await.unwrap_err();
    assert_eq!(code, "COMPILE", "{msg}");
    assert!(
        msg.contains("run(input)") && msg.contains("expression"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn c_packet_filters_run_indented() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var("REQUIRE_EBPF").as_deref() != Ok("1"),
            "REQUIRE_EBPF=1 but not running as root"
        );
        println!("SKIP: eBPF needs root");
        return;
    }
    let filter = "
        int packet_filter(void *data, int data_len) {
            return data_len > 10 ? 1 : 0;
        }
    ";
    let v = controller()
        .execute(ExecuteRequest::new(Language::C, filter).input(Input::Bytes(vec![0; 20])))
        .await
        .into_result()
        .unwrap();
    assert_eq!(v["retval"], json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_calls_own_host_functions_reach_its_guest_alone() {
    let c = controller();
    let code = "async () => call('whoami', null)";
    let granted = ExecConfig::default().with_grants(Grants::none().allow_host_fns(["whoami"]));
    let request = ExecuteRequest::new(Language::JavaScript, code).config(granted);
    let tenant = |name: &'static str| {
        CallFunctions::new().with("whoami", move |_| async move { Ok(json!(name)) })
    };
    let (a, b) = tokio::join!(
        tenant("a").scope(c.execute(request.clone())),
        tenant("b").scope(c.execute(request.clone())),
    );
    assert_eq!(a.into_result().unwrap(), json!("a"));
    assert_eq!(b.into_result().unwrap(), json!("b"));
    // Another caller, outside the scope, cannot reach either.
    let err = c.execute(request.clone()).await.into_result().unwrap_err();
    assert!(err.to_string().contains("whoami"), "{err}");
    // A job submitted inside a scope keeps it.
    let id = tenant("job")
        .scope(async { c.submit(request.clone()) })
        .await
        .unwrap();
    let job = c.wait(&id).await.unwrap();
    let execution = job.execution.expect("finished");
    assert_eq!(
        execution
            .result
            .as_ref()
            .map_err(|e| e.to_string())
            .unwrap(),
        &json!("job")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scopes_own_sinks_get_its_events_and_logs_alone() {
    use std::sync::{Arc, Mutex};
    let c = controller();
    let code = "async (i) => { log('info', 'hello ' + i.who); emit('t.' + i.who, { n: 1 }); return i.who }";
    let config = ExecConfig::default()
        .with_grants(Grants::none().allow_events("t.*"))
        .with_trust(warden_host::TrustLevel::Low);
    type Seen = Arc<Mutex<Vec<String>>>;
    let tenant = |seen: &Seen| {
        let (events, logs) = (seen.clone(), seen.clone());
        CallFunctions::new()
            .event_sink(move |e: warden_host::Event| {
                events
                    .lock()
                    .unwrap()
                    .push(format!("event {} {}", e.topic, e.payload))
            })
            .log_sink(move |_p: &str, level: &str, m: &str| {
                logs.lock().unwrap().push(format!("log {level} {m}"))
            })
    };
    let (a, b): (Seen, Seen) = Default::default();
    let request = |who: &str| {
        ExecuteRequest::new(Language::JavaScript, code)
            .input_json(format!(r#"{{"who":"{who}"}}"#))
            .config(config.clone())
    };
    let (ra, rb) = tokio::join!(
        tenant(&a).scope(c.execute(request("a"))),
        tenant(&b).scope(c.execute(request("b"))),
    );
    assert_eq!(ra.into_result().unwrap(), json!("a"));
    assert_eq!(rb.into_result().unwrap(), json!("b"));
    assert_eq!(
        *a.lock().unwrap(),
        ["log info hello a", r#"event t.a {"n":1}"#]
    );
    assert_eq!(
        *b.lock().unwrap(),
        ["log info hello b", r#"event t.b {"n":1}"#]
    );
    // A call outside the scope reaches neither sink.
    c.execute(request("c")).await.into_result().unwrap();
    assert_eq!(a.lock().unwrap().len(), 2);
    assert_eq!(b.lock().unwrap().len(), 2);
}
