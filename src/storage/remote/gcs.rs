//! Google Cloud Storage over its JSON API (ureq, rustls, blocking): download
//! `GET {endpoint}/storage/v1/b/{bucket}/o/{name}?alt=media`, upload
//! `POST {endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}`, with
//! object names `cachepot/<2 hex>/<64 hex>` ([`super::object_path`]).
//!
//! Credentials, in this order: a service-account JSON key (CACHEPOT_GCS_KEY_PATH: a JWT
//! signed with RS256 is exchanged at the key's `token_uri` for an OAuth token), a
//! credentials URL (CACHEPOT_GCS_CREDENTIALS_URL: a GET answering JSON with the token), or
//! none (anonymous requests: a public bucket, or an emulator). Without credentials the
//! bucket is read-only unless CACHEPOT_GCS_RW_MODE=READ_WRITE says otherwise.
//!
//! There is no daemon to hold a token, so tokens live on disk:
//! `<cache dir>/gcs-tokens-v1/<32 hex>.json` (owner-only, `{"access_token", "expires_at"}`),
//! named by a hash of the credential source and scope, reused by every invocation until
//! [`EXPIRY_MARGIN`] before they expire; a flock on `<32 hex>.lock` makes parallel
//! compiles wait for one fetch instead of each signing and fetching its own.
//!
//! Not here: statistics and back-off (pipeline::tiered, remote::mod), entry verification.

use super::http;
use crate::config::Config;
use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;
use crate::util::time::now_secs;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use fs2::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Google's endpoint, used when CACHEPOT_GCS_ENDPOINT is unset.
const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// Google's token endpoint, for a key file without `token_uri`.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const SCOPE_READ_WRITE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
const SCOPE_READ_ONLY: &str = "https://www.googleapis.com/auth/devstorage.read_only";
/// A stored token is not used within this many seconds of its expiry: one compile's
/// requests finish well inside a minute, and clocks of CI machines drift by seconds.
const EXPIRY_MARGIN: i64 = 60;
/// Lifetime of a signed JWT assertion: Google's maximum, one hour.
const JWT_LIFETIME: i64 = 3600;
/// Lifetime assumed for a token whose credentials URL gives no expiry: short, so that a
/// revoked token is not used for long.
const DEFAULT_TOKEN_LIFETIME: i64 = 300;

/// Where an OAuth token comes from.
enum Creds {
    ServiceAccount {
        email: String,
        /// Boxed: an RSA key pair is large next to a URL.
        key: Box<ring::signature::RsaKeyPair>,
        key_id: Option<String>,
        token_uri: String,
    },
    Url(String),
}

pub struct Gcs {
    /// The endpoint, without a trailing `/`.
    base: String,
    bucket: String,
    read_only: bool,
    creds: Option<Creds>,
    /// The on-disk token of these credentials (unused without credentials).
    token_file: PathBuf,
    /// The token this process already has.
    token: Mutex<Option<String>>,
    timeout: Duration,
    agent: ureq::Agent,
}

fn fault(e: impl std::fmt::Display) -> Fault {
    Fault::new("remote", format!("gcs: {e}"))
}

/// GCS bucket names: 3-222 of lower-case letters, digits, `-`, `_`, `.`, starting and
/// ending with a letter or digit. Anything else could not form a sound URL.
fn valid_bucket(b: &str) -> bool {
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=222).contains(&b.len())
        && b.bytes().all(|c| ok(c) || matches!(c, b'-' | b'_' | b'.'))
        && ok(b.as_bytes()[0])
        && ok(b.as_bytes()[b.len() - 1])
}

