//! The black-box test harness: a `Sandbox` (temporary cache dir, work dir, scrubbed
//! environment) that runs the built `cachepot` binary and the bare compilers side by side,
//! reads the JSON statistics, and builds compiler shims that log every real compiler run.
//!
//! It knows nothing of cachepot's internals beyond the command-line contract
//! (../shared/contract.md) and the documented cache layout (`v1/<h>/<h>/<64 hex>` entries,
//! `stats` files), which the fault tests use to corrupt the cache on purpose.
//! Missing tools are a loud skip (a message on stderr, the test returns) except under CI
//! (env `CI` set), where they are a failure: CI installs every tool.
#![allow(dead_code)]

pub mod http;
pub mod rng;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const CACHEPOT: &str = env!("CARGO_BIN_EXE_cachepot");

/// The repository's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

// ---------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------

/// Where `name` is on the test process's PATH, if anywhere.
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// True when `tool` is installed. When it is not: under CI this panics (CI installs every
/// tool, so a missing one is a broken setup); elsewhere it prints a loud skip notice and
/// returns false, and the caller returns early.
pub fn require_tool(tool: &str) -> bool {
    if which(tool).is_some() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("required tool `{tool}` is not installed, and CI must install every tool");
    }
    // Written to the process's stderr directly, not with eprintln!, which the test
    // harness captures and hides for a passing test: a skip must be seen.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let _ = writeln!(
        std::io::stderr(),
        "\n=== SKIPPED {test}: required tool `{tool}` is not on PATH; install it to run this test ===\n"
    );
    false
}

/// Where scripts/setup.sh installs the servers that come from PyPI and npm (moto,
/// gcp-storage-emulator in `venv/`, Azurite in `npm/`): $CACHEPOT_TEST_TOOLS, else
/// ~/.cache/cachepot-test-tools.
#[allow(dead_code)]
pub fn test_tools_dir() -> PathBuf {
    match std::env::var_os("CACHEPOT_TEST_TOOLS").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
            .join(".cache/cachepot-test-tools"),
    }
}

/// A server program installed by scripts/setup.sh under [`test_tools_dir`] (e.g.
/// `venv/bin/moto_server`): missing, it is a failure under CI and a loud skip (None)
/// elsewhere, like [`require_tool`].
#[allow(dead_code)]
pub fn installed_tool(rel: &str) -> Option<PathBuf> {
    let p = test_tools_dir().join(rel);
    if p.is_file() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is not installed; scripts/setup.sh installs it",
            p.display()
        );
    }
    let thread = std::thread::current();
    let _ = writeln!(
        std::io::stderr(),
        "\n=== SKIPPED {}: {} is not installed; run scripts/setup.sh ===\n",
        thread.name().unwrap_or("?"),
        p.display()
    );
    None
}

/// Returns from the calling test (a loud skip) when `tool` is missing.
#[macro_export]
macro_rules! require {
    ($($tool:expr),+) => {
        $( if !$crate::common::require_tool($tool) { return; } )+
    };
}

/// The effective user id of the test process (read from /proc, no libc needed).
pub fn euid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("parse Uid line of /proc/self/status")
}

// ---------------------------------------------------------------------------------------
// Compilers the C-family tests loop over
// ---------------------------------------------------------------------------------------

/// One C-family compiler and the fixture language it compiles.
#[derive(Debug, Clone, Copy)]
pub struct Cc {
    /// Name on PATH, as given to cachepot.
    pub name: &'static str,
    /// Language name in the stats' hits_by_language / misses_by_language.
    pub lang: &'static str,
    /// Fixture subdirectory (`c` or `cxx`).
    pub fixture_dir: &'static str,
    /// Source extension of the fixtures.
    pub ext: &'static str,
    /// The `-x` value of that language.
    pub x: &'static str,
}

pub const GCC: Cc = Cc {
    name: "gcc",
    lang: "c",
    fixture_dir: "c",
    ext: "c",
    x: "c",
};
pub const GXX: Cc = Cc {
    name: "g++",
    lang: "c++",
    fixture_dir: "cxx",
    ext: "cpp",
    x: "c++",
};
pub const CLANG: Cc = Cc {
    name: "clang",
    lang: "c",
    fixture_dir: "c",
    ext: "c",
    x: "c",
};
pub const CLANGXX: Cc = Cc {
    name: "clang++",
    lang: "c++",
    fixture_dir: "cxx",
    ext: "cpp",
    x: "c++",
};

impl Cc {
    /// `stem.<ext>`, e.g. `hello.c` or `hello.cpp`.
    pub fn src(&self, stem: &str) -> String {
        format!("{stem}.{}", self.ext)
    }
}

