//! S3 and S3-compatible object stores (MinIO, Ceph RGW, R2, moto...): `GET` and `PUT` of
//! one object per entry, signed with AWS Signature Version 4 ([`sigv4`]), over ureq with
//! rustls (no OpenSSL), blocking, with the connect, read and write timeouts of
//! `CACHEPOT_REMOTE_TIMEOUT`. Credentials and their on-disk cache: [`credentials`].
//!
//! Object names: `<CACHEPOT_S3_KEY_PREFIX>cachepot/<2 hex>/<64 hex>`, the 64 hex digits
//! being the cache key (results and manifests alike): hashes, never paths. The `cachepot/`
//! level keeps the entries apart from anything else in the bucket (and lets a lifecycle
//! rule expire exactly them); the 2-hex level spreads them over 256 prefixes, which is
//! how S3 scales request rates.
//!
//! Addressing: with `CACHEPOT_ENDPOINT` (`host:port` or a URL), path style
//! `<endpoint>/<bucket>/<object>`, which every S3-compatible server understands; without
//! it, AWS at `<bucket>.s3.<region>.amazonaws.com` (virtual-hosted style, or path style
//! on `s3.<region>.amazonaws.com` for bucket names that are not DNS labels).
//!
//! Not done here: policy (read-only, back-off, statistics) is the caller's; this file
//! turns a request into `Ok` or a [`Fault`] and never retries.
//!
//! Why not the rust-s3 crate: its blocking client brings a second HTTP stack (attohttpc)
//! or tokio, and its credential chain has neither `AWS_IAM_CREDENTIALS_URL` nor a settable
//! metadata address, asks the metadata service without a timeout, and cannot keep keys
//! across processes. SigV4 for two verbs is a hundred lines with `ring`'s HMAC.

mod credentials;
mod sigv4;

use super::http;
use crate::config::Config;
use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;
use credentials::{Keys, Source};
use std::cell::OnceCell;
use std::io::Read;
use std::path::PathBuf;

/// Error documents are small XML; only this much is read for the message.
const MAX_ERROR_BODY: u64 = 16 * 1024;
const DEFAULT_REGION: &str = "us-east-1";

pub struct S3 {
    /// `http://host:port` or `https://host`, no path.
    origin: String,
    /// The `Host` header (signed): host, plus `:port` unless it is the scheme's default.
    host: String,
    /// URI-encoded path up to the object name, ending in `/`: `/<bucket>/` (path style,
    /// after any path of the endpoint URL) or `/` (virtual-hosted style).
    path: String,
    /// CACHEPOT_S3_KEY_PREFIX (without a leading `/`), before [`super::object_path`].
    prefix: String,
    bucket: String,
    region: String,
    source: Source,
    /// Keys fetched from a service, once per process (and cached on disk).
    fetched: OnceCell<Keys>,
    cache_dir: PathBuf,
    agent: ureq::Agent,
}

/// A parsed endpoint: scheme, host (brackets kept for IPv6), port, path.
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    https: bool,
    host: String,
    port: Option<u16>,
    /// Without the trailing `/`; empty or starting with `/`.
    path: String,
}

