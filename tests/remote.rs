//! Remote storage against real servers on 127.0.0.1: Redis, Memcached, nginx WebDAV,
//! moto's S3 server, gcp-storage-emulator (GCS) and Azurite (Azure Blob), each started by
//! the test itself on a free port in a temporary directory and killed when the test ends
//! (see `Server`). Recipes: shared/services.md sections 1 to 6; scripts/setup.sh installs
//! the servers. Small loopback HTTP servers of the tests' own (`common::http::HttpServer`)
//! play the GCS token endpoint and credentials URL and the S3 credential services, and, as
//! recording proxies, show what cachepot sends to the emulator and to moto.
//!
//! What is checked, for every backend:
//! - machine A (own cache dir) compiles N sources: misses, each entry written to the
//!   server (the server's keys are exactly A's local entry names); machine B (empty cache
//!   dir) compiles the same sources: all remote hits with objects byte-identical to the
//!   bare compiler's; a third run on B is a local hit;
//! - CACHEPOT_REMOTE_READ_ONLY=1 reads but stores nothing;
//! - a corrupt, truncated or swapped value on the server is a miss (cache_errors), the
//!   build is correct, and the miss rewrites a good value;
//! - a dead remote (nothing listening, or the server stopped between two builds, or a
//!   server that accepts and never answers) never fails a build, is counted in
//!   remote_errors, is skipped afterwards through the `remote-health` marker, and costs
//!   at most a few seconds over a 50-file build;
//! - credentials (redis password + db, WebDAV basic and bearer, GCS service-account key
//!   and credentials URL, Azure SharedKey) work, wrong ones are a counted fault, and
//!   secrets appear neither in --show-config nor in the log;
//! - URLs that do not parse are configuration errors (exit 2, one line naming the setting).
//! - S3: key prefix, missing bucket, region in the signature, anonymous mode, credentials
//!   from AWS_IAM_CREDENTIALS_URL and from an IMDSv2 service served by the test (with a
//!   recording proxy in front of moto to see what was sent). Every S3 test sets keys, a
//!   loopback credential service or anonymous mode: never the metadata default address.
//!
//! Never an address other than 127.0.0.1. A missing server binary is a loud skip outside
//! CI and a failure under CI (env `CI` set), like the other tools in `common`.

#[macro_use]
mod common;

use common::http::{forward, json_response, response, HttpServer, SeenRequest};
use common::*;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOCALHOST: &str = "127.0.0.1";
/// Sources per machine in the round trips.
const N: usize = 5;
/// Sources of the dead-remote timing builds.
const TIMING_FILES: usize = 50;
/// How much longer a build with a dead remote may take than one with no remote.
const DEAD_REMOTE_SLACK: Duration = Duration::from_secs(5);
/// Any single cachepot invocation taking longer than this is a hang (a remote that
/// stalls the build), reported as a failure instead of blocking the test suite.
const INVOCATION_DEADLINE: Duration = Duration::from_secs(30);
/// How long a server may take to become ready.
const READY_DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Backends and servers
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Redis,
    Memcached,
    WebDav,
    /// moto's S3 server (installed by scripts/setup.sh), bucket [`S3_BUCKET`].
    S3,
    /// gcp-storage-emulator (JSON API, anonymous), bucket [`GCS_BUCKET`].
    Gcs,
    /// Azurite's blob service, dev account, container [`AZURE_CONTAINER`].
    Azure,
}

/// The bucket the GCS emulator starts with and the Azure container the test creates.
const GCS_BUCKET: &str = "cachepot";
const AZURE_CONTAINER: &str = "cachepot";
/// Azurite's well-known development account (public, from Microsoft's documentation).
const AZURE_ACCOUNT: &str = "devstoreaccount1";
const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The Azure connection string for Azurite on `port` with account key `key`.
fn azure_connection_string(port: u16, key: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};AccountKey={key};\
         BlobEndpoint=http://{LOCALHOST}:{port}/{AZURE_ACCOUNT};"
    )
}

impl Kind {
    fn binary(self) -> &'static str {
        match self {
            Kind::Redis => "redis-server",
            Kind::Memcached => "memcached",
            Kind::WebDav => "nginx",
            Kind::S3 => "moto_server",
            Kind::Gcs => "venv/bin/gcp-storage-emulator",
            Kind::Azure => "npm/node_modules/.bin/azurite-blob",
        }
    }

    /// The settings pointing cachepot at this kind of server on `port` (no credentials).
    fn env_for_port(self, port: u16) -> Vec<(String, String)> {
        match self {
            Kind::Redis => vec![(
                "CACHEPOT_REDIS".into(),
                format!("redis://{LOCALHOST}:{port}"),
            )],
            Kind::Memcached => vec![(
                "CACHEPOT_MEMCACHED".into(),
                format!("tcp://{LOCALHOST}:{port}"),
            )],
            Kind::WebDav => vec![(
                "CACHEPOT_WEBDAV_ENDPOINT".into(),
                format!("http://{LOCALHOST}:{port}/cache/"),
            )],
            // Anonymous (the emulator has no token endpoint), so read-write must be asked for.
            Kind::Gcs => vec![
                ("CACHEPOT_GCS_BUCKET".into(), GCS_BUCKET.into()),
                (
                    "CACHEPOT_GCS_ENDPOINT".into(),
                    format!("http://{LOCALHOST}:{port}"),
                ),
                ("CACHEPOT_GCS_RW_MODE".into(), "READ_WRITE".into()),
            ],
            Kind::Azure => vec![
                (
                    "CACHEPOT_AZURE_CONNECTION_STRING".into(),
                    azure_connection_string(port, AZURE_KEY),
                ),
                (
                    "CACHEPOT_AZURE_BLOB_CONTAINER".into(),
                    AZURE_CONTAINER.into(),
                ),
            ],
            // Static keys (moto accepts any): never a credential lookup, so never a
            // packet to the metadata service's default address.
            Kind::S3 => vec![
                ("CACHEPOT_BUCKET".into(), S3_BUCKET.into()),
                (
                    "CACHEPOT_ENDPOINT".into(),
                    format!("http://{LOCALHOST}:{port}"),
                ),
                ("AWS_ACCESS_KEY_ID".into(), S3_ACCESS_KEY.into()),
                ("AWS_SECRET_ACCESS_KEY".into(), S3_SECRET_KEY.into()),
            ],
        }
    }

    /// How long the server may take to answer its first probe (moto is a Python
    /// program that imports a lot before it listens).
    fn ready_deadline(self) -> Duration {
        match self {
            Kind::S3 => Duration::from_secs(60),
            _ => READY_DEADLINE,
        }
    }
}

/// The bucket every S3 test server starts with.
const S3_BUCKET: &str = "cachepot";
/// Static keys of the S3 tests (moto checks no signature; these only have to be sent).
const S3_ACCESS_KEY: &str = "AKIATESTKEY0001";
const S3_SECRET_KEY: &str = "s3-secret-Wq84vv";
/// Where moto is installed, relative to `test_tools_dir()`.
const MOTO: &str = "venv/bin/moto_server";

