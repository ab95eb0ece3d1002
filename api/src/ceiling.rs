//! The one lowering from what a caller asks for to the [`Policy`] a call
//! runs under, and the [`Ceiling`] it is checked against.
//!
//! Every front end (the CLI, the server, the Node binding, the workers)
//! calls [`lower`]; none has rules of its own. A request above its ceiling
//! is refused with [`OverCeiling`] (`OVER_CEILING`) naming the field, what
//! was asked and what is allowed: it is never silently lowered.

use std::collections::BTreeSet;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::OverCeiling;
use crate::grants::{Capability, TrustLevel};
use crate::limits::{LimitOverrides, Limits, Policy};
use crate::request::ExecConfig;

/// The most a caller may have: the highest trust level, the capabilities,
/// the largest limits. [`Ceiling::default`] allows everything (the CLI's
/// ceiling: its user is the machine's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Ceiling {
    /// The highest trust preset (none: any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_trust: Option<TrustLevel>,
    /// The capabilities that may be granted (none: any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<BTreeSet<Capability>>,
    /// The largest kv quota, in bytes (none: any).
    #[serde(
        with = "crate::units::opt_usize_size",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "crate::units::opt_usize_size::schema")]
    pub kv_quota_bytes: Option<usize>,
    /// The largest value of each limit (a limit not given: unbounded). With
    /// `fuel` set, an unmetered call is over the ceiling.
    pub limits: LimitOverrides,
}

impl Ceiling {
    /// Everything allowed.
    pub fn unlimited() -> Self {
        Ceiling::default()
    }

