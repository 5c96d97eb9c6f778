//! Remote storage backends, each one file behind [`Storage`], and the on-disk health
//! marker that makes a failing remote cheap.
//!
//! Since there is no server process, "remote X is down" must survive between
//! invocations: after a failed request a marker `<cache dir>/remote-health/<name>`
//! holding a unix time makes every invocation skip that remote until then
//! ([`BACKOFF`]), so a dead remote costs one timeout per back-off period, not one per
//! compile. Keys on the servers are the hex cache keys (results and manifests alike:
//! their keys are distinct hashes), never paths.

pub mod azure;
pub mod gcs;
pub mod http;
pub mod memcached;
pub mod redis;
pub mod s3;
pub mod webdav;

use super::Storage;
use crate::config::Config;
use crate::error::Fatal;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a remote is skipped after a failure: long enough that a build of thousands
/// of files pays a handful of timeouts, short enough that a restarted server is used
/// again within the minute.
pub const BACKOFF: Duration = Duration::from_secs(30);

/// The remotes a configuration names, in lookup order. A URL that does not parse is a
/// configuration error.
pub fn from_config(cfg: &Config) -> Result<Vec<Box<dyn Storage>>, Fatal> {
    let mut out: Vec<Box<dyn Storage>> = Vec::new();
    let timeout = cfg.remote_timeout;
    if let Some(url) = &cfg.redis {
        out.push(Box::new(redis::Redis::new(url, timeout).map_err(|e| Fatal(format!("cachepot: invalid value for {}: {e}: expected redis://[:password@]host:port[/db] or rediss://...", cfg.place_of("redis"))))?));
    }
    if let Some(list) = &cfg.memcached {
        out.push(Box::new(memcached::Memcached::new(list, timeout).map_err(|e| Fatal(format!("cachepot: invalid value for {}: {e}: expected tcp://host:port[,tcp://host:port...]", cfg.place_of("memcached"))))?));
    }
    if let Some(url) = &cfg.webdav_endpoint {
        let auth = webdav::Auth::from_config(cfg);
        out.push(Box::new(webdav::WebDav::new(url, auth, timeout).map_err(
            |e| {
                Fatal(format!(
                    "cachepot: invalid value for {}: {e}: expected http(s)://host[:port]/path/",
                    cfg.place_of("webdav_endpoint")
                ))
            },
        )?));
    }
    if let Some(bucket) = &cfg.bucket {
        out.push(Box::new(s3::S3::from_config(bucket, cfg).map_err(|e| {
            Fatal(format!(
                "cachepot: invalid S3 settings (CACHEPOT_BUCKET...): {e}"
            ))
        })?));
    }
    if let Some(bucket) = &cfg.gcs_bucket {
        // The error names the setting at fault (bucket, endpoint, key file...).
        out.push(Box::new(
            gcs::Gcs::from_config(bucket, cfg).map_err(|e| Fatal(format!("cachepot: {e}")))?,
        ));
    }
    if let Some(conn) = &cfg.azure_connection_string {
        // The error names the setting and never quotes the account key.
        out.push(Box::new(
            azure::Azure::from_config(conn, cfg).map_err(|e| Fatal(format!("cachepot: {e}")))?,
        ));
    }
    Ok(out)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn marker(cache_dir: &Path, name: &str) -> PathBuf {
    cache_dir.join("remote-health").join(name)
}

/// Whether `name` is in its back-off period.
pub fn skipped(cache_dir: &Path, name: &str) -> bool {
    match crate::util::fs::read_record(&marker(cache_dir, name)) {
        Ok(t) => t
            .trim()
            .parse::<u64>()
            .is_ok_and(|until| now_secs() < until),
        Err(_) => false,
    }
}

/// Record a failure of `name`: skip it for [`BACKOFF`].
pub fn mark_down(cache_dir: &Path, name: &str) {
    let m = marker(cache_dir, name);
    let until = now_secs() + BACKOFF.as_secs();
    let r =
        crate::util::fs::create_dir_all_private(m.parent().expect("has parent")).and_then(|_| {
            crate::util::fs::atomic_write(
                &m,
                until.to_string().as_bytes(),
                crate::util::fs::file_mode(),
            )
        });
    if let Err(e) = r {
        log::warn!("cannot write remote health marker {}: {e}", m.display());
    }
}

/// The key name on a server.
pub fn object_name(key: &crate::hash::Key) -> String {
    format!("cachepot:{}", key.hex())
}

/// The object name in a bucket or container (GCS, Azure Blob): `cachepot/<2 hex>/<64 hex>`.
/// The prefix keeps cachepot's objects apart from anything else in a shared bucket; the
/// 2-hex level lets a lifecycle rule or a listing work on 1/256 of the objects.
pub fn object_path(key: &crate::hash::Key) -> String {
    let hex = key.hex();
    format!("cachepot/{}/{}", &hex[..2], hex)
}
