//! Every limit stops its runaway with its own typed error, and the host keeps
//! serving afterwards.

use std::time::Duration;

use warden_fixtures as fx;
use warden_host::{EngineOptions, ErrorCode, Grants, Limits, Policy};

use crate::support;

fn policy(limits: Limits) -> Policy {
    Policy::deny_all().with_limits(limits)
}

async fn code_of(path: &str, policy: Policy, input: &str) -> (ErrorCode, String) {
    let err = support::load(path)
        .prepare(policy)
        .unwrap()
        .run(input)
        .await
        .into_result()
        .expect_err("the runaway must be stopped");
    (err.code(), err.to_string())
}

async fn hello_still_works() {
    let out = support::load(fx::HELLO)
        .run(Policy::deny_all(), r#"{"name":"after"}"#)
        .await
        .unwrap();
    assert!(out.output.contains("hello, after"), "{}", out.output);
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_loop_times_out() {
    let limits = Limits {
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let (code, msg) = code_of(fx::INFINITE_LOOP, policy(limits), "{}").await;
    assert_eq!(code, ErrorCode::Timeout, "{msg}");
    assert!(msg.contains("200ms"), "{msg}");
    hello_still_works().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_host_callback_times_out() {
    let limits = Limits {
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let p = Policy::deny_all()
        .with_grants(Grants::none().allow_host_fns(["hang"]))
        .with_limits(limits);
    let (code, msg) = code_of(fx::HOST_CALLBACK, p, r#"{"name":"hang"}"#).await;
    assert_eq!(code, ErrorCode::Timeout, "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_hits_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let (code, msg) = code_of(fx::MEMORY_BOMB, policy(limits), "{}").await;
    assert_eq!(code, ErrorCode::MemoryLimit, "{msg}");
    assert!(msg.contains(&(16usize << 20).to_string()), "{msg}");
    hello_still_works().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stack_overflow_is_a_trap() {
    let (code, msg) = code_of(fx::STACK_OVERFLOW, Policy::deny_all(), "{}").await;
    assert_eq!(code, ErrorCode::Trap, "{msg}");
    // Rust keeps its stack in linear memory: overflowing it is an
    // out-of-bounds access (or Wasmtime's own stack guard for wasm frames).
    assert!(
        msg.contains("out of bounds memory access") || msg.contains("call stack exhausted"),
        "{msg}"
    );
    hello_still_works().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_call_flood_hits_the_host_call_limit() {
    let p = Policy::deny_all()
        .with_grants(Grants {
            log: true,
            ..Grants::none()
        })
        .with_limits(Limits {
            host_calls: 500,
            output_bytes: usize::MAX,
            ..Limits::default()
        });
    let (code, msg) = code_of(fx::HOST_CALL_FLOOD, p, "{}").await;
    assert_eq!(code, ErrorCode::HostCallLimit, "{msg}");
    assert!(msg.contains("500"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn output_flood_hits_the_output_limit() {
    let limits = Limits {
        output_bytes: 64 << 10,
        ..Limits::default()
    };
    let (code, msg) = code_of(fx::OUTPUT_FLOOD, policy(limits), "{}").await;
    assert_eq!(code, ErrorCode::OutputTooLarge, "{msg}");
    assert!(msg.contains("stdout"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_flood_counts_toward_the_output_limit() {
    let p = Policy::deny_all()
        .with_grants(Grants {
            log: true,
            ..Grants::none()
        })
        .with_limits(Limits {
            output_bytes: 1000,
            ..Limits::default()
        });
    let (code, msg) = code_of(fx::LOGGER, p, r#"{"message":"0123456789","count":500}"#).await;
    assert_eq!(code, ErrorCode::OutputTooLarge, "{msg}");
    assert!(msg.contains("log"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn panic_is_a_trap_with_the_panic_message() {
    let (code, msg) = code_of(fx::PANIC, Policy::deny_all(), "{}").await;
    assert_eq!(code, ErrorCode::Trap, "{msg}");
    assert!(msg.contains("guest panicked on purpose"), "{msg}");
    hello_still_works().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_input_is_refused_before_the_call() {
    let limits = Limits {
        input_bytes: 100,
        ..Limits::default()
    };
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(200));
    let outcome = support::load(fx::HELLO)
        .prepare(policy(limits))
        .unwrap()
        .run(&big)
        .await;
    let err = outcome.into_result().unwrap_err();
    assert_eq!(err.code(), ErrorCode::InputTooLarge, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fuel_runs_out() {
    let host = support::builder()
        .engine(EngineOptions {
            fuel: true,
            ..EngineOptions::default()
        })
        .build()
        .unwrap();
    let p = policy(Limits {
        fuel: Some(5_000_000),
        ..Limits::default()
    });
    let err = host
        .load_file(fx::INFINITE_LOOP)
        .unwrap()
        .prepare(p.clone())
        .unwrap()
        .run("{}")
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::FuelExhausted, "{err}");
    // And fuel is reported for a call that finishes.
    let outcome = host
        .load_file(fx::HELLO)
        .unwrap()
        .prepare(p)
        .unwrap()
        .run("{}")
        .await;
    let used = outcome.receipt.fuel_used.expect("fuel metered");
    assert!(used > 0 && used < 5_000_000, "{used}");
    outcome.into_result().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn table_growth_hits_the_table_limit() {
    let wat = r#"(component
      (core module $m
        (table 1 funcref)
        (func (export "grow") (result i32)
          (table.grow (ref.null func) (i32.const 5000))))
      (core instance $i (instantiate $m))
      (func (export "grow") (result s32) (canon lift (core func $i "grow"))))"#;
    let plugin = support::host()
        .load_bytes("table-grower", wat.as_bytes())
        .unwrap();
    let limits = Limits {
        table_elements: 1000,
        ..Limits::default()
    };
    let err = plugin
        .prepare(policy(limits.clone()))
        .unwrap()
        .invoke("grow()")
        .await
        .into_result()
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::TableLimit, "{err}");
    // Under the limit the same growth succeeds (returns the old size, 1).
    let ok = plugin
        .prepare(policy(Limits {
            table_elements: 10_000,
            ..limits
        }))
        .unwrap()
        .invoke("grow()")
        .await
        .into_result()
        .unwrap();
    assert_eq!(ok.wave, vec!["1"]);
}

/// A component whose instance state is over 1 MiB: two core instances, each
/// with `globals` mutable globals (16 bytes of `VMContext` apiece).
fn big_state_component(globals: usize) -> String {
    let module = |name: &str| {
        let mut m = format!("(core module ${name}\n");
        for _ in 0..globals {
            m.push_str("(global (mut i64) (i64.const 0))\n");
        }
        m.push_str("(func (export \"f\") (result i32) (i32.const 7)))\n");
        m
    };
    format!(
        "(component\n{}{}(core instance $a (instantiate $a))\n(core instance $b (instantiate $b))\n\
         (func (export \"seven\") (result s32) (canon lift (core func $a \"f\"))))",
        module("a"),
        module("b")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn components_with_over_a_mebibyte_of_instance_state_run() {
    // 2 × 40,000 globals × 16 B ≈ 1.3 MB: over Wasmtime's 1 MiB default.
    let wat = big_state_component(40_000);
    let plugin = support::host()
        .load_bytes("big-state", wat.as_bytes())
        .unwrap();
    let ok = plugin
        .prepare(Policy::deny_all())
        .unwrap()
        .invoke("seven()")
        .await
        .into_result()
        .unwrap();
    assert_eq!(ok.wave, vec!["7"]);

    // With the limit at Wasmtime's default, the same component is refused
    // (when it is loaded) with a message that names the option, and the
    // host keeps serving.
    let small = support::builder()
        .engine(EngineOptions {
            max_component_instance_size: 1 << 20,
            ..EngineOptions::default()
        })
        .build()
        .unwrap();
    let err = small
        .load_bytes("big-state", wat.as_bytes())
        .expect_err("over the pool's instance size");
    assert_eq!(err.code(), ErrorCode::Compile, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("raise the engine option `max_component_instance_size`"),
        "{msg}"
    );
    let hello = small
        .load_file(fx::HELLO)
        .unwrap()
        .run(Policy::deny_all(), r#"{"name":"after"}"#)
        .await
        .unwrap();
    assert!(hello.output.contains("hello, after"), "{}", hello.output);
}
