//! The scheduler's decisions, as a table (`scheduler.json`).

use super::*;

#[derive(Debug, Deserialize)]
struct Row {
    language: String,
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    complexity: Option<String>,
    #[serde(default)]
    expected_ms: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    trust: Option<String>,
    #[serde(default)]
    fuel: Option<u64>,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    ebpf: Option<String>,
    /// The runtime chosen, or `refused: <substring of the reason>`.
    expect: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_table() {
    let table: Vec<Row> = serde_json::from_str(include_str!("scheduler.json")).unwrap();
    let in_process = controller();
    let sidecar = controller_with(
        ControllerOptions::default(),
        Some(EbpfMode::Sidecar("/nonexistent/warden.sock".into())),
    );
    let mut failures = Vec::new();
    for (n, row) in table.iter().enumerate() {
        let c = if row.ebpf.as_deref() == Some("sidecar") {
            &sidecar
        } else {
            &in_process
        };
        let hints = Hints {
            latency: row.latency.as_deref().map(|l| l.parse().unwrap()),
            complexity: row.complexity.as_deref().map(|l| l.parse().unwrap()),
            expected_duration: row.expected_ms.map(Duration::from_millis),
        };
        let mut grants = Grants::none();
        for g in &row.grants {
            let cap = Capability::ALL.into_iter().find(|c| c.name() == g).unwrap();
            grants = match cap {
                Capability::Http => grants.allow_http("example.com"),
                Capability::Filesystem => grants.allow_dir("/tmp", "/tmp", false),
                Capability::Env => grants.allow_env("HOME"),
                Capability::Sockets => grants.allow_socket("127.0.0.1:*"),
                other => grants.allow(other).unwrap(),
            };
        }
        let mut config = ExecConfig::default().with_grants(grants);
        config.trust = row
            .trust
            .as_deref()
            .map(|t| t.parse::<TrustLevel>().unwrap());
        config.limits.timeout = row.timeout_ms.map(Duration::from_millis);
        config.limits.fuel = row.fuel;
        let language: Language = row.language.parse().unwrap();
        let got = c.decide(language, &hints, &config, row.runtime.as_deref());
        let pass = match (&got, row.expect.strip_prefix("refused: ")) {
            (Ok(d), None) => d.runtime == row.expect && !d.reason.is_empty(),
            (Err(e), Some(why)) => e.code().as_str() == "NO_RUNTIME" && e.to_string().contains(why),
            _ => false,
        };
        if !pass {
            failures.push(format!(
                "row {n} {row:?}: got {}",
                match &got {
                    Ok(d) => format!("{} ({})", d.runtime, d.reason),
                    Err(e) => format!("{} {e}", e.code()),
                }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn decision_is_part_of_the_result() {
    let c = controller();
    let e = c
        .execute(ExecuteRequest::new(Language::JavaScript, "() => 1").hints(hints(Latency::Low)))
        .await;
    let d = e.decision.clone().unwrap();
    assert_eq!(d.runtime, "js");
    assert!(d.reason.contains("latency low"), "{}", d.reason);
    assert!(!d.overridden);
    let report = serde_json::to_value(e.report()).unwrap();
    assert_eq!(report["runtime"], "js");
    assert_eq!(report["output"], 1);
    assert!(report["receipt"]["wall_time_us"].as_u64().unwrap() > 0);
}
