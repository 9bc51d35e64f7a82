//! Installing: the shell completions and man pages that `sandbox
//! completions` and `sandbox man` generate from the clap tree, and
//! scripts/install.sh, which installs them. The hidden verb (`monitor`,
//! started only by `run -d`) is in none of them. zsh, fish and man are
//! run when installed (scripts/test.sh installs them); without them a test
//! says it skipped, and fails under `SANDBOX_MUST_WORK=1` (CI).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::e2e::skip_unless;

const BIN: &str = env!("CARGO_BIN_EXE_sandbox");

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `out`'s stdout, after checking it succeeded and said nothing on stderr.
fn ok(what: &str, out: &Output) -> String {
    assert!(out.status.success(), "{what}: {}\n{}", out.status, text(&out.stderr));
    assert!(out.stderr.is_empty(), "{what} warned:\n{}", text(&out.stderr));
    text(&out.stdout)
}

fn sandbox(args: &[&str]) -> String {
    ok(&format!("sandbox {}", args.join(" ")), &Command::new(BIN).args(args).output().expect("sandbox runs"))
}

fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// The verbs `sandbox --help` lists (with clap's `help`), checked to hold
/// the ones these tests complete.
fn verbs() -> Vec<String> {
    let help = sandbox(&["--help"]);
    let list =
        help.split("Commands:\n").nth(1).and_then(|s| s.split("\n\n").next()).expect("a Commands: list");
    let verbs: Vec<String> = list
        .lines()
        .filter_map(|l| l.strip_prefix("  ").filter(|l| !l.starts_with(' ')))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    for verb in ["run", "rm", "man", "completions"] {
        assert!(verbs.iter().any(|v| v == verb), "{verb} missing from `sandbox --help`: {verbs:?}");
    }
    assert!(!verbs.iter().any(|v| v == "monitor"), "monitor is hidden from --help");
    verbs
}

