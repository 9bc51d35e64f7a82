//! The table against what it describes: each default, written out, gives
//! the same validated profile and the same bundle as leaving its key out,
//! and the table names every key of the format.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value as Json;

use super::*;
use crate::profile::Loaded;
use crate::profile::host::HostContext;
use crate::profile::overrides::Overrides;

/// Minimal profiles, between them making every default hold: the keys of a
/// table hold only where it is written, and some keys follow others.
const CONTEXTS: &[&str] = &[
    "",
    "[process]\nuser = { uid = 1000 }\n",
    "[security]\nseccomp = {}\n",
    "[security.landlock]\n",
    "[[mount]]\nsource = \"/tmp\"\ntarget = \"/mnt\"\n",
    "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/mnt\"\n",
    "[namespaces]\nuts = \"host\"\n",
    "[namespaces]\nnet = \"host\"\n",
    "[network]\nmode = \"host\"\n",
    "[network]\nmode = \"nat\"\n",
];

/// The profile is named `minimal`, for the derived hostname.
const NAME: &str = "minimal";

fn load(text: &str, overrides: &Overrides) -> Loaded {
    let path = Path::new("/defaults-test").join(format!("{NAME}.toml"));
    crate::profile::load(&path, Some(text.to_owned()), &HostContext::fixed(), overrides)
}

/// The validated model and the bundle (spec and extension) as JSON.
fn compiled(loaded: &Loaded, what: &str) -> (crate::profile::model::Model, Json) {
    let model = loaded.model.clone().unwrap_or_else(|| panic!("{what}: {:#?}", loaded.diags));
    let bundle = crate::compile::compile(&model, &HostContext::fixed());
    let json = serde_json::json!({ "spec": bundle.spec, "ext": bundle.ext });
    (model, json)
}

/// `mount[0].mode` → `mount[].mode`: the key's row in the table.
fn pattern(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => out = format!("{out}.{k}"),
            Step::Index(_) => out.push_str("[]"),
        }
    }
    out
}

/// `context` with `unset`'s key written as its default: a key of a list
/// item into the item (the context's last table), any other as `--set`.
fn written(context: &str, unset: &Unset) -> (String, Overrides) {
    let mut overrides = Overrides::default();
    let keys: Vec<&str> = unset
        .path
        .iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        })
        .collect();
    if unset.path.iter().any(|s| matches!(s, Step::Index(_))) {
        let leaf = keys.last().expect("a key");
        return (format!("{context}{leaf} = {}\n", unset.value), overrides);
    }
    overrides.value(&keys, &unset.value);
    (context.to_owned(), overrides)
}

#[test]
fn each_default_written_out_compiles_as_leaving_it_out() {
    let mut tried = BTreeSet::new();
    for context in CONTEXTS {
        let loaded = load(context, &Overrides::default());
        let (model, bundle) = compiled(&loaded, context);
        let tree = loaded.merged.as_ref().expect("parsed");
        for unset in unset(tree, NAME) {
            let key = pattern(&unset.path);
            let what = format!("{key} = {} in {context:?}", unset.value);
            let (text, overrides) = written(context, &unset);
            let with = load(&text, &overrides);
            let (model_with, bundle_with) = compiled(&with, &what);
            let mut differ = Vec::new();
            differences(&bundle, &bundle_with, "", &mut differ);
            assert!(differ.is_empty(), "{what}: the bundle differs at {differ:?}");
            assert_eq!(model, model_with, "{what}: the model differs");
            let still = super::unset(with.merged.as_ref().expect("parsed"), NAME);
            assert!(!still.iter().any(|u| u.path == unset.path), "{what}: still unset once written");
            tried.insert(key);
        }
    }
    let untried: Vec<&str> =
        KEYS.iter().filter(|k| k.default.is_some() && !tried.contains(k.path)).map(|k| k.path).collect();
    assert!(untried.is_empty(), "no context makes these defaults hold; add one to CONTEXTS: {untried:?}");
}

