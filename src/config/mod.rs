//! Configuration: built-in defaults, overridden by a TOML file, overridden by the
//! environment; every value remembers where it came from (for `--show-config`).
//!
//! The table [`SETTINGS`] is the single list of settings: its key is the TOML key and
//! `CACHEPOT_<KEY upper-cased>` the environment variable. A value that does not parse is a
//! [`Fatal`] naming the setting and the expected form (exit 2). Unknown TOML keys are
//! logged and ignored so that a newer config file does not break an older binary.
//! This module does no caching work; it only turns text into a [`Config`].

use crate::error::Fatal;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    ConfigFile,
    Environment,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::ConfigFile => "config file",
            Origin::Environment => "environment",
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Path,
    Size,
    Switch,
    PathList,
    Level,
    Text,
    Secret,
    Seconds,
    Level0to19,
    /// Words split as a shell splits them (no shell runs).
    Command,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Path => "a path",
            Kind::Size => "a size such as 10G, 500M, 64Mi or a number of bytes",
            Kind::Switch => "one of 1/true/yes/on or 0/false/no/off",
            Kind::PathList => "one or more absolute paths separated by ':'",
            Kind::Level => "one of off, error, warn, info, debug, trace",
            Kind::Text | Kind::Secret => "a string",
            Kind::Seconds => "a number of seconds such as 2 or 0.5",
            Kind::Level0to19 => "an integer from 0 to 19",
            Kind::Command => "words split as a shell would, with balanced quotes, such as distcc or \"/opt/my tools/icecc\"",
        }
    }
}

struct Setting {
    key: &'static str,
    kind: Kind,
    /// `None`: unset by default.
    default: Option<&'static str>,
    help: &'static str,
}