impl Gcs {
    /// The backend for `bucket`; a setting that cannot work (bucket name, endpoint, an
    /// unreadable or malformed key file) is an error naming the setting, never the key.
    pub fn from_config(bucket: &str, cfg: &Config) -> Result<Gcs, String> {
        if !valid_bucket(bucket) {
            return Err(format!(
                "invalid value '{bucket}' for CACHEPOT_GCS_BUCKET: expected a bucket name \
                 (3-222 of a-z, 0-9, '-', '_', '.')"
            ));
        }
        let base = match &cfg.gcs_endpoint {
            Some(e) => {
                http::endpoint(e, if cfg.s3_use_ssl { "https" } else { "http" }).map_err(|m| {
                    format!(
                        "invalid value for CACHEPOT_GCS_ENDPOINT: {m}: expected host:port or \
                         http(s)://host[:port]"
                    )
                })?
            }
            None => DEFAULT_ENDPOINT.to_string(),
        };
        let creds =
            match (&cfg.gcs_key_path, &cfg.gcs_credentials_url) {
                (Some(path), _) => Some(read_key_file(path)?),
                (None, Some(url)) => Some(Creds::Url(http::full_url(url).map_err(|m| {
                    format!("invalid value for CACHEPOT_GCS_CREDENTIALS_URL: {m}")
                })?)),
                (None, None) => None,
            };
        let read_only = cfg.gcs_read_only.unwrap_or(creds.is_none());
        let scope = if read_only {
            SCOPE_READ_ONLY
        } else {
            SCOPE_READ_WRITE
        };
        let identity = match &creds {
            Some(Creds::ServiceAccount {
                email,
                key_id,
                token_uri,
                ..
            }) => format!(
                "key\0{email}\0{}\0{token_uri}\0{scope}",
                key_id.as_deref().unwrap_or("")
            ),
            Some(Creds::Url(url)) => format!("url\0{url}"),
            None => String::new(),
        };
        let name = &blake3::hash(identity.as_bytes()).to_hex()[..32];
        Ok(Gcs {
            base,
            bucket: bucket.to_string(),
            read_only,
            creds,
            token_file: cfg.dir.join("gcs-tokens-v1").join(format!("{name}.json")),
            token: Mutex::new(None),
            timeout: cfg.remote_timeout,
            agent: http::agent(cfg.remote_timeout),
        })
    }

    /// The `Authorization` value, if requests are not anonymous: this process's token,
    /// else the one on disk, else a new one (fetched by one process at a time).
    fn bearer(&self) -> Result<Option<String>, Fault> {
        let Some(creds) = &self.creds else {
            return Ok(None);
        };
        let mut memo = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if memo.is_none() {
            *memo = Some(self.stored_or_fetched(creds)?);
        }
        Ok(memo.as_ref().map(|t| format!("Bearer {t}")))
    }

    fn stored_or_fetched(&self, creds: &Creds) -> Result<String, Fault> {
        if let Some(t) = read_token(&self.token_file) {
            return Ok(t);
        }
        let dir = self.token_file.parent().expect("token file has a parent");
        crate::util::fs::create_dir_all_private(dir).map_err(|e| Fault::io("remote", dir, &e))?;
        let lock_path = self.token_file.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Fault::io("remote", &lock_path, &e))?;
        // Wait for a parallel compile's fetch (bounded by its own timeouts); past a
        // deadline fetch anyway rather than hang the build on a stuck process.
        let deadline = Instant::now() + 3 * self.timeout + Duration::from_secs(1);
        while lock.try_lock_exclusive().is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(t) = read_token(&self.token_file) {
            return Ok(t);
        }
        let (token, expires_at) = self.fetch(creds)?;
        let doc = serde_json::json!({"access_token": token, "expires_at": expires_at});
        if let Err(e) = crate::util::fs::atomic_write(
            &self.token_file,
            doc.to_string().as_bytes(),
            // Owner-only even in a group-shared cache: this user's token.
            0o600,
        ) {
            log::warn!(
                "gcs: cannot store the token in {}: {e}",
                self.token_file.display()
            );
        }
        Ok(token)
    }

    /// A new token and its expiry (unix seconds).
    fn fetch(&self, creds: &Creds) -> Result<(String, i64), Fault> {
        let now = now_secs();
        let resp = match creds {
            Creds::ServiceAccount {
                email,
                key,
                key_id,
                token_uri,
            } => {
                let scope = if self.read_only {
                    SCOPE_READ_ONLY
                } else {
                    SCOPE_READ_WRITE
                };
                let jwt = sign_jwt(key, key_id.as_deref(), email, scope, token_uri, now)
                    .map_err(fault)?;
                log::debug!("gcs: exchanging a signed JWT at {token_uri}");
                self.agent
                    .post(token_uri)
                    .set("Content-Type", "application/x-www-form-urlencoded")
                    .send_string(&format!(
                        "grant_type={}&assertion={jwt}",
                        http::encode("urn:ietf:params:oauth:grant-type:jwt-bearer")
                    ))
            }
            Creds::Url(url) => {
                log::debug!("gcs: fetching a token from {url}");
                // The header a GCE metadata server demands; others ignore it.
                self.agent.get(url).set("Metadata-Flavor", "Google").call()
            }
        };
        let resp = resp.map_err(|e| fault(format!("token request failed: {e}")))?;
        let body = http::read_body(resp, http::MAX_SMALL_BODY)
            .map_err(|e| fault(format!("token response: {e}")))?;
        parse_token_response(&body, now).map_err(|e| fault(format!("token response: {e}")))
    }

    fn authed(&self, req: ureq::Request) -> Result<ureq::Request, Fault> {
        Ok(match self.bearer()? {
            Some(v) => req.set("Authorization", &v),
            None => req,
        })
    }

    /// A failed request as a fault. A 401 means the token was refused (revoked, or
    /// expired early): drop it so that the next invocation fetches a new one.
    fn failed(&self, e: ureq::Error) -> Fault {
        if matches!(e, ureq::Error::Status(401, _)) && self.creds.is_some() {
            *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let _ = std::fs::remove_file(&self.token_file);
        }
        fault(e)
    }
}