/// Runs `test` for `cc` when the compiler is installed (loud skip otherwise).
pub fn with_compiler(cc: &Cc, test: fn(&Cc)) {
    if require_tool(cc.name) {
        test(cc);
    }
}

/// Generates one `#[test]` per listed function and per compiler, in modules named after the
/// compiler: `gcc::miss_then_hit`, `gxx::miss_then_hit`, `clang::...`, `clangxx::...`.
/// Each function has the signature `fn(&Cc)`.
#[macro_export]
macro_rules! per_compiler {
    ($($test:ident),+ $(,)?) => {
        $crate::per_compiler!(@module gcc, GCC, $($test),+);
        $crate::per_compiler!(@module gxx, GXX, $($test),+);
        $crate::per_compiler!(@module clang, CLANG, $($test),+);
        $crate::per_compiler!(@module clangxx, CLANGXX, $($test),+);
    };
    (@module $module:ident, $cc:ident, $($test:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    $crate::common::with_compiler(&$crate::common::$cc, super::$test);
                }
            )+
        }
    };
}

/// Like `per_compiler!` for gcc and clang only, inside a module `$group` whose sandboxes
/// all get `$var=$value` (e.g. `CACHEPOT_DIRECT=0` to run the same tests in preprocessor
/// mode): `preprocessor_mode::gcc::miss_then_hit`, ...
#[macro_export]
macro_rules! per_compiler_with_env {
    ($group:ident, $var:expr, $value:expr, $($test:ident),+ $(,)?) => {
        mod $group {
            $crate::per_compiler_with_env!(@module gcc, GCC, $var, $value, $($test),+);
            $crate::per_compiler_with_env!(@module clang, CLANG, $var, $value, $($test),+);
        }
    };
    (@module $module:ident, $cc:ident, $var:expr, $value:expr, $($test:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    $crate::common::with_sandbox_env($var, $value, || {
                        $crate::common::with_compiler(&$crate::common::$cc, super::super::$test)
                    });
                }
            )+
        }
    };
}

