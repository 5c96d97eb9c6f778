//! Logging to a file only: the cache never writes its own chatter to the compiler's
//! stdout or stderr (that would change a build's output). `CACHEPOT_ERROR_LOG` names the
//! file (default level warn); `CACHEPOT_LOG` sets the level, and without a file it logs to
//! `<cache dir>/cachepot.log`. The file is opened only when a line is actually written,
//! so a quiet hit costs nothing; each line is one `write` on an O_APPEND descriptor, so
//! lines of parallel invocations never interleave.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

struct FileLogger {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl log::Log for FileLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        // ureq's debug lines dump every request header; it masks only Authorization and
        // Cookie, not S3's x-amz-security-token (a secret). Our backends log what matters.
        if m.target().starts_with("ureq") && m.level() > log::Level::Info {
            return false;
        }
        m.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Ok(mut guard) = self.file.lock() else {
            return;
        };
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = crate::util::fs::create_dir_all_private(dir);
            }
            *guard = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
                .ok();
        }
        if let Some(f) = guard.as_mut() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let line = format!(
                "[{now:.6} {} {}] {}\n",
                std::process::id(),
                record.level(),
                record.args()
            );
            let _ = f.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

pub fn init(level: log::LevelFilter, path: Option<PathBuf>, cache_dir: &std::path::Path) {
    if level == log::LevelFilter::Off {
        return;
    }
    let path = path.unwrap_or_else(|| cache_dir.join("cachepot.log"));
    let logger = Box::new(FileLogger {
        path,
        file: Mutex::new(None),
    });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
