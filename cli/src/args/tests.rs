//! The flag parsers and the lowering of the grant and limit flags.

use super::*;

#[test]
fn dir_specs() {
    let d = parse_dir("data").unwrap();
    assert_eq!((d.host, d.guest, d.writable), ("data".into(), None, false));
    let d = parse_dir("/tmp/out=/out:rw").unwrap();
    assert_eq!(
        (d.host, d.guest, d.writable),
        ("/tmp/out".into(), Some("/out".into()), true)
    );
    let d = parse_dir("x:ro").unwrap();
    assert!(!d.writable);
    assert!(parse_dir(":rw").is_err());
    assert!(parse_dir("x=").is_err());
}

#[test]
fn first_dir_is_dot() {
    let g = GrantArgs {
        allow_dir: vec![parse_dir("a").unwrap(), parse_dir("b").unwrap()],
        ..GrantArgs::default()
    };
    let p = g.grants().unwrap();
    assert_eq!(p.dirs[0].guest, ".");
    assert_eq!(p.dirs[1].guest, "b");
}

#[test]
fn scoped_capabilities_point_to_their_flag() {
    assert!(parse_capability("kv").is_ok());
    let e = parse_capability("http").unwrap_err();
    assert!(e.contains("--allow-host"), "{e}");
    assert!(parse_capability("nope").unwrap_err().contains("unknown"));
}

#[test]
fn allow_fn_does_not_narrow_all() {
    let g = GrantArgs {
        trust: Some(TrustLevel::High),
        allow_fn: vec!["echo".into()],
        ..GrantArgs::default()
    };
    assert_eq!(
        sandbox(g).policy().unwrap().grants.host_fns,
        HostFnGrant::All
    );
    let g = GrantArgs {
        allow: vec![Capability::Host],
        allow_fn: vec!["echo".into()],
        ..GrantArgs::default()
    };
    assert_eq!(
        sandbox(g).policy().unwrap().grants.host_fns,
        HostFnGrant::All
    );
}

#[test]
fn sizes_and_durations() {
    assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
    assert_eq!(parse_bytes("1000").unwrap(), 1000);
    assert!(parse_bytes("lots").is_err());
    assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
    assert!(parse_duration("0s").is_err());
}

fn sandbox(grants: GrantArgs) -> SandboxArgs {
    SandboxArgs {
        grants,
        kv_dir: None,
        limits: LimitArgs::default(),
        receipt: false,
        cache: CacheArgs::default(),
    }
}