/// Every setting. The environment variable is `CACHEPOT_` + the key upper-cased.
const SETTINGS: &[Setting] = &[
    Setting {
        key: "dir",
        kind: Kind::Path,
        default: None,
        help: "local cache directory (default: $XDG_CACHE_HOME/cachepot or ~/.cache/cachepot)",
    },
    Setting {
        key: "cache_size",
        kind: Kind::Size,
        default: Some("10G"),
        help: "size bound of the local cache",
    },
    Setting {
        key: "recache",
        kind: Kind::Switch,
        default: Some("false"),
        help: "do not read the cache; compile and overwrite",
    },
    Setting {
        key: "basedir",
        kind: Kind::PathList,
        default: None,
        help: "paths under these directories are made relative to the working directory",
    },
    Setting {
        key: "direct",
        kind: Kind::Switch,
        default: Some("true"),
        help: "direct mode (skip the preprocessor on hits)",
    },
    Setting {
        key: "hash_dir",
        kind: Kind::Switch,
        default: Some("true"),
        help: "hash the working directory when debug info or coverage embed it",
    },
    Setting {
        key: "log",
        kind: Kind::Level,
        default: None,
        help: "log level (default: warn when a log file is set, else off)",
    },
    Setting {
        key: "error_log",
        kind: Kind::Path,
        default: None,
        help: "file that log lines are appended to",
    },
    Setting {
        key: "prefix_command",
        kind: Kind::Command,
        default: None,
        help: "command run in front of the compiler for the compile step of a miss (e.g. distcc)",
    },
    Setting {
        key: "hmac_key",
        kind: Kind::Secret,
        default: None,
        help: "shared secret authenticating cache entries",
    },
    Setting {
        key: "file_clone",
        kind: Kind::Switch,
        default: Some("false"),
        help: "restore objects as reflinks (copy-on-write clones) of an uncompressed copy in the cache, where the file system can",
    },
    Setting {
        key: "shared_group",
        kind: Kind::Switch,
        default: Some("false"),
        help: "cache shared by a Unix group: directories 2770 and files 660 instead of owner-only",
    },
    Setting {
        key: "hard_link",
        kind: Kind::Switch,
        default: Some("false"),
        help: "restore objects as hard links to an uncompressed copy in the cache (never modify objects in place)",
    },
    Setting {
        key: "redis",
        kind: Kind::Text,
        default: None,
        help: "Redis remote cache: redis://[:password@]host:port[/db] (rediss:// for TLS)",
    },
    Setting {
        key: "memcached",
        kind: Kind::Text,
        default: None,
        help: "Memcached remote cache: tcp://host:port (several separated by commas)",
    },
    Setting {
        key: "webdav_endpoint",
        kind: Kind::Text,
        default: None,
        help: "WebDAV/HTTP remote cache (GET/PUT), e.g. http://host:8080/cache/",
    },
    Setting {
        key: "webdav_username",
        kind: Kind::Text,
        default: None,
        help: "WebDAV basic-auth user",
    },
    Setting {
        key: "webdav_password",
        kind: Kind::Secret,
        default: None,
        help: "WebDAV basic-auth password",
    },
    Setting {
        key: "webdav_token",
        kind: Kind::Secret,
        default: None,
        help: "WebDAV bearer token",
    },
    Setting {
        key: "bucket",
        kind: Kind::Text,
        default: None,
        help: "S3 remote cache: the bucket name",
    },
    Setting {
        key: "endpoint",
        kind: Kind::Text,
        default: None,
        help: "S3 endpoint, host:port or a URL (minio-like servers); default: AWS for the region",
    },
    Setting {
        key: "s3_use_ssl",
        kind: Kind::Switch,
        default: Some("true"),
        help: "S3: https (true) or http (false) for an endpoint given without a scheme",
    },
    Setting {
        key: "s3_key_prefix",
        kind: Kind::Text,
        default: None,
        help: "S3: prefix of every object name, e.g. team/cachepot/",
    },
    Setting {
        key: "region",
        kind: Kind::Text,
        default: None,
        help: "S3 region (default us-east-1)",
    },
    Setting {
        key: "s3_no_credentials",
        kind: Kind::Switch,
        default: Some("false"),
        help: "S3: anonymous requests (a public bucket), no credential lookup",
    },
    Setting {
        key: "gcs_bucket",
        kind: Kind::Text,
        default: None,
        help: "Google Cloud Storage remote cache: the bucket name",
    },
    Setting {
        key: "gcs_key_path",
        kind: Kind::Path,
        default: None,
        help: "GCS: service-account JSON key file used to sign token requests",
    },
    Setting {
        key: "gcs_credentials_url",
        kind: Kind::Text,
        default: None,
        help: "GCS: URL that returns an OAuth access token (instead of a key file)",
    },
    Setting {
        key: "gcs_rw_mode",
        kind: Kind::Text,
        default: None,
        help: "GCS: READ_ONLY or READ_WRITE (default READ_WRITE with credentials, READ_ONLY without)",
    },
    Setting {
        key: "gcs_endpoint",
        kind: Kind::Text,
        default: None,
        help: "GCS endpoint, host:port or a URL (an emulator); default: Google's",
    },
    Setting {
        key: "azure_connection_string",
        kind: Kind::Secret,
        default: None,
        help: "Azure Blob remote cache: the storage account's connection string (SharedKey)",
    },
    Setting {
        key: "azure_blob_container",
        kind: Kind::Text,
        default: None,
        help: "Azure Blob: the container (it must exist)",
    },
    Setting {
        key: "remote_read_only",
        kind: Kind::Switch,
        default: Some("false"),
        help: "read from the remote caches, never write to them",
    },
    Setting {
        key: "remote_timeout",
        kind: Kind::Seconds,
        default: Some("2"),
        help: "timeout for remote caches in seconds: connecting, and each read or write",
    },
    Setting {
        key: "compression_level",
        kind: Kind::Level0to19,
        default: Some("1"),
        help: "zstd level for new results, 0 to store them raw (manifests are stored raw)",
    },
    Setting {
        key: "compression_min_size",
        kind: Kind::Size,
        default: Some("64Ki"),
        help: "results smaller than this are stored raw: a hit on them skips decompression",
    },
];

