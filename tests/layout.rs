//! The layout's rules (DESIGN §10), checked on the source itself so they
//! hold as the code grows: the back half never imports the front half,
//! compile/ does no I/O, only cli/ prints, unsafe code lives in sys/ (and
//! the few calls of its unsafe fns are listed here), functions stay short.
//! Test code (`#[cfg(test)]` items, `tests.rs` files and `tests/` folders)
//! is exempt from all but the length rule.

use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 60;

/// Where an unsafe fn of sys/ is called, with why, outside sys/ (each with
/// `#[allow(unsafe_code)]` and a SAFETY comment): a new one is a decision,
/// made here.
const UNSAFE_CALLS: &[&str] = &[
    "src/net/stack.rs",          // fork pasta and the nft helper: from the launcher, one thread
    "src/runtime/join.rs",       // fork, clone3: `exec`'s launcher checked it has one thread
    "src/runtime/launch/mod.rs", // clone3: the launcher checked it has one thread
    "src/runtime/process/child.rs", // fork: a clone3 child has one thread
    "src/runtime/process/init.rs", // scrub argv: the same child, which never reads argv
    "src/runtime/process/watcher.rs", // fork: called only from launch::run
];

struct Source {
    /// Relative to the package: `src/runtime/launch/mod.rs`.
    path: String,
    /// With comments, strings and chars blanked (line breaks kept).
    code: String,
    /// `code` without test items.
    production: String,
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let path = file.strip_prefix(root).unwrap().display().to_string();
            let code = blank_literals(&text);
            let is_test = path.contains("/tests/") || path.ends_with("/tests.rs");
            let production = if is_test { String::new() } else { without_test_items(&code) };
            Source { path, code, production, text }
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Comments, string and char literals replaced by spaces, so braces and
/// words inside them do not count.
fn blank_literals(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i..].starts_with(b"//") {
            let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'r' && !word_before && matches!(b.get(i + 1), Some(b'"' | b'#')) {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = src[start..].find(&close).map_or(b.len(), |n| start + n + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}'), not a lifetime ('a).
            let len = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..].iter().position(|&c| c == b'\'').map(|n| n + 3)
            } else {
                let width = src[i + 1..].chars().next().map_or(0, char::len_utf8);
                (b.get(i + 1 + width) == Some(&b'\'')).then_some(width + 2)
            };
            let len = len.unwrap_or(1);
            if len > 1 {
                blank(&mut out, i, i + len);
            }
            i += len;
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The end (exclusive) of the brace block that opens at or after `from`,
/// or of the statement when a `;` comes first.
fn item_end(code: &str, from: usize) -> usize {
    let mut depth = 0usize;
    for (i, c) in code[from..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return from + i + 1;
                }
            }
            ';' if depth == 0 => return from + i + 1,
            _ => {}
        }
    }
    code.len()
}