/// The stored token in `path` if it is still good for [`EXPIRY_MARGIN`].
fn read_token(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let token = v.get("access_token")?.as_str()?;
    let expires_at = v.get("expires_at")?.as_i64()?;
    (expires_at - EXPIRY_MARGIN > now_secs() && valid_token(token)).then(|| token.to_string())
}

/// A token must be usable as a header value as is.
fn valid_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 8192 && t.bytes().all(|b| b.is_ascii_graphic())
}

/// `{"access_token": ..., "expires_in": seconds}` (OAuth), also `accessToken` and
/// `expire_time`/`expireTime` (RFC 3339), as credential helpers answer.
fn parse_token_response(body: &[u8], now: i64) -> Result<(String, i64), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "not a JSON object".to_string())?;
    let token = ["access_token", "accessToken"]
        .iter()
        .find_map(|k| v.get(k).and_then(|t| t.as_str()))
        .ok_or("no access_token")?;
    if !valid_token(token) {
        return Err("the access_token is not a printable string".into());
    }
    let expires_at = if let Some(n) = v.get("expires_in") {
        let secs = n
            .as_i64()
            .or_else(|| n.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or("expires_in is not a number")?;
        now + secs
    } else if let Some(t) = ["expire_time", "expireTime"].iter().find_map(|k| v.get(k)) {
        t.as_str()
            .and_then(crate::util::time::parse_rfc3339)
            .ok_or("expire_time is not an RFC 3339 time")?
    } else {
        now + DEFAULT_TOKEN_LIFETIME
    };
    Ok((token.to_string(), expires_at))
}

