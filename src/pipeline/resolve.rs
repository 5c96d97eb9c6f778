//! Which compiler an invocation runs: the name looked up in PATH (each directory once),
//! never cachepot itself through a masquerade link.

use super::*;

/// Resolve the compiler to run, never ourselves (masquerade links may be on PATH).
pub(super) fn find_compiler(name: &OsStr, cwd: &Path) -> Result<PathBuf, Fatal> {
    // The same file as our own binary (by device and inode, so through any symlink or
    // hard link): two stats, where canonicalising every candidate cost a readlink per
    // path component.
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    // stat follows the /proc link to our binary: one call, where current_exe() would
    // readlink it and then stat the path it names.
    let me = id(Path::new("/proc/self/exe"))
        .or_else(|| std::env::current_exe().ok().and_then(|p| id(&p)));
    let is_me = |p: &Path| me.is_some() && id(p) == me;
    let path = Path::new(name);
    if path.components().count() > 1 || name.as_encoded_bytes().contains(&b'/') {
        let full = cwd.join(path);
        if full.is_file() && !is_me(&full) {
            return Ok(full);
        }
        if !full.is_file() {
            return Err(Fatal(format!(
                "cachepot: error: compiler {} not found",
                path.display()
            )));
        }
    }
    let base = path.file_name().unwrap_or(name);
    let search = crate::util::env::var_os("PATH").unwrap_or_default();
    let mut tried: Vec<PathBuf> = Vec::new();
    for dir in std::env::split_paths(&search) {
        let dir = if dir.as_os_str().is_empty() {
            cwd.to_path_buf()
        } else {
            dir
        };
        // A directory named twice (profiles that prepend to PATH on every login) is
        // looked in once.
        if tried.contains(&dir) {
            continue;
        }
        let cand = dir.join(base);
        tried.push(dir);
        // One stat answers both questions: executable, and not ourselves.
        if executable_id(&cand).is_some_and(|id| me != Some(id)) {
            return Ok(cand);
        }
    }
    Err(Fatal(format!(
        "cachepot: error: compiler '{}' not found in PATH",
        base.to_string_lossy()
    )))
}

pub(super) fn is_executable(p: &Path) -> bool {
    executable_id(p).is_some()
}

/// (device, inode) of `p` when it is an executable regular file.
fn executable_id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .ok()
        .filter(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .map(|m| (m.dev(), m.ino()))
}
