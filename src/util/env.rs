//! The process's environment, looked up without getenv(3). A cached compile looks up
//! about 60 variables (settings, include paths, `PATH`, `SOURCE_DATE_EPOCH`, ...), and
//! getenv compares the name with every variable in turn for each: with musl's
//! byte-at-a-time strncmp that was a tenth of a lua hit's instructions (callgrind,
//! docs/direct-mode.md). Here the length of each `environ` entry is taken once, and a
//! lookup skips every entry whose name is not as long as the one sought. cachepot never
//! changes its own environment (children get theirs through `Command`; clippy.toml
//! forbids `std::env::set_var` and `remove_var`), so `environ` stays as it was for the
//! life of the process.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::OnceLock;

extern "C" {
    static environ: *const *const std::ffi::c_char;
}

/// Each `NAME=value` entry of `environ`, in its order, and where its `=` is.
struct Entries(Vec<(&'static [u8], usize)>);

// SAFETY: the slices point into `environ`'s strings, which no code of ours writes or
// frees (the module's comment), so any thread may read them.
unsafe impl Sync for Entries {}
unsafe impl Send for Entries {}

static ENTRIES: OnceLock<Entries> = OnceLock::new();

fn entries() -> &'static [(&'static [u8], usize)] {
    &ENTRIES
        .get_or_init(|| {
            let mut v = Vec::with_capacity(64);
            // SAFETY: `environ` is the C runtime's NULL-terminated array of
            // NUL-terminated strings, unchanged while the process runs (see above).
            unsafe {
                let mut p = environ;
                while !p.is_null() && !(*p).is_null() {
                    let entry = std::ffi::CStr::from_ptr(*p).to_bytes();
                    if let Some(eq) = entry.iter().position(|&b| b == b'=') {
                        v.push((entry, eq));
                    }
                    p = p.add(1);
                }
            }
            Entries(v)
        })
        .0
}

/// `std::env::var_os`: the value of the first entry named `name`, as getenv(3) finds it.
pub fn var_os(name: impl AsRef<OsStr>) -> Option<OsString> {
    let name = name.as_ref().as_bytes();
    if name.is_empty() || name.contains(&b'=') || name.contains(&0) {
        return None;
    }
    entries()
        .iter()
        .find(|(entry, eq)| *eq == name.len() && &entry[..*eq] == name)
        .map(|(entry, eq)| OsString::from_vec(entry[eq + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn agrees_with_std() {
        for (name, _) in std::env::vars_os().take(50) {
            assert_eq!(super::var_os(&name), std::env::var_os(&name), "{name:?}");
        }
        for name in ["CACHEPOT_SURELY_UNSET_VARIABLE", "", "A=B", "PATH"] {
            assert_eq!(super::var_os(name), std::env::var_os(name), "{name:?}");
        }
    }
}
