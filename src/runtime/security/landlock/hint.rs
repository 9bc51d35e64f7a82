//! Which Landlock list lacks a path, for an EACCES the setup meets once
//! Landlock is applied (the command's execve), said only when it is so:
//! the path, resolved as the kernel resolves it, is under no entry of any
//! list that grants the right. Otherwise the caller reports the plain errno
//! (a `noexec` mount, a file without its x bit, another LSM).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::spec::extension::LandlockRules;

/// What a Landlock denial is put down to: the error's detail and fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub detail: String,
    pub fix: String,
}

/// Why `execve(program)` under `rules` gave EACCES, when Landlock is the
/// cause: the program, or the interpreter the kernel executes for it (a
/// script's `#!` line, a dynamic ELF's `PT_INTERP`), is outside every path
/// that grants execution (`execute`, and `write`, which grants every right).
pub fn execute(rules: &LandlockRules, program: &Path) -> Option<Denied> {
    let granting = [&rules.execute[..], &rules.write[..]];
    let file = std::fs::canonicalize(program).ok()?;
    if !covered(&file, &granting) {
        return Some(not_executable(rules, program, &file, ""));
    }
    // Under a list that grants execution, the program may also be read.
    let interpreter = interpreter(&file)?;
    let resolved = std::fs::canonicalize(&interpreter).ok()?;
    if covered(&resolved, &granting) {
        return None;
    }
    let role = format!(", the interpreter of {},", program.display());
    Some(not_executable(rules, &interpreter, &resolved, &role))
}

fn not_executable(rules: &LandlockRules, path: &Path, resolved: &Path, role: &str) -> Denied {
    let named = if path == resolved {
        path.display().to_string()
    } else {
        format!("{} (which is {})", path.display(), resolved.display())
    };
    Denied {
        detail: format!(
            "Landlock: {named}{role} is under no path of security.landlock.execute {} or write {}, \
             the lists that allow executing",
            list(&rules.execute),
            list(&rules.write)
        ),
        fix: format!("add {}, or a directory above it, to security.landlock.execute", resolved.display()),
    }
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!("[{}]", names.join(", "))
}

/// Whether `path` (resolved) is at or below an entry of `lists`, each entry
/// resolved as Landlock resolved it when opening it; an entry that does not
/// resolve grants nothing (best effort skipped it).
fn covered(path: &Path, lists: &[&[PathBuf]]) -> bool {
    lists
        .iter()
        .flat_map(|l| l.iter())
        .any(|entry| std::fs::canonicalize(entry).is_ok_and(|e| path.starts_with(e)))
}

/// The file the kernel also executes for `file`: the path of its `#!` line,
/// or a 64-bit little-endian ELF's `PT_INTERP` (the dynamic loader).
/// `None` when it has none or cannot be read.
fn interpreter(file: &Path) -> Option<PathBuf> {
    let f = File::open(file).ok()?;
    let mut head = [0u8; 256]; // the kernel's BINPRM_BUF_SIZE
    let n = f.read_at(&mut head, 0).ok()?;
    let head = &head[..n];
    if let Some(line) = head.strip_prefix(b"#!") {
        return shebang(line);
    }
    elf_interp(&f, head)
}

/// The interpreter of a `#!` line: its first word.
fn shebang(line: &[u8]) -> Option<PathBuf> {
    let line = line.split(|b| *b == b'\n').next()?;
    let word = line.split(|b| *b == b' ' || *b == b'\t').find(|w| !w.is_empty())?;
    Some(PathBuf::from(std::str::from_utf8(word).ok()?))
}

const PT_INTERP: u32 = 3;

