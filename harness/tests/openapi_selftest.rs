//! The OpenAPI validator used by the gateway tests can fail: bodies that break the spec are caught.

mod common;

#[test]
fn validator_rejects_bodies_that_break_the_spec() {
    let api = common::OpenApi::load();
    // valid
    api.check("FunctionStatus", br#"{"name":"f","image":"i","replicas":1,"availableReplicas":0,"invocationCount":3,"createdAt":"2026-11-27T09:00:00Z"}"#);
    api.check("GatewayInfo", br#"{"provider":{"provider":"p","orchestration":"o","version":{"sha":"x","release":"0.1.0"}},"version":{"sha":"x","release":"0.1.0"},"arch":"x86_64"}"#);
    // invalid: missing required `image`, wrong type, bad date-time
    for bad in [
        r#"{"name":"f"}"#,
        r#"{"name":"f","image":"i","replicas":"one"}"#,
        r#"{"name":"f","image":"i","createdAt":"yesterday"}"#,
    ] {
        let r = std::panic::catch_unwind(|| {
            api.check("FunctionStatus", bad.as_bytes());
        });
        assert!(r.is_err(), "should be rejected: {bad}");
    }
}

/// The vendored upstream files are byte-for-byte the ones `schemas/upstream/SOURCES.md` names:
/// each file's sha256 is in that table.
#[test]
fn vendored_specs_match_their_recorded_sha256() {
    use sha2::{Digest, Sha256};
    let dir = common::repo().join("schemas/upstream");
    let sources = std::fs::read_to_string(dir.join("SOURCES.md")).unwrap();
    for name in ["openfaas-gateway.openapi.yml", "k3d-config-v1alpha5.schema.json"] {
        let bytes = std::fs::read(common::upstream_spec(name)).unwrap();
        let sum = hex::encode(Sha256::digest(&bytes));
        let row = sources
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}`")))
            .unwrap_or_else(|| panic!("SOURCES.md has no row for {name}"));
        assert!(
            row.contains(&format!("`{sum}`")),
            "{name} has sha256 {sum}, not the one SOURCES.md records: {row}"
        );
    }
}