thread_local! {
    /// Variables every Sandbox created on this thread starts with (see with_sandbox_env).
    static SANDBOX_ENV: std::cell::RefCell<Vec<(String, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `var=value` added to the environment of every Sandbox it creates (each
/// test runs on its own thread, so this never leaks into another test).
pub fn with_sandbox_env(var: &str, value: &str, f: impl FnOnce()) {
    SANDBOX_ENV.with(|e| e.borrow_mut().push((var.to_owned(), value.to_owned())));
    f();
    SANDBOX_ENV.with(|e| e.borrow_mut().pop());
}

// ---------------------------------------------------------------------------------------
// Sandbox
// ---------------------------------------------------------------------------------------

/// A temporary world for one test: `root/cache` (CACHEPOT_DIR, not created in advance so
/// that cachepot creates it), `root/work` (the working directory of every command),
/// `root/home` (HOME), and a scrubbed environment: PATH, HOME and the CACHEPOT_* variables
/// set here, nothing else. CACHEPOT_CONF points at a file that does not exist so that the
/// user's own configuration never leaks in.
pub struct Sandbox {
    root: tempfile::TempDir,
    pub cache: PathBuf,
    pub work: PathBuf,
    pub home: PathBuf,
    pub log: PathBuf,
    env: BTreeMap<OsString, OsString>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A sandbox for cargo: the user's HOME, CARGO_HOME, RUSTUP_HOME and toolchain
    /// selection (registry cache and toolchains shared), CARGO_TARGET_DIR inside the
    /// sandbox, CARGO_INCREMENTAL=0, no colours or progress bars. RUSTC_WRAPPER and
    /// offline mode are the caller's.
    pub fn for_cargo() -> Sandbox {
        let mut sb = Sandbox::new();
        for var in [
            "HOME",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
            "RUSTUP_AUTO_INSTALL",
        ] {
            if let Some(v) = std::env::var_os(var) {
                sb.set_env(var, v);
            }
        }
        let target = sb.root().join("target");
        sb.set_env("CARGO_TARGET_DIR", &target)
            .set_env("CARGO_INCREMENTAL", "0")
            .set_env("CARGO_TERM_COLOR", "never")
            .set_env("CARGO_TERM_PROGRESS_WHEN", "never");
        sb
    }

    pub fn new() -> Sandbox {
        let root = tempfile::Builder::new()
            .prefix("cachepot-test-")
            .tempdir()
            .expect("tempdir");
        let cache = root.path().join("cache");
        let work = root.path().join("work");
        let home = root.path().join("home");
        let log = root.path().join("cachepot.log");
        fs::create_dir(&work).expect("create work dir");
        fs::create_dir(&home).expect("create home dir");
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".into(),
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        );
        env.insert("HOME".into(), home.clone().into_os_string());
        env.insert("CACHEPOT_DIR".into(), cache.clone().into_os_string());
        env.insert(
            "CACHEPOT_CONF".into(),
            root.path().join("no-such-config.toml").into_os_string(),
        );
        env.insert("CACHEPOT_LOG".into(), "debug".into());
        env.insert("CACHEPOT_ERROR_LOG".into(), log.clone().into_os_string());
        SANDBOX_ENV.with(|extra| {
            for (k, v) in extra.borrow().iter() {
                env.insert(k.into(), v.into());
            }
        });
        Sandbox {
            root,
            cache,
            work,
            home,
            log,
            env,
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Sets an environment variable for every later command of this sandbox.
    pub fn set_env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .insert(key.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    /// Removes an environment variable from every later command of this sandbox.
    pub fn remove_env(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.remove(key.as_ref());
        self
    }

    pub fn env_value(&self, key: &str) -> Option<&OsStr> {
        self.env.get(OsStr::new(key)).map(|v| v.as_os_str())
    }

    /// A command for `program` with the sandbox environment, run in the work dir.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(&self.env)
            .current_dir(&self.work)
            .stdin(Stdio::null());
        cmd
    }

    /// A `cachepot` command with the sandbox environment, run in the work dir.
    pub fn cachepot_cmd(&self) -> Command {
        self.command(CACHEPOT)
    }

    /// Runs `cachepot args...` in the work dir.
    pub fn cachepot<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cachepot_in(&self.work, args)
    }

    /// Runs `cachepot args...` in `dir`.
    pub fn cachepot_in<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> Output {
        let mut cmd = self.cachepot_cmd();
        cmd.current_dir(dir).args(args);
        run(&mut cmd)
    }

    /// Runs `cachepot args...` with `stdin` fed to its standard input.
    pub fn cachepot_stdin<S: AsRef<OsStr>>(&self, args: &[S], stdin: &[u8]) -> Output {
        let mut cmd = self.cachepot_cmd();
        cmd.args(args);
        run_with_stdin(&mut cmd, stdin)
    }

    /// Runs `cachepot <cc> args...` in the work dir and asserts it succeeded.
    pub fn compile<S: AsRef<OsStr>>(&self, cc: &str, args: &[S]) -> Output {
        self.compile_in(&self.work, cc, args)
    }

    /// Runs `cachepot <cc> args...` in `dir` and asserts it succeeded.
    pub fn compile_in<S: AsRef<OsStr>>(&self, dir: &Path, cc: &str, args: &[S]) -> Output {
        let mut all: Vec<OsString> = vec![cc.into()];
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        let out = self.cachepot_in(dir, &all);
        self.assert_success(&out, &format!("cachepot {}", show_args(&all)));
        out
    }

    /// Runs the bare compiler (no cachepot) with the sandbox environment in the work dir.
    pub fn bare<S: AsRef<OsStr>>(&self, cc: &str, args: &[S]) -> Output {
        self.bare_in(&self.work, cc, args)
    }

    pub fn bare_in<S: AsRef<OsStr>>(&self, dir: &Path, cc: &str, args: &[S]) -> Output {
        let mut cmd = self.command(cc);
        cmd.current_dir(dir).args(args);
        run(&mut cmd)
    }

    pub fn bare_stdin<S: AsRef<OsStr>>(&self, cc: &str, args: &[S], stdin: &[u8]) -> Output {
        let mut cmd = self.command(cc);
        cmd.args(args);
        run_with_stdin(&mut cmd, stdin)
    }

    /// Links `objects` into `exe` with the bare compiler, runs it, returns its stdout.
    pub fn link_and_run(&self, cc: &str, objects: &[&str], exe: &str) -> String {
        let mut args: Vec<&str> = objects.to_vec();
        args.extend(["-o", exe]);
        let out = self.bare(cc, &args);
        self.assert_success(&out, &format!("link {exe}"));
        self.run_program(exe)
    }

    /// Runs `./exe` (relative to the work dir) and returns its stdout.
    pub fn run_program(&self, exe: &str) -> String {
        let out = run(&mut self.command(self.work.join(exe)));
        self.assert_success(&out, &format!("run {exe}"));
        String::from_utf8(out.stdout).expect("program output is UTF-8")
    }

    // -- files ------------------------------------------------------------------------

    /// The absolute path of `rel` in the work dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.join(rel)
    }

    /// Writes `contents` to `rel` in the work dir, creating parent directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent dirs");
        }
        fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    /// Reads `rel` from the work dir (panics with the path if it does not exist).
    pub fn read(&self, rel: &str) -> Vec<u8> {
        let p = self.path(rel);
        fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// Removes `rel` from the work dir if it exists.
    pub fn remove(&self, rel: &str) {
        let p = self.path(rel);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove {}: {e}", p.display()),
        }
    }

    /// Copies `fixtures/<from>` to `<work>/<to>`.
    pub fn fixture(&self, from: &str, to: &str) -> PathBuf {
        let src = fixtures().join(from);
        let data = fs::read(&src).unwrap_or_else(|e| panic!("read fixture {}: {e}", src.display()));
        self.write(to, data)
    }

    /// Copies the hello fixture of `cc` (source + greet.h) into `<work>/<dir>` ("" for the
    /// work dir itself) and returns the source's file name (`hello.c` / `hello.cpp`).
    pub fn hello_in(&self, cc: &Cc, dir: &str) -> String {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.fixture(
            &format!("{}/{}", cc.fixture_dir, cc.src("hello")),
            &format!("{prefix}{}", cc.src("hello")),
        );
        self.fixture(
            &format!("{}/greet.h", cc.fixture_dir),
            &format!("{prefix}greet.h"),
        );
        cc.src("hello")
    }

    /// `hello_in(cc, "")`.
    pub fn hello(&self, cc: &Cc) -> String {
        self.hello_in(cc, "")
    }

    /// Copies fixture `<lang dir>/<stem>.<ext>` into the work dir, returns its file name.
    pub fn fixture_src(&self, cc: &Cc, stem: &str) -> String {
        let name = cc.src(stem);
        self.fixture(&format!("{}/{name}", cc.fixture_dir), &name);
        name
    }

    // -- statistics -------------------------------------------------------------------

    /// `cachepot --show-stats --stats-format json`, parsed.
    pub fn stats(&self) -> serde_json::Value {
        let out = self.cachepot(&["--show-stats", "--stats-format", "json"]);
        self.assert_success(&out, "cachepot --show-stats --stats-format json");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "--show-stats JSON does not parse ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// A counter of "stats", as an integer.
    pub fn stat(&self, key: &str) -> u64 {
        stat_of(&self.stats(), key)
    }

    /// A field of "cache" (size_bytes, max_size_bytes, entries), as an integer.
    pub fn cache_field(&self, key: &str) -> u64 {
        let v = self.stats();
        v["cache"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("cache.{key} is not an unsigned integer in {v}"))
    }

    // -- cache directory --------------------------------------------------------------

    /// Every entry file (name of 64 hex digits) under `<cache>/v1`.
    pub fn entry_files(&self) -> Vec<PathBuf> {
        walk_files(&self.cache.join("v1"))
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_entry_name)
            })
            .collect()
    }

    /// Sum of the sizes of every entry file.
    pub fn entries_size(&self) -> u64 {
        self.entry_files()
            .iter()
            .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    /// The log written through CACHEPOT_ERROR_LOG ("" if none), for failure messages.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the command's output and the tail of the cachepot log unless it
    /// exited 0.
    pub fn assert_success(&self, out: &Output, what: &str) {
        if !out.status.success() {
            panic!(
                "{what} failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- log tail ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail(&self.log_text(), 40),
            );
        }
    }

    // -- shims ------------------------------------------------------------------------

    /// A directory `<root>/shim-<name>` holding an executable script named `name` that
    /// appends its arguments (one line per run) to a log and then execs the real
    /// compiler, so a test can see whether and how the real compiler ran.
    pub fn shim(&self, name: &str) -> Shim {
        let real = which(name).unwrap_or_else(|| panic!("no `{name}` on PATH to wrap in a shim"));
        let dir = self.root().join(format!("shim-{}", name.replace('+', "x")));
        fs::create_dir_all(&dir).expect("create shim dir");
        let log = dir.join("runs.log");
        let path = dir.join(name);
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        );
        write_executable(&path, script);
        Shim { dir, path, log }
    }
}