fn elf_interp(f: &File, head: &[u8]) -> Option<PathBuf> {
    // ELFCLASS64, ELFDATA2LSB: what this launcher itself is built as.
    if head.len() < 64 || !head.starts_with(b"\x7fELF\x02\x01") {
        return None;
    }
    let u16_at = |b: &[u8], at: usize| Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |b: &[u8], at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |b: &[u8], at: usize| Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
    let (phoff, phentsize, phnum) = (u64_at(head, 32)?, u16_at(head, 54)?, u16_at(head, 56)?);
    let mut ph = vec![0u8; usize::from(phentsize).max(56)];
    for i in 0..u64::from(phnum) {
        f.read_exact_at(&mut ph, phoff.checked_add(i * u64::from(phentsize))?).ok()?;
        if u32_at(&ph, 0)? != PT_INTERP {
            continue;
        }
        let (offset, size) = (u64_at(&ph, 8)?, u64_at(&ph, 32)?);
        let mut path = vec![0u8; usize::try_from(size.min(4096)).ok()?];
        f.read_exact_at(&mut path, offset).ok()?;
        let path = path.split(|b| *b == 0).next()?;
        return Some(PathBuf::from(std::str::from_utf8(path).ok()?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(execute: &[&Path], write: &[&Path]) -> LandlockRules {
        LandlockRules {
            read: Vec::new(),
            execute: execute.iter().map(|p| p.to_path_buf()).collect(),
            write: write.iter().map(|p| p.to_path_buf()).collect(),
            tcp_bind: Vec::new(),
            tcp_connect: Vec::new(),
            scope_signal: false,
            scope_abstract_unix_socket: false,
            best_effort: false,
        }
    }

    #[test]
    fn a_program_outside_execute_and_write_is_named_with_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let (bin, opt) = (dir.path().join("bin"), dir.path().join("opt"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&opt).unwrap();
        std::fs::write(opt.join("tool"), "\x7fELF").unwrap();
        std::os::unix::fs::symlink(opt.join("tool"), bin.join("tool")).unwrap();
        let tool = std::fs::canonicalize(opt.join("tool")).unwrap();
        let denied = execute(&rules(&[&bin], &[]), &bin.join("tool")).expect("outside: a hint");
        assert!(denied.detail.contains("(which is "), "{denied:?}");
        assert_eq!(
            denied.fix,
            format!("add {}, or a directory above it, to security.landlock.execute", tool.display())
        );
        assert_eq!(execute(&rules(&[&opt], &[]), &bin.join("tool")), None, "the link's target is covered");
        assert_eq!(execute(&rules(&[], &[dir.path()]), &tool), None, "write grants execution too");
    }

    #[test]
    fn a_covered_script_whose_interpreter_is_not_names_the_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let (bin, opt) = (dir.path().join("bin"), dir.path().join("opt"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&opt).unwrap();
        std::fs::write(bin.join("sh"), "").unwrap();
        std::fs::write(opt.join("run"), format!("#! {} -e\necho\n", bin.join("sh").display())).unwrap();
        let denied = execute(&rules(&[&opt], &[]), &opt.join("run")).expect("the interpreter is outside");
        assert!(denied.detail.contains("the interpreter of"), "{denied:?}");
        assert!(denied.fix.contains(&bin.join("sh").display().to_string()), "{denied:?}");
        assert_eq!(execute(&rules(&[&opt, &bin], &[]), &opt.join("run")), None);
    }

    /// A 64-bit little-endian ELF header with one program header, `PT_INTERP`.
    fn elf_with_interp(interp: &str) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        elf[64..68].copy_from_slice(&PT_INTERP.to_le_bytes());
        elf[72..80].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        elf[96..104].copy_from_slice(&(interp.len() as u64 + 1).to_le_bytes()); // p_filesz
        elf.extend_from_slice(interp.as_bytes());
        elf.push(0);
        elf
    }

    #[test]
    fn a_dynamic_elf_names_its_loader_and_a_static_one_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (dynamic, fixed) = (dir.path().join("dynamic"), dir.path().join("static"));
        std::fs::write(&dynamic, elf_with_interp("/lib64/ld-linux-x86-64.so.2")).unwrap();
        assert_eq!(interpreter(&dynamic), Some(PathBuf::from("/lib64/ld-linux-x86-64.so.2")));
        let mut no_interp = elf_with_interp("");
        no_interp[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        std::fs::write(&fixed, no_interp).unwrap();
        assert_eq!(interpreter(&fixed), None);
        assert_eq!(shebang(b"/bin/sh\n"), Some(PathBuf::from("/bin/sh")));
        assert_eq!(shebang(b"  \n/bin/sh"), None);
    }
}
