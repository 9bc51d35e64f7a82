//! Compiled specs: snapshots of the shipped profiles, validity against the
//! OCI runtime-spec JSON Schema, and TOML/YAML equivalence.

mod common;

use common::{load, relative, shipped_profiles, spec_json};
use sandbox::profile::host::HostContext;
use sandbox::profile::load_profile;

fn oci_validator() -> jsonschema::Validator {
    let path = common::root().join("tests/data/oci-runtime-spec-schema/config-schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema readable"))
            .expect("schema is JSON");
    jsonschema::options()
        .with_base_uri(format!("file://{}", path.display()))
        .build(&schema)
        .expect("the OCI schema compiles")
}

#[test]
fn shipped_profiles_compile_to_stable_specs() {
    for path in shipped_profiles() {
        let loaded = load_profile(&path, &HostContext::fixed());
        let json = common::redact(&spec_json(&loaded));
        let name = path.file_name().unwrap().to_string_lossy().replace('.', "_");
        println!("snapshot of the spec of {}", relative(&path));
        insta::assert_snapshot!(format!("spec_{name}"), json);
    }
}

#[test]
fn every_shipped_spec_is_valid_oci() {
    let validator = oci_validator();
    let profiles = shipped_profiles();
    assert!(profiles.len() >= 4, "expected the shipped profiles, found {profiles:?}");
    for path in profiles {
        let loaded = load_profile(&path, &HostContext::fixed());
        let spec: serde_json::Value = serde_json::from_str(&spec_json(&loaded)).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&spec).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        println!("{}: {} schema violations", relative(&path), errors.len());
        assert!(errors.is_empty(), "{} is not valid OCI:\n{}", relative(&path), errors.join("\n"));
    }
}

#[test]
fn the_validator_rejects_a_broken_spec() {
    // The check above must be able to fail: a spec without ociVersion and
    // with a bad namespace type is refused.
    let validator = oci_validator();
    let loaded = load("profiles/base.toml");
    let mut spec: serde_json::Value = serde_json::from_str(&spec_json(&loaded)).unwrap();
    spec.as_object_mut().unwrap().remove("ociVersion");
    spec["linux"]["namespaces"][0]["type"] = "galaxy".into();
    assert!(validator.iter_errors(&spec).count() >= 2);
}

#[test]
fn toml_and_yaml_forms_compile_to_the_same_spec() {
    let toml = spec_json(&load("tests/fixtures/equiv/full.toml"));
    let yaml = spec_json(&load("tests/fixtures/equiv/full.yaml"));
    assert!(toml.contains("\"CAP_NET_BIND_SERVICE\""), "the fixture exercises capabilities");
    assert_eq!(toml, yaml);
    let toml = spec_json(&load("tests/fixtures/equiv/nat.toml"));
    let yaml = spec_json(&load("tests/fixtures/equiv/nat.yaml"));
    assert!(toml.contains("registry.npmjs.org"), "the fixture exercises egress rules");
    assert_eq!(toml, yaml);
}

#[test]
fn a_nat_network_compiles_to_its_own_namespace_and_the_extensions_rules() {
    let loaded = load("tests/fixtures/equiv/nat.toml");
    let bundle = sandbox::compile::compile(loaded.model.as_ref().unwrap(), &HostContext::fixed());
    let namespaces = bundle.spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
    assert!(namespaces.iter().any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network));
    let net = &bundle.ext.network;
    assert_eq!(net.mode, sandbox::spec::extension::NetMode::Nat);
    assert!(
        net.dns.is_none() && !net.dns_from_host,
        "the runtime points resolv.conf at the stack's forwarder"
    );
    let nat = net.nat.as_ref().expect("a nat network carries its rules");
    assert_eq!(nat.egress.as_ref().map(Vec::len), Some(5));
    insta::assert_snapshot!("nat_network_extension", serde_json::to_string_pretty(net).unwrap());
    let annotations = bundle.spec.annotations().clone().expect("annotations are set");
    let back = sandbox::spec::Extension::from_annotations(&annotations).expect("parse back").expect("ours");
    assert_eq!(back, bundle.ext, "the rules survive an exported config.json");
}

#[test]
fn extension_round_trips_through_annotations() {
    let loaded = load("profiles/build-untrusted.toml");
    let compiled = sandbox::compile::compile(loaded.model.as_ref().unwrap(), &HostContext::fixed());
    let annotations = compiled.spec.annotations().clone().expect("annotations are set");
    let back = sandbox::spec::Extension::from_annotations(&annotations)
        .expect("annotations parse back")
        .expect("ours");
    assert_eq!(back, compiled.ext);
    assert!(back.landlock.is_some() && back.timeout_ms == Some(15 * 60 * 1000));
}

#[test]
fn rootless_callers_get_a_user_namespace_with_their_ids_mapped() {
    let loaded = load("profiles/build-untrusted.toml");
    let host = HostContext::fixed(); // uid 1000: not root
    let spec = sandbox::compile::compile(loaded.model.as_ref().unwrap(), &host).spec;
    let linux = spec.linux().as_ref().unwrap();
    let has_user = linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User);
    assert!(has_user);
    let map = &linux.uid_mappings().as_ref().unwrap()[0];
    assert_eq!((map.container_id(), map.host_id(), map.size()), (1000, 1000, 1));

    // Root's sandbox: ids 0-65535 inside are the unprivileged sandbox range outside.
    let root = HostContext { uid: 0, gid: 0, ..HostContext::fixed() };
    let spec = sandbox::compile::compile(loaded.model.as_ref().unwrap(), &root).spec;
    let linux = spec.linux().as_ref().unwrap();
    for maps in [linux.uid_mappings(), linux.gid_mappings()] {
        let m: Vec<(u32, u32, u32)> =
            maps.iter().flatten().map(|m| (m.container_id(), m.host_id(), m.size())).collect();
        assert_eq!(m, [(0, sandbox::compile::SANDBOX_IDS, 65_536)], "root inside is no one outside");
    }
    assert_eq!(spec.process().as_ref().unwrap().user().uid(), 0, "user = \"host\" is root inside");
    // ... unless the profile opts out of the user namespace.
    let text = "[namespaces]\nuser = \"host\"\n";
    let opted = sandbox::profile::load_profile_text(std::path::Path::new("/p.toml"), text.into(), &root);
    let spec = sandbox::compile::compile(opted.model.as_ref().unwrap(), &root).spec;
    assert!(spec.linux().as_ref().unwrap().uid_mappings().is_none());
}

#[test]
fn landlock_is_a_second_wall_for_the_egress_rules() {
    let loaded = load("tests/fixtures/egress-wall.toml");
    let spec: serde_json::Value = serde_json::from_str(&spec_json(&loaded)).unwrap();
    let landlock: serde_json::Value =
        serde_json::from_str(spec["annotations"]["dev.sandbox.landlock"].as_str().unwrap()).unwrap();
    assert_eq!(landlock["tcp_connect"], serde_json::json!([53, 80, 443, 5432, 5433]), "{landlock}");
}
