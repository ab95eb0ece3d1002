//! The scheduler: which runtime runs a piece of code.
//!
//! It is table-driven: every runtime's row is its [`RuntimeInfo`]
//! (languages, latency class, complexity ceiling, longest suitable run,
//! grantable capabilities, fuel metering, priority), and one fixed list of
//! rules, applied in this order to every runtime that lists the language:
//!
//! | # | rule | refused when |
//! |---|---|---|
//! | 1 | health | the runtime is stopped or unavailable (a tool or privilege is missing) |
//! | 2 | latency | its class is slower than the `latency` hint |
//! | 3 | complexity | the `complexity` hint is above its ceiling |
//! | 4 | duration | the `expected_duration` hint is over its longest suitable run |
//! | 5 | capabilities | an explicitly granted capability is one it cannot grant |
//! | 6 | fuel | a fuel budget is set and it does not meter fuel |
//!
//! Of the runtimes no rule refused, the highest priority wins (ties: by
//! name). An `expected_duration` over the call's timeout is refused before
//! any runtime is considered. When every candidate is refused the result is
//! `NO_RUNTIME` listing each refusal: never a silent fallback. An explicit
//! runtime (`--runtime`) skips only the priority choice; the rules still
//! apply to it.
//!
//! With the runtimes warden ships this gives:
//!
//! | language | hints | runtime |
//! |---|---|---|
//! | c | any latency, complexity `simple` | `ebpf` |
//! | c | complexity `moderate` or `complex` | refused (the verifier bounds eBPF) |
//! | js, ts | latency `low` or `normal` | `js` (QuickJS) |
//! | js, ts | latency `ultra-low` | refused (~100 µs per fresh instance) |
//! | python | latency `normal` | `python` |
//! | python | latency `low` or `ultra-low` | refused (~2 ms per fresh instance) |
//! | rust | latency `low` or `normal` | `rust` (rustc → wasm32-wasip2, cached) |
//! | wasm | latency `low` or `normal` | `wasm` |

use std::fmt::Write as _;
use std::time::Duration;

use super::runtime::{Health, Language, RuntimeInfo};
use crate::error::{Error, Result};
use crate::policy::Capability;
pub use warden_api::{Decision, Hints, Rejection};

/// `; hints: latency low, complexity simple, expected 5 ms`, or nothing.
fn describe_hints(hints: &Hints) -> String {
    {
        let mut parts = Vec::new();
        if let Some(l) = hints.latency {
            parts.push(format!("latency {}", l.as_str()));
        }
        if let Some(c) = hints.complexity {
            parts.push(format!("complexity {}", c.as_str()));
        }
        if let Some(d) = hints.expected_duration {
            parts.push(format!("expected {}", fmt_duration(d)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; hints: {}", parts.join(", "))
        }
    }
}

/// A runtime as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// Its metadata.
    pub info: &'a RuntimeInfo,
    /// Its health (`Unavailable` also for a stopped runtime).
    pub health: Health,
}

/// What the call asks for besides the hints.
#[derive(Debug, Clone, Default)]
pub struct Demands<'a> {
    /// Capabilities granted explicitly (trust presets are not demands).
    pub capabilities: &'a [Capability],
    /// Whether a fuel budget is set.
    pub fuel: bool,
    /// The call's timeout.
    pub timeout: Option<Duration>,
}

fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Why `info` cannot take this call, or `None` when it can.
fn refusal(c: &Candidate<'_>, hints: &Hints, demands: &Demands<'_>) -> Option<String> {
    let info = c.info;
    if let Health::Unavailable(why) = &c.health {
        return Some(format!("unavailable: {why}"));
    }
    if let Some(wanted) = hints.latency
        && info.latency > wanted
    {
        return Some(format!(
            "meets latency {} at best ({}), not {}",
            info.latency.as_str(),
            info.typical,
            wanted.as_str()
        ));
    }
    if let Some(wanted) = hints.complexity
        && wanted > info.complexity
    {
        return Some(format!(
            "takes complexity up to {}, not {}",
            info.complexity.as_str(),
            wanted.as_str()
        ));
    }
    if let (Some(expected), Some(max)) = (hints.expected_duration, info.max_duration)
        && expected > max
    {
        return Some(format!(
            "suits runs up to {}, not an expected {}",
            fmt_duration(max),
            fmt_duration(expected)
        ));
    }
    refusal_for_config(info, demands.capabilities, demands.fuel)
}