/// A logging wrapper around a real compiler (see `Sandbox::shim`).
pub struct Shim {
    /// The directory holding the script (for PATH).
    pub dir: PathBuf,
    /// The script itself (give it to cachepot as the compiler).
    pub path: PathBuf,
    /// One line per run: the arguments joined by spaces.
    pub log: PathBuf,
}

impl Shim {
    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("UTF-8 shim path")
    }

    /// Every logged run, in order.
    pub fn runs(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Runs that compiled (had -c or -S) rather than only preprocessing (-E) or probing
    /// the compiler (--version and the like).
    pub fn compile_runs(&self) -> usize {
        self.runs()
            .iter()
            .filter(|line| {
                let words: Vec<&str> = line.split(' ').collect();
                (words.contains(&"-c") || words.contains(&"-S")) && !words.contains(&"-E")
            })
            .count()
    }

    /// True when the shim ran with exactly `args` (joined by single spaces).
    pub fn ran_with(&self, args: &[&str]) -> bool {
        let want = args.join(" ");
        self.runs().contains(&want)
    }
}

// ---------------------------------------------------------------------------------------
// Free helpers
// ---------------------------------------------------------------------------------------

/// Writes an executable file (mode 755), through a child process: a file this process
/// held open for writing would be inherited by the children that other test threads
/// fork at that moment, and running it would fail with ETXTBSY ("Text file busy")
/// until they exec. Only the pipe to `cat` is ours, and a pipe makes nothing busy.
pub fn write_executable(path: &Path, content: impl AsRef<[u8]>) {
    use std::io::Write;
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn sh to write an executable");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(content.as_ref()).expect("write to sh");
    drop(stdin);
    let status = child.wait().expect("wait for sh");
    assert!(
        status.success(),
        "writing {} failed: {status}",
        path.display()
    );
}

