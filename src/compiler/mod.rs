//! Compiler front ends: which compiler a command runs, and what a command line means.
//!
//! A front end turns an argument vector into a [`Parsed`]: plain data saying what the
//! input and outputs are, which arguments go into the key, and how to run the
//! preprocessor and the compiler. Parsing is pure (response files are expanded before,
//! in [`args::expand_response_files`]); the pipeline does all the I/O. Adding a compiler
//! family means one new module with a `parse` function and one arm in [`detect`].
//! Compiler identity (what the binary *is*) lives in [`identity`].

pub mod args;
pub mod diab;
pub mod gcc;
pub mod gcc_files;
pub mod gcc_long;
pub mod identity;
pub mod msvc;
pub mod msvc_args;
pub mod nvcc;
pub mod rustc;

use crate::entry::FileKind;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Gcc,
    Clang,
    Rustc,
    /// Wind River diab: `dcc`, `dplus`.
    Diab,
    Nvcc,
    /// MSVC command-line syntax: clang-cl, cl.exe.
    Msvc,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Gcc => "gcc",
            Family::Clang => "clang",
            Family::Rustc => "rustc",
            Family::Diab => "diab",
            Family::Nvcc => "nvcc",
            Family::Msvc => "msvc",
        }
    }

    /// Whether the compiler takes gcc's `-MD -MF <file>`, which direct and depend mode
    /// add to its runs. Without it, the C flow uses preprocessor mode alone.
    pub fn takes_gcc_dep_flags(self) -> bool {
        !matches!(self, Family::Diab)
    }
}

/// Source language, as far as the key and the statistics care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    C,
    Cxx,
    ObjC,
    ObjCxx,
    /// `.s`: assembled without preprocessing.
    Asm,
    /// `.S`/`.sx`: preprocessed assembly.
    AsmCpp,
    /// `.i`: already preprocessed C.
    CPreprocessed,
    /// `.ii`: already preprocessed C++.
    CxxPreprocessed,
    /// `.mi` / `.mii`.
    ObjCPreprocessed,
    ObjCxxPreprocessed,
    Rust,
    /// `.cu` (or `-x cu`): CUDA, compiled by nvcc.
    Cuda,
}

impl Language {
    /// The name used in `hits_by_language` / `misses_by_language`.
    pub fn stats_name(self) -> &'static str {
        match self {
            Language::C | Language::CPreprocessed => "c",
            Language::Cxx | Language::CxxPreprocessed => "c++",
            Language::ObjC | Language::ObjCPreprocessed => "objective-c",
            Language::ObjCxx | Language::ObjCxxPreprocessed => "objective-c++",
            Language::Asm | Language::AsmCpp => "assembler",
            Language::Rust => "rust",
            Language::Cuda => "cuda",
        }
    }

    /// The `-x` name gcc and clang use.
    pub fn x_name(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cxx => "c++",
            Language::ObjC => "objective-c",
            Language::ObjCxx => "objective-c++",
            Language::Asm => "assembler",
            Language::AsmCpp => "assembler-with-cpp",
            Language::CPreprocessed => "cpp-output",
            Language::CxxPreprocessed => "c++-cpp-output",
            Language::ObjCPreprocessed => "objective-c-cpp-output",
            Language::ObjCxxPreprocessed => "objective-c++-cpp-output",
            Language::Rust => "rust",
            Language::Cuda => "cu",
        }
    }

    /// Whether the source goes through the preprocessor (else its bytes are hashed as is).
    pub fn is_preprocessed_by_compiler(self) -> bool {
        matches!(
            self,
            Language::C | Language::Cxx | Language::ObjC | Language::ObjCxx | Language::AsmCpp
        )
    }
}

/// One file a compile writes, besides stdout and stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub kind: FileKind,
    pub path: PathBuf,
    /// The compiler may or may not write it (e.g. `.dwo` depends on the debug level):
    /// stored when the compile wrote it, restored when the entry has it.
    pub optional: bool,
}

/// Where the make-style dependency file goes and whether its target can be retargeted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepFile {
    pub path: PathBuf,
    /// `-MT`/`-MQ` fixed the target: never rewrite it.
    pub target_fixed: bool,
    /// `-MD` (all headers) rather than `-MMD` (user headers only): the dep file is a
    /// complete list of what the compile read, usable for direct mode.
    pub complete: bool,
}