/// Finds a server binary on PATH or in the sbin directories (Debian puts nginx in
/// /usr/sbin, which a non-root PATH may lack). Missing: a failure under CI, else a loud
/// skip (None).
fn server_binary(name: &str) -> Option<PathBuf> {
    if let Some(p) = which(name) {
        return Some(p);
    }
    for dir in ["/usr/sbin", "/usr/local/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    // Not found anywhere: let require_tool do the CI panic or the loud skip.
    let present = require_tool(name);
    assert!(!present, "{name} is on PATH but was not found");
    None
}

/// Credentials a server is configured to demand.
#[derive(Clone, Debug, Default)]
enum Auth {
    #[default]
    None,
    /// Redis `requirepass`, used with database `db`.
    RedisPassword { password: String, db: u32 },
    /// nginx auth_basic.
    Basic { user: String, password: String },
    /// nginx checking `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// Not authentication: memcached with its default 1 MB item size (the harness
    /// otherwise raises it to 8 MB).
    MemcachedSmallItems,
}

/// A server started by a test on 127.0.0.1:<port>, killed when dropped.
struct Server {
    kind: Kind,
    port: u16,
    auth: Auth,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago (the server binding it may race with another
/// process; `Server::start` retries on a new port when the server does not come up).
fn free_port() -> u16 {
    let l = TcpListener::bind((LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Server {
    /// Starts a server of `kind` without credentials; None = skipped (binary missing).
    fn start(kind: Kind) -> Option<Server> {
        Server::start_with(kind, Auth::None)
    }

    fn start_with(kind: Kind, auth: Auth) -> Option<Server> {
        let bin = match kind {
            Kind::S3 => installed_tool(MOTO)?,
            Kind::Gcs | Kind::Azure => installed_tool(kind.binary())?,
            _ => server_binary(kind.binary())?,
        };
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix(&format!("cachepot-{:?}-", kind).to_lowercase())
                .tempdir()
                .expect("server tempdir");
            let port = free_port();
            let mut srv = Server {
                kind,
                port,
                auth: auth.clone(),
                child: None,
                dir,
            };
            let cmd = srv.command(&bin);
            match srv.spawn_and_wait(cmd).and_then(|()| srv.after_start()) {
                Ok(()) => {
                    if kind == Kind::Azure {
                        // The backend never creates its container.
                        let status = azure_create_container(port, AZURE_CONTAINER);
                        assert_eq!(status, 201, "creating the Azurite container");
                    }
                    return Some(srv);
                }
                Err(e) => last_err = e,
            }
            // srv dropped here: killed; retry on another port.
        }
        panic!("{:?} server did not start: {last_err}", kind);
    }

    fn command(&self, bin: &Path) -> Command {
        let d = self.dir.path();
        let port = self.port.to_string();
        let mut cmd = Command::new(bin);
        match self.kind {
            Kind::Redis => {
                cmd.args(["--port", &port, "--bind", LOCALHOST, "--daemonize", "no"])
                    .args(["--protected-mode", "no", "--save", "", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(d)
                    .arg("--logfile")
                    .arg(d.join("redis.log"));
                if let Auth::RedisPassword { password, .. } = &self.auth {
                    cmd.args(["--requirepass", password]);
                }
            }
            Kind::Memcached => {
                cmd.args(["-l", LOCALHOST, "-p", &port, "-U", "0", "-m", "64", "-I"]);
                cmd.arg(match self.auth {
                    Auth::MemcachedSmallItems => "1m",
                    _ => "8m",
                });
                if euid() == 0 {
                    // As root memcached refuses to start without -u.
                    cmd.args(["-u", "nobody"]);
                }
                let log = fs::File::create(d.join("memcached.log")).expect("memcached log");
                cmd.stderr(log);
            }
            Kind::WebDav => {
                // Its own process group, so that `stop` kills master and workers at once:
                // a worker killed before its master was respawned by it, and outlived it.
                std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
                fs::create_dir_all(d.join("logs")).expect("nginx logs dir");
                fs::create_dir_all(d.join("tmp")).expect("nginx tmp dir");
                fs::create_dir_all(d.join("data/cache")).expect("nginx data dir");
                let auth_conf = match &self.auth {
                    Auth::Basic { user, password } => {
                        // nginx accepts the {PLAIN} scheme in its password file.
                        fs::write(d.join("htpasswd"), format!("{user}:{{PLAIN}}{password}\n"))
                            .expect("htpasswd");
                        format!(
                            "auth_basic \"cachepot\"; auth_basic_user_file {};",
                            d.join("htpasswd").display()
                        )
                    }
                    Auth::Bearer { token } => {
                        format!("if ($http_authorization != \"Bearer {token}\") {{ return 401; }}")
                    }
                    _ => String::new(),
                };
                let user = if euid() == 0 { "user root;" } else { "" };
                let d = d.display();
                let conf = format!(
                    "{user}
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log {d}/logs/access.log;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  client_max_body_size 0;
  server {{
    listen {LOCALHOST}:{port};
    root {d}/data;
    location / {{
      {auth_conf}
      dav_methods PUT DELETE MKCOL COPY MOVE;
      create_full_put_path on;
      dav_access user:rw group:rw all:r;
    }}
  }}
}}
"
                );
                let conf_path = self.dir.path().join("nginx.conf");
                fs::write(&conf_path, conf).expect("nginx.conf");
                cmd.arg("-p")
                    .arg(self.dir.path())
                    .arg("-c")
                    .arg(&conf_path)
                    .arg("-e")
                    .arg(self.dir.path().join("logs/error.log"));
            }
            Kind::S3 => {
                cmd.args(["-H", LOCALHOST, "-p", &port]);
                let log = fs::File::create(d.join("moto.log")).expect("moto log");
                cmd.stderr(log);
            }
            Kind::Gcs => {
                // services.md section 5: in memory, the bucket created at start.
                cmd.current_dir(d)
                    .args(["start", "--host", LOCALHOST, "--port", &port])
                    .args(["--in-memory", "--default-bucket", GCS_BUCKET]);
            }
            Kind::Azure => {
                // services.md section 4.
                cmd.args(["--blobHost", LOCALHOST, "--blobPort", &port])
                    .arg("--location")
                    .arg(d.join("data"))
                    .args(["--skipApiVersionCheck", "--loose", "--disableTelemetry"])
                    .arg("--silent");
            }
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        match self.kind {
            Kind::Memcached | Kind::S3 => {}
            Kind::Gcs | Kind::Azure => {
                let log = fs::File::create(d.join(format!("{:?}.log", self.kind).to_lowercase()))
                    .expect("server log");
                cmd.stderr(log);
            }
            _ => {
                cmd.stderr(Stdio::null());
            }
        }
        cmd
    }

    /// What a server needs once it answers: moto starts with no bucket.
    fn after_start(&self) -> Result<(), String> {
        match self.kind {
            Kind::S3 => self.s3_create_bucket(S3_BUCKET, None),
            _ => Ok(()),
        }
    }

    fn spawn_and_wait(&mut self, mut cmd: Command) -> Result<(), String> {
        let child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
        self.child = Some(child);
        let ready_deadline = self.kind.ready_deadline();
        let deadline = Instant::now() + ready_deadline;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "exited with {status} before it was ready:\n{}",
                    self.logs()
                ));
            }
            if self.ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready after {ready_deadline:?}:\n{}",
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One readiness probe: PING/PONG, `version`, or an HTTP answer.
    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect((LOCALHOST, self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let (probe, expect): (&[u8], &[u8]) = match self.kind {
            // Without AUTH a password-protected redis answers -NOAUTH: it is up all the same.
            Kind::Redis => (b"PING\r\n", b""),
            Kind::Memcached => (b"version\r\n", b"VERSION"),
            Kind::WebDav => (b"HEAD / HTTP/1.0\r\n\r\n", b"HTTP/1."),
            Kind::S3 => (b"GET /moto-api/ HTTP/1.0\r\n\r\n", b"HTTP/1."),
            // Up means the default bucket exists too.
            Kind::Gcs => (
                b"GET /storage/v1/b/cachepot HTTP/1.0\r\n\r\n",
                b"HTTP/1.0 200",
            ),
            // Any answer (an authorization failure for an unsigned request).
            Kind::Azure => (b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1."),
        };
        if s.write_all(probe).is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(n) if n > 0 => {
                let got = &buf[..n];
                if self.kind == Kind::Redis {
                    got.starts_with(b"+PONG") || got.starts_with(b"-NOAUTH")
                } else {
                    got.starts_with(expect)
                }
            }
            _ => false,
        }
    }

    /// The server's log files, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for f in walk_files(self.dir.path()) {
            if f.extension().is_some_and(|e| e == "log") {
                out += &format!(
                    "--- {} ---\n{}\n",
                    f.display(),
                    tail(&fs::read_to_string(&f).unwrap_or_default(), 20)
                );
            }
        }
        out
    }

    /// Kills the server and waits for it (idempotent). nginx's worker outlives a
    /// SIGKILLed master and keeps the port, so the master's children go first.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.kind == Kind::WebDav {
                // SAFETY: plain kill(2) of the process group nginx leads (see `start`).
                unsafe { libc::kill(-(c.id() as libc::pid_t), libc::SIGKILL) };
                for pid in children_of(c.id()) {
                    // SAFETY: plain kill(2) on a pid we just read as our server's child.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                }
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The cachepot settings for this server, credentials included.
    fn env(&self) -> Vec<(String, String)> {
        let port = self.port;
        match (&self.auth, self.kind) {
            (Auth::RedisPassword { password, db }, Kind::Redis) => vec![(
                "CACHEPOT_REDIS".into(),
                format!("redis://:{password}@{LOCALHOST}:{port}/{db}"),
            )],
            (Auth::Basic { user, password }, Kind::WebDav) => {
                let mut v = self.kind.env_for_port(port);
                v.push(("CACHEPOT_WEBDAV_USERNAME".into(), user.clone()));
                v.push(("CACHEPOT_WEBDAV_PASSWORD".into(), password.clone()));
                v
            }
            (Auth::Bearer { token }, Kind::WebDav) => {
                let mut v = self.kind.env_for_port(port);
                v.push(("CACHEPOT_WEBDAV_TOKEN".into(), token.clone()));
                v
            }
            _ => self.kind.env_for_port(port),
        }
    }

    fn webdav_root(&self) -> PathBuf {
        self.dir.path().join("data/cache")
    }

    /// The 64-hex names of the entries stored on the server.
    fn keys(&self) -> BTreeSet<String> {
        match self.kind {
            Kind::Redis => {
                let reply = self.redis(&[b"KEYS", b"*"]);
                let Resp::Array(items) = reply else {
                    panic!("KEYS answered {reply:?}")
                };
                items
                    .into_iter()
                    .map(|i| match i {
                        Resp::Bulk(Some(k)) => String::from_utf8(k).expect("UTF-8 key"),
                        other => panic!("KEYS item {other:?}"),
                    })
                    .map(|k| entry_name_of_key(&k))
                    .collect()
            }
            Kind::Memcached => {
                // `lru_crawler metadump all` lists every item as `key=<url-encoded> ...`.
                let text =
                    memcached_exchange(self.port, b"lru_crawler metadump all\r\n", b"END\r\n");
                let text = String::from_utf8_lossy(&text).into_owned();
                text.lines()
                    .filter_map(|l| l.strip_prefix("key="))
                    .map(|l| l.split(' ').next().unwrap_or_default())
                    .map(|k| entry_name_of_key(&k.replace("%3A", ":").replace("%3a", ":")))
                    .collect()
            }
            Kind::WebDav => {
                let root = self.webdav_root();
                walk_files(&root)
                    .into_iter()
                    .map(|p| {
                        let rel = p.strip_prefix(&root).expect("under root");
                        let parts: Vec<&str> = rel
                            .iter()
                            .map(|c| c.to_str().expect("UTF-8 name"))
                            .collect();
                        assert!(
                            parts.len() == 2
                                && parts[0].len() == 2
                                && parts[0].bytes().all(|b| b.is_ascii_hexdigit())
                                && is_entry_name(parts[1]),
                            "WebDAV object {} is not <endpoint><2 hex>/<64 hex>",
                            rel.display()
                        );
                        parts[1].to_owned()
                    })
                    .collect()
            }
            Kind::S3 => self
                .s3_list(S3_BUCKET)
                .iter()
                .map(|name| s3_entry_of_object(name, ""))
                .collect(),
            Kind::Gcs | Kind::Azure => self
                .object_names()
                .iter()
                .map(|n| entry_name_of_object(n))
                .collect(),
        }
    }

    /// Every object name in the bucket or container, listed through the server's API.
    fn object_names(&self) -> Vec<String> {
        match self.kind {
            Kind::Gcs => {
                let url = format!(
                    "http://{LOCALHOST}:{}/storage/v1/b/{GCS_BUCKET}/o?maxResults=100000",
                    self.port
                );
                let v: serde_json::Value = serde_json::from_slice(&read_all(
                    ureq::get(&url).call().expect("list GCS objects"),
                ))
                .expect("GCS listing JSON");
                assert!(
                    v.get("nextPageToken").is_none(),
                    "GCS listing paginated: {v}"
                );
                v["items"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| i["name"].as_str().expect("object name").to_owned())
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Kind::Azure => {
                let (status, body) = azure_request(
                    self.port,
                    "GET",
                    &format!("/{AZURE_CONTAINER}"),
                    &[("comp", "list"), ("restype", "container")],
                    None,
                    AZURE_KEY,
                );
                let xml = String::from_utf8(body).expect("UTF-8 listing");
                assert_eq!(status, 200, "list blobs: {xml}");
                assert!(
                    !xml.contains("<NextMarker>") || xml.contains("<NextMarker></NextMarker>"),
                    "Azure listing paginated: {xml}"
                );
                xml.split("<Name>")
                    .skip(1)
                    .map(|p| p.split("</Name>").next().expect("</Name>").to_owned())
                    .collect()
            }
            other => panic!("{other:?} has no object listing"),
        }
    }

    /// How many objects the server holds, asked the server's own way (DBSIZE,
    /// curr_items, files under the nginx root).
    fn object_count(&self) -> u64 {
        match self.kind {
            Kind::Redis => match self.redis(&[b"DBSIZE"]) {
                Resp::Int(n) => n as u64,
                other => panic!("DBSIZE answered {other:?}"),
            },
            Kind::Memcached => {
                let text = memcached_exchange(self.port, b"stats\r\n", b"END\r\n");
                let text = String::from_utf8_lossy(&text).into_owned();
                text.lines()
                    .find_map(|l| l.strip_prefix("STAT curr_items "))
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no curr_items in memcached stats:\n{text}"))
            }
            Kind::WebDav => walk_files(&self.webdav_root()).len() as u64,
            Kind::S3 => self.s3_list(S3_BUCKET).len() as u64,
            Kind::Gcs | Kind::Azure => self.object_names().len() as u64,
        }
    }

    /// The raw value stored under entry `hex`.
    fn get_raw(&self, hex: &str) -> Option<Vec<u8>> {
        let key = format!("cachepot:{hex}");
        match self.kind {
            Kind::Redis => match self.redis(&[b"GET", key.as_bytes()]) {
                Resp::Bulk(v) => v,
                other => panic!("GET answered {other:?}"),
            },
            Kind::Memcached => memcached_get(self.port, &key),
            Kind::WebDav => fs::read(self.webdav_root().join(&hex[..2]).join(hex))
                .ok()
                .or_else(|| self.webdav_path_of(hex).and_then(|p| fs::read(p).ok())),
            Kind::S3 => {
                let (status, body) =
                    self.s3_http("GET", &format!("/{S3_BUCKET}/{}", s3_object(hex)), &[], b"");
                match status {
                    200 => Some(body),
                    404 => None,
                    _ => panic!("moto GET answered {status}: {}", lossy(&body)),
                }
            }
            Kind::Gcs => {
                let url = format!(
                    "http://{LOCALHOST}:{}/storage/v1/b/{GCS_BUCKET}/o/{}?alt=media",
                    self.port,
                    object_path(hex).replace('/', "%2F")
                );
                match ureq::get(&url).call() {
                    Ok(r) => Some(read_all(r)),
                    Err(ureq::Error::Status(404, _)) => None,
                    Err(e) => panic!("GCS download: {e}"),
                }
            }
            Kind::Azure => {
                let (status, body) = azure_request(
                    self.port,
                    "GET",
                    &format!("/{AZURE_CONTAINER}/{}", object_path(hex)),
                    &[],
                    None,
                    AZURE_KEY,
                );
                match status {
                    200 => Some(body),
                    404 => None,
                    _ => panic!("Azure GET blob: {status} {}", lossy(&body)),
                }
            }
        }
    }

    /// Replaces the value stored under entry `hex` with `value`.
    fn put_raw(&self, hex: &str, value: &[u8]) {
        let key = format!("cachepot:{hex}");
        match self.kind {
            Kind::Redis => match self.redis(&[b"SET", key.as_bytes(), value]) {
                Resp::Simple(s) if s == "OK" => {}
                other => panic!("SET answered {other:?}"),
            },
            Kind::Memcached => memcached_set(self.port, &key, value),
            Kind::WebDav => {
                let p = self
                    .webdav_path_of(hex)
                    .unwrap_or_else(|| self.webdav_root().join(&hex[..2]).join(hex));
                fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                fs::write(&p, value).expect("plant WebDAV object");
            }
            Kind::S3 => {
                let (status, body) = self.s3_http(
                    "PUT",
                    &format!("/{S3_BUCKET}/{}", s3_object(hex)),
                    &[("Content-Type", "application/octet-stream")],
                    value,
                );
                assert_eq!(status, 200, "moto PUT answered {}", lossy(&body));
            }
            Kind::Gcs => {
                let url = format!(
                    "http://{LOCALHOST}:{}/upload/storage/v1/b/{GCS_BUCKET}/o?uploadType=media&name={}",
                    self.port,
                    object_path(hex).replace('/', "%2F")
                );
                ureq::post(&url)
                    .set("Content-Type", "application/octet-stream")
                    .send_bytes(value)
                    .expect("plant GCS object");
            }
            Kind::Azure => {
                let (status, body) = azure_request(
                    self.port,
                    "PUT",
                    &format!("/{AZURE_CONTAINER}/{}", object_path(hex)),
                    &[],
                    Some(value),
                    AZURE_KEY,
                );
                assert_eq!(status, 201, "plant Azure blob: {}", lossy(&body));
            }
        }
    }

    /// Where the WebDAV object named `hex` is, whatever 2-hex directory holds it.
    fn webdav_path_of(&self, hex: &str) -> Option<PathBuf> {
        walk_files(&self.webdav_root())
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == hex))
    }

    /// One redis command on a fresh connection (AUTH and SELECT first when the server
    /// has a password and db).
    fn redis(&self, args: &[&[u8]]) -> Resp {
        let mut s = TcpStream::connect((LOCALHOST, self.port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        if let Auth::RedisPassword { password, db } = &self.auth {
            resp_send(&mut s, &[b"AUTH", password.as_bytes()]);
            assert_eq!(resp_read(&mut r), Resp::Simple("OK".into()), "redis AUTH");
            resp_send(&mut s, &[b"SELECT", db.to_string().as_bytes()]);
            assert_eq!(resp_read(&mut r), Resp::Simple("OK".into()), "redis SELECT");
        }
        resp_send(&mut s, args);
        resp_read(&mut r)
    }
}

/// `cachepot:<64 hex>` → `<64 hex>`, asserting the documented key form.
fn entry_name_of_key(key: &str) -> String {
    let hex = key
        .strip_prefix("cachepot:")
        .unwrap_or_else(|| panic!("server key {key:?} is not cachepot:<64 hex>"));
    assert!(
        is_entry_name(hex),
        "server key {key:?} is not cachepot:<64 hex>"
    );
    hex.to_owned()
}

/// The documented object name of entry `hex` in a bucket or container.
fn object_path(hex: &str) -> String {
    format!("cachepot/{}/{hex}", &hex[..2])
}

/// `cachepot/<2 hex>/<64 hex>` → `<64 hex>`, asserting the documented object name.
fn entry_name_of_object(name: &str) -> String {
    let parts: Vec<&str> = name.split('/').collect();
    assert!(
        parts.len() == 3
            && parts[0] == "cachepot"
            && is_entry_name(parts[2])
            && parts[2].starts_with(parts[1])
            && parts[1].len() == 2,
        "object {name:?} is not cachepot/<2 hex>/<64 hex>"
    );
    parts[2].to_owned()
}

fn read_all(r: ureq::Response) -> Vec<u8> {
    let mut v = Vec::new();
    r.into_reader().read_to_end(&mut v).expect("read body");
    v
}

// -- Azure Blob requests signed by the test (SharedKey, as Microsoft documents it) ------

/// One request to Azurite on `port` for `path` under the dev account, signed with `key`:
/// (status, body). `query` pairs go into the URL and, sorted, into the signature.
fn azure_request(
    port: u16,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&[u8]>,
    key: &str,
) -> (u16, Vec<u8>) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let date = httpdate_now();
    let version = "2021-08-06";
    let len = body.map(|b| b.len()).unwrap_or(0);
    let ctype = if body.is_some() {
        "application/octet-stream"
    } else {
        ""
    };
    let blob_type = body.is_some() && !query.iter().any(|(k, _)| *k == "restype");
    let mut ms: Vec<(&str, &str)> = vec![("x-ms-date", &date), ("x-ms-version", version)];
    if blob_type {
        ms.insert(0, ("x-ms-blob-type", "BlockBlob"));
    }
    let full_path = format!("/{AZURE_ACCOUNT}{path}");
    let mut to_sign = format!(
        "{method}\n\n\n{}\n\n{ctype}\n\n\n\n\n\n\n",
        if len == 0 {
            String::new()
        } else {
            len.to_string()
        }
    );
    for (k, v) in &ms {
        to_sign += &format!("{k}:{v}\n");
    }
    to_sign += &format!("/{AZURE_ACCOUNT}{full_path}");
    let mut sorted = query.to_vec();
    sorted.sort();
    for (k, v) in &sorted {
        to_sign += &format!("\n{k}:{v}");
    }
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &b64.decode(key).expect("base64 key"),
        ),
        to_sign.as_bytes(),
    );
    let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = format!(
        "http://{LOCALHOST}:{port}{full_path}{}{}",
        if qs.is_empty() { "" } else { "?" },
        qs.join("&")
    );
    let mut req = ureq::request(method, &url).set(
        "Authorization",
        &format!("SharedKey {AZURE_ACCOUNT}:{}", b64.encode(mac.as_ref())),
    );
    for (k, v) in &ms {
        req = req.set(k, v);
    }
    if !ctype.is_empty() {
        req = req.set("Content-Type", ctype);
    }
    let resp = match body {
        Some(b) => req.send_bytes(b),
        None if method == "PUT" => req.send_bytes(&[]),
        None => req.call(),
    };
    match resp {
        Ok(r) => (r.status(), read_all(r)),
        Err(ureq::Error::Status(code, r)) => (code, read_all(r)),
        Err(e) => panic!("Azure {method} {url}: {e}"),
    }
}

/// Creates container `name` on Azurite: the status (201 created).
fn azure_create_container(port: u16, name: &str) -> u16 {
    azure_request(
        port,
        "PUT",
        &format!("/{name}"),
        &[("restype", "container")],
        None,
        AZURE_KEY,
    )
    .0
}

/// The HTTP date now, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, from `date -u` semantics
/// computed here (no date crate in the tests).
fn httpdate_now() -> String {
    let secs = unix_now();
    let days = secs / 86400;
    let rem = secs % 86400;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        WD[(days % 7) as usize],
        MO[m as usize - 1],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Pids whose parent is `ppid` (from /proc/<pid>/stat).
fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(ppid) {
            out.push(pid);
        }
    }
    out
}

// -- tiny S3 client for moto (plain HTTP/1.0 over a TcpStream) --------------------------

/// An `Authorization` header that makes moto treat a request as authenticated (it checks
/// no signature; without any Authorization header a private object is a 403).
const MOTO_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIATESTKEY0001/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// The object name of entry `hex` without a key prefix: `cachepot/<2 hex>/<64 hex>`.
fn s3_object(hex: &str) -> String {
    format!("cachepot/{}/{hex}", &hex[..2])
}

/// `<prefix>cachepot/<2 hex>/<64 hex>` → `<64 hex>`, asserting the documented form.
fn s3_entry_of_object(name: &str, prefix: &str) -> String {
    let rest = name
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix("cachepot/"))
        .unwrap_or_else(|| panic!("S3 object {name:?} is not {prefix}cachepot/<2 hex>/<64 hex>"));
    let (dir, hex) = rest
        .split_once('/')
        .unwrap_or_else(|| panic!("S3 object {name:?} is not {prefix}cachepot/<2 hex>/<64 hex>"));
    assert!(
        is_entry_name(hex) && dir == &hex[..2],
        "S3 object {name:?} is not {prefix}cachepot/<2 hex>/<64 hex>"
    );
    hex.to_owned()
}

