//! Standard descriptors (the start-up of src/main.rs, which has its own C `main`): a
//! closed stderr, and a stderr pipe whose reader is gone. See docs/reliability.md.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

const WARNS: &str = "int f(int x) { int unused; return x; }\n";

/// A compile whose stderr is a closed descriptor: the files cachepot opens must not
/// take its place (the compiler's warning, replayed to "stderr", would land
/// in whatever file holds descriptor 2: here the debug log, which stays open all run).
/// The entry stored must be sound: the next run is a hit that replays the warning.
#[test]
fn closed_stderr_does_not_reach_cache_files() {
    let mut s = Sandbox::new();
    if !require_tool("gcc") {
        return;
    }
    let log = s.path("debug.log");
    s.set_env("CACHEPOT_LOG", "debug")
        .set_env("CACHEPOT_ERROR_LOG", &log);
    s.write("w.c", WARNS);
    let status = s
        .command("sh")
        .args(["-c", "exec \"$0\" gcc -Wall -c w.c -o w.o 2>&-", CACHEPOT])
        .status()
        .unwrap();
    assert!(status.success(), "{status:?}");
    let logged = fs::read_to_string(&log).unwrap();
    assert!(logged.contains("w.c"), "the log was written: {logged}");
    assert!(
        !logged.contains("unused variable"),
        "the warning went into the log file:\n{logged}"
    );
    assert_eq!(s.stat("cache_misses"), 1);
    let again = s.compile("gcc", &["-Wall", "-c", "w.c", "-o", "w.o"]);
    assert!(again.status.success());
    assert_eq!(
        s.stat("cache_hits"),
        1,
        "the entry stored with closed fds is sound"
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("unused variable"), "{stderr}");
    assert_eq!(s.stat("cache_errors"), 0);
}

/// A hit that replays a warning into a pipe whose reader has gone: the write fails
/// (EPIPE) instead of SIGPIPE killing cachepot, and the object is restored.
#[test]
fn stderr_pipe_without_a_reader_is_not_fatal() {
    use std::os::fd::FromRawFd;
    let s = Sandbox::new();
    if !require_tool("gcc") {
        return;
    }
    s.write("w.c", WARNS);
    assert!(s
        .compile("gcc", &["-Wall", "-c", "w.c", "-o", "w.o"])
        .status
        .success());
    s.remove("w.o");
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here alone.
    let (reader, writer) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    drop(reader);
    let status = s
        .cachepot_cmd()
        .args(["gcc", "-Wall", "-c", "w.c", "-o", "w.o"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(writer))
        .status()
        .unwrap();
    assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
    assert!(status.success(), "{status:?}");
    assert_eq!(s.stat("cache_hits"), 1);
    assert!(s.exists("w.o"));
}
