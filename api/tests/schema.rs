//! The checked-in JSON Schemas match the types; `WARDEN_BLESS=1 cargo test
//! -p warden-api --test schema` rewrites them.

use std::path::Path;

#[test]
fn checked_in_schemas_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let bless = std::env::var_os("WARDEN_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, schema) in warden_api::schema::all() {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if bless {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != text {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale schema files (regenerate with WARDEN_BLESS=1 cargo test -p warden-api --test schema): {stale:?}"
    );
}
