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
