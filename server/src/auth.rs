//! Who may call: bearer tokens from a file (each stored as the SHA-256 of
//! the token, with a name and a ceiling) and HS256 JWTs (the ceiling in
//! the claims). Every request but `/health` and `/ready` carries
//! `Authorization: Bearer …`; the token becomes a [`Principal`] whose
//! ceiling meets the server's, and whose rate is enforced with governor.
//!
//! Tokens are compared in constant time (every entry's digest, with
//! `subtle`) and never logged.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warden_api::{Ceiling, ErrorCode};

use crate::error::ApiError;

/// A rate: `N/s`, `N/min` or `N/h` (a burst of N, refilled evenly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests per period (the burst).
    pub count: NonZeroU32,
    /// The period.
    pub per: Duration,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, unit) = s
            .split_once('/')
            .ok_or_else(|| format!("rate `{s}`: expected N/s, N/min or N/h"))?;
        let count: NonZeroU32 = n
            .trim()
            .parse()
            .map_err(|_| format!("rate `{s}`: `{n}` is not a positive whole number"))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("rate `{s}`: unknown unit `{other}` (s, min or h)")),
        };
        Ok(Rate { count, per })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        s.serialize_str(&format!("{}/{unit}", self.count))
    }
}

impl Rate {
    fn limiter(self) -> DefaultDirectRateLimiter {
        let period = self.per / self.count.get();
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count);
        RateLimiter::direct(quota)
    }
}

/// What a token may do, beyond the server's own ceiling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Allowance {
    /// The highest trust, the capabilities, the largest limits.
    pub ceiling: Ceiling,
    /// The plugins it may run, open or upload (none: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins: Option<BTreeSet<String>>,
    /// Its request rate (none: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
}

/// One entry of the tokens file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds it (logged; what its jobs and sessions belong to).
    pub name: String,
    /// The SHA-256 of the token, in hex (`printf %s TOKEN | sha256sum`).
    pub sha256: String,
    /// Its ceiling, plugins and rate.
    #[serde(flatten)]
    pub allowance: Allowance,
}

/// The tokens file: `{ "tokens": [TokenEntry, …] }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// The entries.
    pub tokens: Vec<TokenEntry>,
}

impl TokenFile {
    /// Read and check a tokens file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the tokens file {}: {e}", path.display()))?;
        let file: TokenFile = warden_api::from_json(&text)
            .map_err(|e| format!("the tokens file {}: {e}", path.display()))?;
        let mut names = BTreeSet::new();
        for t in &file.tokens {
            if decode_digest(&t.sha256).is_none() {
                return Err(format!(
                    "the tokens file {}: `{}`'s sha256 is not 64 hex digits",
                    path.display(),
                    t.name
                ));
            }
            if !names.insert(t.name.clone()) {
                return Err(format!(
                    "the tokens file {}: two tokens are named `{}`",
                    path.display(),
                    t.name
                ));
            }
        }
        Ok(file)
    }
}

/// A new random token (43 URL-safe characters, 256 bits) and its digest.
pub fn new_token() -> (String, String) {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    (token, digest)
}

fn decode_digest(hex_digest: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_digest.trim()).ok()?;
    bytes.try_into().ok()
}

/// The claims of a warden JWT: the subject, its expiry, and an allowance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The subject (what its jobs and sessions belong to).
    pub sub: String,
    /// Expiry, seconds since 1970 (required).
    pub exp: u64,
    /// Its ceiling, plugins and rate.
    #[serde(flatten)]
    pub allowance: Allowance,
}

/// An authenticated caller.
#[derive(Debug)]
pub struct Principal {
    /// `token:NAME`, `jwt:SUB` or `anonymous`: what its jobs and sessions
    /// belong to.
    pub id: String,
    /// Its ceiling (the server's is met with it per request).
    pub ceiling: Ceiling,
    /// The plugins it may use (none: all).
    pub plugins: Option<BTreeSet<String>>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl Principal {
    /// Whether it may use plugin `name`; `OVER_CEILING` naming it if not.
    pub fn may_use_plugin(&self, name: &str) -> Result<(), ApiError> {
        match &self.plugins {
            Some(allowed) if !allowed.contains(name) => Err(ApiError::new(
                ErrorCode::OverCeiling,
                format!(
                    "`{}` may not use plugin `{name}` (allowed: {})",
                    self.id,
                    allowed.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
            .with("field", "plugins")
            .with("asked", name)),
            _ => Ok(()),
        }
    }

    fn check_rate(&self) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::new(
                ErrorCode::RateLimited,
                format!("`{}` is over its request rate", self.id),
            )
            .with("retry_after_ms", wait.as_millis() as u64)
            .retry_after(wait)
        })
    }
}

/// How callers are recognised.
pub struct Auth {
    tokens: Vec<([u8; 32], Arc<Principal>)>,
    jwt: Option<jsonwebtoken::DecodingKey>,
    jwt_limiters: Mutex<HashMap<(String, Rate), Arc<DefaultDirectRateLimiter>>>,
    open: Option<Arc<Principal>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.tokens.len())
            .field("jwt", &self.jwt.is_some())
            .field("open", &self.open.is_some())
            .finish()
    }
}