/// One HTTP/1.0 exchange with 127.0.0.1:`port`: (status, headers, body).
fn http_exchange(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect((LOCALHOST, port))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {target} HTTP/1.0\r\nHost: {LOCALHOST}:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).expect("send HTTP request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read HTTP answer");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", lossy(&out)));
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, out[split + 4..].to_vec())
}

/// The text between `<tag>` and `</tag>`, for each occurrence.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let j = after.find(&close).expect("closing tag");
        out.push(
            after[..j]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[j + close.len()..];
    }
    out
}

impl Server {
    /// An authenticated request to moto: (status, body).
    fn s3_http(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let mut h = headers.to_vec();
        h.push(("Authorization", MOTO_AUTH));
        let (status, _, body) = http_exchange(self.port, method, target, &h, body);
        (status, body)
    }

    /// Creates `bucket` (in `region`, us-east-1 when None).
    fn s3_create_bucket(&self, bucket: &str, region: Option<&str>) -> Result<(), String> {
        let body = region.map(|r| {
            format!(
                "<CreateBucketConfiguration><LocationConstraint>{r}</LocationConstraint>\
                 </CreateBucketConfiguration>"
            )
        });
        let (status, answer) = self.s3_http(
            "PUT",
            &format!("/{bucket}"),
            &[("Content-Type", "application/xml")],
            body.as_deref().unwrap_or("").as_bytes(),
        );
        if status == 200 {
            Ok(())
        } else {
            Err(format!(
                "creating bucket {bucket}: {status} {}",
                lossy(&answer)
            ))
        }
    }

    /// Every object name in `bucket` (ListObjectsV2, following continuation tokens).
    fn s3_list(&self, bucket: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut target = format!("/{bucket}?list-type=2");
            if let Some(t) = &token {
                let enc: String = t
                    .bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                target += &format!("&continuation-token={enc}");
            }
            let (status, body) = self.s3_http("GET", &target, &[], b"");
            let xml = lossy(&body);
            assert_eq!(status, 200, "ListObjectsV2 {bucket}: {xml}");
            for contents in xml_values(&xml, "Contents") {
                names.extend(xml_values(&contents, "Key"));
            }
            if xml_values(&xml, "IsTruncated").first().map(String::as_str) != Some("true") {
                return names;
            }
            token = xml_values(&xml, "NextContinuationToken").into_iter().next();
            assert!(token.is_some(), "truncated listing without a token: {xml}");
        }
    }
}

// -- tiny RESP (redis) client -----------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

fn resp_send(s: &mut TcpStream, args: &[&[u8]]) {
    let mut buf = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        buf.extend(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend(b"\r\n");
    }
    s.write_all(&buf).expect("send to redis");
}

fn resp_read(r: &mut impl BufRead) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).expect("read from redis");
    let line = line.trim_end_matches("\r\n");
    let (t, rest) = line.split_at(1);
    match t {
        "+" => Resp::Simple(rest.into()),
        "-" => Resp::Error(rest.into()),
        ":" => Resp::Int(rest.parse().expect("integer reply")),
        "$" => {
            let n: i64 = rest.parse().expect("bulk length");
            if n < 0 {
                return Resp::Bulk(None);
            }
            let mut data = vec![0u8; n as usize + 2];
            r.read_exact(&mut data).expect("bulk data");
            data.truncate(n as usize);
            Resp::Bulk(Some(data))
        }
        "*" => {
            let n: i64 = rest.parse().expect("array length");
            Resp::Array((0..n.max(0)).map(|_| resp_read(r)).collect())
        }
        _ => panic!("unexpected redis reply line {line:?}"),
    }
}

// -- tiny memcached text-protocol client ------------------------------------------------