fn without_test_items(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|n| from + n) {
        let end = item_end(&out, at);
        let blanked: String = out[at..end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
        out.replace_range(at..end, &blanked);
        from = end;
    }
    out
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

fn find_all<'a>(src: &'a Source, code: &'a str, words: &'a [&'a str]) -> impl Iterator<Item = String> + 'a {
    words.iter().flat_map(move |w| {
        code.match_indices(w).map(move |(at, _)| format!("{}:{}: {w}", src.path, line_of(code, at)))
    })
}

fn assert_none(what: &str, found: &[String]) {
    assert!(found.is_empty(), "{what}:\n  {}", found.join("\n  "));
}

#[test]
fn the_back_half_never_imports_the_front_half() {
    let back = [
        "src/runtime/",
        "src/container/",
        "src/spec/",
        "src/linux/",
        "src/sys/",
        "src/fsroot.rs",
        "src/mountinfo.rs",
    ];
    let found: Vec<String> = sources()
        .iter()
        .filter(|s| back.iter().any(|b| s.path.starts_with(b)))
        .flat_map(|s| {
            find_all(s, &s.production, &["crate::profile", "crate::compile", "crate::image"])
                .collect::<Vec<_>>()
        })
        .collect();
    assert_none(
        "runtime/, container/, spec/, linux/ and sys/ must not use profile/, compile/ or image/",
        &found,
    );
}

#[test]
fn images_are_resolved_before_the_front_half_ends() {
    // image/ does the I/O of images (the store, archives, registries) and
    // knows nothing of profiles: the command line hands it sources and
    // hands the profile its results.
    let found: Vec<String> = sources()
        .iter()
        .filter(|s| s.path.starts_with("src/image/"))
        .flat_map(|s| {
            find_all(s, &s.production, &["crate::profile", "crate::compile", "crate::runtime"])
                .collect::<Vec<_>>()
        })
        .collect();
    assert_none("image/ must not use profile/, compile/ or runtime/", &found);
}

#[test]
fn compile_does_no_io() {
    let io = ["std::fs", "std::io", "std::env", "std::process", "std::net", "nix::", "libc::", "File::"];
    let found: Vec<String> = sources()
        .iter()
        .filter(|s| s.path.starts_with("src/compile/"))
        .flat_map(|s| find_all(s, &s.production, &io).collect::<Vec<_>>())
        .collect();
    assert_none("compile/ is pure: host facts come in through HostContext", &found);
}

#[test]
fn only_the_cli_prints() {
    let printing = ["print!", "println!", "eprint!", "eprintln!", "dbg!", "stderr()"];
    let found: Vec<String> = sources()
        .iter()
        .filter(|s| !s.path.starts_with("src/cli/"))
        .flat_map(|s| find_all(s, &s.production, &printing).collect::<Vec<_>>())
        .collect();
    assert_none(
        "only cli/report.rs prints; the library returns values (runtime::exit::Note for notes)",
        &found,
    );
}

#[test]
fn unsafe_code_lives_in_sys() {
    let mut found = Vec::new();
    let mut callers = Vec::new();
    for s in sources().iter().filter(|s| !s.path.starts_with("src/sys/")) {
        found.extend(find_all(s, &s.code, &["unsafe fn", "unsafe impl", "unsafe extern"]));
        let lines: Vec<&str> = s.text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if line.trim() == "#[allow(unsafe_code)]" {
                callers.push(s.path.clone());
                let next = lines.get(n + 1).map_or("", |l| l.trim());
                if !next.starts_with("// SAFETY:") {
                    found.push(format!("{}:{}: an unsafe call without a SAFETY comment", s.path, n + 2));
                }
            }
        }
    }
    assert_none("unsafe code belongs in src/sys/", &found);
    callers.sort();
    callers.dedup();
    assert_eq!(callers, UNSAFE_CALLS, "the files calling sys's unsafe fns (see UNSAFE_CALLS)");
    let sys_allows: Vec<_> =
        sources().into_iter().filter(|s| s.text.contains("#![allow(unsafe_code)]")).map(|s| s.path).collect();
    assert_eq!(sys_allows, ["src/sys/mod.rs"], "unsafe is allowed for sys/ as a whole, in one place");
}

/// Unit tests are each module's child `tests`: inline at the end of its
/// file, or where Rust looks for that child (`foo.rs` → `foo/tests.rs`,
/// `foo/mod.rs` → `foo/tests.rs` or `foo/tests/`), never through `#[path]`.
#[test]
fn unit_tests_are_where_rust_looks_for_them() {
    let found: Vec<String> =
        sources().iter().flat_map(|s| find_all(s, &s.code, &["#[path"]).collect::<Vec<_>>()).collect();
    assert_none("test modules need no #[path]", &found);
}

#[test]
fn functions_stay_short() {
    let mut long = Vec::new();
    for s in sources() {
        let mut at = 0;
        while let Some(n) = s.code[at..].find("fn ") {
            let start = at + n;
            at = start + 3;
            let word_before =
                s.code[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
            let name: String =
                s.code[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if word_before || name.is_empty() {
                continue;
            }
            let end = item_end(&s.code, start);
            if !s.code[start..end].ends_with('}') {
                continue; // a declaration, a fn type
            }
            let lines = line_of(&s.code, end) - line_of(&s.code, start) + 1;
            if lines > MAX_FN_LINES {
                long.push(format!("{}:{}: {name} is {lines} lines", s.path, line_of(&s.code, start)));
            }
            at = start + 3;
        }
    }
    assert_none(&format!("functions stay under {MAX_FN_LINES} lines; split these"), &long);
}

#[test]
fn the_scanner_sees_code_not_literals() {
    let code = blank_literals(
        "let a = \"{ // }\"; // {\nlet b = '{'; let c: &'static str = r#\"}\"#; fn f<'a>() {}\n",
    );
    assert!(
        !code.contains("//") && code.matches('{').count() == 1 && code.matches('}').count() == 1,
        "{code}"
    );
    assert!(code.contains("'static") && code.contains("<'a>"), "{code}");
    let production = without_test_items("fn a() {}\n#[cfg(test)]\nmod tests {\n fn b() {}\n}\nfn c() {}\n");
    assert!(production.contains("fn a") && production.contains("fn c") && !production.contains("fn b"));
    assert_eq!(production.lines().count(), 6, "line numbers are kept");
}