/// Every grant flag, alone and with each `--trust` level: the lowered
/// policy has the flag's grant and, with a preset, the preset's grants
/// and limits too (grants add to a preset; nothing is dropped).
#[test]
fn every_grant_flag_with_and_without_trust() {
    type Check = fn(&Policy) -> bool;
    let flags: Vec<(&str, GrantArgs, Check)> = vec![
        (
            "--allow log",
            GrantArgs {
                allow: vec![Capability::Log],
                ..Default::default()
            },
            |p| p.grants.log,
        ),
        (
            "--allow kv",
            GrantArgs {
                allow: vec![Capability::Kv],
                ..Default::default()
            },
            |p| p.grants.kv.is_some(),
        ),
        (
            "--allow host",
            GrantArgs {
                allow: vec![Capability::Host],
                ..Default::default()
            },
            |p| p.grants.host_fns == HostFnGrant::All,
        ),
        (
            "--allow events",
            GrantArgs {
                allow: vec![Capability::Events],
                ..Default::default()
            },
            |p| !p.grants.event_topics.is_empty(),
        ),
        (
            "--allow-host",
            GrantArgs {
                allow_host: vec!["api.example.com".into()],
                ..Default::default()
            },
            |p| p.grants.http_hosts.iter().any(|h| h.0 == "api.example.com"),
        ),
        (
            "--allow-socket",
            GrantArgs {
                allow_socket: vec!["127.0.0.1:9".into()],
                ..Default::default()
            },
            |p| p.grants.socket_addrs.iter().any(|a| a.0 == "127.0.0.1:9"),
        ),
        (
            "--allow-dir",
            GrantArgs {
                allow_dir: vec![parse_dir("/tmp").unwrap()],
                ..Default::default()
            },
            |p| p.grants.dirs.len() == 1,
        ),
        (
            "--env",
            GrantArgs {
                env: vec![parse_env("A=1").unwrap()],
                ..Default::default()
            },
            |p| p.grants.env.iter().any(|e| e.name == "A"),
        ),
        (
            "--allow-fn",
            GrantArgs {
                allow_fn: vec!["echo".into()],
                ..Default::default()
            },
            |p| p.grants.host_fn_allowed("echo"),
        ),
        (
            "--allow-topic",
            GrantArgs {
                allow_topic: vec!["orders.*".into()],
                ..Default::default()
            },
            |p| p.grants.event_topics.iter().any(|t| t.0 == "orders.*"),
        ),
        (
            "--allow kv --kv-quota",
            GrantArgs {
                allow: vec![Capability::Kv],
                kv_quota: Some(16 << 20),
                ..Default::default()
            },
            |p| {
                p.grants
                    .kv
                    .as_ref()
                    .is_some_and(|k| k.quota_bytes == 16 << 20)
            },
        ),
    ];
    for (name, flag, check) in flags {
        for trust in [
            None,
            Some(TrustLevel::Low),
            Some(TrustLevel::Medium),
            Some(TrustLevel::High),
        ] {
            let args = GrantArgs {
                trust,
                ..flag.clone()
            };
            let p = sandbox(args)
                .policy()
                .unwrap_or_else(|e| panic!("{name} {trust:?}: {e}"));
            assert!(
                check(&p),
                "{name} with --trust {trust:?} lost its grant: {p:?}"
            );
            if let Some(level) = trust {
                let preset = Policy::trust(level);
                assert_eq!(p.limits, preset.limits, "{name} {level:?}");
                for cap in preset.grants.granted() {
                    assert!(
                        p.grants.has(cap),
                        "{name} {level:?} lost the preset's {cap}"
                    );
                }
            } else {
                assert_eq!(p.limits, Policy::deny_all().limits, "{name}");
            }
        }
    }
}

/// The two grants the old "explicit grants" check dropped with a preset.
#[test]
fn regression_topics_and_kv_quota_with_a_trust_level() {
    let low_topic = GrantArgs {
        trust: Some(TrustLevel::Low),
        allow_topic: vec!["t".into()],
        ..GrantArgs::default()
    };
    let p = sandbox(low_topic).policy().unwrap();
    assert!(
        p.grants.log && p.grants.event_topics.iter().any(|t| t.0 == "t"),
        "{p:?}"
    );
    let medium_quota = GrantArgs {
        trust: Some(TrustLevel::Medium),
        kv_quota: Some(16 << 20),
        ..GrantArgs::default()
    };
    let p = sandbox(medium_quota).policy().unwrap();
    assert_eq!(p.grants.kv.unwrap().quota_bytes, 16 << 20);
    // Without kv from a flag or a preset, the quota has nothing to apply to.
    let low_quota = GrantArgs {
        trust: Some(TrustLevel::Low),
        kv_quota: Some(1),
        ..GrantArgs::default()
    };
    let e = sandbox(low_quota).policy().unwrap_err();
    assert!(e.to_string().contains("--kv-quota needs kv granted"), "{e}");
}

#[test]
fn limit_flags_override_the_preset() {
    let mut s = sandbox(GrantArgs {
        trust: Some(TrustLevel::High),
        ..GrantArgs::default()
    });
    s.limits.timeout = Some(Duration::from_millis(200));
    s.limits.memory = Some(8 << 20);
    let p = s.policy().unwrap();
    assert_eq!(p.limits.timeout, Duration::from_millis(200));
    assert_eq!(p.limits.memory_bytes, 8 << 20);
    assert_eq!(
        p.limits.host_calls,
        Policy::trust(TrustLevel::High).limits.host_calls
    );
}