/// The resolved configuration of one invocation.
#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub cache_size: u64,
    pub recache: bool,
    /// CACHEPOT_BASEDIR: absolute paths under these are keyed relative to the cwd.
    pub basedirs: Vec<PathBuf>,
    pub direct: bool,
    pub hash_dir: bool,
    pub log_level: log::LevelFilter,
    pub error_log: Option<PathBuf>,
    pub prefix_command: Option<Vec<String>>,
    pub hmac_key: Option<Vec<u8>>,
    pub compression_level: i32,
    /// Results whose payload is smaller than this are stored raw.
    pub compression_min_size: u64,
    pub hard_link: bool,
    pub shared_group: bool,
    pub file_clone: bool,
    pub redis: Option<String>,
    pub memcached: Option<String>,
    pub webdav_endpoint: Option<String>,
    pub webdav_username: Option<String>,
    pub webdav_password: Option<String>,
    pub webdav_token: Option<String>,
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub s3_use_ssl: bool,
    pub s3_key_prefix: Option<String>,
    pub region: Option<String>,
    pub s3_no_credentials: bool,
    pub gcs_bucket: Option<String>,
    pub gcs_key_path: Option<PathBuf>,
    pub gcs_credentials_url: Option<String>,
    /// CACHEPOT_GCS_RW_MODE: Some(true) = READ_ONLY, Some(false) = READ_WRITE.
    pub gcs_read_only: Option<bool>,
    pub gcs_endpoint: Option<String>,
    pub azure_connection_string: Option<String>,
    pub azure_blob_container: Option<String>,
    pub remote_read_only: bool,
    pub remote_timeout: std::time::Duration,
    /// The config file consulted (it may not exist).
    pub config_file: PathBuf,
    /// Raw value and origin of every setting, for `--show-config`.
    pub shown: Vec<(String, String, Origin)>,
    /// Problems worth a log line once logging is set up (unknown config keys...).
    pub warnings: Vec<String>,
}

impl Config {
    /// Where a setting was given, as an error message should name it: its environment
    /// variable, or its key in the config file.
    pub fn place_of(&self, key: &str) -> String {
        match self
            .shown
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, o)| o)
        {
            Some(Origin::ConfigFile) => format!("{key} in {}", self.config_file.display()),
            _ => env_name(key),
        }
    }
}

/// Reads the environment through a closure so that tests can supply their own.
pub fn load() -> Result<Config, Fatal> {
    load_from(&|name: &str| crate::util::env::var_os(name))
}

pub fn load_from(env: &dyn Fn(&str) -> Option<OsString>) -> Result<Config, Fatal> {
    let home = env("HOME").map(PathBuf::from);
    let config_file = match env("CACHEPOT_CONF").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => platform_dir(env, "XDG_CONFIG_HOME", home.as_deref(), ".config")
            .join("cachepot")
            .join("config.toml"),
    };
    let text = read_config_file(&config_file)?;
    resolve(env, &config_file, text.as_deref())
}