/// Each line of `script`'s output, after `source`-ing the bash completion.
fn bash_completing(script: &str) -> Vec<String> {
    let prelude = r#"
        source <("$SANDBOX" completions bash) || exit 1
        spec=$(complete -p sandbox) || exit 1
        echo "$spec"
        fn=${spec#* -F }; fn=${fn%% *}
        # What bash does on TAB: the words, the index of the one completed,
        # then the function with the command, that word and the one before.
        comp() {
            COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
            COMPREPLY=()
            "$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
            echo "${COMPREPLY[*]}"
        }
    "#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &format!("{prelude}\n{script}")])
        .env("SANDBOX", BIN)
        .output()
        .expect("bash runs");
    ok("bash", &out).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_the_verbs_and_their_flags() {
    let lines = bash_completing("comp sandbox r\ncomp sandbox ''\ncomp sandbox run --de\ncomp sandbox mo");
    let [spec, r, all, run_flags, mo] = &lines[..] else { panic!("five lines: {lines:?}") };
    assert!(spec.starts_with("complete ") && spec.contains(" -F ") && spec.ends_with(" sandbox"), "{spec}");

    let r: BTreeSet<&str> = r.split_whitespace().collect();
    assert!(r.contains("run") && r.contains("rm"), "sandbox r<TAB>: {r:?}");
    assert!(r.iter().all(|w| w.starts_with('r')), "sandbox r<TAB>: {r:?}");

    let all: BTreeSet<&str> = all.split_whitespace().filter(|w| !w.starts_with('-')).collect();
    let verbs = verbs();
    assert_eq!(all, verbs.iter().map(String::as_str).collect(), "sandbox <TAB> offers the verbs of --help");

    let run_flags: BTreeSet<&str> = run_flags.split_whitespace().collect();
    assert_eq!(run_flags, BTreeSet::from(["--debug", "--detach"]), "sandbox run --de<TAB>");
    assert_eq!(mo, "", "sandbox mo<TAB> offers no hidden verb");
}

/// How `shell`'s script names a verb it offers.
fn offered(shell: &str, verb: &str) -> String {
    match shell {
        "bash" => format!("sandbox,{verb})"),
        "zsh" => format!("'{verb}:"),
        _ => format!("-a \"{verb}\""),
    }
}

/// The three scripts name every verb of --help, each in its shell's way,
/// and never the hidden one.
#[test]
fn every_script_names_the_verbs_and_not_the_hidden_one() {
    let verbs = verbs();
    for shell in ["bash", "zsh", "fish"] {
        let script = sandbox(&["completions", shell]);
        for verb in verbs.iter().filter(|v| *v != "help") {
            assert!(script.contains(&offered(shell, verb)), "{shell}: no {}", offered(shell, verb));
        }
        let hidden = offered(shell, "monitor");
        assert!(!script.contains(&hidden), "{shell} offers the hidden verb: {hidden}");
    }
}

/// `SHELL -n`: the script parses.
fn parses(shell: &str, script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script");
    std::fs::write(&file, script).unwrap();
    let out = Command::new(shell).arg("-n").arg(&file).output().expect("the shell runs");
    ok(&format!("{shell} -n"), &out);
}

#[test]
fn zsh_parses_its_script() {
    if skip_unless(installed("zsh"), "zsh is not installed") {
        return;
    }
    let script = sandbox(&["completions", "zsh"]);
    assert!(script.starts_with("#compdef sandbox"), "{}", &script[..script.len().min(200)]);
    parses("zsh", &script);
}

#[test]
fn fish_parses_its_script_and_completes_with_it() {
    if skip_unless(installed("fish"), "fish is not installed") {
        return;
    }
    let script = sandbox(&["completions", "fish"]);
    parses("fish", &script);
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("sandbox.fish");
    std::fs::write(&file, &script).unwrap();
    let out = Command::new("fish")
        .args([
            "--no-config",
            "-c",
            "source $argv[1]; complete -C 'sandbox r'; echo; complete -C 'sandbox mo'",
        ])
        .arg(&file)
        .env("HOME", home.path())
        .output()
        .expect("fish runs");
    let out = ok("fish", &out);
    let (r, mo) = out.split_once("\n\n").expect("two answers");
    let words = |answer: &str| -> BTreeSet<String> {
        answer.lines().filter_map(|l| l.split('\t').next()).map(str::to_owned).collect()
    };
    let r = words(r);
    assert!(r.contains("run") && r.contains("rm") && r.iter().all(|w| w.starts_with('r')), "{r:?}");
    // fish falls back to fuzzy matches (`completions`) when no word starts with `mo`.
    assert!(!words(mo).contains("monitor"), "sandbox mo<TAB> offers the hidden verb: {mo}");
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}

/// A man page as man(1) shows it, without formatting; its warnings fail.
fn render(page: &Path) -> Option<String> {
    let out = if installed("man") {
        Command::new("man").args(["--warnings=w", "-l"]).arg(page).env("MANPAGER", "cat").output()
    } else if installed("groff") {
        Command::new("groff").args(["-man", "-Tutf8", "-ww", "-P", "-cbou"]).arg(page).output()
    } else {
        skip_unless(false, "neither man nor groff is installed: the pages are not rendered");
        return None;
    };
    let out = out.expect("man runs");
    Some(ok(&format!("man -l {}", page.display()), &out))
}

#[test]
fn man_writes_a_page_per_verb_that_renders_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man1");
    sandbox(&["man", man.to_str().unwrap()]);
    let mut expected: BTreeSet<String> =
        verbs().iter().filter(|v| *v != "help").map(|v| format!("sandbox-{v}.1")).collect();
    expected.insert("sandbox.1".into());
    assert_eq!(files(&man), expected, "sandbox.1 and a page per verb of --help (monitor hidden)");
    assert_eq!(
        std::fs::read_to_string(man.join("sandbox.1")).unwrap(),
        sandbox(&["man"]),
        "without DIR: sandbox.1"
    );

    for page in files(&man) {
        render(&man.join(page));
    }
    let Some(run) = render(&man.join("sandbox-run.1")) else { return };
    // Every flag of `sandbox run --help` is on its page.
    let help = sandbox(&["run", "--help"]);
    let flags: BTreeSet<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect();
    assert!(flags.contains("--detach") && flags.contains("--bundle"), "{flags:?}");
    for flag in flags {
        assert!(run.contains(flag), "{flag} missing from sandbox-run(1):\n{run}");
    }
}

/// scripts/install.sh --prefix into a temporary directory, its `cargo
/// install` a stand-in (through $CARGO) that records its arguments and
/// copies the binary under test, as the real one would after building it;
/// `HOME`, `CARGO_INSTALL_ROOT` and the XDG directories point into the
/// temporary directory too, which must stay empty.
#[test]
fn install_sh_puts_the_binary_completions_and_man_pages_under_the_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let (prefix, home) = (tmp.path().join("prefix"), tmp.path().join("home"));
    std::fs::create_dir(&home).unwrap();
    let cargo = tmp.path().join("cargo");
    let stub = "#!/bin/sh\nprintf '%s\\n' \"$@\" >\"$STUB_ARGS\"\nmkdir -p \"$6/bin\" && cp \"$STUB_BIN\" \"$6/bin/sandbox\"\n";
    std::fs::write(&cargo, stub).unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let script = common::root().join("scripts/install.sh");
    let out = Command::new(&script)
        .args(["--prefix", prefix.to_str().unwrap()])
        .env("CARGO", &cargo)
        .env("STUB_ARGS", tmp.path().join("args"))
        .env("STUB_BIN", BIN)
        .env("CARGO_INSTALL_ROOT", home.join("cargo"))
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .expect("install.sh runs");
    let said = ok("install.sh", &out);
    let args = std::fs::read_to_string(tmp.path().join("args")).unwrap();
    assert_eq!(args, format!("install\n--locked\n--path\n.\n--root\n{}\n", prefix.display()));

    let share = prefix.join("share");
    for (file, content) in [
        ("bash-completion/completions/sandbox", sandbox(&["completions", "bash"])),
        ("zsh/site-functions/_sandbox", sandbox(&["completions", "zsh"])),
        ("fish/vendor_completions.d/sandbox.fish", sandbox(&["completions", "fish"])),
        ("man/man1/sandbox.1", sandbox(&["man"])),
    ] {
        let got = std::fs::read_to_string(share.join(file)).unwrap_or_else(|e| panic!("{file}: {e}\n{said}"));
        assert!(got == content, "{file} is not what sandbox generates");
    }
    assert!(prefix.join("bin/sandbox").is_file());
    assert!(share.join("man/man1/sandbox-run.1").is_file(), "a page per verb");
    assert!(files(&home).is_empty(), "nothing outside the prefix: {:?}", files(&home));
    assert!(said.contains(&prefix.join("bin/sandbox").display().to_string()), "{said}");
}
