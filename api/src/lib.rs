//! # warden-api
//!
//! The wire types of warden, once, for every front end: the CLI, the HTTP
//! server, the Node binding and the NATS workers convert their input into
//! these types and the host runs them. This crate has **no Wasmtime
//! dependency**: a thin client links it without the engine.
//!
//! - What a caller sends: [`ExecuteRequest`] (code as text or base64 bytes,
//!   [`Language`], input, [`ExecConfig`], [`Hints`], runtime), where
//!   [`ExecConfig`] is a [`TrustLevel`] preset, [`Grants`] added to it and
//!   [`LimitOverrides`].
//! - The one lowering: [`lower`] turns an [`ExecConfig`] into the [`Policy`]
//!   a call runs under and checks it against a [`Ceiling`]; above it, the
//!   request is refused with [`OverCeiling`] (`OVER_CEILING`).
//! - What comes back: [`ExecutionReport`] (output or [`ErrorBody`], runtime
//!   and [`Decision`], [`CompileReport`], timings, memory, [`Receipt`], guest
//!   output and logs), [`RuntimeStatus`], [`JobStatus`], [`MetricsSnapshot`].
//! - Errors: [`ErrorCode`] (stable strings such as `CAPABILITY_DENIED`) and
//!   its [`ErrorClass`], from which exit codes, HTTP statuses and Node error
//!   classes are derived.
//!
//! JSON conventions: field names are `snake_case`, enum values `kebab-case`
//! or `lowercase` (error codes `SCREAMING_SNAKE_CASE`); unknown fields in a
//! request are refused with the field's name; durations and sizes have one
//! form, described in [`units`]. [`schema`] gives the JSON Schema of the
//! request and the report (checked in under `api/schema/`).
//!
//! ```
//! use warden_api::{Ceiling, ExecuteRequest, ErrorCode, TrustLevel, lower};
//!
//! let req: ExecuteRequest = serde_json::from_str(r#"{
//!     "language": "js",
//!     "code": "(i) => i.n * 2",
//!     "input": { "n": 21 },
//!     "config": { "trust": "low", "grants": { "event_topics": ["orders.*"] },
//!                 "limits": { "timeout": "500ms" } }
//! }"#).unwrap();
//! let policy = lower(&req.config, &Ceiling::unlimited()).unwrap();
//! assert!(policy.grants.log); // from the preset
//! assert_eq!(policy.grants.event_topics.len(), 1); // added to it
//! assert_eq!(policy.limits.timeout.as_millis(), 500); // overridden
//!
//! let strict = Ceiling { max_trust: Some(TrustLevel::Low), ..Ceiling::default() };
//! let high = req.config.clone().with_trust(TrustLevel::High);
//! let e = lower(&high, &strict).unwrap_err();
//! assert_eq!(e.field, "trust");
//! assert_eq!(warden_api::ErrorBody::from(&e).code, ErrorCode::OverCeiling);
//! ```

mod ceiling;
mod error;
mod grants;
pub mod interfaces;
mod json;
mod language;
mod limits;
mod plugin;
mod receipt;
mod report;
mod request;
pub mod session;
pub mod units;

pub use ceiling::{Ceiling, lower, lower_unchecked};
pub use error::{ApiError, ErrorBody, ErrorClass, ErrorCode, OverCeiling};
pub use grants::{
    Capability, DirGrant, EnvGrant, Grants, HostFnGrant, KvGrant, Pattern, TrustLevel,
};
pub use interfaces::{ImportClass, classify_import};
pub use json::{JsonError, from_json};
pub use language::{Complexity, Hints, Language, Latency};
pub use limits::{LimitOverrides, Limits, Policy};
pub use plugin::{
    CacheStatus, ExportFunc, ImportInfo, ImportStatus, PluginDescription, PluginKind, SourceKind,
};
pub use receipt::{HostCalls, LogLine, Receipt};
pub use report::{
    CompileReport, Decision, ExecutionReport, Health, JobState, JobStatus, MetricsSnapshot,
    Rejection, RuntimeInfo, RuntimeMetrics, RuntimeState, RuntimeStatus,
};
pub use request::{Blob, ExecConfig, ExecuteRequest, Input};

/// JSON Schemas of the wire types.
pub mod schema {
    /// The schema of [`crate::ExecuteRequest`].
    pub fn request() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(crate::ExecuteRequest)).unwrap_or_default()
    }

    /// The schema of [`crate::ExecutionReport`].
    pub fn report() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(crate::ExecutionReport)).unwrap_or_default()
    }

    /// The schema of [`crate::PluginDescription`].
    pub fn plugin() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(crate::PluginDescription)).unwrap_or_default()
    }

    /// Every wire type in one draft-07 document, each under `definitions`
    /// by its name: what the Node package's TypeScript types are generated
    /// from (`node/scripts/gen-types.mjs`).
    pub fn bundle() -> serde_json::Value {
        let mut generator = schemars::generate::SchemaSettings::draft07().into_generator();
        macro_rules! add {
            ($($t:ty),*) => { $( let _ = generator.subschema_for::<$t>(); )* };
        }
        add!(
            crate::ExecuteRequest,
            crate::ExecConfig,
            crate::Grants,
            crate::Limits,
            crate::LimitOverrides,
            crate::Hints,
            crate::Language,
            crate::Ceiling,
            crate::ExecutionReport,
            crate::ErrorBody,
            crate::ErrorCode,
            crate::Receipt,
            crate::Decision,
            crate::CompileReport,
            crate::RuntimeStatus,
            crate::JobStatus,
            crate::JobState,
            crate::MetricsSnapshot,
            crate::PluginDescription,
            crate::session::ClientMessage,
            crate::session::ServerMessage
        );
        let definitions = generator.take_definitions(true);
        serde_json::json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "WardenApi",
            "description": "Every warden-api wire type, by name under `definitions`.",
            "definitions": definitions,
        })
    }

    /// Every wire type as OpenAPI 3.1 components (JSON Schema 2020-12),
    /// each by its name, with `$ref`s to `#/components/schemas/NAME`: what
    /// the server's `/v1/openapi.json` is generated from.
    pub fn components() -> serde_json::Map<String, serde_json::Value> {
        let mut generator = schemars::generate::SchemaSettings::draft2020_12()
            .with(|s| s.definitions_path = "/components/schemas".into())
            .into_generator();
        macro_rules! add {
            ($($t:ty),*) => { $( let _ = generator.subschema_for::<$t>(); )* };
        }
        add!(
            crate::ExecuteRequest,
            crate::ExecutionReport,
            crate::ErrorBody,
            crate::JobStatus,
            crate::RuntimeStatus,
            crate::MetricsSnapshot,
            crate::PluginDescription,
            crate::Ceiling,
            crate::session::ClientMessage,
            crate::session::ServerMessage
        );
        generator.take_definitions(true)
    }

    /// Every checked-in schema: (file name under `api/schema/`, schema).
    pub fn all() -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("execute-request.schema.json", request()),
            ("execution-report.schema.json", report()),
            ("plugin-description.schema.json", plugin()),
            ("warden-api.schema.json", bundle()),
        ]
    }
}
