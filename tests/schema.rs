//! The committed JSON Schema is what the Rust types generate.

mod common;

#[test]
fn committed_schema_is_current() {
    let path = common::root().join("schema/profile.schema.json");
    let committed = std::fs::read_to_string(&path).expect("schema/profile.schema.json is committed");
    let generated = sandbox::profile::schema::json();
    assert!(
        committed == generated,
        "schema/profile.schema.json is stale: run `cargo run -- schema > schema/profile.schema.json`"
    );
}

#[test]
fn schema_describes_every_section_and_refuses_unknown_keys() {
    let schema: serde_json::Value = serde_json::from_str(&sandbox::profile::schema::json()).unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "extends",
        "replace",
        "process",
        "rootfs",
        "mount",
        "system_mounts",
        "namespaces",
        "network",
        "limits",
        "security",
    ] {
        assert!(props.contains_key(key), "schema lacks `{key}`");
    }
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["$defs"]["Landlock"]["additionalProperties"], false);
}

#[test]
fn shipped_profiles_validate_against_our_schema() {
    // What editors check (taplo, the YAML language server) must accept what
    // `sandbox check` accepts.
    let schema: serde_json::Value = serde_json::from_str(&sandbox::profile::schema::json()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("our schema compiles");
    for path in common::shipped_profiles() {
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = if path.extension().unwrap() == "toml" {
            toml::from_str(&text).unwrap()
        } else {
            serde_saphyr::from_str(&text).unwrap()
        };
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    let bad = serde_json::json!({ "process": { "comand": ["/bin/sh"] } });
    assert!(!validator.is_valid(&bad), "unknown keys are refused by the schema too");
}