/// What a command line means, as plain data.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub language: Option<Language>,
    pub input: PathBuf,
    /// The main output (object or assembly) is first.
    pub outputs: Vec<Output>,
    pub dep_file: Option<DepFile>,
    /// Arguments that go into the key, in order (outputs excluded).
    pub hashed_args: Vec<OsString>,
    /// Arguments to run the preprocessor alone (`-E`, output on stdout).
    pub preprocess_args: Vec<OsString>,
    /// Arguments for the real compile (the user's, plus colour forcing when needed).
    pub compile_args: Vec<OsString>,
    /// Debug info or coverage embeds the working directory.
    pub cwd_matters: bool,
    /// Coverage / split DWARF embed the output path.
    pub output_path_matters: bool,
    /// Files whose contents go into the key (`-fplugin=`, `-specs=`).
    pub extra_input_files: Vec<PathBuf>,
    /// Programs the driver may run instead of its own because a `-B` prefix names them
    /// (`as`, `cc1`, `ld`...): keyed by content when present, by absence otherwise.
    pub program_files: Vec<PathBuf>,
    /// Paths the compiler resolves through symlinks before use (gcc's `--sysroot`,
    /// `-isysroot`): where they lead is keyed, so retargeting a symlink misses.
    pub resolved_paths: Vec<PathBuf>,
    /// Paths whose existence changes the compiler's messages: the include directories
    /// under `-Wmissing-include-dirs` (an error with `-Werror`).
    pub presence_probes: Vec<PathBuf>,
    /// `-march=native` and friends: the key must name this machine's CPU.
    pub needs_cpu_info: bool,
    /// Colour was forced because stderr is a terminal.
    pub colour_forced: bool,
    /// Debug info names the cwd through a prefix map: key on this instead of the cwd.
    pub mapped_cwd: Option<String>,
    /// The object records the command line (`-frecord-gcc-switches`,
    /// `-grecord-command-line`): no internal arguments may be added to the compile.
    pub records_command_line: bool,
    /// An argument names `__TIME__`, `__DATE__`, `__TIMESTAMP__` (`-DSTAMP=__TIME__`) or
    /// `__has_include` (`-DHI=__has_include`, whose calls `HI(<x.h>)` no scan of the
    /// files would recognise): the manifest cannot see it, so direct mode is off and the
    /// preprocessed text keys.
    pub unmodelled_macro_in_args: bool,
    /// Forward the compiler's output while it runs (rustc: cargo pipelines on it).
    pub stream_output: bool,
    /// A directory whose path outputs mention (rustc's `--out-dir` in artifact notices and
    /// dep-info): stored as a marker, restored as the current command's directory.
    pub relocatable_dir: Option<PathBuf>,
    /// rustc only: what the Rust flow needs beyond the common fields.
    pub rust: Option<rustc::RustInfo>,
    /// MSVC syntax only: what its flow needs beyond the common fields.
    pub msvc: Option<msvc::MsvcInfo>,
}

impl Parsed {
    pub fn main_output(&self) -> &Path {
        &self.outputs[0].path
    }
}

/// Whether a terminal with this `TERM` gets colour from gcc, clang or rustc on their own:
/// set, and not `dumb` (Emacs' compile buffers).
pub fn colour_terminal(term: Option<OsString>) -> bool {
    term.is_some_and(|t| !t.is_empty() && t != "dumb")
}

/// Whether any argument names `__TIME__`, `__DATE__`, `__TIMESTAMP__` or `__has_include`
/// (`-DSTAMP=__TIME__`, `/DT=__DATE__`, `-DHI=__has_include`): see
/// [`Parsed::unmodelled_macro_in_args`].
pub fn names_unmodelled_macro(args: &[OsString]) -> bool {
    args.iter().any(|a| {
        let a = a.to_string_lossy();
        ["__TIME__", "__DATE__", "__TIMESTAMP__", "__has_include"]
            .iter()
            .any(|t| a.contains(t))
    })
}

/// The compiler a command runs.
#[derive(Clone, Debug)]
pub struct ResolvedCompiler {
    /// Path to execute (not canonicalised: the name selects the driver mode, e.g. clang++).
    pub path: PathBuf,
    /// The name the user called it by (file name of `path`).
    pub invoked_name: String,
    pub family: Family,
    /// A C++ driver (g++, c++, clang++): `.c` files compile as C++.
    pub cxx_driver: bool,
    /// `path` with every symlink resolved, when [`detect`] could resolve it (the
    /// identity reuses it rather than resolving it again).
    pub canonical: Option<PathBuf>,
}

