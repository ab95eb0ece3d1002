//! `warden serve` as a process (SIGTERM drains 20 calls in flight) and
//! `warden exec --remote`, whose output and exit codes match a local exec.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::Warden;

const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

struct Served {
    child: Child,
    url: String,
    token_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("warden-serve-cache")
}

/// `warden serve` on a free port with one token (ceiling: trust at most low).
fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let entry = Command::new(WARDEN)
        .args([
            "token",
            "--name",
            "cli",
            "--ceiling",
            r#"{"max_trust":"low"}"#,
            "--token-file",
        ])
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(entry.status.success(), "{entry:?}");
    let tokens = dir.path().join("tokens.json");
    let entry = String::from_utf8(entry.stdout).unwrap();
    std::fs::write(&tokens, format!("{{\"tokens\":[{}]}}", entry.trim())).unwrap();
    let mut child = Command::new(WARDEN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--drain",
            "60s",
            "--tokens",
        ])
        .arg(&tokens)
        .arg("--cache-dir")
        .arg(cache())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("warden serve: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_string();
    Served {
        child,
        url,
        token_file,
        _dir: dir,
    }
}

fn remote(s: &Served, token_file: &Path, args: &[&str]) -> crate::support::Out {
    let mut full = vec![
        "exec",
        "--remote",
        &s.url,
        "--token-file",
        token_file.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    Warden::new().run(&full)
}

#[test]
fn exec_remote_prints_and_exits_as_a_local_exec() {
    let s = serve();
    let local = Warden::new();
    let cases: [(&[&str], i32); 5] = [
        (&["-e", "(i) => i.n * 2", "--input", r#"{"n":21}"#], 0),
        (&["-e", "(i) => {"], 1),
        (&["-e", "async () => kv.get('a')"], 3),
        (
            &[
                "-e",
                "async () => { log('info', 'hi'); return 1 }",
                "--trust",
                "low",
            ],
            0,
        ),
        (&["--lang", "cobol", "-e", "x"], 2),
    ];
    for (args, exit) in cases {
        let mut local_args = vec!["exec"];
        local_args.extend_from_slice(args);
        let here = local.run(&local_args);
        let there = remote(&s, &s.token_file, args);
        assert_eq!(
            (here.code, there.code),
            (exit, exit),
            "{args:?}: {here:#?} {there:#?}"
        );
        assert_eq!(here.stdout, there.stdout, "{args:?}");
        let code_of = |e: &str| e.split(']').next().unwrap_or("").to_string();
        assert_eq!(
            code_of(&here.stderr),
            code_of(&there.stderr),
            "{args:?}: {here:#?} {there:#?}"
        );
    }
    // The log line reaches stderr as locally.
    let there = remote(
        &s,
        &s.token_file,
        &[
            "-e",
            "async () => { log('info', 'hi'); return 1 }",
            "--trust",
            "low",
        ],
    );
    assert!(there.stderr.contains("[guest log info] hi"), "{there:#?}");
    // The server's ceiling applies: trust high is over this token's.
    let over = remote(&s, &s.token_file, &["-e", "() => 1", "--trust", "high"]);
    assert_eq!(over.code, 3, "{over:#?}");
    assert!(
        over.error_line().starts_with("error[OVER_CEILING]"),
        "{over:#?}"
    );
    // A wrong token.
    let bad = s._dir.path().join("bad-token");
    std::fs::write(&bad, "nope\n").unwrap();
    let denied = remote(&s, &bad, &["-e", "() => 1"]);
    assert_eq!(denied.code, 3, "{denied:#?}");
    assert!(
        denied.error_line().starts_with("error[UNAUTHENTICATED]"),
        "{denied:#?}"
    );
}

#[test]
fn sigterm_with_20_calls_in_flight_answers_all_20_then_exits_0() {
    let mut s = serve();
    let token = std::fs::read_to_string(&s.token_file)
        .unwrap()
        .trim()
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = format!("{}/v1/execute", s.url);
    let body = serde_json::json!({ "language": "js",
        "code": "() => { let x = 0; for (let k = 0; k < 500000; k++) { x += k % 3; } return x > 0; }" });
    let statuses = runtime.block_on(async {
        let client = reqwest::Client::new();
        // Warm the JS engine first, so the 20 are calls, not a start.
        let warm = client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(warm.status().as_u16(), 200);
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (client, url, token, body) =
                (client.clone(), url.clone(), token.clone(), body.clone());
            calls.spawn(async move {
                let resp = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let v: serde_json::Value = resp.json().await.unwrap();
                (status, v)
            });
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        let kill = Command::new("kill")
            .args(["-TERM", &s.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let mut all = Vec::new();
        while let Some(r) = calls.join_next().await {
            all.push(r.unwrap());
        }
        all
    });
    assert_eq!(statuses.len(), 20);
    for (status, v) in &statuses {
        assert_eq!(
            (*status, &v["output"]),
            (200, &serde_json::json!(true)),
            "{v}"
        );
    }
    let exit = s.child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "warden serve exits 0 after draining");
}
