//! Compiler identity: a digest of what the compiler *is*, computed once and kept on disk.
//!
//! The identity of a gcc/clang binary is the BLAKE3 hash of its resolved file plus its
//! `--version` output, and for gcc also the content of the compiler proper it runs for the
//! command's language (`cc1` for C, `cc1plus` for C++, found with `-print-prog-name`),
//! since an upgrade can replace those without touching the driver. Computing that costs
//! process spawns and hashing ~35 MB, so the result is stored in
//! `<cache dir>/compilers-v1/<digest of (resolved path, dev, inode, size, mtime, ctime,
//! helper names)>` together with the same stat tuple of every helper binary it covered; a
//! later invocation trusts it only if all of those still stat the same. An in-place
//! upgrade changes mtime/ctime/inode, so it can never reuse an old identity.

use super::{Family, Language, ResolvedCompiler};
use crate::hash::{digest, Key, KeyHasher};
use crate::util::fs::{atomic_write, create_dir_all_private, file_mode};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Bump when the identity ingredients change (2: gcc's helpers per language).
const IDENTITY_VERSION: &str = "2";

/// The programs gcc runs to compile `language` (`-print-prog-name`), whose content is
/// part of the identity. Only the one the command runs: hashing both `cc1` and `cc1plus`
/// was two thirds of the first compile with an empty cache. Unknown: C's and C++'s.
fn gcc_helpers(language: Option<Language>) -> &'static [&'static str] {
    use Language::*;
    match language {
        Some(C | CPreprocessed | AsmCpp) => &["cc1"],
        Some(Cxx | CxxPreprocessed) => &["cc1plus"],
        Some(ObjC | ObjCPreprocessed) => &["cc1obj"],
        Some(ObjCxx | ObjCxxPreprocessed) => &["cc1objplus"],
        // Assembled by `as` alone, which gcc finds on PATH (no absolute path to record).
        Some(Asm) => &[],
        Some(Rust | Cuda) | None => &["cc1", "cc1plus"],
    }
}

fn stat_line(path: &Path) -> Option<String> {
    let m = fs::metadata(path).ok()?;
    Some(format!(
        "{} {}",
        path.display(),
        crate::util::fs::stat_fields(&m)
    ))
}

/// BLAKE3 of a file's content, streamed.
pub fn file_digest(path: &Path) -> std::io::Result<Key> {
    let mut f = fs::File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Key(*h.finalize().as_bytes()))
}