fn parse_endpoint(value: &str, use_ssl: bool) -> Result<Endpoint, String> {
    let bad = |why: &str| {
        format!("CACHEPOT_ENDPOINT '{value}' {why}: expected host:port or http(s)://host[:port]")
    };
    let (https, rest) = match value.split_once("://") {
        Some(("https", r)) => (true, r),
        Some(("http", r)) => (false, r),
        Some((s, _)) => return Err(bad(&format!("has scheme '{s}'"))),
        None => (use_ssl, value),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty()
        || authority.contains('@')
        || value.contains(|c: char| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err(bad("is not a valid address"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed '['"))?;
        match after {
            "" => (format!("[{h}]"), None),
            p => (
                format!("[{h}]"),
                Some(p.strip_prefix(':').ok_or_else(|| bad("has a bad port"))?),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return Err(bad("has no valid host"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("has a bad port"))?,
        ),
    };
    // What the HTTP client will parse (`garbage%%` passes every check above).
    let scheme = if https { "https" } else { "http" };
    if url::Url::parse(&format!("{scheme}://{authority}{path}")).is_err() {
        return Err(bad("is not a valid URL"));
    }
    Ok(Endpoint {
        https,
        host,
        port,
        path: path.trim_end_matches('/').to_string(),
    })
}

/// A bucket name usable in a host name (virtual-hosted style over TLS): a DNS label.
fn dns_compatible(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

impl S3 {
    pub fn from_config(bucket: &str, cfg: &Config) -> Result<S3, String> {
        let env = |k: &str| std::env::var(k).ok();
        S3::new(bucket, cfg, &env)
    }

    /// As [`S3::from_config`] with the AWS_* variables read through `env`. No I/O.
    fn new(bucket: &str, cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<S3, String> {
        if bucket.is_empty() || bucket.contains(|c: char| c.is_whitespace() || "/?#%\\".contains(c))
        {
            return Err(format!(
                "CACHEPOT_BUCKET '{bucket}' is not a bucket name: expected letters, digits, '.', '-', '_'"
            ));
        }
        let region = cfg.region.as_deref().unwrap_or(DEFAULT_REGION).to_string();
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "CACHEPOT_REGION '{region}' is not a region name such as us-east-1"
            ));
        }
        let (ep, path) = match &cfg.endpoint {
            Some(e) => {
                let ep = parse_endpoint(e, cfg.s3_use_ssl)?;
                let path = format!("{}/{}/", ep.path, http::encode(bucket));
                (ep, path)
            }
            None if dns_compatible(bucket) => (
                Endpoint {
                    https: cfg.s3_use_ssl,
                    host: format!("{bucket}.s3.{region}.amazonaws.com"),
                    port: None,
                    path: String::new(),
                },
                "/".to_string(),
            ),
            None => (
                Endpoint {
                    https: cfg.s3_use_ssl,
                    host: format!("s3.{region}.amazonaws.com"),
                    port: None,
                    path: String::new(),
                },
                format!("/{}/", http::encode(bucket)),
            ),
        };
        let scheme = if ep.https { "https" } else { "http" };
        let default_port = if ep.https { 443 } else { 80 };
        let host = match ep.port {
            Some(p) if p != default_port => format!("{}:{p}", ep.host),
            _ => ep.host.clone(),
        };
        let origin = format!("{scheme}://{host}");
        let prefix = cfg.s3_key_prefix.as_deref().unwrap_or("");
        let prefix = prefix.trim_start_matches('/').to_string();
        let source = Source::from_env(cfg.s3_no_credentials, env)?;
        // No redirects: S3 redirects only to say "wrong region", which is a fault to report.
        let agent = http::agent_builder(cfg.remote_timeout).redirects(0).build();
        Ok(S3 {
            origin,
            host,
            path,
            prefix,
            bucket: bucket.to_string(),
            region,
            source,
            fetched: OnceCell::new(),
            cache_dir: cfg.dir.clone(),
            agent,
        })
    }

    /// The object name of `key` (not encoded).
    fn object(&self, key: &Key) -> String {
        format!("{}{}", self.prefix, super::object_path(key))
    }

    /// The signing keys, `None` for anonymous requests. Fetched keys are looked up on
    /// the first call only.
    fn keys(&self) -> Result<Option<&Keys>, Fault> {
        match &self.source {
            Source::Anonymous => Ok(None),
            Source::Static(k) => Ok(Some(k)),
            _ => {
                if self.fetched.get().is_none() {
                    let k = credentials::fetch_cached(&self.source, &self.cache_dir, &self.agent)
                        .map_err(fault)?;
                    let _ = self.fetched.set(k);
                }
                Ok(self.fetched.get())
            }
        }
    }

    /// A signed request for `object` (the body's hash is signed too).
    fn request(&self, method: &str, object: &str, body: &[u8]) -> Result<ureq::Request, Fault> {
        let uri = format!("{}{}", self.path, http::encode_path(object));
        let mut req = self
            .agent
            .request(method, &format!("{}{uri}", self.origin))
            .set("Host", &self.host);
        if let Some(k) = self.keys()? {
            let date = sigv4::amz_date(crate::util::time::now_secs() as u64);
            let hash = sigv4::sha256_hex(body);
            let mut headers = vec![
                ("host", self.host.as_str()),
                ("x-amz-content-sha256", hash.as_str()),
                ("x-amz-date", date.as_str()),
            ];
            if let Some(t) = &k.token {
                headers.push(("x-amz-security-token", t.as_str()));
            }
            let auth = sigv4::authorization(
                &sigv4::Request {
                    method,
                    canonical_uri: &uri,
                    canonical_query: "",
                    headers: &headers,
                    payload_hash: &hash,
                },
                &k.access_key,
                &k.secret_key,
                &self.region,
                &date,
            );
            for (n, v) in &headers[1..] {
                req = req.set(n, v);
            }
            req = req.set("Authorization", &auth);
        }
        Ok(req)
    }

    /// A fault for an error status, with S3's error code and message (never a secret: the
    /// request's headers are not in it). A refused signature also drops fetched keys.
    fn status_fault(&self, what: &str, code: u16, resp: ureq::Response) -> Fault {
        if code == 403 && self.source.is_fetched() {
            credentials::forget(&self.cache_dir);
        }
        let header_region = resp.header("x-amz-bucket-region").map(str::to_string);
        let e = error_details(resp);
        let region_hint = header_region
            .or(e.region)
            .filter(|r| *r != self.region)
            .map(|r| format!(" (the bucket is in {r}: set CACHEPOT_REGION={r})"))
            .unwrap_or_default();
        fault(format!(
            "{what} s3://{}: {code} {}: {}{region_hint}",
            self.bucket, e.code, e.message
        ))
    }
}

/// What an S3 error document says.
struct ErrorDetails {
    code: String,
    message: String,
    /// The bucket's region, when the error is about the region.
    region: Option<String>,
}

/// The `<Code>`, `<Message>` and `<Region>` of an S3 error document (bounded read).
fn error_details(resp: ureq::Response) -> ErrorDetails {
    let mut body = String::new();
    let _ = resp
        .into_reader()
        .take(MAX_ERROR_BODY)
        .read_to_string(&mut body);
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let start = body.find(&open)? + open.len();
        let len = body[start..].find('<')?;
        Some(body[start..start + len].replace(['\n', '\r'], " "))
    };
    ErrorDetails {
        code: tag("Code").unwrap_or_else(|| "(no S3 error code)".into()),
        message: tag("Message").unwrap_or_default(),
        region: tag("Region"),
    }
}

fn fault(e: impl std::fmt::Display) -> Fault {
    Fault::new("remote", format!("s3: {e}"))
}

impl Storage for S3 {
    fn name(&self) -> &str {
        "s3"
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        let object = self.object(key);
        match self.request("GET", &object, b"")?.call() {
            Ok(resp) => Ok(Some(
                http::read_body(resp, http::MAX_BODY)
                    .map_err(|e| fault(format!("GET {object}: {e}")))?,
            )),
            Err(ureq::Error::Status(404, resp)) => {
                let e = error_details(resp);
                if e.code == "NoSuchKey" {
                    return Ok(None);
                }
                // NoSuchBucket, or something that is not S3 answering.
                Err(fault(format!(
                    "GET s3://{}/{object}: 404 {}: {}",
                    self.bucket, e.code, e.message
                )))
            }
            // Anonymous: a public bucket that grants GetObject but not ListBucket answers
            // 403 for an object that does not exist, so a 403 is a miss, not a broken remote.
            Err(ureq::Error::Status(403, _)) if matches!(self.source, Source::Anonymous) => {
                log::debug!("s3: anonymous GET {object}: 403, counted as a miss");
                Ok(None)
            }
            Err(ureq::Error::Status(code, resp)) => Err(self.status_fault("GET", code, resp)),
            Err(e) => Err(fault(format!("GET {object}: {e}"))),
        }
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), Fault> {
        let object = self.object(key);
        match self
            .request("PUT", &object, entry)?
            .set("Content-Type", "application/octet-stream")
            .send_bytes(entry)
        {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, resp)) => Err(self.status_fault("PUT", code, resp)),
            Err(e) => Err(fault(format!("PUT {object}: {e}"))),
        }
    }

    /// Anonymous access is for reading a public bucket: writing would be refused (and
    /// each refusal would put the remote in back-off, stopping the reads too).
    fn read_only(&self) -> bool {
        matches!(self.source, Source::Anonymous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([
                (
                    "CACHEPOT_CONF".to_string(),
                    "/nonexistent/cachepot.toml".to_string(),
                ),
                ("CACHEPOT_DIR".to_string(), "/nonexistent/cache".to_string()),
            ])
            .collect();
        crate::config::load_from(&move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| std::ffi::OsString::from(v))
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn keys_env(k: &str) -> Option<String> {
        match k {
            "AWS_ACCESS_KEY_ID" => Some("ak".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("sk-Zq9secret".into()),
            _ => None,
        }
    }

    fn s3(pairs: &[(&str, &str)]) -> Result<S3, String> {
        S3::new("cachepot", &cfg(pairs), &keys_env)
    }

    #[test]
    fn endpoints() {
        let p = |v, ssl| parse_endpoint(v, ssl);
        let ep = |https, host: &str, port, path: &str| Endpoint {
            https,
            host: host.into(),
            port,
            path: path.into(),
        };
        assert_eq!(
            p("127.0.0.1:9000", false),
            Ok(ep(false, "127.0.0.1", Some(9000), ""))
        );
        assert_eq!(p("minio.lan", true), Ok(ep(true, "minio.lan", None, "")));
        assert_eq!(p("http://h:1/", true), Ok(ep(false, "h", Some(1), "")));
        assert_eq!(p("https://h/s3/", false), Ok(ep(true, "h", None, "/s3")));
        assert_eq!(
            p("http://[::1]:9000", true),
            Ok(ep(false, "[::1]", Some(9000), ""))
        );
        for bad in [
            "ftp://h",
            "http://",
            "not a url",
            "h:port",
            "h:0",
            "h:70000",
            "http://u:p@h",
            "http://[::1",
            "::1",
            "h?x=1",
            "http://garbage%%",
            "garbage%%",
        ] {
            let e = p(bad, true).expect_err(bad);
            assert!(e.contains("CACHEPOT_ENDPOINT"), "{e}");
        }
    }

    #[test]
    fn addressing_and_object_names() {
        let key = Key([0xab; 32]);
        let hex = key.hex();
        let s = s3(&[
            ("CACHEPOT_ENDPOINT", "127.0.0.1:9000"),
            ("CACHEPOT_S3_USE_SSL", "0"),
        ])
        .unwrap();
        assert_eq!(
            (s.origin.as_str(), s.host.as_str()),
            ("http://127.0.0.1:9000", "127.0.0.1:9000")
        );
        assert_eq!(s.path, "/cachepot/");
        assert_eq!(s.object(&key), format!("cachepot/ab/{hex}"));
        assert_eq!(s.region, "us-east-1");

        let s = s3(&[
            ("CACHEPOT_ENDPOINT", "https://s3.lan:443/base"),
            ("CACHEPOT_S3_KEY_PREFIX", "/team a/"),
            ("CACHEPOT_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(
            (s.origin.as_str(), s.host.as_str()),
            ("https://s3.lan", "s3.lan")
        );
        assert_eq!(s.path, "/base/cachepot/");
        assert_eq!(s.object(&key), format!("team a/cachepot/ab/{hex}"));
        assert_eq!(s.region, "eu-west-1");

        // AWS itself: virtual-hosted for DNS-style names, path style otherwise.
        let s = s3(&[("CACHEPOT_REGION", "eu-west-1")]).unwrap();
        assert_eq!(s.origin, "https://cachepot.s3.eu-west-1.amazonaws.com");
        assert_eq!(s.path, "/");
        let s = S3::new("my.bucket", &cfg(&[]), &keys_env).unwrap();
        assert_eq!(s.origin, "https://s3.us-east-1.amazonaws.com");
        assert_eq!(s.path, "/my.bucket/");
    }

    #[test]
    fn malformed_settings() {
        assert!(s3(&[("CACHEPOT_ENDPOINT", "ftp://x")]).is_err());
        assert!(s3(&[("CACHEPOT_REGION", "eu west")]).is_err());
        assert!(S3::new("a/b", &cfg(&[]), &keys_env).is_err());
    }

    #[test]
    fn anonymous_is_read_only_and_unsigned() {
        let s = s3(&[
            ("CACHEPOT_S3_NO_CREDENTIALS", "1"),
            ("CACHEPOT_ENDPOINT", "127.0.0.1:1"),
        ])
        .unwrap();
        assert!(s.read_only());
        let req = s.request("GET", "x", b"").unwrap();
        assert!(req.header("Authorization").is_none());
        let s = s3(&[("CACHEPOT_ENDPOINT", "127.0.0.1:1")]).unwrap();
        assert!(!s.read_only());
        let req = s.request("GET", "x", b"").unwrap();
        let auth = req.header("Authorization").unwrap_or_default();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=ak/"),
            "{auth}"
        );
        assert!(
            !auth.contains("sk-Zq9secret"),
            "the secret is in the header: {auth}"
        );
    }
}
