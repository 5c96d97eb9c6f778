//! The three outcomes of a compile request that did not end in a plain hit or miss.
//!
//! * [`Reason`]: the command cannot be cached (linking, `-E`, stdin...). Expected; each
//!   variant's name is a `non_cacheable_reasons` key, so the enum is the closed list of them.
//! * [`Fault`]: the cache itself failed (io error, corrupt entry, lock timeout). Logged,
//!   counted as `cache_errors`, and the compile runs normally.
//! * [`Fatal`]: unusable configuration or no compiler: one line on stderr, exit status 2.
//!
//! A failed compilation is none of these: its status and output pass through.

use std::fmt;
use std::path::Path;

/// Why a command is not cacheable. Names are stable: they are statistics keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No `-c`/`-S`: the command links (or only prints something).
    Linking,
    /// `-E`: output goes to stdout or a file of preprocessed text.
    PreprocessOnly,
    MultipleSources,
    NoSource,
    StdinInput,
    SaveTemps,
    /// `-M`/`-MM` without `-MD`/`-MMD`: the rules go to stdout instead of an object.
    DepToStdout,
    UnknownLanguage,
    SyntaxOnly,
    MultipleArch,
    ClangModules,
    PrecompiledHeader,
    ProfileUse,
    /// `DEPENDENCIES_OUTPUT` / `SUNPRO_DEPENDENCIES` make the preprocessor write a file.
    DependenciesEnv,
    OutputToStdout,
    /// An option whose outputs or inputs we do not model (`-MJ`, SARIF files...).
    UnsupportedOption,
    UnknownCompiler,
    /// The compile succeeded but an output it should have written is missing.
    MissingOutput,
    /// The preprocessor failed while the compile succeeded: nothing sound to key on.
    PreprocessorFailed,
    /// rustc asked for its version, target info (`--print`), or reading stdin: cargo's probes.
    RustProbe,
    /// A crate type that links or is loaded by the compiler: bin, dylib, cdylib,
    /// proc-macro, and test harnesses (build scripts are bins).
    RustCrateType,
    /// `-C incremental=...`: rustc's own incremental cache is the better tool.
    Incremental,
    /// No `--out-dir`, or `-o`: outputs we cannot place.
    RustOutputs,
    /// MSVC `/Zi`, `/ZI`: debug info goes to a PDB file shared by many compiles.
    Pdb,
    /// The source is not a regular file (a pipe, `/dev/stdin`: reading it to hash it
    /// would consume it), or an output exists and is a device such as `/dev/null` or a
    /// pipe (the compiler writes into it, a restore would replace it).
    SpecialFile,
    /// Assembler `.incbin`/`.include`, or `#pragma GCC dependency`: the compile reads or
    /// checks a file no dep file lists.
    UnlistedInput,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Linking => "linking",
            Reason::PreprocessOnly => "preprocess_only",
            Reason::MultipleSources => "multiple_sources",
            Reason::NoSource => "no_source",
            Reason::StdinInput => "stdin_input",
            Reason::SaveTemps => "save_temps",
            Reason::DepToStdout => "dep_to_stdout",
            Reason::UnknownLanguage => "unknown_language",
            Reason::SyntaxOnly => "syntax_only",
            Reason::MultipleArch => "multiple_arch",
            Reason::ClangModules => "clang_modules",
            Reason::PrecompiledHeader => "precompiled_header",
            Reason::ProfileUse => "profile_use",
            Reason::DependenciesEnv => "dependencies_env",
            Reason::OutputToStdout => "output_to_stdout",
            Reason::UnsupportedOption => "unsupported_option",
            Reason::UnknownCompiler => "unknown_compiler",
            Reason::MissingOutput => "missing_output",
            Reason::PreprocessorFailed => "preprocessor_failed",
            Reason::RustProbe => "rust_probe",
            Reason::RustCrateType => "rust_crate_type",
            Reason::Incremental => "incremental",
            Reason::RustOutputs => "rust_outputs",
            Reason::Pdb => "pdb",
            Reason::SpecialFile => "special_file",
            Reason::UnlistedInput => "unlisted_input",
        }
    }
}

/// A failure of the cache (never of the compile). Carries the path or backend it concerns.
#[derive(Debug)]
pub struct Fault {
    /// Short stable kind, used as a statistics key (`cache_errors_by_kind`).
    pub kind: &'static str,
    pub message: String,
}

impl Fault {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Fault {
        Fault {
            kind,
            message: message.into(),
        }
    }

    /// An io error on a path: the message always names the path.
    pub fn io(kind: &'static str, path: &Path, err: &std::io::Error) -> Fault {
        Fault::new(kind, format!("{}: {}", path.display(), err))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

/// An unusable setting or a missing compiler: printed as one line, exit status 2.
#[derive(Debug)]
pub struct Fatal(pub String);

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Exit status of a configuration error, as ccache uses.
pub const EXIT_FATAL: i32 = 2;