    /// The tighter of two ceilings, field by field: the lower trust level,
    /// the capabilities both allow, the smaller of each limit. A server
    /// checks a request against the meet of its own ceiling and the
    /// caller's (a token's), so neither can raise the other.
    pub fn meet(&self, other: &Ceiling) -> Ceiling {
        fn min<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        let capabilities = match (&self.capabilities, &other.capabilities) {
            (Some(a), Some(b)) => Some(a.intersection(b).copied().collect()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let (a, b) = (&self.limits, &other.limits);
        Ceiling {
            max_trust: min(self.max_trust, other.max_trust),
            capabilities,
            kv_quota_bytes: min(self.kv_quota_bytes, other.kv_quota_bytes),
            limits: LimitOverrides {
                timeout: min(a.timeout, b.timeout),
                fuel: min(a.fuel, b.fuel),
                memory_bytes: min(a.memory_bytes, b.memory_bytes),
                table_elements: min(a.table_elements, b.table_elements),
                host_calls: min(a.host_calls, b.host_calls),
                input_bytes: min(a.input_bytes, b.input_bytes),
                output_bytes: min(a.output_bytes, b.output_bytes),
            },
        }
    }

    /// Check a lowered `policy` (and the trust level it came from).
    pub fn check(&self, trust: Option<TrustLevel>, policy: &Policy) -> Result<(), OverCeiling> {
        let over = |field: &str, asked: String, allowed: String| OverCeiling {
            field: field.to_string(),
            asked,
            allowed,
        };
        if let (Some(asked), Some(max)) = (trust, self.max_trust)
            && asked > max
        {
            return Err(over(
                "trust",
                trust_name(asked),
                format!("at most {}", trust_name(max)),
            ));
        }
        if let Some(allowed) = &self.capabilities {
            for cap in policy.grants.granted() {
                if !allowed.contains(&cap) {
                    let list = allowed.iter().map(|c| c.name()).collect::<Vec<_>>();
                    return Err(over(
                        &format!("grants.{cap}"),
                        format!("capability `{cap}`"),
                        if list.is_empty() {
                            "no capability".into()
                        } else {
                            list.join(", ")
                        },
                    ));
                }
            }
        }
        if let (Some(max), Some(kv)) = (self.kv_quota_bytes, &policy.grants.kv)
            && kv.quota_bytes > max as u64
        {
            return Err(over(
                "grants.kv.quota_bytes",
                size(kv.quota_bytes),
                size(max as u64),
            ));
        }
        check_limits(&policy.limits, &self.limits)
    }
}

fn trust_name(t: TrustLevel) -> String {
    match t {
        TrustLevel::Low => "low",
        TrustLevel::Medium => "medium",
        TrustLevel::High => "high",
    }
    .to_string()
}

fn size(b: u64) -> String {
    format!("{b} bytes ({})", bytesize::ByteSize(b).display().iec())
}

fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn check_limits(l: &Limits, max: &LimitOverrides) -> Result<(), OverCeiling> {
    let over = |field: &str, asked: String, allowed: String| {
        Err(OverCeiling {
            field: format!("limits.{field}"),
            asked,
            allowed: format!("at most {allowed}"),
        })
    };
    if let Some(m) = max.timeout
        && l.timeout > m
    {
        return over("timeout", duration(l.timeout), duration(m));
    }
    if let Some(m) = max.memory_bytes
        && l.memory_bytes > m
    {
        return over("memory_bytes", size(l.memory_bytes as u64), size(m as u64));
    }
    if let Some(m) = max.table_elements
        && l.table_elements > m
    {
        return over(
            "table_elements",
            l.table_elements.to_string(),
            m.to_string(),
        );
    }
    if let Some(m) = max.host_calls
        && l.host_calls > m
    {
        return over("host_calls", l.host_calls.to_string(), m.to_string());
    }
    if let Some(m) = max.input_bytes
        && l.input_bytes > m
    {
        return over("input_bytes", size(l.input_bytes as u64), size(m as u64));
    }
    if let Some(m) = max.output_bytes
        && l.output_bytes > m
    {
        return over("output_bytes", size(l.output_bytes as u64), size(m as u64));
    }
    if let Some(m) = max.fuel {
        match l.fuel {
            None => return over("fuel", "unmetered".into(), m.to_string()),
            Some(f) if f > m => return over("fuel", f.to_string(), m.to_string()),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The policy `config` asks for: the trust preset (or nothing granted and
/// the default limits), the explicit grants added, the limit overrides
/// applied; then checked against `ceiling`.
pub fn lower(config: &ExecConfig, ceiling: &Ceiling) -> Result<Policy, OverCeiling> {
    let policy = lower_unchecked(config);
    ceiling.check(config.trust, &policy)?;
    Ok(policy)
}

/// [`lower`] without a ceiling (everything allowed).
pub fn lower_unchecked(config: &ExecConfig) -> Policy {
    let mut policy = match config.trust {
        Some(level) => Policy::trust(level),
        None => Policy::deny_all(),
    };
    policy.grants.merge(&config.grants);
    config.limits.apply(&mut policy.limits);
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::{Grants, KvGrant};

    fn cfg(trust: Option<TrustLevel>, grants: Grants, limits: LimitOverrides) -> ExecConfig {
        ExecConfig {
            trust,
            grants,
            limits,
            include_queue_time: true,
        }
    }

    #[test]
    fn presets_then_grants_added_then_limits_overridden() {
        // Nothing asked: nothing granted, the default limits.
        let p = lower_unchecked(&ExecConfig::default());
        assert_eq!(p, Policy::deny_all());
        // A preset alone.
        let low = Some(TrustLevel::Low);
        let p = lower_unchecked(&cfg(low, Grants::none(), LimitOverrides::default()));
        assert_eq!(p, Policy::trust(TrustLevel::Low));
        // Grants add to the preset (the regression: topics and kv quotas
        // with a trust level were dropped by the CLI).
        let extra = Grants::none().allow_events("orders.*").with_kv(KvGrant {
            namespace: None,
            quota_bytes: 16 << 20,
        });
        let p = lower_unchecked(&cfg(low, extra, LimitOverrides::default()));
        assert!(p.grants.log, "the preset's log stays");
        assert_eq!(p.grants.event_topics.len(), 1);
        assert_eq!(p.grants.kv.as_ref().unwrap().quota_bytes, 16 << 20);
        assert_eq!(p.limits, Policy::trust(TrustLevel::Low).limits);
        // Limits override the preset's, one by one.
        let p = lower_unchecked(&cfg(
            Some(TrustLevel::High),
            Grants::none(),
            LimitOverrides {
                timeout: Some(Duration::from_millis(200)),
                ..LimitOverrides::default()
            },
        ));
        assert_eq!(p.limits.timeout, Duration::from_millis(200));
        assert_eq!(
            p.limits.memory_bytes,
            Policy::trust(TrustLevel::High).limits.memory_bytes
        );
    }

    #[test]
    fn every_ceiling_field_below_at_and_above() {
        let base = Limits::default();
        type Case = (&'static str, fn(&mut LimitOverrides, &Limits, i64));
        // Each case sets one ceiling field to the asked value plus `delta`.
        let cases: [Case; 7] = [
            ("timeout", |c, l, d| {
                c.timeout = Some(Duration::from_millis(
                    (l.timeout.as_millis() as i64 + d) as u64,
                ))
            }),
            ("memory_bytes", |c, l, d| {
                c.memory_bytes = Some((l.memory_bytes as i64 + d) as usize)
            }),
            ("table_elements", |c, l, d| {
                c.table_elements = Some((l.table_elements as i64 + d) as usize)
            }),
            ("host_calls", |c, l, d| {
                c.host_calls = Some((l.host_calls as i64 + d) as u64)
            }),
            ("input_bytes", |c, l, d| {
                c.input_bytes = Some((l.input_bytes as i64 + d) as usize)
            }),
            ("output_bytes", |c, l, d| {
                c.output_bytes = Some((l.output_bytes as i64 + d) as usize)
            }),
            ("fuel", |c, _, d| c.fuel = Some((1000 + d) as u64)),
        ];
        for (field, set) in cases {
            let config = ExecConfig::default().with_fuel(1000);
            for (delta, ok) in [(1, true), (0, true), (-1, false)] {
                let mut ceiling = Ceiling::default();
                set(&mut ceiling.limits, &base, delta);
                let r = lower(&config, &ceiling);
                match (ok, r) {
                    (true, Ok(_)) => {}
                    (false, Err(e)) => {
                        assert_eq!(e.field, format!("limits.{field}"));
                        assert!(e.allowed.starts_with("at most"), "{e}");
                    }
                    (ok, r) => panic!("{field} with ceiling delta {delta}: ok={ok}, got {r:?}"),
                }
            }
        }
        // A fuel ceiling refuses an unmetered call.
        let ceiling = Ceiling {
            limits: LimitOverrides {
                fuel: Some(10),
                ..LimitOverrides::default()
            },
            ..Ceiling::default()
        };
        let e = lower(&ExecConfig::default(), &ceiling).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.asked.as_str()),
            ("limits.fuel", "unmetered")
        );
    }

    #[test]
    fn the_meet_of_two_ceilings_is_the_tighter_of_each_field() {
        let server = Ceiling {
            max_trust: Some(TrustLevel::High),
            capabilities: Some([Capability::Log, Capability::Kv].into()),
            kv_quota_bytes: None,
            limits: LimitOverrides {
                timeout: Some(Duration::from_secs(10)),
                memory_bytes: Some(64 << 20),
                ..LimitOverrides::default()
            },
        };
        let token = Ceiling {
            max_trust: Some(TrustLevel::Low),
            capabilities: Some([Capability::Log, Capability::Events].into()),
            kv_quota_bytes: Some(1024),
            limits: LimitOverrides {
                timeout: Some(Duration::from_secs(30)),
                fuel: Some(1_000_000),
                ..LimitOverrides::default()
            },
        };
        let m = server.meet(&token);
        assert_eq!(m, token.meet(&server), "commutative");
        assert_eq!(m.max_trust, Some(TrustLevel::Low));
        assert_eq!(m.capabilities, Some([Capability::Log].into()));
        assert_eq!(m.kv_quota_bytes, Some(1024));
        assert_eq!(m.limits.timeout, Some(Duration::from_secs(10)));
        assert_eq!(m.limits.memory_bytes, Some(64 << 20));
        assert_eq!(m.limits.fuel, Some(1_000_000));
        assert_eq!(m.limits.host_calls, None);
        assert_eq!(Ceiling::unlimited().meet(&token), token);
        // What the tighter side refuses, the meet refuses, naming the field.
        let e = lower(&ExecConfig::default().with_trust(TrustLevel::Medium), &m).unwrap_err();
        assert_eq!(e.field, "trust");
    }

    #[test]
    fn trust_capabilities_and_kv_quota_ceilings() {
        for (asked, max, ok) in [
            (TrustLevel::Low, TrustLevel::Medium, true),
            (TrustLevel::Medium, TrustLevel::Medium, true),
            (TrustLevel::High, TrustLevel::Medium, false),
        ] {
            let ceiling = Ceiling {
                max_trust: Some(max),
                ..Ceiling::default()
            };
            let r = lower(&ExecConfig::default().with_trust(asked), &ceiling);
            assert_eq!(r.is_ok(), ok, "{asked:?} under {max:?}: {r:?}");
            if let Err(e) = r {
                assert_eq!((e.field.as_str(), e.asked.as_str()), ("trust", "high"));
                assert_eq!(e.allowed, "at most medium");
            }
        }
        let ceiling = Ceiling {
            capabilities: Some([Capability::Log, Capability::Kv].into()),
            ..Ceiling::default()
        };
        let ok = ExecConfig::default().with_grants(Grants::none().allow(Capability::Kv).unwrap());
        lower(&ok, &ceiling).unwrap();
        let http = ExecConfig::default().with_grants(Grants::none().allow_http("example.com"));
        let e = lower(&http, &ceiling).unwrap_err();
        assert_eq!(e.field, "grants.http");
        assert_eq!(e.allowed, "log, kv");
        // A preset's capabilities count too: medium grants events.
        let e = lower(
            &ExecConfig::default().with_trust(TrustLevel::Medium),
            &ceiling,
        )
        .unwrap_err();
        assert_eq!(e.field, "grants.events");

        let ceiling = Ceiling {
            kv_quota_bytes: Some(1 << 20),
            ..Ceiling::default()
        };
        lower(
            &ExecConfig::default().with_trust(TrustLevel::Medium),
            &ceiling,
        )
        .unwrap();
        let e = lower(
            &ExecConfig::default().with_trust(TrustLevel::High),
            &ceiling,
        )
        .unwrap_err();
        assert_eq!(e.field, "grants.kv.quota_bytes");
        assert!(e.asked.starts_with("16777216 bytes"), "{e}");
    }
}
