//! Reading a wire type from JSON text with an error that says where:
//! `config.limits.timeout: -5 is not a duration: it is negative`. Every
//! front end (the CLI's `--config`, the server's bodies, the Node binding's
//! arguments, the workers' messages) reads requests through [`from_json`].

use serde::de::DeserializeOwned;

/// JSON that is not the expected type, with the path to the value that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") })]
pub struct JsonError {
    /// Where, as `config.limits.timeout` or `grants.dirs[0].host` (empty at the top).
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

/// Parse `text` as a `T`, naming the path of the value that does not fit.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| JsonError {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExecuteRequest;

    #[test]
    fn errors_name_the_path() {
        let bad = r#"{"code": "1", "language": "js", "config": {"limits": {"timeout": -5}}}"#;
        let e = from_json::<ExecuteRequest>(bad).unwrap_err();
        assert_eq!(e.path, "config.limits.timeout");
        assert!(e.to_string().starts_with("config.limits.timeout: "), "{e}");
        let unknown = r#"{"code": "1", "language": "js", "config": {"grnts": {}}}"#;
        let e = from_json::<ExecuteRequest>(unknown).unwrap_err();
        assert!(e.to_string().contains("grnts"), "{e}");
        let ok = r#"{"code": "1", "language": "js"}"#;
        assert!(from_json::<ExecuteRequest>(ok).is_ok());
    }
}
