//! The command-line front end: decides between wrapping a compiler (the first positional
//! argument, or the name we were invoked by in masquerade mode) and a maintenance flag,
//! and runs the maintenance commands. Compiling is `pipeline`'s job.

use crate::config::{self, Config};
use crate::error::EXIT_FATAL;
use crate::pipeline::{self, Request};
use crate::stats::{self, CacheInfo};
use crate::storage::local::LocalStore;
use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;
use std::path::Path;

const ABOUT: &str = "cachepot: a daemonless compiler cache for gcc, clang and rustc.

Usage:
  cachepot <compiler> [compiler args...]      wrap a compile (e.g. cachepot gcc -c foo.c)
  cachepot --show-stats [--stats-format json] and the other maintenance flags below
  Masquerade: a symlink named gcc/g++/cc/c++/clang/clang++ pointing to cachepot, placed
  first on PATH, wraps the next compiler of that name on PATH.";

fn command() -> Command {
    let flag = |name: &'static str, short: Option<char>, help: &'static str| {
        let a = Arg::new(name)
            .long(name)
            .action(ArgAction::SetTrue)
            .help(help);
        match short {
            Some(c) => a.short(c),
            None => a,
        }
    };
    Command::new("cachepot")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(format!("Settings (environment; the TOML config file takes the same keys in lower case without the prefix):\n{}", config::settings_help()))
        .arg(flag("show-stats", Some('s'), "show statistics"))
        .arg(
            Arg::new("stats-format")
                .long("stats-format")
                .value_parser(["human", "json"])
                .default_value("human")
                .help("format of --show-stats"),
        )
        .arg(flag("zero-stats", Some('z'), "reset the statistics"))
        .arg(flag("clear", Some('C'), "remove every entry of the local cache (statistics are kept)"))
        .arg(flag("cleanup", Some('c'), "evict entries down to the size bound now"))
        .arg(flag("show-config", Some('p'), "show each setting, its value and where it came from"))
        .arg(flag("start-server", None, "accepted for compatibility; cachepot has no server"))
        .arg(flag("stop-server", None, "accepted for compatibility; cachepot has no server"))
}

/// Entry point: returns the process exit status.
pub fn main(argv: Vec<OsString>) -> i32 {
    let argv0 = argv
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .unwrap_or(a)
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let masquerade = !argv0.is_empty() && !argv0.starts_with("cachepot");

    if !masquerade {
        match argv.get(1).map(|a| a.to_string_lossy()) {
            None => {
                eprintln!("cachepot: no compiler given; try 'cachepot --help'");
                return EXIT_FATAL;
            }
            Some(a) if a.starts_with('-') => return maintenance(argv),
            _ => {}
        }
    }
    let cfg = match config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_FATAL;
        }
    };
    crate::logging::init(cfg.log_level, cfg.error_log.clone(), &cfg.dir);
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
    crate::util::fs::set_shared_group(cfg.shared_group);
    // A compile's stderr is the compiler's: the warning goes to the log only.
    if let Some(w) = insecure_dir_warning(&cfg) {
        log::warn!("{w}");
    }
    let req = if masquerade {
        Request {
            compiler: OsString::from(&argv0),
            args: argv[1..].to_vec(),
        }
    } else {
        Request {
            compiler: argv[1].clone(),
            args: argv[2..].to_vec(),
        }
    };
    pipeline::run(&cfg, req)
}

fn maintenance(argv: Vec<OsString>) -> i32 {
    let m = match command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => EXIT_FATAL,
            };
        }
    };
    if m.get_flag("start-server") || m.get_flag("stop-server") {
        return 0;
    }
    let cfg = match config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_FATAL;
        }
    };
    crate::logging::init(cfg.log_level, cfg.error_log.clone(), &cfg.dir);
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
    crate::util::fs::set_shared_group(cfg.shared_group);
    if let Some(w) = insecure_dir_warning(&cfg) {
        log::warn!("{w}");
        eprintln!("cachepot: warning: {w}");
    }
    let store = LocalStore::new(&cfg.dir, cfg.cache_size);
    let mut status = 0;
    let mut report = |what: &str, r: Result<(), crate::error::Fault>| {
        if let Err(f) = r {
            eprintln!("cachepot: {what} failed: {f}");
            status = 1;
        }
    };
    if m.get_flag("zero-stats") {
        report("--zero-stats", store.zero_stats());
    }
    if m.get_flag("clear") {
        report("--clear", store.clear());
    }
    if m.get_flag("cleanup") {
        report("--cleanup", store.cleanup());
    }
    if m.get_flag("show-config") && !emit(&show_config(&cfg)) {
        status = 1;
    }
    if m.get_flag("show-stats") {
        let (size, entries) = store.usage();
        let info = CacheInfo {
            location: cfg.dir.display().to_string(),
            size_bytes: size,
            max_size_bytes: cfg.cache_size,
            entries,
        };
        let counters = store.counters();
        let text = if m.get_one::<String>("stats-format").map(String::as_str) == Some("json") {
            let json = serde_json::to_string_pretty(&stats::to_json(&counters, &info));
            format!("{}\n", json.unwrap_or_default())
        } else {
            stats::to_human(&counters, &info)
        };
        if !emit(&text) {
            status = 1;
        }
    }
    status
}

/// Write a maintenance command's output to stdout. A closed pipe or a full disk is one
/// line on stderr and a failed command, never a panic (`print!` panics on them).
fn emit(text: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("cachepot: cannot write the output: {e}");
            false
        }
    }
}

/// A cache directory that every local user may write to lets any of them plant entries
/// (docs/security.md): worth a warning, unless entries are authenticated.
fn insecure_dir_warning(cfg: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cfg.dir).ok()?.permissions().mode();
    if mode & 0o002 == 0 {
        return None;
    }
    let d = cfg.dir.display();
    Some(if cfg.hmac_key.is_some() {
        format!(
            "cache directory {d} is world-writable (mode {:o}); entries are authenticated \
             with CACHEPOT_HMAC_KEY, but other users can still delete them: chmod o-w {d}",
            mode & 0o7777
        )
    } else {
        format!(
            "cache directory {d} is world-writable (mode {:o}): any local user can plant \
             cache entries; run chmod o-w {d} (or set CACHEPOT_SHARED_GROUP=1 for a group \
             cache, or CACHEPOT_HMAC_KEY to authenticate entries)",
            mode & 0o7777
        )
    })
}

fn show_config(cfg: &Config) -> String {
    let mut out = format!(
        "config file: {}{}\n",
        cfg.config_file.display(),
        if cfg.config_file.exists() {
            ""
        } else {
            " (not present)"
        }
    );
    let mut rows: Vec<(String, String, String)> = cfg
        .shown
        .iter()
        .map(|(k, v, o)| (k.clone(), v.clone(), o.name().to_string()))
        .collect();
    if !rows.iter().any(|(k, _, _)| k == "dir") {
        rows.insert(
            0,
            (
                "dir".into(),
                cfg.dir.display().to_string(),
                "default".into(),
            ),
        );
    }
    for (k, v, o) in rows {
        let extra = if k == "cache_size" {
            format!(" ({} bytes)", cfg.cache_size)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "({o}) {k} = {v}{extra}    [CACHEPOT_{}]\n",
            k.to_ascii_uppercase()
        ));
    }
    out
}