/// The configuration from the environment and the text of the config file (`None`: no
/// file), without reading anything: the pure half of [`load_from`], which the fuzz
/// targets drive. `config_file` only names the file in messages and `--show-config`.
pub fn resolve(
    env: &dyn Fn(&str) -> Option<OsString>,
    config_file: &Path,
    text: Option<&str>,
) -> Result<Config, Fatal> {
    let home = env("HOME").map(PathBuf::from);
    let config_file = config_file.to_path_buf();
    let (file_values, warnings) = match text {
        Some(t) => parse_config_text(t, &config_file)?,
        None => Default::default(),
    };

    let mut raw: BTreeMap<&'static str, (String, Origin)> = BTreeMap::new();
    for s in SETTINGS {
        if let Some(d) = s.default {
            raw.insert(s.key, (d.to_string(), Origin::Default));
        }
        if let Some(v) = file_values.get(s.key) {
            raw.insert(s.key, (v.clone(), Origin::ConfigFile));
        }
        let var = env_name(s.key);
        if let Some(v) = env(&var) {
            // An empty variable counts as unset: CI systems often export empty values.
            if !v.is_empty() {
                let v = v.into_string().map_err(|_| {
                    fatal(format!(
                        "cachepot: {var} is not valid UTF-8; expected {}",
                        s.kind.expected()
                    ))
                })?;
                raw.insert(s.key, (v, Origin::Environment));
            }
        }
    }

    let get = |key: &str| raw.get(key).map(|(v, o)| (v.as_str(), *o));
    let mut shown = Vec::new();
    for s in SETTINGS {
        if let Some((v, o)) = get(s.key) {
            let v = if s.key == "redis" {
                // Show where it points, not the password in it.
                crate::storage::remote::redis::mask_url(v)
            } else if matches!(s.kind, Kind::Secret) {
                "********".to_string()
            } else {
                v.to_string()
            };
            shown.push((s.key.to_string(), v, o));
        }
    }
    let setting = |key: &'static str| {
        SETTINGS
            .iter()
            .find(|s| s.key == key)
            .expect("key is in SETTINGS")
    };
    let bad = |key: &'static str, origin: Origin, value: &str| {
        let s = setting(key);
        let place = match origin {
            Origin::Environment => env_name(key),
            Origin::ConfigFile => format!("{} in {}", key, config_file.display()),
            Origin::Default => key.to_string(),
        };
        fatal(format!(
            "cachepot: invalid value '{value}' for {place}: expected {}",
            s.kind.expected()
        ))
    };
    let switch = |key: &'static str| -> Result<bool, Fatal> {
        let (v, o) = get(key).expect("switches have defaults");
        parse_switch(v).ok_or_else(|| bad(key, o, v))
    };

    let dir = match get("dir") {
        Some((v, _)) => PathBuf::from(v),
        None => platform_dir(env, "XDG_CACHE_HOME", home.as_deref(), ".cache").join("cachepot"),
    };
    let (v, o) = get("cache_size").expect("has default");
    let cache_size = parse_size(v).ok_or_else(|| bad("cache_size", o, v))?;
    let basedirs = match get("basedir") {
        None => Vec::new(),
        Some((v, o)) => {
            let dirs: Vec<PathBuf> = v
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect();
            if dirs.iter().any(|d| !d.is_absolute()) {
                return Err(bad("basedir", o, v));
            }
            dirs
        }
    };
    let error_log = get("error_log").map(|(v, _)| PathBuf::from(v));
    let log_level = match get("log") {
        Some((v, o)) => parse_level(v).ok_or_else(|| bad("log", o, v))?,
        None if error_log.is_some() => log::LevelFilter::Warn,
        None => log::LevelFilter::Off,
    };
    let prefix_command = match get("prefix_command") {
        None => None,
        Some((v, o)) => {
            let words = shlex::split(v).ok_or_else(|| bad("prefix_command", o, v))?;
            if words.is_empty() {
                None
            } else {
                Some(words)
            }
        }
    };
    let text = |key: &str| get(key).map(|(v, _)| v.to_string());
    let (v, o) = get("remote_timeout").expect("has default");
    let remote_timeout = v
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 3600.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| bad("remote_timeout", o, v))?;
    let gcs_read_only = match get("gcs_rw_mode") {
        None => None,
        Some((v, o)) => match v.trim().to_ascii_uppercase().as_str() {
            "READ_ONLY" => Some(true),
            "READ_WRITE" => Some(false),
            _ => {
                return Err(fatal(format!(
                    "cachepot: invalid value '{v}' for {}: expected READ_ONLY or READ_WRITE",
                    match o {
                        Origin::ConfigFile => format!("gcs_rw_mode in {}", config_file.display()),
                        _ => env_name("gcs_rw_mode"),
                    }
                )))
            }
        },
    };
    let (v, o) = get("compression_level").expect("has default");
    let compression_level = v
        .parse::<i32>()
        .ok()
        .filter(|l| (0..=19).contains(l))
        .ok_or_else(|| bad("compression_level", o, v))?;
    let (v, o) = get("compression_min_size").expect("has default");
    let compression_min_size = parse_size(v).ok_or_else(|| bad("compression_min_size", o, v))?;

    Ok(Config {
        dir,
        cache_size,
        recache: switch("recache")?,
        basedirs,
        direct: switch("direct")?,
        hash_dir: switch("hash_dir")?,
        log_level,
        error_log,
        prefix_command,
        hmac_key: get("hmac_key").map(|(v, _)| v.as_bytes().to_vec()),
        compression_level,
        compression_min_size,
        hard_link: switch("hard_link")?,
        shared_group: switch("shared_group")?,
        file_clone: switch("file_clone")?,
        redis: text("redis"),
        memcached: text("memcached"),
        webdav_endpoint: text("webdav_endpoint"),
        webdav_username: text("webdav_username"),
        webdav_password: text("webdav_password"),
        webdav_token: text("webdav_token"),
        bucket: text("bucket"),
        endpoint: text("endpoint"),
        s3_use_ssl: switch("s3_use_ssl")?,
        s3_key_prefix: text("s3_key_prefix"),
        region: text("region"),
        s3_no_credentials: switch("s3_no_credentials")?,
        gcs_bucket: text("gcs_bucket"),
        gcs_key_path: get("gcs_key_path").map(|(v, _)| PathBuf::from(v)),
        gcs_credentials_url: text("gcs_credentials_url"),
        gcs_read_only,
        gcs_endpoint: text("gcs_endpoint"),
        azure_connection_string: text("azure_connection_string"),
        azure_blob_container: text("azure_blob_container"),
        remote_read_only: switch("remote_read_only")?,
        remote_timeout,
        config_file,
        shown,
        warnings,
    })
}

