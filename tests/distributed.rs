//! CACHEPOT_PREFIX_COMMAND with a real build farm (issue 7, item 4): distccd started here
//! on 127.0.0.1 (its own port, `--allow 127.0.0.1/32`, never another address), cachepot
//! configured with `CACHEPOT_PREFIX_COMMAND=distcc`. distccd's own log proves that each
//! miss compiled on the farm; the second build is all cache hits with no farm traffic.
//! Recipe: shared/services.md section 7; scripts/setup.sh installs distcc.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// distccd on 127.0.0.1:<port>, killed when dropped.
struct Distccd {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Distccd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Distccd {
    fn start(dir: &Path) -> Distccd {
        let mut last = String::new();
        for _ in 0..3 {
            let port = std::net::TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let log = dir.join(format!("distccd-{port}.log"));
            let child = Command::new("distccd")
                .args(["--daemon", "--no-detach", "--listen", "127.0.0.1"])
                .args(["--port", &port.to_string(), "--allow", "127.0.0.1/32"])
                .args(["--jobs", "2", "--log-level=info", "--log-stderr"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).expect("distccd log"))
                .spawn()
                .expect("spawn distccd");
            let mut d = Distccd { child, port, log };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if d.log_text().contains("listening on") {
                    return d;
                }
                if let Ok(Some(st)) = d.child.try_wait() {
                    last = format!("exited with {st}: {}", d.log_text());
                    break;
                }
                if Instant::now() > deadline {
                    last = format!("not listening after 10 s: {}", d.log_text());
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("distccd did not start: {last}");
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Compiles the farm finished, per its log.
    fn completed(&self) -> usize {
        self.log_text().matches("completed ok").count()
    }
}

const SOURCES: [&str; 3] = ["one", "two", "three"];

fn write_sources(s: &Sandbox) {
    s.write("shared.h", "#define SCALE 7\nint helper(int);\n");
    for (i, n) in SOURCES.iter().enumerate() {
        s.write(
            &format!("{n}.c"),
            format!("#include \"shared.h\"\nint {n}(int x) {{ return x * SCALE + {i}; }}\n"),
        );
    }
}

fn farm_build(direct: bool) {
    require!("gcc", "distcc", "distccd");
    let mut s = Sandbox::new();
    write_sources(&s);
    let mut reference = Vec::new();
    for n in SOURCES {
        let out = s.bare("gcc", &["-O2", "-c", &format!("{n}.c"), "-o", "ref.o"]);
        s.assert_success(&out, "bare");
        reference.push(s.read("ref.o"));
    }
    s.remove("ref.o");
    let farm = Distccd::start(s.root());
    s.set_env("CACHEPOT_PREFIX_COMMAND", "distcc");
    s.set_env("CACHEPOT_DIRECT", if direct { "1" } else { "0" });
    s.set_env("DISTCC_HOSTS", format!("127.0.0.1:{}/2", farm.port));
    s.set_env("DISTCC_FALLBACK", "0");
    fs::create_dir_all(s.root().join("distcc-state")).unwrap();
    s.set_env("DISTCC_DIR", s.root().join("distcc-state"));

    let build = |what: &str| {
        for (n, r) in SOURCES.iter().zip(&reference) {
            let obj = format!("{n}.o");
            if s.exists(&obj) {
                s.remove(&obj);
            }
            let out = s.compile("gcc", &["-O2", "-c", &format!("{n}.c"), "-o", &obj, "-MD"]);
            s.assert_success(&out, what);
            assert!(
                &s.read(&obj) == r,
                "{what}: {obj} differs from the bare compile"
            );
            assert!(
                String::from_utf8_lossy(&s.read(&format!("{n}.d"))).contains("shared.h"),
                "{what}: dep file of {n}"
            );
        }
    };
    build("first build");
    assert_eq!(
        farm.completed(),
        SOURCES.len(),
        "every miss compiles on the farm, once:\n{}",
        farm.log_text()
    );
    assert_eq!(s.stat("cache_misses"), SOURCES.len() as u64);

    build("second build");
    assert_eq!(
        s.stat("cache_hits"),
        SOURCES.len() as u64,
        "second build all hits"
    );
    assert_eq!(
        farm.completed(),
        SOURCES.len(),
        "hits sent work to the farm:\n{}",
        farm.log_text()
    );
}

#[test]
fn misses_compile_on_distcc_and_hits_do_not_touch_the_farm() {
    farm_build(true);
}

/// Preprocessor mode: cachepot's own `gcc -E` runs locally (without the prefix); only the
/// compile goes to the farm.
#[test]
fn preprocessor_mode_misses_compile_on_distcc_too() {
    farm_build(false);
}

/// A farm that is down: distcc (with DISTCC_FALLBACK=0) fails, so the compile fails, as
/// it would without cachepot; nothing is cached, and once the prefix is gone the same
/// command compiles locally and is cached.
#[test]
fn a_dead_farm_fails_the_compile_like_distcc_alone_and_caches_nothing() {
    require!("gcc", "distcc");
    let mut s = Sandbox::new();
    write_sources(&s);
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .unwrap()
        .port(); // free: nothing listens there
    s.set_env("CACHEPOT_PREFIX_COMMAND", "distcc");
    s.set_env("DISTCC_HOSTS", format!("127.0.0.1:{port}/2"));
    s.set_env("DISTCC_FALLBACK", "0");
    fs::create_dir_all(s.root().join("distcc-state")).unwrap();
    s.set_env("DISTCC_DIR", s.root().join("distcc-state"));
    let args = ["-c", "one.c", "-o", "one.o"];
    let alone = s
        .command("distcc")
        .args(["gcc"])
        .args(args)
        .output()
        .unwrap();
    let out = s.cachepot(&["gcc", "-c", "one.c", "-o", "one.o"]);
    assert_eq!(
        out.status.code(),
        alone.status.code(),
        "same exit status as distcc alone"
    );
    assert!(
        !out.status.success(),
        "distcc with a dead farm and no fallback fails"
    );
    assert_eq!(
        s.stat("cache_misses") + s.stat("cache_hits"),
        0,
        "nothing cached"
    );
    s.remove_env("CACHEPOT_PREFIX_COMMAND");
    let out = s.compile("gcc", &args);
    s.assert_success(&out, "without the prefix");
    s.remove("one.o");
    let out = s.compile("gcc", &args);
    s.assert_success(&out, "hit");
    assert_eq!(s.stat("cache_hits"), 1);
}

/// A prefix command that cannot be started: the compile fails with 127 (as a shell's
/// "command not found"), and the message names the prefix command, not the compiler.
#[test]
fn missing_prefix_command_is_named() {
    require!("gcc");
    let mut s = Sandbox::new();
    s.hello(&GCC);
    s.set_env("CACHEPOT_PREFIX_COMMAND", "/nonexistent/distcc");
    let out = s.cachepot(&["gcc", "-c", "hello.c", "-o", "hello.o"]);
    assert_eq!(out.status.code(), Some(127));
    let err = lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/distcc") && err.contains("CACHEPOT_PREFIX_COMMAND"),
        "{err}"
    );
}