/// Runs a command to completion, capturing stdout and stderr.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// Runs a command with `input` on its stdin.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("wait for child")
}

/// A counter of "stats" in a parsed stats document.
pub fn stat_of(v: &serde_json::Value, key: &str) -> u64 {
    v["stats"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("stats.{key} is not an unsigned integer in {v}"))
}

/// `stats.<map>.<key>` (non_cacheable_reasons, hits_by_language, misses_by_language);
/// an absent key counts as 0 since the maps may omit zero counts.
pub fn map_count(v: &serde_json::Value, map: &str, key: &str) -> u64 {
    let m = v["stats"][map]
        .as_object()
        .unwrap_or_else(|| panic!("stats.{map} is not an object in {v}"));
    match m.get(key) {
        None => 0,
        Some(n) => n
            .as_u64()
            .unwrap_or_else(|| panic!("stats.{map}.{key} is not an integer in {v}")),
    }
}

/// Checks the contract's invariants of a stats document: compile_requests is the sum of
/// hits, misses, non-cacheable and failed compiles, and the reasons sum to non_cacheable.
pub fn assert_stats_consistent(v: &serde_json::Value) {
    let sum = stat_of(v, "cache_hits")
        + stat_of(v, "cache_misses")
        + stat_of(v, "non_cacheable")
        + stat_of(v, "compile_errors");
    assert_eq!(
        stat_of(v, "compile_requests"),
        sum,
        "compile_requests must equal hits + misses + non_cacheable + compile_errors in {v}"
    );
    let reasons: u64 = v["stats"]["non_cacheable_reasons"]
        .as_object()
        .expect("non_cacheable_reasons is an object")
        .values()
        .map(|n| n.as_u64().expect("reason counts are integers"))
        .sum();
    assert_eq!(
        reasons,
        stat_of(v, "non_cacheable"),
        "non_cacheable_reasons must sum to non_cacheable in {v}"
    );
}

pub fn is_entry_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every regular file under `dir`, recursively (empty if `dir` does not exist).
pub fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Every directory under `dir`, recursively, `dir` included.
pub fn walk_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        out.push(d.clone());
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// A snapshot of every file under `dir` (relative path → bytes).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk_files(dir)
        .into_iter()
        .map(|p| {
            let data = fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (p.strip_prefix(dir).expect("under dir").to_path_buf(), data)
        })
        .collect()
}

/// Parses make rules as compilers write them into (targets, prerequisites) pairs,
/// ignoring line continuations and whitespace, so that two dep files that hold the same
/// rules compare equal whatever their line wrapping.
pub fn make_rules(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    joined
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (targets, prereqs) = split_rule(l);
            (
                targets.split_whitespace().map(str::to_owned).collect(),
                prereqs.split_whitespace().map(str::to_owned).collect(),
            )
        })
        .collect()
}

/// Splits a rule line at the first ':' that is followed by whitespace or the end of the
/// line (so that a `C:` drive or `a:b` in a name does not split it).
fn split_rule(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b':' && (i + 1 == bytes.len() || bytes[i + 1].is_ascii_whitespace()) {
            return (&line[..i], &line[i + 1..]);
        }
    }
    (line, "")
}

pub fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A deterministic pseudo-random byte stream (xorshift64*), for incompressible data.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u64() >> 56) as u8).collect()
    }
}