fn env_name(key: &str) -> String {
    format!("CACHEPOT_{}", key.to_ascii_uppercase())
}

fn platform_dir(
    env: &dyn Fn(&str) -> Option<OsString>,
    xdg: &str,
    home: Option<&Path>,
    fallback: &str,
) -> PathBuf {
    if let Some(x) = env(xdg).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return p;
        }
    }
    match home {
        Some(h) => h.join(fallback),
        None => std::env::temp_dir().join(format!("cachepot-{}", unsafe_uid())),
    }
}

fn unsafe_uid() -> u32 {
    // SAFETY: getuid cannot fail and has no preconditions.
    unsafe { libc::getuid() }
}

/// A configuration error as one line (see [`one_line`]).
fn fatal(msg: String) -> Fatal {
    Fatal(one_line(msg))
}

/// A value, key or path quoted in a message may hold a newline or another control
/// character (an environment variable can hold anything): show those escaped, so that
/// the message stays one line on stderr or in the log.
fn one_line(msg: String) -> String {
    if !msg.chars().any(char::is_control) {
        return msg;
    }
    msg.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A config file is a few lines; a larger one (or an endless device) is a mistake.
const CONFIG_LIMIT: u64 = 1 << 20;

/// The config file's text; a missing file is `None` (an empty config).
fn read_config_file(path: &Path) -> Result<Option<String>, Fatal> {
    // Bounded and non-blocking, but not only regular files: `/dev/null` is a common way
    // to say "no config file".
    let read = || -> std::io::Result<String> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let mut text = String::new();
        f.take(CONFIG_LIMIT + 1).read_to_string(&mut text)?;
        if text.len() as u64 > CONFIG_LIMIT {
            return Err(std::io::Error::other("larger than 1 MiB"));
        }
        Ok(text)
    };
    match read() {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fatal(format!(
            "cachepot: cannot read config file {}: {e}",
            path.display()
        ))),
    }
}