/// The rules that depend on the config alone (capabilities, fuel): also
/// checked when an instance is made from a compiled module.
pub(crate) fn refusal_for_config(
    info: &RuntimeInfo,
    capabilities: &[Capability],
    fuel: bool,
) -> Option<String> {
    let missing: Vec<&str> = capabilities
        .iter()
        .filter(|cap| !info.capabilities.contains(cap))
        .map(|cap| cap.name())
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "cannot grant {} (it grants: {})",
            missing.join(", "),
            if info.capabilities.is_empty() {
                "nothing".to_string()
            } else {
                info.capabilities
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    if fuel && !info.fuel {
        return Some("does not meter fuel (its engine was built without fuel)".into());
    }
    None
}

/// Choose a runtime for `language` among `candidates` (every registered
/// runtime; the ones without the language are skipped). `runtime` names an
/// explicit choice.
pub fn schedule(
    language: Language,
    hints: &Hints,
    demands: &Demands<'_>,
    candidates: &[Candidate<'_>],
    runtime: Option<&str>,
) -> Result<Decision> {
    let no_runtime = |reason: String| Error::NoRuntime {
        language: language.to_string(),
        reason,
    };
    if let (Some(expected), Some(timeout)) = (hints.expected_duration, demands.timeout)
        && expected > timeout
    {
        return Err(no_runtime(format!(
            "the expected duration ({}) is over the timeout ({}); raise the timeout",
            fmt_duration(expected),
            fmt_duration(timeout)
        )));
    }
    if let Some(name) = runtime {
        let Some(c) = candidates.iter().find(|c| c.info.name == name) else {
            let known: Vec<&str> = candidates.iter().map(|c| c.info.name.as_str()).collect();
            return Err(no_runtime(format!(
                "there is no runtime named `{name}` (registered: {})",
                known.join(", ")
            )));
        };
        if !c.info.languages.contains(&language) {
            return Err(no_runtime(format!(
                "runtime `{name}` does not run {language} (it runs: {})",
                c.info
                    .languages
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Some(why) = refusal(c, hints, demands) {
            return Err(no_runtime(format!("runtime `{name}` (requested) {why}")));
        }
        return Ok(Decision {
            runtime: name.to_string(),
            reason: format!(
                "{name} was requested; it runs {language}{}",
                describe_hints(hints)
            ),
            overridden: true,
            rejected: Vec::new(),
        });
    }
    let mut eligible: Vec<&Candidate<'_>> = Vec::new();
    let mut rejected = Vec::new();
    for c in candidates
        .iter()
        .filter(|c| c.info.languages.contains(&language))
    {
        match refusal(c, hints, demands) {
            Some(reason) => rejected.push(Rejection {
                runtime: c.info.name.clone(),
                reason,
            }),
            None => eligible.push(c),
        }
    }
    eligible.sort_by(|a, b| {
        b.info
            .priority
            .cmp(&a.info.priority)
            .then_with(|| a.info.name.cmp(&b.info.name))
    });
    let Some((chosen, others)) = eligible.split_first() else {
        if rejected.is_empty() {
            return Err(no_runtime("no registered runtime runs it".to_string()));
        }
        let mut reason = String::new();
        for (i, r) in rejected.iter().enumerate() {
            let _ = write!(
                reason,
                "{}{}: {}",
                if i > 0 { "; " } else { "" },
                r.runtime,
                r.reason
            );
        }
        return Err(no_runtime(reason));
    };
    for other in others {
        rejected.push(Rejection {
            runtime: other.info.name.clone(),
            reason: format!(
                "lower priority ({} < {})",
                other.info.priority, chosen.info.priority
            ),
        });
    }
    let info = chosen.info;
    let mut reason = format!(
        "{} runs {language} at latency {} ({}), complexity up to {}",
        info.name,
        info.latency.as_str(),
        info.typical,
        info.complexity.as_str()
    );
    if others.is_empty() && !rejected.is_empty() {
        let _ = write!(reason, "; the only candidate left");
    }
    reason.push_str(&describe_hints(hints));
    Ok(Decision {
        runtime: info.name.clone(),
        reason,
        overridden: false,
        rejected,
    })
}