/// Sends `request` and reads until the answer ends with `end`.
fn memcached_exchange(port: u16, request: &[u8], end: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect((LOCALHOST, port)).expect("connect to memcached");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).expect("send to memcached");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !out.ends_with(end) {
        let n = s.read(&mut buf).expect("read from memcached");
        assert!(
            n > 0,
            "memcached closed the connection after {:?}",
            lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
        if out.starts_with(b"ERROR") || out.starts_with(b"CLIENT_ERROR") {
            panic!("memcached answered {:?}", lossy(&out));
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    out
}

fn memcached_get(port: u16, key: &str) -> Option<Vec<u8>> {
    let out = memcached_exchange(port, format!("get {key}\r\n").as_bytes(), b"END\r\n");
    if out == b"END\r\n" {
        return None;
    }
    let header_end = out
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("VALUE line");
    let header = String::from_utf8_lossy(&out[..header_end]).into_owned();
    let len: usize = header
        .split(' ')
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad memcached VALUE line {header:?}"));
    Some(out[header_end + 2..header_end + 2 + len].to_vec())
}

fn memcached_set(port: u16, key: &str, value: &[u8]) {
    let mut req = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(value);
    req.extend(b"\r\n");
    let out = memcached_exchange(port, &req, b"\r\n");
    assert_eq!(
        out,
        b"STORED\r\n",
        "memcached set answered {:?}",
        lossy(&out)
    );
}

// -- a port that refuses connections ---------------------------------------------------

/// A port on 127.0.0.1 where nothing listens, reserved for the test's lifetime so that
/// no server started by a parallel test can take it: it is the local port of an open
/// connection (the kernel refuses a connect to it, and bind() to it fails).
struct RefusingPort {
    port: u16,
    _held: (TcpListener, TcpStream, TcpStream),
}

impl RefusingPort {
    fn new() -> RefusingPort {
        let l = TcpListener::bind((LOCALHOST, 0)).expect("bind");
        let client = TcpStream::connect(l.local_addr().unwrap()).expect("connect");
        let (server_side, _) = l.accept().expect("accept");
        let port = client.local_addr().unwrap().port();
        let err = TcpStream::connect((LOCALHOST, port)).expect_err("port should refuse");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        RefusingPort {
            port,
            _held: (l, client, server_side),
        }
    }
}

// -- a server that accepts and never answers -------------------------------------------

/// A TCP listener on 127.0.0.1 that accepts every connection, holds it open and never
/// sends a byte: a remote that is up but hung. Counts the connections it got.
struct HungServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HungServer {
    fn start() -> HungServer {
        let l = TcpListener::bind((LOCALHOST, 0)).expect("bind hung server");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, st) = (connections.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        held.push(s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HungServer {
            port,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for HungServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Project and machines
// ---------------------------------------------------------------------------------------

/// A work dir with `n` C sources and the bare compiler's object for each. Every machine
/// compiles in this same dir (two CI runners building the same checkout path), each with
/// its own cache dir.
struct Project {
    s: Sandbox,
    refs: Vec<Vec<u8>>,
}

impl Project {
    /// `n` small sources; with `big`, the last one also embeds 1.5 MB of incompressible
    /// bytes (an entry above memcached's default 1 MB item size and nginx's default
    /// 1 MB body limit, read back in many TCP reads).
    fn new(n: usize, big: bool) -> Project {
        let s = Sandbox::new();
        // A tag unique to this project so that no two tests' entries share keys.
        let tag = s
            .root()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        s.write("common.h", "#define SCALE 3\nint shared_helper(int);\n");
        // The big blob as a string literal (`.incbin` would make the compile uncacheable:
        // it reads a file no dep file lists), 64 bytes per line.
        let blob = big.then(|| {
            let mut text = String::from("const char blob[] =\n");
            for chunk in XorShift::new(7).bytes(1_500_000).chunks(64) {
                text.push('"');
                for b in chunk {
                    text.push_str(&format!("\\x{b:02x}"));
                }
                text.push_str("\"\n");
            }
            text + ";\n"
        });
        for i in 0..n {
            let mut src = format!(
                "#include \"common.h\"\n/* {tag} */\nint f{i}(int x) {{ return x * SCALE + {i}; }}\n"
            );
            if let (Some(b), true) = (&blob, i == n - 1) {
                src += b;
            }
            s.write(&format!("src_{i}.c"), src);
        }
        let mut refs = Vec::new();
        for i in 0..n {
            let out = s.bare("gcc", &["-c", &format!("src_{i}.c"), "-o", "ref.o"]);
            s.assert_success(&out, "bare compile");
            refs.push(s.read("ref.o"));
            s.remove("ref.o");
        }
        Project { s, refs }
    }

    fn len(&self) -> usize {
        self.refs.len()
    }

    /// Compiles sources `range` on `m` in this project's dir, checks each object against
    /// the bare compiler's, and removes it again.
    fn build(&self, m: &Sandbox, range: std::ops::Range<usize>) {
        for i in range {
            let obj = format!("src_{i}.o");
            self.s.remove(&obj);
            let src = format!("src_{i}.c");
            let args = ["gcc", "-c", src.as_str(), "-o", obj.as_str()];
            let out = cachepot_deadline(m, &self.s.work, &args);
            m.assert_success(&out, &format!("cachepot {}", args.join(" ")));
            assert!(
                self.s.read(&obj) == self.refs[i],
                "{obj} differs from the bare compiler's object\n--- log tail ---\n{}",
                tail(&m.log_text(), 30)
            );
            self.s.remove(&obj);
        }
    }

    fn build_all(&self, m: &Sandbox) {
        self.build(m, 0..self.len())
    }
}

/// A machine: its own sandbox (cache dir, log) with `env` set.
fn machine(env: &[(String, String)]) -> Sandbox {
    let mut m = Sandbox::new();
    for (k, v) in env {
        m.set_env(k, v);
    }
    m
}

/// Runs `cachepot args...` in `dir` with `m`'s environment; panics if it runs longer
/// than INVOCATION_DEADLINE (a remote that stalls the build).
fn cachepot_deadline<S: AsRef<OsStr>>(m: &Sandbox, dir: &Path, args: &[S]) -> Output {
    let mut cmd = m.cachepot_cmd();
    cmd.current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn cachepot: {e}"));
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait for cachepot").is_some() {
            return child.wait_with_output().expect("cachepot output");
        }
        if start.elapsed() > INVOCATION_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cachepot {} hung for more than {INVOCATION_DEADLINE:?}\n--- log tail ---\n{}",
                show_args(args),
                tail(&m.log_text(), 30)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Compiles `hello.c` in `s` with `m`'s settings and asserts a configuration error: exit
/// 2, one line on stderr naming `var`, nothing compiled. `case` names the case in the
/// messages. Returns stderr, for the caller's own checks.
fn assert_configuration_error(m: &Sandbox, s: &Sandbox, var: &str, case: &str) -> String {
    s.remove("hello.o");
    let out = cachepot_deadline(m, &s.work, &["gcc", "-c", "hello.c", "-o", "hello.o"]);
    let err = lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{case}: expected exit 2, got {}; stderr: {err}",
        out.status
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{case}: not one line: {err:?}"
    );
    assert!(
        err.contains(var),
        "{case}: the message does not name {var}: {err:?}"
    );
    assert!(!s.exists("hello.o"), "{case}: compiled despite the error");
    err
}

/// The 64-hex names of the entries in `m`'s local cache.
fn local_entries(m: &Sandbox) -> BTreeSet<String> {
    m.entry_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The health markers in `m`'s cache dir.
fn health_markers(m: &Sandbox) -> Vec<PathBuf> {
    walk_files(&m.cache.join("remote-health"))
}

/// Stats and the log tail, for failure messages.
fn show(m: &Sandbox) -> String {
    format!(
        "stats: {}\n--- log tail ---\n{}",
        m.stats(),
        tail(&m.log_text(), 30)
    )
}

// ---------------------------------------------------------------------------------------
// Scenarios, run for every backend
// ---------------------------------------------------------------------------------------

/// Machine A stores, machine B (empty cache dir) gets remote hits with correct objects,
/// and a third run on B is served locally.
fn round_trip_with(srv: &Server) {
    let p = Project::new(N, true);
    let env = srv.env();

    // Machine A: all misses, every entry written to the server.
    let a = machine(&env);
    p.build_all(&a);
    let sa = a.stats();
    assert_stats_consistent(&sa);
    assert_eq!(
        stat_of(&sa, "cache_misses"),
        N as u64,
        "A: misses\n{}",
        show(&a)
    );
    assert_eq!(stat_of(&sa, "cache_hits"), 0, "A: hits\n{}", show(&a));
    assert_eq!(
        stat_of(&sa, "remote_hits"),
        0,
        "A: remote hits\n{}",
        show(&a)
    );
    assert_eq!(
        stat_of(&sa, "remote_errors"),
        0,
        "A: a healthy server (a miss is not an error)\n{}",
        show(&a)
    );
    assert!(
        stat_of(&sa, "remote_writes") >= N as u64,
        "A: remote_writes\n{}",
        show(&a)
    );
    stat_of(&sa, "remote_latency_ms");
    let count = srv.object_count();
    assert!(
        count >= N as u64,
        "server holds {count} objects after A's {N} misses"
    );
    let a_entries = local_entries(&a);
    assert_eq!(
        srv.keys(),
        a_entries,
        "the server's keys are not exactly A's local entries (cachepot:<hex> / <2 hex>/<hex>)"
    );
    assert_eq!(
        stat_of(&sa, "remote_writes"),
        count,
        "one remote write per stored object"
    );
    // Small results are kept raw locally (CACHEPOT_COMPRESSION_MIN_SIZE) and sent
    // compressed. Header bytes: 6 the entry's kind (1 = result), 7 its compression,
    // 64..72 its payload's size. The big blob's result does not compress: raw on both.
    let mut small = 0;
    for path in a.entry_files() {
        let local = fs::read(&path).unwrap();
        if local[6] != 1 {
            continue;
        }
        let hex = path.file_name().unwrap().to_string_lossy().into_owned();
        let remote = srv
            .get_raw(&hex)
            .expect("a result A stored is on the server");
        let size = u64::from_le_bytes(local[64..72].try_into().unwrap());
        let want = if size < 65536 {
            small += 1;
            (0, 1)
        } else {
            (0, 0)
        };
        assert_eq!((local[7], remote[7]), want, "{hex} ({size} bytes)");
    }
    assert!(small >= N - 1, "test premise: {small} small results");
    assert!(
        health_markers(&a).is_empty(),
        "A marked a healthy remote down"
    );

    // Machine B: all hits from the remote, byte-identical objects, nothing written back.
    let b = machine(&env);
    p.build_all(&b);
    let sb = b.stats();
    assert_stats_consistent(&sb);
    assert_eq!(
        stat_of(&sb, "cache_hits"),
        N as u64,
        "B: hits\n{}",
        show(&b)
    );
    assert_eq!(stat_of(&sb, "cache_misses"), 0, "B: misses\n{}", show(&b));
    assert_eq!(
        stat_of(&sb, "remote_hits"),
        N as u64,
        "B: remote hits\n{}",
        show(&b)
    );
    assert_eq!(
        stat_of(&sb, "remote_errors"),
        0,
        "B: remote errors\n{}",
        show(&b)
    );
    assert_eq!(
        stat_of(&sb, "remote_writes"),
        0,
        "B: a hit writes nothing back\n{}",
        show(&b)
    );
    assert_eq!(srv.object_count(), count, "B changed the server");

    // Third run on B: local hits only.
    p.build_all(&b);
    let sb3 = b.stats();
    assert_eq!(
        stat_of(&sb3, "cache_hits"),
        2 * N as u64,
        "B3: hits\n{}",
        show(&b)
    );
    assert_eq!(
        stat_of(&sb3, "remote_hits"),
        N as u64,
        "B3: the remote hits were not kept in B's local cache\n{}",
        show(&b)
    );
    assert_eq!(stat_of(&sb3, "remote_errors"), 0);
    assert_eq!(
        local_entries(&b),
        a_entries,
        "B's local cache after its remote hits"
    );
}

fn round_trip(kind: Kind) {
    require!("gcc");
    let Some(srv) = Server::start(kind) else {
        return;
    };
    round_trip_with(&srv);
}

/// CACHEPOT_REMOTE_READ_ONLY=1: a miss stores locally but nothing on the server, and
/// hits are still read from it.
fn read_only(kind: Kind) {
    require!("gcc");
    let Some(srv) = Server::start(kind) else {
        return;
    };
    const R: usize = 3;
    let p = Project::new(R, false);
    let mut ro_env = srv.env();
    ro_env.push(("CACHEPOT_REMOTE_READ_ONLY".into(), "1".into()));

    let ro = machine(&ro_env);
    p.build(&ro, 0..2);
    let s = ro.stats();
    assert_eq!(stat_of(&s, "cache_misses"), 2, "{}", show(&ro));
    assert_eq!(stat_of(&s, "remote_errors"), 0, "{}", show(&ro));
    assert_eq!(
        stat_of(&s, "remote_writes"),
        0,
        "read-only wrote\n{}",
        show(&ro)
    );
    assert_eq!(
        srv.object_count(),
        0,
        "read-only stored on the server: {:?}",
        srv.keys()
    );
    assert!(
        local_entries(&ro).len() >= 2,
        "the local cache still stores"
    );

    // A writer fills the server; a read-only machine with an empty cache reads from it.
    let w = machine(&srv.env());
    p.build_all(&w);
    let count = srv.object_count();
    assert!(count >= R as u64);
    let ro2 = machine(&ro_env);
    p.build_all(&ro2);
    let s2 = ro2.stats();
    assert_eq!(
        stat_of(&s2, "remote_hits"),
        R as u64,
        "read-only reads\n{}",
        show(&ro2)
    );
    assert_eq!(srv.object_count(), count);
    assert_eq!(stat_of(&s2, "remote_writes"), 0);
}

/// Machine A compiles four sources; on the server, the entries of each are then damaged
/// a different way: replaced by garbage, truncated, one bit flipped, or replaced by the
/// good entries of another source (a valid entry under the wrong key). Machine B must
/// compile all four correctly with no remote hit (a bad entry is a miss, counted in
/// cache_errors), and its misses store good values again, so machine C gets remote hits.
fn corrupt_values(kind: Kind) {
    require!("gcc");
    let Some(srv) = Server::start(kind) else {
        return;
    };
    const WAYS: [&str; 4] = ["garbage", "truncated", "one flipped bit", "swapped"];
    let p = Project::new(WAYS.len(), false);
    let a = machine(&srv.env());
    // The server entries of each source: the local entries its compile added.
    let mut per_source: Vec<Vec<String>> = Vec::new();
    let mut seen = BTreeSet::new();
    for i in 0..WAYS.len() {
        p.build(&a, i..i + 1);
        let now = local_entries(&a);
        per_source.push(now.difference(&seen).cloned().collect());
        seen = now;
    }
    assert_eq!(srv.keys(), seen, "server keys vs A's local entries");
    let good = |k: &String| srv.get_raw(k).unwrap_or_else(|| panic!("no value for {k}"));
    // Entries of a source ordered by size, so that the swap puts like on like (manifest
    // on manifest, result on result) without knowing the entry format.
    let by_size = |i: usize| {
        let mut v: Vec<(String, Vec<u8>)> =
            per_source[i].iter().map(|k| (k.clone(), good(k))).collect();
        v.sort_by_key(|(_, val)| val.len());
        v
    };
    // Every good value, read before any is damaged.
    let originals: Vec<Vec<(String, Vec<u8>)>> = (0..WAYS.len()).map(by_size).collect();
    for (i, way) in WAYS.iter().enumerate() {
        let entries = &originals[i];
        assert!(!entries.is_empty(), "source {i} stored nothing");
        // The swap plants source 2's good entries under source 3's keys.
        let donor = &originals[2];
        for (j, (k, v)) in entries.iter().enumerate() {
            let bad = match *way {
                "garbage" => b"garbage".to_vec(),
                "truncated" => v[..v.len() / 2].to_vec(),
                "one flipped bit" => {
                    let mut b = v.clone();
                    let at = b.len() * 2 / 3;
                    b[at] ^= 0x10;
                    b
                }
                _ => donor[j.min(donor.len() - 1)].1.clone(),
            };
            assert_ne!(&bad, v, "{way}: the corruption changed nothing");
            srv.put_raw(k, &bad);
            assert_eq!(srv.get_raw(k).as_deref(), Some(&bad[..]), "planting failed");
        }
    }

    let b = machine(&srv.env());
    p.build_all(&b);
    let s = b.stats();
    assert_stats_consistent(&s);
    assert_eq!(
        stat_of(&s, "remote_hits"),
        0,
        "a bad remote value ({WAYS:?} for sources 0..4) was used\n{}",
        show(&b)
    );
    assert_eq!(
        stat_of(&s, "cache_misses"),
        WAYS.len() as u64,
        "{}",
        show(&b)
    );
    assert!(
        stat_of(&s, "cache_errors") >= WAYS.len() as u64,
        "bad remote values ({WAYS:?}) are not each counted in cache_errors\n{}",
        show(&b)
    );

    // B's misses wrote good values again: machine C hits.
    let c = machine(&srv.env());
    p.build_all(&c);
    assert_eq!(
        c.stat("remote_hits"),
        WAYS.len() as u64,
        "the bad values were not replaced by B's misses\n{}",
        show(&c)
    );
}

/// The server stopped between two builds: the second build is correct, counts the
/// failure, marks the remote down and then skips it.
fn stopped_between_builds(kind: Kind) {
    require!("gcc");
    let Some(mut srv) = Server::start(kind) else {
        return;
    };
    const H: usize = 3;
    let p = Project::new(2 * H, false);
    let env = srv.env();
    let m = machine(&env);
    p.build(&m, 0..H);
    let s1 = m.stats();
    assert_eq!(stat_of(&s1, "remote_errors"), 0, "{}", show(&m));
    assert!(stat_of(&s1, "remote_writes") >= H as u64);
    srv.stop();

    // Same machine: new sources (miss, store fails) and a fresh machine (remote lookups fail).
    p.build(&m, H..2 * H);
    let s2 = m.stats();
    assert_stats_consistent(&s2);
    assert!(
        stat_of(&s2, "remote_errors") >= 1,
        "the dead server was not counted\n{}",
        show(&m)
    );
    assert!(
        !health_markers(&m).is_empty(),
        "no marker in remote-health/\n{}",
        show(&m)
    );
    assert_eq!(stat_of(&s2, "cache_misses"), 2 * H as u64);

    let fresh = machine(&env);
    p.build_all(&fresh);
    let s3 = fresh.stats();
    assert_eq!(
        stat_of(&s3, "cache_misses"),
        2 * H as u64,
        "{}",
        show(&fresh)
    );
    assert_eq!(stat_of(&s3, "remote_hits"), 0);
    let errors = stat_of(&s3, "remote_errors");
    assert!(errors >= 1, "{}", show(&fresh));
    assert!(
        errors <= 3,
        "{errors} remote errors in {} compiles: the health marker did not make later \
         invocations skip the dead remote\n{}",
        2 * H,
        show(&fresh)
    );
}

/// A 50-file build with a dead remote (nothing listening; then a server that accepts and
/// never answers, with the default timeout) takes at most DEAD_REMOTE_SLACK longer than
/// the same build with no remote, and the back-off skips the remote after the failure.
fn dead_remote_timing(kind: Kind) {
    require!("gcc");
    let p = Project::new(TIMING_FILES, false);
    let time_build = |m: &Sandbox| {
        let t = Instant::now();
        p.build_all(m);
        t.elapsed()
    };

    let none = machine(&[]);
    let t_none = time_build(&none);

    // Nothing listening on the port: connection refused.
    let dead = RefusingPort::new();
    let refused = machine(&kind.env_for_port(dead.port));
    let t_refused = time_build(&refused);
    let s = refused.stats();
    assert_eq!(stat_of(&s, "cache_misses"), TIMING_FILES as u64);
    let errors = stat_of(&s, "remote_errors");
    assert!(
        errors >= 1,
        "refused connections not counted\n{}",
        show(&refused)
    );
    assert!(
        errors <= 3,
        "{errors} remote errors in {TIMING_FILES} compiles: no back-off\n{}",
        show(&refused)
    );
    assert!(
        !health_markers(&refused).is_empty(),
        "no marker in remote-health/"
    );
    assert!(
        t_refused <= t_none + DEAD_REMOTE_SLACK,
        "{TIMING_FILES} files: {t_refused:?} with a refused remote vs {t_none:?} with none"
    );

    // A server that accepts and hangs: costs the timeout once, then is skipped.
    let hung = HungServer::start();
    let h = machine(&kind.env_for_port(hung.port));
    let t_hung = time_build(&h);
    let s = h.stats();
    let errors = stat_of(&s, "remote_errors");
    assert!(errors >= 1, "timeouts not counted\n{}", show(&h));
    assert!(
        errors <= 3,
        "{errors} remote errors: no back-off\n{}",
        show(&h)
    );
    assert!(
        hung.connections() <= 3,
        "{} connections to the hung server over {TIMING_FILES} compiles: the marker did \
         not make later invocations skip it",
        hung.connections()
    );
    assert!(
        t_hung <= t_none + DEAD_REMOTE_SLACK,
        "{TIMING_FILES} files: {t_hung:?} with a hung remote (default timeout) vs {t_none:?} \
         with none\n{}",
        show(&h)
    );

    // One invocation against the hung server pays one timeout, not one per request of
    // the client's connection set-up (redis-rs once waited out two CLIENT SETINFO).
    let mut one = machine(&kind.env_for_port(hung.port));
    one.set_env("CACHEPOT_REMOTE_TIMEOUT", "1");
    let single = Project::new(1, false);
    let t = Instant::now();
    single.build_all(&one);
    let t_one = t.elapsed();
    assert!(
        t_one >= Duration::from_millis(900) && t_one < Duration::from_millis(1900),
        "one compile with a hung remote and a 1 s timeout took {t_one:?}\n{}",
        show(&one)
    );

    // The marker is what skips it: without the markers the remote is tried again.
    let before = hung.connections();
    fs::remove_dir_all(h.cache.join("remote-health")).expect("remove remote-health");
    let q = Project::new(1, false);
    q.build_all(&h);
    assert!(
        hung.connections() > before,
        "with remote-health/ removed the remote was not tried again"
    );
}

macro_rules! per_backend {
    ($($scenario:ident),+ $(,)?) => {
        per_backend!(@module redis, Redis, $($scenario),+);
        per_backend!(@module memcached, Memcached, $($scenario),+);
        per_backend!(@module webdav, WebDav, $($scenario),+);
        per_backend!(@module s3, S3, $($scenario),+);
        per_backend!(@module gcs, Gcs, $($scenario),+);
        per_backend!(@module azure, Azure, $($scenario),+);
    };
    (@module $module:ident, $kind:ident, $($scenario:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(super::Kind::$kind);
                }
            )+
        }
    };
}

per_backend!(
    round_trip,
    read_only,
    corrupt_values,
    stopped_between_builds,
    dead_remote_timing,
);

// ---------------------------------------------------------------------------------------
// Backend-specific
// ---------------------------------------------------------------------------------------

/// How many GET commands a redis server has answered (`INFO commandstats`).
fn redis_gets(srv: &Server) -> u64 {
    let Resp::Bulk(Some(text)) = srv.redis(&[b"INFO", b"commandstats"]) else {
        panic!("INFO commandstats answered something else")
    };
    let text = String::from_utf8(text).expect("UTF-8 INFO");
    text.lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|r| r.split(',').next())
        .map(|n| n.parse().expect("calls=<n>"))
        .unwrap_or(0)
}

/// A machine with an empty local cache needs ONE request per direct-mode hit: the
/// manifest travels to the remote bundled with the result it points to, and the result
/// lands in the local cache with it (counted as a remote hit). Two requests per hit
/// (manifest, then result) was the first design: on S3 that doubled a remote build.
#[test]
fn a_direct_hit_from_a_remote_is_one_request() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Redis) else {
        return;
    };
    let p = Project::new(N, true);
    let env = srv.env();
    let a = machine(&env);
    p.build_all(&a);
    let b = machine(&env);
    let before = redis_gets(&srv);
    p.build_all(&b);
    let sb = b.stats();
    assert_eq!(
        stat_of(&sb, "cache_hits"),
        N as u64,
        "B: hits\n{}",
        show(&b)
    );
    assert_eq!(
        stat_of(&sb, "direct_hits"),
        N as u64,
        "B: direct\n{}",
        show(&b)
    );
    assert_eq!(
        stat_of(&sb, "remote_hits"),
        N as u64,
        "B: remote\n{}",
        show(&b)
    );
    assert_eq!(
        redis_gets(&srv) - before,
        N as u64,
        "B sent more than one GET per hit"
    );
    // The manifest B keeps locally is the plain one, not the bundle.
    for e in b.entry_files() {
        let bytes = fs::read(&e).unwrap();
        assert_ne!(bytes[6], 3, "a bundle stored locally: {}", e.display());
    }
}

/// redis://:password@host:port/db: entries land in that database; a wrong password is a
/// counted fault that neither fails the build nor shows up in the log.
#[test]
fn redis_password_and_db() {
    require!("gcc");
    let auth = Auth::RedisPassword {
        password: "pw-Kq81zz".into(),
        db: 3,
    };
    let Some(srv) = Server::start_with(Kind::Redis, auth) else {
        return;
    };
    round_trip_with(&srv);
    // Nothing in database 0.
    let db0 = Server {
        kind: Kind::Redis,
        port: srv.port,
        auth: Auth::RedisPassword {
            password: "pw-Kq81zz".into(),
            db: 0,
        },
        child: None,
        dir: tempfile::tempdir().unwrap(),
    };
    assert_eq!(
        db0.object_count(),
        0,
        "entries written to db 0, not to the URL's db 3"
    );

    let p = Project::new(2, false);
    let wrong = machine(&[(
        "CACHEPOT_REDIS".into(),
        format!("redis://:wrong-Zr55qq@{LOCALHOST}:{}/3", srv.port),
    )]);
    p.build_all(&wrong);
    let s = wrong.stats();
    assert!(
        stat_of(&s, "remote_errors") >= 1,
        "a refused password is a fault\n{}",
        show(&wrong)
    );
    assert_eq!(stat_of(&s, "remote_hits"), 0);
    assert!(
        !wrong.log_text().contains("wrong-Zr55qq"),
        "the redis password is in the log:\n{}",
        wrong.log_text()
    );
}

/// Several memcached servers (separated by commas, or by spaces): entries spread over
/// them and are found again by a second machine.
#[test]
fn memcached_several_servers() {
    require!("gcc");
    let Some(m1) = Server::start(Kind::Memcached) else {
        return;
    };
    let Some(m2) = Server::start(Kind::Memcached) else {
        return;
    };
    for sep in [",", " ", ", "] {
        let p = Project::new(8, false);
        let list = format!(
            "tcp://{LOCALHOST}:{}{sep}tcp://{LOCALHOST}:{}",
            m1.port, m2.port
        );
        let env = vec![("CACHEPOT_MEMCACHED".to_string(), list.clone())];
        let before = m1.object_count() + m2.object_count();
        let a = machine(&env);
        p.build_all(&a);
        let sa = a.stats();
        assert_eq!(stat_of(&sa, "remote_errors"), 0, "{list:?}\n{}", show(&a));
        let writes = stat_of(&sa, "remote_writes");
        assert!(writes >= 8, "{list:?}\n{}", show(&a));
        assert_eq!(
            m1.object_count() + m2.object_count() - before,
            writes,
            "{list:?}: objects on the two servers vs remote_writes"
        );
        let b = machine(&env);
        p.build_all(&b);
        assert_eq!(b.stat("remote_hits"), 8, "{list:?}\n{}", show(&b));
    }
    // 3 x 8 sources, at least 2 entries each, hashed over two servers: both get some.
    assert!(
        m1.object_count() > 0 && m2.object_count() > 0,
        "entries not spread over the servers: {} and {}",
        m1.object_count(),
        m2.object_count()
    );
}

/// WebDAV with basic auth on nginx: the round trip works with the right credentials; a
/// wrong password is a counted fault, stores nothing and is not logged.
#[test]
fn webdav_basic_auth() {
    require!("gcc");
    let auth = Auth::Basic {
        user: "ci".into(),
        password: "basic-Pw93xx".into(),
    };
    let Some(srv) = Server::start_with(Kind::WebDav, auth) else {
        return;
    };
    round_trip_with(&srv);
    let count = srv.object_count();

    let p = Project::new(2, false);
    let mut env = Kind::WebDav.env_for_port(srv.port);
    env.push(("CACHEPOT_WEBDAV_USERNAME".into(), "ci".into()));
    env.push(("CACHEPOT_WEBDAV_PASSWORD".into(), "wrong-Bx71qq".into()));
    assert_wrong_secret_is_a_quiet_fault(&srv, &p, &env, count, "wrong-Bx71qq");

    // No credentials at all against the protected server: also a fault.
    let anon = machine(&Kind::WebDav.env_for_port(srv.port));
    p.build_all(&anon);
    assert!(anon.stat("remote_errors") >= 1, "{}", show(&anon));
    assert_eq!(srv.object_count(), count);
}

/// A build on a machine with the wrong `secret` in `env`: the 401 is a counted fault,
/// nothing is stored, and the secret stays out of the log.
fn assert_wrong_secret_is_a_quiet_fault(
    srv: &Server,
    p: &Project,
    env: &[(String, String)],
    count: u64,
    secret: &str,
) {
    let wrong = machine(env);
    p.build_all(&wrong);
    assert!(
        wrong.stat("remote_errors") >= 1,
        "a 401 is a fault\n{}",
        show(&wrong)
    );
    assert_eq!(srv.object_count(), count, "stored with a wrong {secret}");
    assert!(!wrong.log_text().contains(secret), "{secret} is in the log");
}

/// WebDAV with a bearer token.
#[test]
fn webdav_bearer_token() {
    require!("gcc");
    let auth = Auth::Bearer {
        token: "tok-Hh27ee".into(),
    };
    let Some(srv) = Server::start_with(Kind::WebDav, auth) else {
        return;
    };
    round_trip_with(&srv);
    let count = srv.object_count();

    let p = Project::new(2, false);
    let mut env = Kind::WebDav.env_for_port(srv.port);
    env.push(("CACHEPOT_WEBDAV_TOKEN".into(), "tok-wrong-Yy90".into()));
    assert_wrong_secret_is_a_quiet_fault(&srv, &p, &env, count, "tok-wrong-Yy90");
}

/// Entries on the server written without CACHEPOT_HMAC_KEY are misses for a machine that
/// has the key (a remote value is verified like a local one).
#[test]
fn redis_entries_without_the_hmac_key_are_misses() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Redis) else {
        return;
    };
    let p = Project::new(N, false);
    let a = machine(&srv.env());
    p.build_all(&a);
    let mut env = srv.env();
    env.push(("CACHEPOT_HMAC_KEY".into(), "shared-secret-1".into()));
    let b = machine(&env);
    p.build_all(&b);
    let s = b.stats();
    assert_eq!(
        stat_of(&s, "remote_hits"),
        0,
        "unauthenticated remote entries used\n{}",
        show(&b)
    );
    assert_eq!(stat_of(&s, "cache_misses"), N as u64);
}