/// The TOML file's settings as key -> textual value, and warnings about ignored keys.
type FileValues = (BTreeMap<String, String>, Vec<String>);

fn parse_config_text(text: &str, path: &Path) -> Result<FileValues, Fatal> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let msg = e.message().replace('\n', " ");
        fatal(format!(
            "cachepot: config file {} is not valid TOML ({msg}): fix or remove it",
            path.display()
        ))
    })?;
    let mut out = BTreeMap::new();
    let mut unknown = Vec::new();
    for (k, v) in table {
        if SETTINGS.iter().all(|s| s.key != k) {
            unknown.push(one_line(format!(
                "unknown key '{k}' in {} ignored",
                path.display()
            )));
            continue;
        }
        let text = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                let parts: Option<Vec<String>> = items
                    .into_iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect();
                match parts {
                    Some(p) => p.join(":"),
                    None => {
                        return Err(fatal(format!(
                            "cachepot: {k} in {} must be a string or a list of strings",
                            path.display()
                        )))
                    }
                }
            }
            other => {
                return Err(fatal(format!(
                    "cachepot: {k} in {} has an unsupported value of type {}",
                    path.display(),
                    other.type_str()
                )))
            }
        };
        out.insert(k, text);
    }
    Ok((out, unknown))
}

/// `1/true/yes/on` and `0/false/no/off`, any case.
pub fn parse_switch(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// ccache's size syntax: K/M/G/T decimal, Ki/Mi/Gi/Ti binary, bare number = bytes.
/// A trailing `B` is accepted (`10GB`, `64MiB`); fractions too (`1.5G`).
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    if num.is_empty() || num.starts_with('.') {
        return None;
    }
    let unit = unit.trim();
    let unit = unit.strip_suffix(['B', 'b']).unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" | "K" => 1e3,
        "m" | "M" => 1e6,
        "g" | "G" => 1e9,
        "t" | "T" => 1e12,
        "Ki" | "ki" | "KI" => 1024.0,
        "Mi" | "mi" | "MI" => 1024.0 * 1024.0,
        "Gi" | "gi" | "GI" => 1024.0 * 1024.0 * 1024.0,
        "Ti" | "ti" | "TI" => 1024.0f64.powi(4),
        _ => return None,
    };
    if unit.is_empty() {
        // Bytes, exactly: through f64, numbers past 2^53 would be rounded.
        return num.parse::<u64>().ok();
    }
    let n: f64 = num.parse().ok()?;
    let bytes = n * mult;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return None;
    }
    Some(bytes.round() as u64)
}

fn parse_level(v: &str) -> Option<log::LevelFilter> {
    match v.trim().to_ascii_lowercase().as_str() {
        "off" | "0" | "none" => Some(log::LevelFilter::Off),
        "error" => Some(log::LevelFilter::Error),
        "warn" | "warning" => Some(log::LevelFilter::Warn),
        "info" | "1" => Some(log::LevelFilter::Info),
        "debug" => Some(log::LevelFilter::Debug),
        "trace" => Some(log::LevelFilter::Trace),
        _ => None,
    }
}

/// Human-readable size, as `--show-stats` prints it.
pub fn format_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// The help text of every setting, for `--help`.
pub fn settings_help() -> String {
    let mut s = format!(
        "  {:<28} {}\n",
        "CACHEPOT_CONF",
        "the config file (default: <config dir>/cachepot/config.toml; --show-config names it)"
    );
    for set in SETTINGS {
        let d = set
            .default
            .map(|d| format!(" [default: {d}]"))
            .unwrap_or_default();
        s.push_str(&format!("  {:<28} {}{}\n", env_name(set.key), set.help, d));
    }
    s
}

#[cfg(test)]
mod tests;
