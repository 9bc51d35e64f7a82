//! `extends` provenance: every value remembers the file and line that set it.

mod common;

use common::load;

#[test]
fn explain_names_the_file_and_line_of_each_value() {
    let loaded = load("profiles/ci-test.yaml");
    let text =
        common::redact(&sandbox::profile::explain::explain(loaded.merged.as_ref().unwrap(), &loaded.sources));
    let line_of = |needle: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{text}"))
            .to_owned()
    };
    // Set in base.toml and not overridden.
    assert!(line_of("rootfs.layers[0] = \"host:/\"").ends_with("profiles/base.toml:10"));
    // Lists append: base's entries first, then the child's, each with its own file.
    assert!(line_of("process.inherit_env[0] = \"TERM\"").ends_with("profiles/base.toml:7"));
    assert!(line_of("process.inherit_env[1] = \"CI\"").ends_with("profiles/ci-test.yaml:10"));
    assert!(line_of("mount[0].target = \"/tmp\"").contains("base.toml"));
    assert!(line_of("mount[1].target = \"/src\"").contains("ci-test.yaml"));
    // Variables are expanded per file.
    assert!(line_of("mount[1].source = \"[REPO]/profiles/..\"").contains("ci-test.yaml:14"));
    // Alignment depends on the checkout's path length; the snapshot does not.
    let collapsed: String =
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n").collect();
    insta::assert_snapshot!("explain_ci_test", collapsed);
}

#[test]
fn replace_swaps_an_inherited_list_instead_of_appending() {
    let loaded = load("tests/fixtures/extends/replace-child.toml");
    let model = loaded.model.as_ref().unwrap_or_else(|| panic!("{}", common::rendered(&loaded)));
    let landlock = model.security.landlock.as_ref().unwrap();
    assert_eq!(landlock.read, [std::path::PathBuf::from("/usr/share")], "replaced");
    assert_eq!(landlock.write.len(), 2, "appended: base's and the child's");
    assert_eq!(model.process.command, ["/bin/true"], "scalars override");
}

#[test]
fn explain_shows_the_effective_network_rules_where_they_were_written() {
    let loaded = load("tests/fixtures/extends/nat-child.toml");
    assert!(loaded.model.is_some(), "{}", common::rendered(&loaded));
    let tree = loaded.merged.as_ref().unwrap();
    let network = |text: String| -> String {
        common::redact(&text)
            .lines()
            .filter(|l| l.starts_with("network."))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
            .collect()
    };
    let text = network(sandbox::profile::explain::explain(tree, &loaded.sources));
    // Canonical text: the default address and protocol written out, names lower-cased.
    assert!(text.contains(
        "network.ports[0] = \"127.0.0.1:8080:80/tcp\" # [REPO]/tests/fixtures/extends/nat-base.toml:4"
    ));
    assert!(text.contains("network.egress.allow[1] = \"host.sandbox.internal:8080/tcp\" # [REPO]/tests/fixtures/extends/nat-child.toml:9"));
    // The rule no list writes, after the ones it does, from the line that denies.
    let lines: Vec<&str> = text.lines().collect();
    let implicit = lines.iter().position(|l| l.starts_with("network.egress.implicit")).expect("shown");
    assert!(lines[implicit - 1].starts_with("network.egress.allow[2] ="), "{text}");
    assert!(lines[implicit].contains("= \"DNS (udp+tcp 53) to the sandbox's resolver\""), "{text}");
    assert!(
        lines[implicit].ends_with("# implied by [REPO]/tests/fixtures/extends/nat-base.toml:7"),
        "{text}"
    );
    insta::assert_snapshot!("explain_nat", text);
    let all = network(sandbox::profile::explain::explain_all(tree, &loaded.sources, "nat-child"));
    insta::assert_snapshot!("explain_all_nat", all);
}
