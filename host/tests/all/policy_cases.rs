//! Policy cases as data: every directory under `tests/policy/` is one case —
//! a guest, a policy (serde form of `warden_host::Policy`), an input and the
//! expected result or error code. A new denial is a new folder, not new code.
//!
//! Placeholders in `case.json`: `${CASE_DIR}`, `${TEMP_DIR}` (a fresh temp
//! dir), `${HTTP}` (a loopback HTTP server), `${ECHO}` (a loopback TCP echo
//! server).

use std::path::Path;

use serde::Deserialize;
use warden_host::Policy;

use crate::support;

#[derive(Deserialize)]
struct Case {
    about: String,
    guest: String,
    #[serde(default)]
    policy: Policy,
    input: serde_json::Value,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Expect {
    Ok { ok: serde_json::Value },
    Err { error: String, contains: String },
}

async fn run_case(dir: &Path, http: &str, echo: &str) -> Result<(), String> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let raw = std::fs::read_to_string(dir.join("case.json")).map_err(|e| e.to_string())?;
    let raw = raw
        .replace("${CASE_DIR}", &dir.display().to_string())
        .replace("${TEMP_DIR}", &temp.path().display().to_string())
        .replace("${HTTP}", http)
        .replace("${ECHO}", echo);
    let case: Case = serde_json::from_str(&raw).map_err(|e| format!("bad case.json: {e}"))?;
    let plugin = match case.guest.strip_prefix("wat:") {
        Some(file) => support::host()
            .load_file(dir.join(file))
            .map_err(|e| format!("loading {file}: {e}"))?,
        None => support::load(support::guest_path(&case.guest)),
    };
    let result = match plugin.prepare(case.policy) {
        Ok(p) => p.run(&case.input.to_string()).await.into_result(),
        Err(e) => Err(e),
    };
    match (&case.expect, result) {
        (Expect::Ok { ok }, Ok(out)) => {
            let actual: serde_json::Value =
                serde_json::from_str(&out.output).map_err(|e| e.to_string())?;
            if support::json_subset(ok, &actual) {
                Ok(())
            } else {
                Err(format!("expected {ok} within {actual}"))
            }
        }
        (Expect::Ok { .. }, Err(e)) => Err(format!("expected success, got {}: {e}", e.code())),
        (Expect::Err { error, contains }, Err(e)) => {
            let msg = e.to_string();
            if e.code().as_str() == error && msg.contains(contains.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "expected {error} containing {contains:?}, got {}: {msg}",
                    e.code()
                ))
            }
        }
        (Expect::Err { error, .. }, Ok(out)) => {
            Err(format!("expected {error}, got success: {}", out.output))
        }
    }
    .map_err(|e| format!("{} ({})", e, case.about))
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_cases_as_data() {
    let root = Path::new(warden_fixtures::WORKSPACE_ROOT).join("tests/policy");
    let http = support::http_server().await.to_string();
    let echo = support::echo_server().await.to_string();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "expected the policy cases under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        match run_case(dir, &http, &echo).await {
            Ok(()) => eprintln!("policy case {name}: ok"),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} policy cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