/// A remote configured but every server answering: the human stats mention the remote
/// counters too, and every stats key is an integer.
#[test]
fn remote_stats_keys_are_integers() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Redis) else {
        return;
    };
    let p = Project::new(1, false);
    let a = machine(&srv.env());
    p.build_all(&a);
    let v = a.stats();
    for key in [
        "remote_hits",
        "remote_errors",
        "remote_writes",
        "remote_latency_ms",
    ] {
        stat_of(&v, key);
    }
    let human = a.cachepot(&["--show-stats"]);
    a.assert_success(&human, "--show-stats");
    let text = lossy(&human.stdout).to_lowercase();
    assert!(
        text.contains("remote"),
        "the human stats show no remote counters:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Google Cloud Storage and Azure Blob
// ---------------------------------------------------------------------------------------

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 form value")
}

/// `k=v&k=v` → pairs, decoded.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The env of a GCS machine: bucket and endpoint, plus `extra`.
fn gcs_env(endpoint_port: u16, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("CACHEPOT_GCS_BUCKET".to_string(), GCS_BUCKET.to_string()),
        (
            "CACHEPOT_GCS_ENDPOINT".to_string(),
            format!("http://{LOCALHOST}:{endpoint_port}"),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// The token files a machine holds: owner-only files in an owner-only directory.
fn gcs_token_files(m: &Sandbox) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = m.cache.join("gcs-tokens-v1");
    let files: Vec<PathBuf> = walk_files(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    for f in &files {
        let mode = fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "token file {} has mode {mode:o}", f.display());
    }
    if !files.is_empty() {
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "token dir has mode {mode:o}");
    }
    files
}

/// Runs `openssl args...` and asserts it succeeded.
fn openssl(args: &[&OsStr]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        lossy(&out.stderr)
    );
}

/// Checks the JWT bearer grant a token server got: the form, the header and claims, and
/// the RS256 signature against the public key (verified by openssl, not by our code).
fn check_jwt_grant(req: &SeenRequest, email: &str, token_uri: &str, public_pem: &Path) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    assert_eq!(req.method, "POST", "token request method");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = form_fields(&req.body);
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} in the token request {form:?}"))
    };
    assert_eq!(
        field("grant_type"),
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let jwt = field("assertion");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {jwt}");
    let part = |i: usize| -> serde_json::Value {
        serde_json::from_slice(&b64.decode(parts[i]).expect("base64url JWT part"))
            .expect("JSON JWT part")
    };
    let (header, claims) = (part(0), part(1));
    assert_eq!(header["alg"], "RS256", "{header}");
    assert_eq!(header["typ"], "JWT", "{header}");
    assert_eq!(header["kid"], "kid-5521", "{header}");
    assert_eq!(claims["iss"], email, "{claims}");
    assert_eq!(claims["aud"], token_uri, "{claims}");
    assert_eq!(
        claims["scope"], "https://www.googleapis.com/auth/devstorage.read_write",
        "{claims}"
    );
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert!((iat - unix_now()).abs() < 600, "iat {iat} is not now");
    assert!(exp > iat && exp - iat <= 3600, "exp {exp} vs iat {iat}");

    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("signed");
    let sig = dir.path().join("sig");
    fs::write(&signed, format!("{}.{}", parts[0], parts[1])).unwrap();
    fs::write(&sig, b64.decode(parts[2]).expect("base64url signature")).unwrap();
    let verify = |input: &Path| {
        Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(public_pem)
            .arg("-signature")
            .arg(&sig)
            .arg(input)
            .output()
            .expect("openssl dgst")
    };
    let out = verify(&signed);
    assert!(
        out.status.success() && lossy(&out.stdout).contains("Verified OK"),
        "the JWT's RS256 signature does not verify: {}{}",
        lossy(&out.stdout),
        lossy(&out.stderr)
    );
    // The check can fail: other claims under the same signature do not verify.
    let forged = dir.path().join("forged");
    let other = b64.encode(claims.to_string().replace(email, "attacker@example.com"));
    fs::write(&forged, format!("{}.{other}", parts[0])).unwrap();
    assert!(
        !verify(&forged).status.success(),
        "a forged claim set verified"
    );
}

/// A service-account key file: cachepot signs a JWT (RS256, the key's token_uri as the
/// audience) that verifies with the public key, exchanges it once at the token server
/// for two compiles (the token is kept on disk, owner-only, for the next invocation),
/// and sends `Authorization: Bearer <token>` on every storage request. With credentials
/// the default mode is read-write.
#[test]
fn gcs_service_account_key_file() {
    require!("gcc", "openssl");
    let Some(srv) = Server::start(Kind::Gcs) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let (key_pem, pub_pem) = (keys.path().join("key.pem"), keys.path().join("pub.pem"));
    openssl(&[
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "RSA".as_ref(),
        "-pkeyopt".as_ref(),
        "rsa_keygen_bits:2048".as_ref(),
        "-out".as_ref(),
        key_pem.as_os_str(),
    ]);
    openssl(&[
        "pkey".as_ref(),
        "-in".as_ref(),
        key_pem.as_os_str(),
        "-pubout".as_ref(),
        "-out".as_ref(),
        pub_pem.as_os_str(),
    ]);
    const TOKEN: &str = "ya29.sa-Tok-6Qx1";
    let tokens = HttpServer::start(Box::new(|req| {
        if req.method == "POST" && req.target == "/token" {
            json_response(serde_json::json!({
                "access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"
            }))
        } else {
            response(404, "text/plain", b"no such path")
        }
    }));
    let proxy = HttpServer::proxy(srv.port);
    let token_uri = tokens.url("/token");
    let email = "cachepot-ci@test-project.iam.gserviceaccount.com";
    let private_key = fs::read_to_string(&key_pem).unwrap();
    assert!(private_key.contains("BEGIN PRIVATE KEY"), "not PKCS#8");
    let sa = serde_json::json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "kid-5521",
        "private_key": private_key,
        "client_email": email,
        "client_id": "1234",
        "token_uri": token_uri,
    });
    let sa_path = keys.path().join("sa.json");
    fs::write(&sa_path, sa.to_string()).unwrap();
    let env = gcs_env(
        proxy.port,
        &[("CACHEPOT_GCS_KEY_PATH", sa_path.to_str().unwrap())],
    );

    let p = Project::new(2, false);
    let a = machine(&env);
    p.build(&a, 0..1);
    let first = proxy.seen().len();
    assert!(first > 0, "the first compile sent nothing to the bucket");
    p.build(&a, 1..2);

    let grants = tokens.seen();
    assert_eq!(
        grants.len(),
        1,
        "two compiles must share one token (kept on disk): {} token requests\n{}",
        grants.len(),
        show(&a)
    );
    check_jwt_grant(&grants[0], email, &token_uri, &pub_pem);

    let storage = proxy.seen();
    assert!(
        storage.len() > first,
        "the second compile sent nothing to the bucket"
    );
    for r in &storage {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{} {} without the token",
            r.method,
            r.target
        );
    }
    assert!(storage
        .iter()
        .any(|r| r.method == "POST" && r.target.starts_with("/upload/storage/v1/b/cachepot/o?")));
    assert!(storage
        .iter()
        .any(|r| r.method == "GET" && r.target.contains("?alt=media")));
    let s = a.stats();
    assert_eq!(stat_of(&s, "remote_errors"), 0, "{}", show(&a));
    assert_eq!(stat_of(&s, "remote_writes"), srv.object_count());
    assert_eq!(srv.keys(), local_entries(&a));

    let files = gcs_token_files(&a);
    assert_eq!(files.len(), 1, "token files: {files:?}");
    assert!(fs::read_to_string(&files[0]).unwrap().contains(TOKEN));
    let log = a.log_text();
    assert!(!log.contains(TOKEN), "the token is in the log");
    let key_line = private_key.lines().nth(3).expect("a PEM body line");
    assert!(!log.contains(key_line), "the private key is in the log");

    // Another machine (its own cache dir) signs its own request and hits the remote.
    let b = machine(&env);
    p.build_all(&b);
    assert_eq!(b.stat("remote_hits"), 2, "{}", show(&b));
    assert_eq!(tokens.seen().len(), 2);
}

