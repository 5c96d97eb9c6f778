//! Running the real compiler: captured (a miss, whose output we store and replay),
//! replaced (a non-cacheable command: `exec`, so signals, the terminal and exit status
//! are the compiler's own), or for preprocessing. stdin and every inherited fd (make's
//! and cargo's jobserver pipes among them) pass through untouched.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

pub struct Captured {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Run and capture stdout and stderr (read concurrently by std, no deadlock on full pipes).
pub fn run_captured(
    program: &Path,
    args: &[OsString],
    prefix: Option<&[String]>,
    stdin_null: bool,
) -> io::Result<Captured> {
    let mut cmd = match prefix {
        Some([first, rest @ ..]) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        _ => Command::new(program),
    };
    cmd.args(args).stdin(if stdin_null {
        Stdio::null()
    } else {
        Stdio::inherit()
    });
    let out = cmd.output()?;
    Ok(Captured {
        status: out.status,
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

/// Replace this process with the compiler. Returns only if exec failed.
pub fn exec_replace(program: &Path, args: &[OsString]) -> io::Error {
    Command::new(program).args(args).exec()
}

/// The exit code a shell would report for a status (128 + signal for a killed child).
pub fn exit_code(status: &ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Write replayed output; a closed pipe on our side is not the cache's fault to report.
pub fn replay(stdout: &[u8], stderr: &[u8]) {
    let _ = io::stdout().write_all(stdout);
    let _ = io::stdout().flush();
    let _ = io::stderr().write_all(stderr);
    let _ = io::stderr().flush();
}

/// Run and capture like [`run_captured`], but forward stdout and stderr as they arrive:
/// cargo reads rustc's artifact notifications from stderr while rustc still runs, to
/// start dependent crates early (pipelining).
pub fn run_tee(
    program: &Path,
    args: &[OsString],
    prefix: Option<&[String]>,
) -> io::Result<Captured> {
    use std::io::Read;
    let mut cmd = match prefix {
        Some([first, rest @ ..]) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        _ => Command::new(program),
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    fn pump(mut from: impl Read, to: fn() -> Box<dyn Write>) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = [0u8; 8192];
        let mut out = to();
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
        }
        all
    }
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let t = std::thread::spawn(move || pump(err, || Box::new(io::stderr())));
    let stdout = pump(out, || Box::new(io::stdout()));
    let stderr = t.join().unwrap_or_default();
    let status = child.wait()?;
    Ok(Captured {
        status,
        stdout,
        stderr,
    })
}