/// Recognise the compiler family from its invoked and resolved names. `None`: not a
/// compiler we know how to cache; the command runs unchanged.
pub fn detect(path: &Path) -> Option<ResolvedCompiler> {
    let invoked = path.file_name()?.to_string_lossy().into_owned();
    let canonical = crate::util::fs::canonicalize(path).ok();
    let canonical_name = canonical
        .as_ref()
        .and_then(|c| c.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let family = family_of(&invoked).or_else(|| family_of(&canonical_name))?;
    // `cc` may be clang: let the resolved binary decide when the invoked name is generic.
    let family = match (family_of(&canonical_name), &family) {
        (Some(Family::Clang), Family::Gcc) if is_generic_cc(&invoked) => Family::Clang,
        _ => family,
    };
    let base = strip_version(&invoked);
    let cxx_driver = base.ends_with("++") || base.ends_with("dplus");
    Some(ResolvedCompiler {
        path: path.to_path_buf(),
        invoked_name: invoked,
        family,
        cxx_driver,
        canonical,
    })
}

fn strip_version(name: &str) -> &str {
    // gcc-12, clang++-14, g++-12.2: drop a trailing -<digits/dots>.
    match name.rfind('-') {
        Some(i)
            if name[i + 1..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
                && i + 1 < name.len() =>
        {
            &name[..i]
        }
        _ => name,
    }
}

fn is_generic_cc(name: &str) -> bool {
    matches!(strip_version(name), "cc" | "c++")
}

fn family_of(name: &str) -> Option<Family> {
    // cl.exe, clang-cl, clang-cl-14, x86_64-pc-windows-msvc-clang-cl.
    let exe = name
        .strip_suffix(".exe")
        .or_else(|| name.strip_suffix(".EXE"))
        .unwrap_or(name);
    let base = strip_version(exe);
    if base.eq_ignore_ascii_case("cl") || base.ends_with("clang-cl") {
        return Some(Family::Msvc);
    }
    // Target-prefixed names: x86_64-linux-gnu-gcc, aarch64-linux-gnu-clang++.
    let last = base.rsplit('-').next().unwrap_or(base);
    if last.starts_with("clang") && !last.starts_with("clang-cl")
        || base.ends_with("clang")
        || base.ends_with("clang++")
    {
        return Some(Family::Clang);
    }
    match last {
        "gcc" | "g++" | "cc" | "c++" => Some(Family::Gcc),
        "rustc" => Some(Family::Rustc),
        "dcc" | "dplus" => Some(Family::Diab),
        "nvcc" => Some(Family::Nvcc),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_by_name() {
        assert_eq!(family_of("gcc"), Some(Family::Gcc));
        assert_eq!(family_of("x86_64-linux-gnu-gcc-12"), Some(Family::Gcc));
        assert_eq!(family_of("g++-12"), Some(Family::Gcc));
        assert_eq!(family_of("c++"), Some(Family::Gcc));
        assert_eq!(family_of("clang"), Some(Family::Clang));
        assert_eq!(family_of("clang++-14"), Some(Family::Clang));
        assert_eq!(family_of("clang-14"), Some(Family::Clang));
        assert_eq!(family_of("rustc"), Some(Family::Rustc));
        assert_eq!(family_of("nvcc"), Some(Family::Nvcc));
        assert_eq!(family_of("ld"), None);
        assert_eq!(family_of("dcc"), Some(Family::Diab));
        assert_eq!(family_of("dplus"), Some(Family::Diab));
        assert_eq!(family_of("clang-cl"), Some(Family::Msvc));
        assert_eq!(family_of("clang-cl-14"), Some(Family::Msvc));
        assert_eq!(family_of("cl"), Some(Family::Msvc));
        assert_eq!(family_of("cl.exe"), Some(Family::Msvc));
        assert_eq!(
            family_of("x86_64-pc-windows-msvc-clang-cl"),
            Some(Family::Msvc)
        );
        assert_eq!(family_of("clang"), Some(Family::Clang));
        assert_eq!(family_of("ncl"), None);
    }

    /// The compiler is always resolved, even where its name tells the family: gcc finds
    /// `cc1` from where its binary really lies, and one binary can lie in two trees (hard
    /// links), so the identity record is keyed by the resolved path. `cc` and unknown
    /// names take their family from the file they lead to.
    #[test]
    fn links_are_resolved_and_cc_takes_the_family_of_its_target() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for real in ["x86_64-linux-gnu-gcc-12", "clang-17"] {
            std::fs::write(d.join(real), "").unwrap();
        }
        let real = |name: &str| Some(d.canonicalize().unwrap().join(name));
        let link = |name: &str, to: &str| {
            std::os::unix::fs::symlink(to, d.join(name)).unwrap();
            detect(&d.join(name)).unwrap()
        };
        let gcc = link("gcc", "x86_64-linux-gnu-gcc-12");
        assert_eq!(gcc.family, Family::Gcc);
        assert_eq!(gcc.canonical, real("x86_64-linux-gnu-gcc-12"));
        let cc = link("cc", "clang-17");
        assert_eq!((cc.family, cc.canonical), (Family::Clang, real("clang-17")));
        assert_eq!(link("mycc", "clang-17").family, Family::Clang);
        assert!(detect(&d.join("unknown-tool")).is_none());
    }

    #[test]
    fn cxx_driver_by_name() {
        assert_eq!(strip_version("g++-12"), "g++");
        assert!(strip_version("clang++-14").ends_with("++"));
        assert_eq!(strip_version("gcc"), "gcc");
    }
}