/// The identity of `compiler` compiling `language` (None: not known, or not a gcc-style
/// command), from the on-disk record when it is still valid.
/// `cache_dir` None or unwritable: computed every time (slower, still correct).
pub fn identity(
    compiler: &ResolvedCompiler,
    language: Option<Language>,
    cache_dir: &Path,
) -> std::io::Result<Key> {
    let resolved = match &compiler.canonical {
        Some(c) => c.clone(),
        None => crate::util::fs::canonicalize(&compiler.path)?,
    };
    let mut own =
        stat_line(&resolved).ok_or_else(|| std::io::Error::other("cannot stat compiler"))?;
    if compiler.family == Family::Rustc {
        own.push_str(&toolchain_selectors());
    }
    let helpers = match compiler.family {
        Family::Gcc => gcc_helpers(language),
        _ => &[],
    };
    for h in helpers {
        own.push_str("\nhelper ");
        own.push_str(h);
    }
    let record_dir = cache_dir.join("compilers-v1");
    let record_path =
        record_dir.join(digest(format!("{IDENTITY_VERSION}\n{own}").as_bytes()).hex());
    if let Ok(text) = crate::util::fs::read_record(&record_path) {
        if let Some(k) = validate_record(&text) {
            return Ok(k);
        }
    }
    let (key, helper_paths) = compute(compiler, &resolved, helpers)?;
    let mut text = format!("{}\n", key.hex());
    for h in helper_paths {
        if let Some(line) = stat_line(&h) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let stored = create_dir_all_private(&record_dir)
        .and_then(|_| atomic_write(&record_path, text.as_bytes(), file_mode()));
    if let Err(e) = stored {
        log::warn!(
            "cannot store compiler identity in {}: {e}",
            record_path.display()
        );
    }
    Ok(key)
}

/// Record = identity hex, then one stat line per helper binary, all of which must match.
fn validate_record(text: &str) -> Option<Key> {
    let mut lines = text.lines();
    let key = Key::from_hex(lines.next()?)?;
    for line in lines {
        // The path, then five stat fields: a path may hold spaces.
        let path = line.rsplitn(6, ' ').nth(5)?;
        if stat_line(Path::new(path)).as_deref() != Some(line) {
            return None;
        }
    }
    Some(key)
}

fn run_stdout(compiler: &Path, args: &[&str]) -> std::io::Result<Vec<u8>> {
    let out = Command::new(compiler)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    Ok(out.stdout)
}

/// What picks the toolchain a rustup proxy runs (caching-spec D): the proxy is the same
/// binary for every toolchain, so its stat alone would conflate stable and nightly.
fn toolchain_selectors() -> String {
    let mut s = String::new();
    for var in ["RUSTUP_TOOLCHAIN", "RUSTUP_HOME", "RUSTC", "CARGO_HOME"] {
        if let Some(v) = crate::util::env::var_os(var) {
            s.push_str(&format!("\n{var}={}", v.to_string_lossy()));
        }
    }
    // rustup's default toolchain and its per-directory overrides (`rustup default`,
    // `rustup override set`) live in its settings file.
    let rustup_home = crate::util::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| crate::util::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    if let Some(settings) = rustup_home.map(|h| h.join("settings.toml")) {
        if let Ok(content) = fs::read(&settings) {
            s.push_str(&format!(
                "\n{}={}",
                settings.display(),
                digest(&content).hex()
            ));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            for name in ["rust-toolchain.toml", "rust-toolchain"] {
                let f = dir.join(name);
                if let Ok(content) = fs::read(&f) {
                    s.push_str(&format!("\n{}={}", f.display(), digest(&content).hex()));
                }
            }
        }
    }
    s
}

/// rustc: `-vV`, the sysroot it resolves to, and the sysroot's libraries (name, size,
/// mtime: a toolchain install or update rewrites them).
fn compute_rustc(compiler: &ResolvedCompiler) -> std::io::Result<Key> {
    let mut h = KeyHasher::new("identity");
    h.str("identity-version", IDENTITY_VERSION);
    h.str("family", "rustc");
    let vv = run_stdout(&compiler.path, &["-vV"])?;
    if vv.is_empty() {
        return Err(std::io::Error::other("rustc -vV printed nothing"));
    }
    h.field("version", &vv);
    let sysroot = run_stdout(&compiler.path, &["--print", "sysroot"])?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot).trim());
    h.str("sysroot", &sysroot.to_string_lossy());
    let host = String::from_utf8_lossy(&vv)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap_or_default();
    for dir in [
        sysroot.join("lib"),
        sysroot.join("lib/rustlib").join(&host).join("lib"),
    ] {
        let mut entries: Vec<(String, u64, i64)> = fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        m.is_file().then(|| {
                            (
                                e.file_name().to_string_lossy().into_owned(),
                                m.size(),
                                m.mtime(),
                            )
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        for (name, size, mtime) in entries {
            h.str("sysroot-file", &format!("{name} {size} {mtime}"));
        }
    }
    Ok(h.finish())
}

fn compute(
    compiler: &ResolvedCompiler,
    resolved: &Path,
    helpers: &[&str],
) -> std::io::Result<(Key, Vec<PathBuf>)> {
    if compiler.family == Family::Rustc {
        return Ok((compute_rustc(compiler)?, Vec::new()));
    }
    let mut h = KeyHasher::new("identity");
    h.str("identity-version", IDENTITY_VERSION);
    h.str("family", compiler.family.name());
    h.field("binary", &file_digest(resolved)?.0);
    h.field("version", &run_stdout(&compiler.path, &["--version"])?);
    let mut paths = Vec::new();
    for prog in helpers {
        let out = run_stdout(&compiler.path, &[&format!("-print-prog-name={prog}")])?;
        let p = PathBuf::from(String::from_utf8_lossy(&out).trim());
        // Named in the key even when not found: a key that covers `cc1` never equals one
        // that does not.
        h.str("helper", prog);
        // Recorded as gcc names it, not resolved: the record's stat of that path follows
        // its links to whatever file gcc would run now, so a retargeted link (the helper
        // replaced without touching the file it led to) fails the record too.
        if p.is_absolute() {
            if let Ok(d) = file_digest(&p) {
                h.field(prog, &d.0);
                paths.push(p);
            }
        }
    }
    Ok((h.finish(), paths))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_rejected_when_a_helper_changes() {
        let d = std::env::temp_dir().join(format!("cachepot id {}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let helper = d.join("cc1");
        fs::write(&helper, "v1").unwrap();
        let k = digest(b"x");
        let text = format!("{}\n{}\n", k.hex(), stat_line(&helper).unwrap());
        assert_eq!(validate_record(&text), Some(k));
        fs::write(&helper, "version two").unwrap();
        assert_eq!(validate_record(&text), None);
        assert_eq!(validate_record("garbage"), None);
        fs::remove_dir_all(&d).unwrap();
    }
}
