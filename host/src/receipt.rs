//! The receipt of a call: what it cost and what it touched. The types are
//! `warden-api`'s; the store fills them in while the call runs.

pub use warden_api::{HostCalls, LogLine, Receipt};