impl Auth {
    /// No authentication: every caller is `anonymous` with the server's
    /// ceiling alone (for a loopback development server).
    pub fn open() -> Self {
        Auth {
            tokens: Vec::new(),
            jwt: None,
            jwt_limiters: Mutex::default(),
            open: Some(Arc::new(Principal {
                id: "anonymous".into(),
                ceiling: Ceiling::unlimited(),
                plugins: None,
                limiter: None,
            })),
        }
    }

    /// Tokens from a file and/or HS256 JWTs signed with `jwt_secret`.
    pub fn new(tokens: Option<TokenFile>, jwt_secret: Option<&[u8]>) -> Self {
        let tokens = tokens
            .unwrap_or_default()
            .tokens
            .into_iter()
            .filter_map(|t| {
                let digest = decode_digest(&t.sha256)?;
                Some((
                    digest,
                    Arc::new(Principal {
                        id: format!("token:{}", t.name),
                        ceiling: t.allowance.ceiling,
                        plugins: t.allowance.plugins,
                        limiter: t.allowance.rate.map(|r| Arc::new(r.limiter())),
                    }),
                ))
            })
            .collect();
        Auth {
            tokens,
            jwt: jwt_secret.map(jsonwebtoken::DecodingKey::from_secret),
            jwt_limiters: Mutex::default(),
            open: None,
        }
    }

    /// The caller of a request with this `Authorization` header (after its
    /// rate is checked).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Arc<Principal>, ApiError> {
        if let Some(open) = &self.open {
            return Ok(open.clone());
        }
        let unauthenticated = |m: &str| ApiError::new(ErrorCode::Unauthenticated, m.to_string());
        let header = authorization.ok_or_else(|| {
            unauthenticated("no credentials: send `Authorization: Bearer <token>`")
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated("the Authorization header is not `Bearer <token>`"))?;
        let principal = if token.split('.').count() == 3 && self.jwt.is_some() {
            self.by_jwt(token)?
        } else {
            self.by_token(token)
                .ok_or_else(|| unauthenticated("the bearer token is not known"))?
        };
        principal.check_rate()?;
        Ok(principal)
    }

    fn by_token(&self, token: &str) -> Option<Arc<Principal>> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        // Every entry is compared, each in constant time.
        for (d, p) in &self.tokens {
            if bool::from(d.ct_eq(&digest)) {
                found = Some(p.clone());
            }
        }
        found
    }

    fn by_jwt(&self, token: &str) -> Result<Arc<Principal>, ApiError> {
        let key = self.jwt.as_ref().ok_or_else(|| {
            ApiError::new(ErrorCode::Unauthenticated, "this server takes no JWTs")
        })?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::ExpiredSignature => "the JWT has expired".to_string(),
                ErrorKind::InvalidSignature => "the JWT's signature is not valid".to_string(),
                ErrorKind::InvalidAlgorithm => "the JWT is not HS256".to_string(),
                _ => format!("the JWT is not valid: {e}"),
            };
            ApiError::new(ErrorCode::Unauthenticated, why)
        })?;
        let c = data.claims;
        let limiter = c.allowance.rate.map(|rate| {
            self.jwt_limiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((c.sub.clone(), rate))
                .or_insert_with(|| Arc::new(rate.limiter()))
                .clone()
        });
        Ok(Arc::new(Principal {
            id: format!("jwt:{}", c.sub),
            ceiling: c.allowance.ceiling,
            plugins: c.allowance.plugins,
            limiter,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        let r: Rate = "20/s".parse().unwrap();
        assert_eq!((r.count.get(), r.per), (20, Duration::from_secs(1)));
        let r: Rate = "600/min".parse().unwrap();
        assert_eq!(r.per, Duration::from_secs(60));
        assert!("0/s".parse::<Rate>().is_err());
        assert!("5/week".parse::<Rate>().unwrap_err().contains("week"));
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"600/min\"");
    }

    #[test]
    fn tokens_match_by_digest_and_unknown_ones_are_refused() {
        let (token, digest) = new_token();
        let file = TokenFile {
            tokens: vec![TokenEntry {
                name: "ci".into(),
                sha256: digest,
                allowance: Allowance {
                    rate: Some("2/min".parse().unwrap()),
                    ..Allowance::default()
                },
            }],
        };
        let auth = Auth::new(Some(file), None);
        let bearer = format!("Bearer {token}");
        assert_eq!(auth.authenticate(Some(&bearer)).unwrap().id, "token:ci");
        let e = auth.authenticate(Some("Bearer nope")).unwrap_err();
        assert_eq!(e.body.code, ErrorCode::Unauthenticated);
        assert!(!e.body.message.contains("nope"), "never echo a token");
        let e = auth.authenticate(None).unwrap_err();
        assert_eq!(e.status().as_u16(), 401);
        // The burst is 2: the second request passes, the third is over.
        auth.authenticate(Some(&bearer)).unwrap();
        let e = auth.authenticate(Some(&bearer)).unwrap_err();
        assert_eq!(e.body.code, ErrorCode::RateLimited);
        assert!(e.retry_after.unwrap() > Duration::from_secs(20));
    }
}