/// `header.claims.signature` for Google's JWT bearer grant (RFC 7523), signed RS256.
fn sign_jwt(
    key: &ring::signature::RsaKeyPair,
    key_id: Option<&str>,
    email: &str,
    scope: &str,
    token_uri: &str,
    now: i64,
) -> Result<String, String> {
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(id) = key_id {
        header["kid"] = id.into();
    }
    let claims = serde_json::json!({
        "iss": email,
        "scope": scope,
        "aud": token_uri,
        "iat": now,
        "exp": now + JWT_LIFETIME,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "cannot sign the token request".to_string())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// A service-account key file: `type` (if present) `service_account`, `client_email`,
/// `private_key` (PEM, PKCS#8 or PKCS#1), optional `private_key_id` and `token_uri`.
fn read_key_file(path: &Path) -> Result<Creds, String> {
    let err = |m: &str| {
        format!(
            "invalid CACHEPOT_GCS_KEY_PATH: {}: {m}; expected a service-account JSON key",
            path.display()
        )
    };
    let text = std::fs::read(path).map_err(|e| err(&e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|_| err("not a JSON object"))?;
    let field = |k: &str| v.get(k).and_then(|s| s.as_str());
    if let Some(t) = field("type").filter(|t| *t != "service_account") {
        return Err(err(&format!("type is '{t}'")));
    }
    let email = field("client_email").ok_or_else(|| err("no client_email"))?;
    let pem = field("private_key").ok_or_else(|| err("no private_key"))?;
    let key = parse_pem_key(pem).map_err(|m| err(&m))?;
    let token_uri = match field("token_uri") {
        Some(u) => http::full_url(u).map_err(|m| err(&format!("token_uri: {m}")))?,
        None => DEFAULT_TOKEN_URI.to_string(),
    };
    Ok(Creds::ServiceAccount {
        email: email.to_string(),
        key: Box::new(key),
        key_id: field("private_key_id").map(str::to_string),
        token_uri,
    })
}

/// An RSA private key from PEM (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`). The
/// errors never quote the key.
fn parse_pem_key(pem: &str) -> Result<ring::signature::RsaKeyPair, String> {
    let mut label = None;
    let mut b64 = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            label = Some(l.to_string());
        } else if line.starts_with("-----END ") {
            break;
        } else if label.is_some() {
            b64.push_str(line);
        }
    }
    let bad = || "private_key is not a PEM RSA private key".to_string();
    let label = label.ok_or_else(bad)?;
    let der = STANDARD.decode(b64.as_bytes()).map_err(|_| bad())?;
    let key = match label.as_str() {
        "PRIVATE KEY" => ring::signature::RsaKeyPair::from_pkcs8(&der),
        "RSA PRIVATE KEY" => ring::signature::RsaKeyPair::from_der(&der),
        _ => return Err(bad()),
    };
    key.map_err(|e| format!("private_key is not a usable RSA key ({e})"))
}

impl Storage for Gcs {
    fn name(&self) -> &str {
        "gcs"
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.base,
            self.bucket,
            http::encode(&super::object_path(key))
        );
        match self.authed(self.agent.get(&url))?.call() {
            Ok(resp) => Ok(Some(http::read_body(resp, http::MAX_BODY).map_err(fault)?)),
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), Fault> {
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.base,
            self.bucket,
            http::encode(&super::object_path(key))
        );
        self.authed(self.agent.post(&url))?
            .set("Content-Type", "application/octet-stream")
            .send_bytes(entry)
            .map(|_| ())
            .map_err(|e| self.failed(e))
    }

    fn read_only(&self) -> bool {
        self.read_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["cachepot", "my-team.cache_1", "abc"] {
            assert!(valid_bucket(ok), "{ok}");
        }
        for bad in ["", "ab", "Caps", "a/b", "-lead", "trail.", "sp ace", "a?b"] {
            assert!(!valid_bucket(bad), "{bad}");
        }
    }

    #[test]
    fn token_responses() {
        let (t, e) =
            parse_token_response(br#"{"access_token":"ya29.x","expires_in":3599}"#, 100).unwrap();
        assert_eq!((t.as_str(), e), ("ya29.x", 3699));
        let (t, e) = parse_token_response(
            br#"{"accessToken":"tok","expireTime":"1970-01-01T01:00:00Z"}"#,
            100,
        )
        .unwrap();
        assert_eq!((t.as_str(), e), ("tok", 3600));
        let (_, e) = parse_token_response(br#"{"access_token":"tok"}"#, 100).unwrap();
        assert_eq!(e, 100 + DEFAULT_TOKEN_LIFETIME);
        let (_, e) =
            parse_token_response(br#"{"access_token":"tok","expires_in":"60"}"#, 0).unwrap();
        assert_eq!(e, 60);
        for bad in [
            &br#"{"expires_in":3600}"#[..],
            br#"{"access_token":"a b"}"#,
            br#"{"access_token":""}"#,
            br#"{"access_token":"t","expire_time":"soon"}"#,
            b"<html>",
        ] {
            assert!(parse_token_response(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stored_tokens_expire_with_a_margin() {
        let d = std::env::temp_dir().join(format!("cachepot-gcs-token-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("t.json");
        let write = |exp: i64| {
            std::fs::write(
                &f,
                serde_json::json!({"access_token": "tok", "expires_at": exp}).to_string(),
            )
            .unwrap()
        };
        write(now_secs() + 3600);
        assert_eq!(read_token(&f).as_deref(), Some("tok"));
        write(now_secs() + EXPIRY_MARGIN / 2);
        assert_eq!(read_token(&f), None);
        std::fs::write(&f, "garbage").unwrap();
        assert_eq!(read_token(&f), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn pem_errors_do_not_quote_the_key() {
        let secret =
            "-----BEGIN PRIVATE KEY-----\nU2VjcmV0S2V5TWF0ZXJpYWw=\n-----END PRIVATE KEY-----\n";
        let e = parse_pem_key(secret).expect_err("not an RSA key");
        assert!(!e.contains("U2Vj"), "{e}");
        assert!(parse_pem_key("no pem here").is_err());
    }
}