/// A credentials URL: its token (RFC 3339 `expireTime`) is fetched once for two compiles
/// and sent as a bearer token; a token that expires within the reuse margin is fetched
/// again by the next invocation; a credentials URL that fails is a counted fault that
/// neither fails the build nor stores anything.
#[test]
fn gcs_credentials_url() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Gcs) else {
        return;
    };
    const TOKEN: &str = "cred-Tok-9Zr2";
    const SHORT: &str = "short-Tok-1Hq";
    let creds = HttpServer::start(Box::new(|req| match req.target.as_str() {
        "/token" => json_response(serde_json::json!({
            "accessToken": TOKEN, "expireTime": "2999-01-01T00:00:00Z"
        })),
        "/short" => json_response(serde_json::json!({"access_token": SHORT, "expires_in": 30})),
        "/broken" => response(500, "text/plain", b"metadata server trouble"),
        _ => response(404, "text/plain", b"no such path"),
    }));
    let proxy = HttpServer::proxy(srv.port);
    let hits = |path: &str| creds.seen().iter().filter(|r| r.target == path).count();
    let p = Project::new(2, false);

    let url = creds.url("/token");
    let a = machine(&gcs_env(
        proxy.port,
        &[("CACHEPOT_GCS_CREDENTIALS_URL", url.as_str())],
    ));
    p.build(&a, 0..1);
    p.build(&a, 1..2);
    assert_eq!(
        hits("/token"),
        1,
        "two compiles, one token fetch\n{}",
        show(&a)
    );
    assert_eq!(creds.seen()[0].header("metadata-flavor"), Some("Google"));
    let s = a.stats();
    assert_eq!(stat_of(&s, "remote_errors"), 0, "{}", show(&a));
    assert!(
        stat_of(&s, "remote_writes") >= 2,
        "with credentials the default is read-write\n{}",
        show(&a)
    );
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    assert!(seen
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}"))));
    assert_eq!(gcs_token_files(&a).len(), 1);
    let count = srv.object_count();

    // 30 s left is inside the reuse margin: every invocation fetches anew.
    let url = creds.url("/short");
    let sm = machine(&gcs_env(
        proxy.port,
        &[("CACHEPOT_GCS_CREDENTIALS_URL", url.as_str())],
    ));
    let before = proxy.seen().len();
    p.build(&sm, 0..1);
    p.build(&sm, 1..2);
    assert_eq!(hits("/short"), 2, "a nearly expired token was reused");
    assert_eq!(sm.stat("remote_hits"), 2, "{}", show(&sm));
    assert!(proxy.seen()[before..]
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {SHORT}"))));

    // The credentials URL fails: counted, build correct, nothing stored.
    let url = creds.url("/broken");
    let q = Project::new(2, false);
    let bad = machine(&gcs_env(
        proxy.port,
        &[("CACHEPOT_GCS_CREDENTIALS_URL", url.as_str())],
    ));
    let before = proxy.seen().len();
    q.build_all(&bad);
    let s = bad.stats();
    assert!(stat_of(&s, "remote_errors") >= 1, "{}", show(&bad));
    assert_eq!(stat_of(&s, "remote_writes"), 0);
    assert_eq!(stat_of(&s, "cache_misses"), 2);
    assert_eq!(
        proxy.seen().len(),
        before,
        "requests sent to the bucket without a token"
    );
    assert_eq!(srv.object_count(), count);
    assert!(hits("/broken") >= 1);
}

/// A token the bucket refuses (401: revoked, or expired early) is dropped from disk, so
/// that the next invocation after the back-off fetches a new one instead of reusing it
/// until its stated expiry. The emulator checks no token, so the proxy in front of it
/// refuses the revoked one the way GCS would.
#[test]
fn gcs_refused_token_is_fetched_again() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Gcs) else {
        return;
    };
    const REVOKED: &str = "revoked-Tok-3Mm";
    const FRESH: &str = "fresh-Tok-8Kd";
    let served = Arc::new(AtomicUsize::new(0));
    let n = served.clone();
    let creds = HttpServer::start(Box::new(move |_| {
        let token = if n.fetch_add(1, Ordering::SeqCst) == 0 {
            REVOKED
        } else {
            FRESH
        };
        json_response(serde_json::json!({"access_token": token, "expires_in": 3600}))
    }));
    let upstream = srv.port;
    let proxy = HttpServer::start(Box::new(move |req| {
        if req.header("authorization") == Some(&format!("Bearer {REVOKED}")) {
            response(401, "application/json", br#"{"error":{"code":401}}"#)
        } else {
            forward(upstream, req)
        }
    }));
    let url = creds.url("/token");
    let m = machine(&gcs_env(
        proxy.port,
        &[("CACHEPOT_GCS_CREDENTIALS_URL", url.as_str())],
    ));
    let p = Project::new(2, false);
    p.build(&m, 0..1);
    assert_eq!(m.stat("remote_errors"), 1, "a 401 is a fault\n{}", show(&m));
    assert!(
        gcs_token_files(&m).is_empty(),
        "the refused token was kept on disk"
    );
    // After the back-off (skipped here by removing the marker): a new token, and it works.
    fs::remove_dir_all(m.cache.join("remote-health")).expect("remove remote-health");
    p.build(&m, 1..2);
    let s = m.stats();
    assert_eq!(served.load(Ordering::SeqCst), 2, "no new token was fetched");
    assert_eq!(stat_of(&s, "remote_errors"), 1, "{}", show(&m));
    assert!(stat_of(&s, "remote_writes") >= 1, "{}", show(&m));
    assert!(proxy
        .seen()
        .iter()
        .any(|r| r.header("authorization") == Some(&format!("Bearer {FRESH}"))));
}

/// CACHEPOT_GCS_RW_MODE=READ_ONLY: misses store nothing in the bucket (even though the
/// emulator would accept it); hits are still read.
#[test]
fn gcs_read_only_mode_stores_nothing() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Gcs) else {
        return;
    };
    let p = Project::new(2, false);
    let ro_env = gcs_env(srv.port, &[("CACHEPOT_GCS_RW_MODE", "READ_ONLY")]);
    let ro = machine(&ro_env);
    p.build_all(&ro);
    let s = ro.stats();
    assert_eq!(stat_of(&s, "cache_misses"), 2, "{}", show(&ro));
    assert_eq!(stat_of(&s, "remote_writes"), 0, "{}", show(&ro));
    assert_eq!(stat_of(&s, "remote_errors"), 0, "{}", show(&ro));
    assert_eq!(srv.object_count(), 0, "READ_ONLY stored objects");

    let w = machine(&srv.env());
    p.build_all(&w);
    assert!(srv.object_count() >= 2);
    let ro2 = machine(&ro_env);
    p.build_all(&ro2);
    assert_eq!(ro2.stat("remote_hits"), 2, "{}", show(&ro2));
}

/// No credentials and no CACHEPOT_GCS_RW_MODE: anonymous requests (no Authorization
/// header) and read-only by default.
#[test]
fn gcs_without_credentials_is_read_only_by_default() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Gcs) else {
        return;
    };
    let proxy = HttpServer::proxy(srv.port);
    let p = Project::new(2, false);
    let env = gcs_env(proxy.port, &[]);
    let anon = machine(&env);
    p.build_all(&anon);
    let s = anon.stats();
    assert_eq!(stat_of(&s, "remote_writes"), 0, "{}", show(&anon));
    assert_eq!(stat_of(&s, "remote_errors"), 0, "{}", show(&anon));
    assert_eq!(srv.object_count(), 0, "stored without credentials");
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "no lookups were made");
    assert!(
        seen.iter()
            .all(|r| r.method == "GET" && r.header("authorization").is_none()),
        "anonymous lookups only: {seen:?}"
    );

    let w = machine(&srv.env());
    p.build_all(&w);
    let anon2 = machine(&env);
    p.build_all(&anon2);
    assert_eq!(anon2.stat("remote_hits"), 2, "{}", show(&anon2));
}

/// GCS settings that cannot work are configuration errors: exit 2, one line naming the
/// setting, nothing compiled, no private key quoted.
#[test]
fn gcs_malformed_settings_are_configuration_errors() {
    require!("gcc");
    let s = Sandbox::new();
    s.hello(&GCC);
    let not_json = s.write(
        "not-json.json",
        "-----BEGIN PRIVATE KEY-----\nU2VjcmV0S2V5\n",
    );
    let no_key = s.write(
        "no-key.json",
        r#"{"type":"service_account","client_email":"a@b.c"}"#,
    );
    let bad_key = s.write(
        "bad-key.json",
        r#"{"type":"service_account","client_email":"a@b.c","private_key":"-----BEGIN PRIVATE KEY-----\nU2VjcmV0S2V5\n-----END PRIVATE KEY-----\n"}"#,
    );
    let user = s.write("user.json", r#"{"type":"authorized_user"}"#);
    let missing = s.path("missing.json");
    let cases: Vec<(&str, String)> = vec![
        ("CACHEPOT_GCS_BUCKET", "Bad/Bucket".into()),
        ("CACHEPOT_GCS_ENDPOINT", "ftp://127.0.0.1:1".into()),
        ("CACHEPOT_GCS_ENDPOINT", "127.0.0.1:notaport".into()),
        ("CACHEPOT_GCS_RW_MODE", "sometimes".into()),
        ("CACHEPOT_GCS_KEY_PATH", missing.display().to_string()),
        ("CACHEPOT_GCS_KEY_PATH", not_json.display().to_string()),
        ("CACHEPOT_GCS_KEY_PATH", no_key.display().to_string()),
        ("CACHEPOT_GCS_KEY_PATH", bad_key.display().to_string()),
        ("CACHEPOT_GCS_KEY_PATH", user.display().to_string()),
        ("CACHEPOT_GCS_CREDENTIALS_URL", "not a url".into()),
    ];
    for (var, value) in &cases {
        let mut m = Sandbox::new();
        m.set_env("CACHEPOT_GCS_BUCKET", "cachepot");
        m.set_env("CACHEPOT_GCS_ENDPOINT", "http://127.0.0.1:1");
        m.set_env(var, value);
        let err = assert_configuration_error(&m, &s, var, &format!("{var}={value:?}"));
        assert!(!err.contains("U2VjcmV0"), "{var}: the key is quoted: {err}");
    }
}

/// A wrong account key: Azurite refuses the signature (403); counted in remote_errors,
/// the build is correct, nothing is stored, and no key reaches the log.
#[test]
fn azure_wrong_account_key_is_a_fault() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Azure) else {
        return;
    };
    use base64::Engine;
    let wrong = base64::engine::general_purpose::STANDARD.encode([0x5au8; 64]);
    let env = vec![
        (
            "CACHEPOT_AZURE_CONNECTION_STRING".to_string(),
            azure_connection_string(srv.port, &wrong),
        ),
        (
            "CACHEPOT_AZURE_BLOB_CONTAINER".to_string(),
            AZURE_CONTAINER.to_string(),
        ),
    ];
    let p = Project::new(2, false);
    let m = machine(&env);
    p.build_all(&m);
    let s = m.stats();
    assert!(stat_of(&s, "remote_errors") >= 1, "{}", show(&m));
    assert_eq!(stat_of(&s, "remote_hits"), 0);
    assert_eq!(stat_of(&s, "remote_writes"), 0);
    assert_eq!(stat_of(&s, "cache_misses"), 2);
    assert!(!health_markers(&m).is_empty(), "no remote-health marker");
    assert_eq!(srv.object_count(), 0, "stored with a wrong key");
    let log = m.log_text();
    assert!(log.contains("403"), "the refusal is not logged:\n{log}");
    for key in [wrong.as_str(), AZURE_KEY] {
        assert!(!log.contains(key), "an account key is in the log");
    }
}

/// A container that does not exist is a counted fault (never created behind the
/// user's back), the build is correct.
#[test]
fn azure_missing_container_is_a_fault() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::Azure) else {
        return;
    };
    let mut env = srv.env();
    env.retain(|(k, _)| k != "CACHEPOT_AZURE_BLOB_CONTAINER");
    env.push(("CACHEPOT_AZURE_BLOB_CONTAINER".into(), "no-such-box".into()));
    let p = Project::new(2, false);
    let m = machine(&env);
    p.build_all(&m);
    let s = m.stats();
    assert!(stat_of(&s, "remote_errors") >= 1, "{}", show(&m));
    assert_eq!(stat_of(&s, "remote_writes"), 0);
    assert_eq!(stat_of(&s, "cache_misses"), 2);
    assert!(m.log_text().contains("ContainerNotFound"), "{}", show(&m));
    // A read-only machine only reads: the missing container is still a fault, not a miss.
    env.push(("CACHEPOT_REMOTE_READ_ONLY".into(), "1".into()));
    let ro = machine(&env);
    p.build_all(&ro);
    assert!(ro.stat("remote_errors") >= 1, "{}", show(&ro));
    let (status, _) = azure_request(
        srv.port,
        "GET",
        "/no-such-box",
        &[("restype", "container")],
        None,
        AZURE_KEY,
    );
    assert_eq!(status, 404, "the container was created");
    assert_eq!(srv.object_count(), 0);
}