/// Where two JSON values differ, each as `path: left != right`.
fn differences(left: &Json, right: &Json, path: &str, out: &mut Vec<String>) {
    match (left, right) {
        (Json::Object(ls), Json::Object(rs)) => {
            let keys: BTreeSet<&String> = ls.keys().chain(rs.keys()).collect();
            for k in keys {
                let at = format!("{path}/{k}");
                differences(ls.get(k).unwrap_or(&Json::Null), rs.get(k).unwrap_or(&Json::Null), &at, out);
            }
        }
        (Json::Array(ls), Json::Array(rs)) if ls.len() == rs.len() => {
            for (i, (l, r)) in ls.iter().zip(rs).enumerate() {
                differences(l, r, &format!("{path}/{i}"), out);
            }
        }
        _ if left != right => out.push(format!("{path}: {left} != {right}")),
        _ => {}
    }
}

#[test]
fn defaults_are_toml_values() {
    for key in KEYS {
        if let Some(DefaultValue::Toml(text)) = key.default {
            let parsed = toml::from_str::<toml::Table>(&format!("v = {text}"));
            assert!(parsed.is_ok_and(|t| t.len() == 1), "{}: {text} is not one TOML value", key.path);
        }
    }
}

#[test]
fn the_table_names_every_key_of_the_format_once() {
    let schema = serde_json::to_value(schemars::schema_for!(crate::profile::raw::Profile)).expect("JSON");
    let mut from_schema = BTreeSet::new();
    schema_keys(&schema, &schema, "", &mut from_schema);
    let table: BTreeSet<String> = KEYS.iter().map(|k| k.path.to_owned()).collect();
    assert_eq!(table.len(), KEYS.len(), "a key is in the table twice");
    let missing: Vec<_> = from_schema.difference(&table).collect();
    let extra: Vec<_> = table.difference(&from_schema).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not in the table: {missing:?}; not in the format: {extra:?}"
    );
}

/// The keys under `node` of the schema: every place a value can be written,
/// a list of tables as `key` and its items' keys as `key[].item`.
fn schema_keys(root: &Json, node: &Json, path: &str, out: &mut BTreeSet<String>) {
    let node = resolve(root, node);
    if let Some(alternatives) = node.get("anyOf").and_then(Json::as_array) {
        for a in alternatives {
            schema_keys(root, a, path, out);
        }
        return;
    }
    if let Some(properties) = node.get("properties").and_then(Json::as_object) {
        for (name, value) in properties {
            let key = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
            schema_keys(root, value, &key, out);
        }
        return;
    }
    if node.get("type") == Some(&Json::from("null")) {
        return;
    }
    out.insert(path.to_owned());
    if let Some(items) = node.get("items").map(|i| resolve(root, i)) {
        if items.get("properties").is_some() {
            schema_keys(root, items, &format!("{path}[]"), out);
        }
    }
}

fn resolve<'a>(root: &'a Json, node: &'a Json) -> &'a Json {
    match node.get("$ref").and_then(Json::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => &root["$defs"][name],
        None => node,
    }
}

#[test]
fn table_defaults_hold_only_where_their_table_is_written() {
    let loaded = load(
        "[security]\nseccomp = \"unconfined\"\n[[mount]]\ntype = \"tmpfs\"\ntarget = \"/a\"\n\
         [[mount]]\nsource = \"/tmp\"\ntarget = \"/b\"\nmode = \"rw\"\n",
        &Overrides::default(),
    );
    let found: Vec<String> =
        unset(loaded.merged.as_ref().expect("parsed"), NAME).iter().map(|u| display(&u.path)).collect();
    for shown in ["process.cwd", "mount[0].permissions", "mount[1].type", "network.hostname"] {
        assert!(found.iter().any(|f| f == shown), "{shown} not in {found:?}");
    }
    for hidden in ["security.seccomp", "security.seccomp.base", "security.landlock.enforce", "mount[0].mode"]
    {
        assert!(!found.iter().any(|f| f == hidden), "{hidden} in {found:?}");
    }
    assert!(!found.iter().any(|f| f == "mount[1].mode" || f == "mount"), "set: {found:?}");
}

fn display(path: &[Step]) -> String {
    let mut out = pattern(path);
    for step in path {
        if let Step::Index(i) = step {
            out = out.replacen("[]", &format!("[{i}]"), 1);
        }
    }
    out
}

#[test]
fn rank_places_tables_and_items_at_their_first_key() {
    assert_eq!(rank("process"), rank("process.command"));
    assert_eq!(rank("mount"), rank("mount[]").map(|r| r - 1));
    assert!(rank("process.user") < rank("process.user.uid"));
    assert!(rank("limits") < rank("security"));
    assert_eq!(rank("process.env.LANG"), None);
    assert_eq!(rank("process.use"), None, "a prefix is not a key");
}
