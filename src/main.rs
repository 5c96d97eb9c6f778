//! cachepot: a daemonless compiler cache. `argv` -> maintenance command or wrapped
//! compile (cli.rs) -> exit status. The modules live in the library (lib.rs); see
//! ARCHITECTURE.md for the map of the code and pipeline.rs for the flow of a cached
//! compile.
//!
//! The C `main` is ours (`no_main`): every cached compile is a new process, and std's
//! runtime start-up read `/proc/self/maps` (glibc's `pthread_getattr_np`, for the main
//! thread's stack guard) and set up an alternate signal stack, about 6% of a C hit's
//! instructions and 10 system calls. What of it we rely on is done here: the standard
//! descriptors are made valid, and SIGPIPE is ignored. Arguments are read from `argv`
//! (std's `args_os` would be empty with musl without std's start-up). Without std's
//! handler a stack overflow ends in a plain SIGSEGV rather than a message.

// The test harness of `cargo test` brings its own `main`: ours only in real builds.
#![cfg_attr(not(test), no_main)]

/// With musl, whose malloc maps and unmaps memory every few blocks, blocks come from a
/// 64 MiB bump region instead (src/arena.rs). glibc's malloc is kept: the region made
/// no difference to it but more page faults.
#[cfg(all(not(test), target_env = "musl"))]
#[global_allocator]
static ALLOC: cachepot::arena::Arena<{ 64 << 20 }> = cachepot::arena::Arena::new();

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(
    argc: std::os::raw::c_int,
    argv: *const *const std::os::raw::c_char,
) -> std::os::raw::c_int {
    start_up();
    let code = cachepot::cli::main(args(argc, argv));
    // Flushes stdout, as returning from a std `main` would.
    std::process::exit(code);
}

/// The arguments as the C runtime passed them to `main`: std reads them by itself only
/// on glibc, which also hands them to initialisers.
#[cfg(not(test))]
fn args(
    argc: std::os::raw::c_int,
    argv: *const *const std::os::raw::c_char,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in `argv`,
            // unchanged for the life of the process.
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            std::ffi::OsStr::from_bytes(arg.to_bytes()).to_os_string()
        })
        .collect()
}

/// What std's start-up did that cachepot needs, and malloc's settings for a short life.
#[cfg_attr(test, allow(dead_code))]
fn start_up() {
    // A closed stdin, stdout or stderr would be reused by the next file we open (a cache
    // entry), and a message meant for stderr would land in it: open /dev/null instead.
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd for the duration of the call.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled != 0 {
        for p in fds {
            let closed = if polled < 0 {
                // SAFETY: F_GETFD on any integer is harmless; EBADF means closed.
                let flags = unsafe { libc::fcntl(p.fd, libc::F_GETFD) };
                flags == -1
            } else {
                p.revents & libc::POLLNVAL != 0
            };
            if closed {
                // SAFETY: a constant NUL-terminated path; open returns the lowest free
                // descriptor, which is the closed one (they are filled in order).
                let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
                if fd != p.fd {
                    // No /dev/null, or descriptors out of order: give up as std does.
                    std::process::abort();
                }
            }
        }
    }
    // A reader that went away makes writes fail with EPIPE instead of killing us
    // mid-restore. Children get the default back: std's spawn and exec reset SIGPIPE.
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // glibc only (musl has no such settings; its build uses src/arena.rs instead).
    // The process lives for one compile: the heap grows in large steps (address space
    // only; pages still come when first touched) and is never given back, where glibc
    // moved the break about 128 KiB at a time and trimmed it on large frees (a hit made
    // eight `brk` calls), then faulted the same pages in again. A lua hit: A/B wall
    // 0.977 (20 x 100 paired hits); a LevelDB miss: 687 -> 660 page faults, CPU
    // unchanged.
    // SAFETY: mallopt may be called at any time; it only changes malloc's tuning.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 8 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