/// A connection string that cannot work, or a missing or malformed container name: exit
/// 2, one line naming the setting, nothing compiled, and never the account key.
#[test]
fn azure_malformed_settings_are_configuration_errors() {
    require!("gcc");
    let s = Sandbox::new();
    s.hello(&GCC);
    const SECRET: &str = "U2VjcmV0S2V5TWF0ZXJpYWw=";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "CACHEPOT_AZURE_CONNECTION_STRING",
            format!("AccountKey={SECRET}"),
            "cachepot",
        ),
        (
            "CACHEPOT_AZURE_CONNECTION_STRING",
            "AccountName=acct".into(),
            "cachepot",
        ),
        (
            "CACHEPOT_AZURE_CONNECTION_STRING",
            "AccountName=acct;AccountKey=SecretKey*NotB64!".into(),
            "cachepot",
        ),
        (
            "CACHEPOT_AZURE_CONNECTION_STRING",
            format!("AccountName=acct;{SECRET}"),
            "cachepot",
        ),
        (
            "CACHEPOT_AZURE_CONNECTION_STRING",
            format!("AccountName=acct;AccountKey={SECRET};BlobEndpoint=ftp://127.0.0.1:1"),
            "cachepot",
        ),
        (
            "CACHEPOT_AZURE_BLOB_CONTAINER",
            azure_connection_string(1, SECRET),
            "",
        ),
        (
            "CACHEPOT_AZURE_BLOB_CONTAINER",
            azure_connection_string(1, SECRET),
            "Bad_Name",
        ),
    ];
    for (var, conn, container) in &cases {
        let mut m = Sandbox::new();
        m.set_env("CACHEPOT_AZURE_CONNECTION_STRING", conn);
        if !container.is_empty() {
            m.set_env("CACHEPOT_AZURE_BLOB_CONTAINER", container);
        }
        let err = assert_configuration_error(&m, &s, var, &format!("{conn:?} {container:?}"));
        for secret in ["U2VjcmV0", "SecretKey"] {
            assert!(!err.contains(secret), "the key is quoted: {err}");
        }
    }
}

/// --show-config masks the Azure connection string (it holds the account key) and
/// shows the container and the GCS settings.
#[test]
fn show_config_masks_the_azure_connection_string() {
    let mut m = Sandbox::new();
    m.set_env(
        "CACHEPOT_AZURE_CONNECTION_STRING",
        azure_connection_string(1, AZURE_KEY),
    );
    m.set_env("CACHEPOT_AZURE_BLOB_CONTAINER", "box-17");
    m.set_env("CACHEPOT_GCS_BUCKET", "bucket-31");
    m.set_env("CACHEPOT_GCS_RW_MODE", "READ_ONLY");
    let out = m.cachepot(&["--show-config"]);
    m.assert_success(&out, "--show-config");
    let text = format!("{}{}", lossy(&out.stdout), lossy(&out.stderr));
    assert!(
        !text.contains(&AZURE_KEY[..20]),
        "the key is shown:\n{text}"
    );
    assert!(
        !text.contains("AccountName"),
        "the string is shown:\n{text}"
    );
    assert!(text.contains("********"), "no mask:\n{text}");
    for visible in ["box-17", "bucket-31", "READ_ONLY"] {
        assert!(text.contains(visible), "{visible} not shown:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// A URL that does not parse (and a malformed remote switch or timeout) is a
/// configuration error: exit 2, one line on stderr naming the setting, nothing compiled.
#[test]
fn malformed_remote_settings_are_configuration_errors() {
    require!("gcc");
    let s = Sandbox::new();
    s.hello(&GCC);
    let dead = RefusingPort::new();
    let cases: &[(&str, &str)] = &[
        ("CACHEPOT_REDIS", "notaurl"),
        ("CACHEPOT_REDIS", "http://127.0.0.1:6379"),
        ("CACHEPOT_MEMCACHED", "http://x"),
        ("CACHEPOT_MEMCACHED", "tcp://127.0.0.1:11211,notaurl"),
        ("CACHEPOT_WEBDAV_ENDPOINT", "ftp://x"),
        ("CACHEPOT_WEBDAV_ENDPOINT", "not a url"),
        ("CACHEPOT_WEBDAV_ENDPOINT", "http://[::1"),
        ("CACHEPOT_WEBDAV_ENDPOINT", "http://127.0.0.1:abc/"),
        ("CACHEPOT_WEBDAV_ENDPOINT", "http://127.0.0.1:99999/"),
        ("CACHEPOT_GCS_ENDPOINT", "http://[::1"),
        (
            "CACHEPOT_AZURE_CONNECTION_STRING",
            "BlobEndpoint=http://[::1;AccountName=a;AccountKey=a2V5",
        ),
        ("CACHEPOT_REMOTE_TIMEOUT", "fast"),
        ("CACHEPOT_REMOTE_READ_ONLY", "maybe"),
    ];
    for (var, value) in cases {
        let mut m = Sandbox::new();
        m.set_env(var, value);
        if *var == "CACHEPOT_GCS_ENDPOINT" {
            m.set_env("CACHEPOT_GCS_BUCKET", "bucket");
        }
        if *var == "CACHEPOT_AZURE_CONNECTION_STRING" {
            m.set_env("CACHEPOT_AZURE_BLOB_CONTAINER", "container");
        }
        if var.starts_with("CACHEPOT_REMOTE_") {
            // A switch or timeout only matters with a remote configured.
            m.set_env(
                "CACHEPOT_REDIS",
                format!("redis://{LOCALHOST}:{}", dead.port),
            );
        }
        assert_configuration_error(&m, &s, var, &format!("{var}={value:?}"));
    }
}

/// The same malformed URLs given in the config file: the message names the file's key
/// and the file, not an environment variable the user never set.
#[test]
fn malformed_remote_urls_in_the_config_file_name_their_key() {
    require!("gcc");
    let s = Sandbox::new();
    s.hello(&GCC);
    for (key, value) in [
        ("redis", "notaurl"),
        ("memcached", "http://x"),
        ("webdav_endpoint", "http://[::1"),
    ] {
        let mut m = Sandbox::new();
        let conf = m.root().join("conf.toml");
        fs::write(&conf, format!("{key} = \"{value}\"\n")).unwrap();
        m.set_env("CACHEPOT_CONF", &conf);
        let err = assert_configuration_error(&m, &s, key, key);
        assert!(err.contains(&*conf.to_string_lossy()), "{err}");
        assert!(!err.contains("CACHEPOT_"), "{err}");
    }
}

/// --show-config masks the WebDAV password and token and a password inside the redis
/// URL as ********, keeping the rest visible.
#[test]
fn show_config_masks_secrets() {
    let mut m = Sandbox::new();
    m.set_env("CACHEPOT_REDIS", "redis://:RedisPw-4417@127.0.0.1:6390/2");
    m.set_env("CACHEPOT_WEBDAV_ENDPOINT", "http://127.0.0.1:6391/cache/");
    m.set_env("CACHEPOT_WEBDAV_USERNAME", "davuser");
    m.set_env("CACHEPOT_WEBDAV_PASSWORD", "DavPw-8812");
    m.set_env("CACHEPOT_WEBDAV_TOKEN", "DavTok-5531");
    let out = m.cachepot(&["--show-config"]);
    m.assert_success(&out, "--show-config");
    let text = format!("{}{}", lossy(&out.stdout), lossy(&out.stderr));
    for secret in ["RedisPw-4417", "DavPw-8812", "DavTok-5531"] {
        assert!(
            !text.contains(secret),
            "--show-config shows {secret}:\n{text}"
        );
    }
    assert!(text.contains("********"), "no ******** mask in:\n{text}");
    assert!(
        text.contains("127.0.0.1:6390"),
        "the redis URL's host should stay visible:\n{text}"
    );
    assert!(
        text.contains("davuser"),
        "the user name is not a secret:\n{text}"
    );

    // A compile with those settings (nothing listens there) logs nothing secret either.
    require!("gcc");
    let (dead1, dead2) = (RefusingPort::new(), RefusingPort::new());
    m.set_env(
        "CACHEPOT_REDIS",
        format!("redis://:RedisPw-4417@{LOCALHOST}:{}/2", dead1.port),
    );
    m.set_env(
        "CACHEPOT_WEBDAV_ENDPOINT",
        format!("http://{LOCALHOST}:{}/cache/", dead2.port),
    );
    m.hello(&GCC);
    let out = cachepot_deadline(&m, &m.work, &["gcc", "-c", "hello.c", "-o", "hello.o"]);
    m.assert_success(&out, "compile with dead remotes");
    let log = m.log_text();
    for secret in ["RedisPw-4417", "DavPw-8812", "DavTok-5531"] {
        assert!(!log.contains(secret), "the log shows {secret}:\n{log}");
        assert!(
            !lossy(&out.stderr).contains(secret),
            "stderr shows {secret}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// S3 (moto)
// ---------------------------------------------------------------------------------------

/// The S3 settings for `srv` (static keys) with `extra` on top (later pairs win).
fn s3_env(port: u16, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = Kind::S3.env_for_port(port);
    for (k, v) in extra {
        env.retain(|(n, _)| n != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// The settings of an S3 machine with no static keys (credentials come from elsewhere).
fn s3_env_without_keys(port: u16, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = s3_env(port, extra);
    env.retain(|(n, _)| n != "AWS_ACCESS_KEY_ID" && n != "AWS_SECRET_ACCESS_KEY");
    env
}

/// The access key and region of each signed request a proxy saw (panics on an unsigned one).
fn credential_scopes(seen: &[SeenRequest]) -> BTreeSet<(String, String)> {
    seen.iter()
        .map(|r| {
            let auth = r
                .header("authorization")
                .unwrap_or_else(|| panic!("{} {} was not signed", r.method, r.target));
            let cred = auth
                .split("Credential=")
                .nth(1)
                .and_then(|c| c.split(',').next())
                .unwrap_or_else(|| panic!("no Credential= in {auth:?}"));
            let parts: Vec<&str> = cred.split('/').collect();
            assert_eq!(parts.len(), 5, "credential scope {cred:?}");
            assert_eq!(&parts[3..], ["s3", "aws4_request"], "{cred:?}");
            (parts[0].to_owned(), parts[2].to_owned())
        })
        .collect()
}

/// CACHEPOT_S3_KEY_PREFIX: every object is `<prefix>cachepot/<2 hex>/<64 hex>`, a machine
/// with the same prefix hits, one with another prefix does not see those entries.
#[test]
fn s3_key_prefix() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::S3) else {
        return;
    };
    const PREFIX: &str = "team-a/ci/";
    let p = Project::new(3, false);
    let env = s3_env(srv.port, &[("CACHEPOT_S3_KEY_PREFIX", PREFIX)]);
    let a = machine(&env);
    p.build_all(&a);
    assert_eq!(a.stat("remote_errors"), 0, "{}", show(&a));
    let names = srv.s3_list(S3_BUCKET);
    assert!(names.len() >= 3, "{names:?}");
    let hexes: BTreeSet<String> = names
        .iter()
        .map(|n| s3_entry_of_object(n, PREFIX))
        .collect();
    assert_eq!(hexes, local_entries(&a), "objects vs A's local entries");

    let same = machine(&env);
    p.build_all(&same);
    assert_eq!(same.stat("remote_hits"), 3, "{}", show(&same));

    let other = machine(&s3_env(srv.port, &[("CACHEPOT_S3_KEY_PREFIX", "team-b/")]));
    p.build_all(&other);
    let s = other.stats();
    assert_eq!(stat_of(&s, "remote_hits"), 0, "{}", show(&other));
    assert_eq!(stat_of(&s, "remote_errors"), 0, "{}", show(&other));
    assert!(
        srv.s3_list(S3_BUCKET)
            .iter()
            .any(|n| n.starts_with("team-b/cachepot/")),
        "the second prefix stored nothing"
    );
}

/// A bucket that does not exist: the build succeeds, the error is counted (and named in
/// the log), and the back-off keeps it to a few requests.
#[test]
fn s3_missing_bucket_is_a_counted_fault() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::S3) else {
        return;
    };
    let p = Project::new(4, false);
    let m = machine(&s3_env(srv.port, &[("CACHEPOT_BUCKET", "no-such-bucket")]));
    p.build_all(&m);
    let s = m.stats();
    assert_eq!(stat_of(&s, "cache_misses"), 4, "{}", show(&m));
    let errors = stat_of(&s, "remote_errors");
    assert!(
        (1..=3).contains(&errors),
        "{errors} remote errors\n{}",
        show(&m)
    );
    assert_eq!(stat_of(&s, "remote_writes"), 0);
    assert!(!health_markers(&m).is_empty(), "no back-off marker");
    assert!(
        m.log_text().contains("NoSuchBucket"),
        "the log does not say why:\n{}",
        tail(&m.log_text(), 20)
    );
    assert_eq!(
        srv.object_count(),
        0,
        "something was stored in the real bucket"
    );
}

/// CACHEPOT_REGION signs for that region (a bucket created in eu-west-1 round-trips, and
/// every request's credential scope names eu-west-1); unset, the scope is us-east-1.
#[test]
fn s3_region() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::S3) else {
        return;
    };
    srv.s3_create_bucket("eu-cache", Some("eu-west-1"))
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = HttpServer::proxy(srv.port);
    let p = Project::new(2, false);
    let env = s3_env(
        proxy.port,
        &[
            ("CACHEPOT_BUCKET", "eu-cache"),
            ("CACHEPOT_REGION", "eu-west-1"),
        ],
    );
    let a = machine(&env);
    p.build_all(&a);
    let b = machine(&env);
    p.build_all(&b);
    assert_eq!(b.stat("remote_hits"), 2, "{}", show(&b));
    assert!(srv.s3_list("eu-cache").len() >= 2);
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .all(|r| r.target.starts_with("/eu-cache/cachepot/")),
        "{seen:?}"
    );
    assert_eq!(
        credential_scopes(&seen),
        BTreeSet::from([(S3_ACCESS_KEY.to_owned(), "eu-west-1".to_owned())])
    );

    let before = proxy.seen().len();
    let q = Project::new(1, false);
    let d = machine(&s3_env(proxy.port, &[]));
    q.build_all(&d);
    let seen = proxy.seen();
    assert!(seen.len() > before);
    assert_eq!(
        credential_scopes(&seen[before..]),
        BTreeSet::from([(S3_ACCESS_KEY.to_owned(), "us-east-1".to_owned())])
    );
}

/// CACHEPOT_S3_NO_CREDENTIALS=1: requests carry no Authorization header and nothing is
/// written. moto refuses anonymous reads of private objects (403, a miss, not an error);
/// once a bucket policy makes the objects public, the same anonymous reads hit.
#[test]
fn s3_no_credentials_is_anonymous_and_read_only() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::S3) else {
        return;
    };
    const R: usize = 3;
    let p = Project::new(R, false);
    let writer = machine(&srv.env());
    p.build_all(&writer);
    let count = srv.object_count();
    assert!(count >= R as u64);

    let proxy = HttpServer::proxy(srv.port);
    // Static keys are set too: the switch wins over them.
    let env = s3_env(proxy.port, &[("CACHEPOT_S3_NO_CREDENTIALS", "1")]);
    let private = machine(&env);
    p.build_all(&private);
    let s = private.stats();
    assert_eq!(stat_of(&s, "remote_hits"), 0, "{}", show(&private));
    assert_eq!(stat_of(&s, "cache_misses"), R as u64);
    assert_eq!(stat_of(&s, "remote_errors"), 0, "{}", show(&private));
    assert_eq!(stat_of(&s, "remote_writes"), 0, "{}", show(&private));
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "no request reached the proxy");
    for r in &seen {
        assert_eq!(r.method, "GET", "anonymous mode wrote: {r:?}");
        assert!(r.header("authorization").is_none(), "signed: {r:?}");
        assert!(r.header("x-amz-security-token").is_none(), "{r:?}");
    }
    assert!(
        seen.iter().any(|r| r.status == 403),
        "moto did not refuse an anonymous read of a private object: {seen:?}"
    );

    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{S3_BUCKET}/*"}}]}}"#
    );
    let (status, body) = srv.s3_http(
        "PUT",
        &format!("/{S3_BUCKET}?policy"),
        &[("Content-Type", "application/json")],
        policy.as_bytes(),
    );
    assert!(
        status / 100 == 2,
        "bucket policy: {status} {}",
        lossy(&body)
    );
    let before = proxy.seen().len();
    let public = machine(&env);
    p.build_all(&public);
    assert_eq!(public.stat("remote_hits"), R as u64, "{}", show(&public));
    let seen = proxy.seen();
    assert!(seen[before..]
        .iter()
        .all(|r| r.header("authorization").is_none() && r.status == 200));
    assert_eq!(
        srv.object_count(),
        count,
        "anonymous machines stored objects"
    );
}

/// Credentials served as JSON at AWS_IAM_CREDENTIALS_URL: used to sign (Credential= and
/// the session token), fetched once for a whole build (kept in the cache dir, 0600), and
/// never logged. A credential service that fails is a counted fault.
#[test]
fn s3_credentials_from_iam_url() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::S3) else {
        return;
    };
    const SECRET: &str = "url-secret-Pp31kk";
    const TOKEN: &str = "url-token-Mm52jj";
    let creds = HttpServer::start(Box::new(|r| {
        if r.method == "GET" && r.target == "/creds" {
            response(
                200,
                "text/plain",
                format!(
                    r#"{{"AccessKeyId":"ASIAFROMURL","SecretAccessKey":"{SECRET}","Token":"{TOKEN}","Expiration":"2099-01-01T00:00:00Z"}}"#
                )
                .as_bytes(),
            )
        } else {
            response(404, "text/plain", b"no")
        }
    }));
    let proxy = HttpServer::proxy(srv.port);
    let url = creds.url("/creds");
    let env = s3_env_without_keys(proxy.port, &[("AWS_IAM_CREDENTIALS_URL", &url)]);
    let p = Project::new(N, false);
    let a = machine(&env);
    p.build_all(&a);
    let s = a.stats();
    assert_eq!(stat_of(&s, "remote_errors"), 0, "{}", show(&a));
    assert!(stat_of(&s, "remote_writes") >= N as u64);
    assert_eq!(
        creds.seen().len(),
        1,
        "{N} compiles fetched the credentials {} times: not kept between invocations",
        creds.seen().len()
    );
    let seen = proxy.seen();
    assert_eq!(
        credential_scopes(&seen),
        BTreeSet::from([("ASIAFROMURL".to_owned(), "us-east-1".to_owned())])
    );
    assert!(seen
        .iter()
        .all(|r| r.header("x-amz-security-token") == Some(TOKEN)));
    let record = a.cache.join("credentials-v1/s3");
    let mode = fs::metadata(&record)
        .unwrap_or_else(|e| panic!("{}: {e}", record.display()))
        .permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        mode.mode() & 0o077,
        0,
        "credentials record readable by others"
    );
    for secret in [SECRET, TOKEN] {
        assert!(!a.log_text().contains(secret), "the log shows {secret}");
    }

    // Another machine fetches its own, and hits.
    let b = machine(&env);
    p.build_all(&b);
    assert_eq!(b.stat("remote_hits"), N as u64, "{}", show(&b));
    assert_eq!(creds.seen().len(), 2);

    // A credential service that answers 500: a counted fault, the build still works.
    let broken = HttpServer::start(Box::new(|_| response(500, "text/plain", b"oops")));
    let url = broken.url("/creds");
    let c = machine(&s3_env_without_keys(
        proxy.port,
        &[("AWS_IAM_CREDENTIALS_URL", &url)],
    ));
    let q = Project::new(2, false);
    q.build_all(&c);
    let s = c.stats();
    assert!(stat_of(&s, "remote_errors") >= 1, "{}", show(&c));
    assert_eq!(stat_of(&s, "cache_misses"), 2);
    assert!(!broken.seen().is_empty());
}

/// Credentials from the instance metadata service at AWS_EC2_METADATA_SERVICE_ENDPOINT:
/// IMDSv2 (a token PUT, then the role and its keys, both with the token), once per build.
#[test]
fn s3_credentials_from_instance_metadata() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::S3) else {
        return;
    };
    const SESSION: &str = "imds-session-Rr19";
    const TOKEN: &str = "imds-token-Tt77";
    let imds = HttpServer::start(Box::new(|r| {
        let has_session = r.header("x-aws-ec2-metadata-token") == Some(SESSION);
        match (r.method.as_str(), r.target.as_str()) {
            ("PUT", "/latest/api/token")
                if r.header("x-aws-ec2-metadata-token-ttl-seconds").is_some() =>
            {
                response(200, "text/plain", SESSION.as_bytes())
            }
            (_, _) if !has_session => response(401, "text/plain", b""),
            ("GET", "/latest/meta-data/iam/security-credentials/") => {
                response(200, "text/plain", b"cachepot-role\n")
            }
            ("GET", "/latest/meta-data/iam/security-credentials/cachepot-role") => response(
                200,
                "text/plain",
                format!(
                    r#"{{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAFROMIMDS","SecretAccessKey":"imds-secret-Ss40","Token":"{TOKEN}","Expiration":"2099-01-01T00:00:00Z"}}"#
                )
                .as_bytes(),
            ),
            _ => response(404, "text/plain", b""),
        }
    }));
    let proxy = HttpServer::proxy(srv.port);
    let endpoint = imds.url("");
    let env = s3_env_without_keys(
        proxy.port,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)],
    );
    let p = Project::new(3, false);
    let a = machine(&env);
    p.build_all(&a);
    assert_eq!(a.stat("remote_errors"), 0, "{}", show(&a));
    let calls: Vec<(String, String, u16)> = imds
        .seen()
        .into_iter()
        .map(|r| (r.method, r.target, r.status))
        .collect();
    assert_eq!(
        calls,
        [
            ("PUT", "/latest/api/token"),
            ("GET", "/latest/meta-data/iam/security-credentials/"),
            (
                "GET",
                "/latest/meta-data/iam/security-credentials/cachepot-role"
            ),
        ]
        .map(|(m, t)| (m.to_owned(), t.to_owned(), 200)),
        "the metadata calls of a 3-file build"
    );
    let seen = proxy.seen();
    assert_eq!(
        credential_scopes(&seen),
        BTreeSet::from([("ASIAFROMIMDS".to_owned(), "us-east-1".to_owned())])
    );
    assert!(seen
        .iter()
        .all(|r| r.header("x-amz-security-token") == Some(TOKEN)));
    let b = machine(&env);
    p.build_all(&b);
    assert_eq!(b.stat("remote_hits"), 3, "{}", show(&b));
    assert!(!b.log_text().contains("imds-secret-Ss40"));
}

/// Static keys with a session token: the token is sent, and neither the secret nor the
/// token shows up in --show-config or the debug log (ureq's header dump included).
#[test]
fn s3_secrets_stay_out_of_config_and_log() {
    require!("gcc");
    let Some(srv) = Server::start(Kind::S3) else {
        return;
    };
    const TOKEN: &str = "static-token-Kk08";
    let proxy = HttpServer::proxy(srv.port);
    let env = s3_env(proxy.port, &[("AWS_SESSION_TOKEN", TOKEN)]);
    let m = machine(&env);
    let out = m.cachepot(&["--show-config"]);
    m.assert_success(&out, "--show-config");
    let text = format!("{}{}", lossy(&out.stdout), lossy(&out.stderr));
    assert!(text.contains(S3_BUCKET), "the bucket is not shown:\n{text}");
    let p = Project::new(2, false);
    p.build_all(&m);
    assert_eq!(m.stat("remote_errors"), 0, "{}", show(&m));
    assert!(proxy
        .seen()
        .iter()
        .all(|r| r.header("x-amz-security-token") == Some(TOKEN)));
    let log = m.log_text();
    assert!(
        log.contains("s3"),
        "the debug log says nothing of s3?\n{log}"
    );
    for secret in [S3_SECRET_KEY, TOKEN] {
        assert!(!text.contains(secret), "--show-config shows {secret}");
        assert!(!log.contains(secret), "the log shows {secret}");
    }
}

/// S3 settings that do not parse are configuration errors: exit 2, one line naming the
/// setting, nothing compiled. No request is made (static keys are set regardless).
#[test]
fn s3_malformed_settings_are_configuration_errors() {
    require!("gcc");
    let s = Sandbox::new();
    s.hello(&GCC);
    let dead = RefusingPort::new();
    let cases: &[(&str, &str)] = &[
        ("CACHEPOT_ENDPOINT", "ftp://127.0.0.1:9000"),
        ("CACHEPOT_ENDPOINT", "not a url"),
        ("CACHEPOT_ENDPOINT", "http://"),
        ("CACHEPOT_ENDPOINT", "127.0.0.1:port"),
        ("CACHEPOT_S3_USE_SSL", "sometimes"),
        ("CACHEPOT_S3_NO_CREDENTIALS", "perhaps"),
        ("CACHEPOT_REGION", "eu west 1"),
    ];
    for (var, value) in cases {
        let m = machine(&s3_env(dead.port, &[(var, value)]));
        assert_configuration_error(&m, &s, var, &format!("{var}={value:?}"));
    }
}

const HEADER_STATE_ARGS: [&str; 5] = ["gcc", "-c", "a.c", "-o", "a.o"];

/// A Redis and a project dir whose `a.c` prints the `V` its
/// `h.h` defines (each test writes `h.h` for the state it wants).
fn header_state_project() -> Option<(Server, Sandbox)> {
    let srv = Server::start(Kind::Redis)?;
    let s = Sandbox::new();
    s.write("a.c", "#include \"h.h\"\nint v = V;\n");
    Some((srv, s))
}

/// Two machines sharing a Redis, one project dir, a header that changes. B records
/// V=1; A (empty local cache) records V=3 and pushes a manifest naming both; B, whose
/// local manifest names only V=1, must look at the remote's manifest when the header is
/// V=3 and hit A's result, instead of compiling again (and then overwriting A's
/// manifest in the remote with one that names only its own sets).
#[test]
fn local_manifest_does_not_hide_the_remote_one() {
    require!("gcc");
    let Some((srv, s)) = header_state_project() else {
        return;
    };
    let env = srv.env();
    let args = HEADER_STATE_ARGS;
    let (a, b) = (machine(&env), machine(&env));
    let build = |m: &Sandbox, v: u32| {
        s.write("h.h", format!("#define V {v}\n"));
        let out = cachepot_deadline(m, &s.work, &args);
        m.assert_success(&out, "cachepot gcc");
        let bare = s.bare("gcc", &["-c", "a.c", "-o", "bare.o"]);
        s.assert_success(&bare, "bare gcc");
        assert!(s.read("a.o") == s.read("bare.o"), "V={v}: wrong object");
    };
    build(&b, 1);
    build(&a, 3);
    build(&b, 3);
    let sb = b.stats();
    assert_eq!(stat_of(&sb, "cache_hits"), 1, "B: {}", show(&b));
    assert_eq!(stat_of(&sb, "remote_hits"), 1, "B: {}", show(&b));
    // A fresh machine finds every state recorded so far in the remote's manifest.
    let c = machine(&env);
    build(&c, 1);
    build(&c, 3);
    assert_eq!(stat_of(&c.stats(), "cache_hits"), 2, "C: {}", show(&c));
}

/// memcached declines an item above its item size ("SERVER_ERROR object too large"):
/// not an error, and not a write either. remote_writes counts what the server holds.
#[test]
fn memcached_declined_items_are_not_counted_as_writes() {
    require!("gcc");
    let Some(srv) = Server::start_with(Kind::Memcached, Auth::MemcachedSmallItems) else {
        return;
    };
    let p = Project::new(3, true);
    let a = machine(&srv.env());
    p.build_all(&a);
    let sa = a.stats();
    assert_eq!(stat_of(&sa, "remote_errors"), 0, "{}", show(&a));
    assert_eq!(
        stat_of(&sa, "remote_writes"),
        srv.object_count(),
        "writes counted vs items held\n{}",
        show(&a)
    );
}

/// Looking at the remote's manifest must not replace the local one: a read-only machine
/// records state 2 locally, then a compile in a third state (here a failing one) looks at
/// the remote's manifest, which knows only state 1; state 2 must still hit afterwards.
#[test]
fn remote_manifest_lookup_keeps_the_local_manifest() {
    require!("gcc");
    let Some((srv, s)) = header_state_project() else {
        return;
    };
    let env = srv.env();
    let args = HEADER_STATE_ARGS;
    let p = machine(&env);
    let mut q = machine(&env);
    q.set_env("CACHEPOT_REMOTE_READ_ONLY", "1");
    let build = |m: &Sandbox, h: &str| {
        s.write("h.h", h);
        cachepot_deadline(m, &s.work, &args)
    };
    p.assert_success(&build(&p, "#define V 1\n"), "P, state 1");
    for _ in 0..2 {
        q.assert_success(&build(&q, "#define V 2\n"), "Q, state 2");
    }
    assert_eq!(stat_of(&q.stats(), "cache_hits"), 1, "{}", show(&q));
    let failed = build(&q, "#define V )\n");
    assert!(!failed.status.success(), "test premise: a failing compile");
    q.assert_success(&build(&q, "#define V 2\n"), "Q, state 2 again");
    assert_eq!(stat_of(&q.stats(), "cache_hits"), 2, "{}", show(&q));
}
