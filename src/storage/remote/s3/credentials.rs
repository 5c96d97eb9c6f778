//! Where the S3 backend's signing keys come from, in this order:
//!
//! 1. `CACHEPOT_S3_NO_CREDENTIALS=1`: none, requests are anonymous;
//! 2. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`): static keys;
//! 3. `AWS_IAM_CREDENTIALS_URL`: a container-credentials style URL whose `GET` answers
//!    JSON `{AccessKeyId, SecretAccessKey, Token, Expiration}`;
//! 4. the EC2 instance metadata service (IMDSv2: a token `PUT`, then the role name and
//!    its credentials), at `AWS_EC2_METADATA_SERVICE_ENDPOINT` (default
//!    `http://169.254.169.254`), unless `AWS_EC2_METADATA_DISABLED=true`.
//!
//! Sources 3 and 4 are asked lazily, on the first request that needs a signature (never
//! for `--show-stats`, a hit in the local cache, or a non-cacheable command). Since every
//! compile is its own process, fetched keys are kept on disk in
//! `<cache dir>/credentials-v1/s3` (owner-only, 0600, like everything in the cache dir)
//! with their expiry and the source they came from, and reused until 5 minutes before
//! they expire: one metadata round trip per credential lifetime (an hour or more), not one
//! per compile. A 403 from S3 deletes that file so that the next invocation fetches anew.
//!
//! Nothing here logs a key, a secret or a token, and [`Keys`] has no `Debug`.

use crate::storage::remote::http;
use std::path::{Path, PathBuf};

/// Signing keys. Deliberately not `Debug`: they must never end up in a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    pub access_key: String,
    pub secret_key: String,
    pub token: Option<String>,
    /// Unix time after which the keys are invalid (fetched keys only).
    pub expires: Option<u64>,
}

/// Where keys come from, decided at configuration time without any I/O.
pub enum Source {
    Anonymous,
    Static(Keys),
    /// `AWS_IAM_CREDENTIALS_URL`.
    Url(String),
    /// The instance metadata service at this base URL (no trailing `/`).
    Imds(String),
    /// Nothing configured and the metadata service disabled: every request is a fault.
    Missing,
}

/// Fetched keys are renewed this long before they expire, so that a compile that starts
/// with them does not outlive them (and a clock a little off does not matter).
const REFRESH_MARGIN: u64 = 300;
/// The IMDSv2 session token's lifetime (seconds). One is fetched per credential fetch,
/// so it only has to outlive the two requests that follow.
const IMDS_TOKEN_TTL: &str = "60";
/// The metadata service's address when `AWS_EC2_METADATA_SERVICE_ENDPOINT` is unset.
pub const DEFAULT_IMDS: &str = "http://169.254.169.254";

impl Source {
    /// The source the environment names (`env` reads a variable; an empty one is unset).
    /// A malformed URL is an error naming the variable.
    pub fn from_env(
        no_credentials: bool,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Source, String> {
        if no_credentials {
            return Ok(Source::Anonymous);
        }
        let var = |k: &str| env(k).filter(|v| !v.is_empty());
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => {
                return Ok(Source::Static(Keys {
                    access_key,
                    secret_key,
                    token: var("AWS_SESSION_TOKEN"),
                    expires: None,
                }))
            }
            (Some(_), None) => {
                return Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into())
            }
            (None, Some(_)) => {
                return Err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into())
            }
            (None, None) => {}
        }
        if let Some(url) = var("AWS_IAM_CREDENTIALS_URL") {
            check_http_url(&url).map_err(|e| format!("AWS_IAM_CREDENTIALS_URL: {e}"))?;
            return Ok(Source::Url(url));
        }
        if var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(Source::Missing);
        }
        let ep = var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| DEFAULT_IMDS.into());
        check_http_url(&ep).map_err(|e| format!("AWS_EC2_METADATA_SERVICE_ENDPOINT: {e}"))?;
        Ok(Source::Imds(ep.trim_end_matches('/').to_string()))
    }

    /// What the on-disk record is tied to: keys fetched from another source are not reused.
    fn id(&self) -> Option<String> {
        match self {
            Source::Url(u) => Some(format!("url {u}")),
            Source::Imds(e) => Some(format!("imds {e}")),
            _ => None,
        }
    }

    /// Short description for log lines (no secret in it).
    pub fn describe(&self) -> &'static str {
        match self {
            Source::Anonymous => "anonymous",
            Source::Static(_) => "static keys",
            Source::Url(_) => "AWS_IAM_CREDENTIALS_URL",
            Source::Imds(_) => "the instance metadata service",
            Source::Missing => "none",
        }
    }

    /// Whether keys come from a service (and so are cached on disk).
    pub fn is_fetched(&self) -> bool {
        matches!(self, Source::Url(_) | Source::Imds(_))
    }
}

fn check_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("'{url}' is not an http(s) URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("'{url}' has no valid host"));
    }
    Ok(())
}

/// The on-disk record of fetched keys.
pub fn cache_file(cache_dir: &Path) -> PathBuf {
    cache_dir.join("credentials-v1").join("s3")
}

/// Keys for a fetched source: from the on-disk record while it is fresh, else from the
/// service (then recorded). `Err` is a message for a fault.
pub fn fetch_cached(
    source: &Source,
    cache_dir: &Path,
    agent: &ureq::Agent,
) -> Result<Keys, String> {
    let Some(id) = source.id() else {
        return Err(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                    AWS_IAM_CREDENTIALS_URL, or CACHEPOT_S3_NO_CREDENTIALS=1"
                .into(),
        );
    };
    let file = cache_file(cache_dir);
    let now = crate::util::time::now_secs() as u64;
    if let Some(k) = read_record(&file, &id) {
        if k.expires.is_some_and(|e| e > now + REFRESH_MARGIN) {
            log::debug!(
                "s3: credentials from {} (cached on disk)",
                source.describe()
            );
            return Ok(k);
        }
    }
    let keys = match source {
        Source::Url(u) => from_url(agent, u),
        Source::Imds(e) => from_imds(agent, e),
        _ => unreachable!("id() is Some only for Url and Imds"),
    }
    .map_err(|e| format!("credentials from {}: {e}", source.describe()))?;
    match keys.expires {
        Some(e) if e > now + REFRESH_MARGIN => {
            write_record(&file, &id, &keys);
            log::debug!(
                "s3: fetched credentials from {}, valid for {} s",
                source.describe(),
                e - now
            );
        }
        // No expiry, or too close to it: used by this process only, fetched again next time.
        _ => log::debug!(
            "s3: fetched credentials from {} (not cached: no usable expiry)",
            source.describe()
        ),
    }
    Ok(keys)
}

/// Drops the on-disk record (S3 refused the keys).
pub fn forget(cache_dir: &Path) {
    let file = cache_file(cache_dir);
    match std::fs::remove_file(&file) {
        Ok(()) => log::info!("s3: credentials refused, removed {}", file.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("s3: cannot remove {}: {e}", file.display()),
    }
}

fn read_record(file: &Path, id: &str) -> Option<Keys> {
    let text = std::fs::read(file).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    if v.get("source")?.as_str()? != id {
        return None;
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Some(Keys {
        access_key: s("access_key_id")?,
        secret_key: s("secret_access_key")?,
        token: s("token"),
        expires: Some(v.get("expires")?.as_u64()?),
    })
}

fn write_record(file: &Path, id: &str, k: &Keys) {
    let doc = serde_json::json!({
        "source": id,
        "access_key_id": k.access_key,
        "secret_access_key": k.secret_key,
        "token": k.token,
        "expires": k.expires,
    });
    let r = file
        .parent()
        .map_or(Ok(()), crate::util::fs::create_dir_all_private)
        .and_then(|_| {
            // Owner-only even in a group-shared cache: these are this user's keys.
            crate::util::fs::atomic_write(file, doc.to_string().as_bytes(), 0o600)
        });
    if let Err(e) = r {
        log::warn!("s3: cannot record credentials in {}: {e}", file.display());
    }
}

/// A bounded body as text (credential documents are a few hundred bytes).
fn read_doc(resp: ureq::Response) -> Result<String, String> {
    let body = http::read_body(resp, http::MAX_SMALL_BODY)
        .map_err(|e| format!("reading the answer: {e}"))?;
    String::from_utf8(body).map_err(|_| "reading the answer: not UTF-8 text".to_string())
}

fn call(req: ureq::Request) -> Result<String, String> {
    match req.call() {
        Ok(r) => read_doc(r),
        Err(ureq::Error::Status(code, r)) => Err(format!("{} answered {code}", r.get_url())),
        Err(e) => Err(e.to_string()),
    }
}

/// The JSON both services answer: `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`.
fn parse_doc(doc: &str) -> Result<Keys, String> {
    let v: serde_json::Value =
        serde_json::from_str(doc).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if let Some(code) = v.get("Code").and_then(|c| c.as_str()) {
        if code != "Success" {
            return Err(format!("the service answered Code {code}"));
        }
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
    let (Some(ak), Some(sk)) = (s("AccessKeyId"), s("SecretAccessKey")) else {
        return Err("the answer has no AccessKeyId and SecretAccessKey".into());
    };
    let expires = match s("Expiration") {
        None => None,
        Some(t) => Some(
            crate::util::time::parse_rfc3339(t)
                .and_then(|t| u64::try_from(t).ok())
                .ok_or_else(|| format!("Expiration '{t}' is not an RFC 3339 time"))?,
        ),
    };
    Ok(Keys {
        access_key: ak.to_string(),
        secret_key: sk.to_string(),
        token: s("Token").map(str::to_string),
        expires,
    })
}

fn from_url(agent: &ureq::Agent, url: &str) -> Result<Keys, String> {
    parse_doc(&call(agent.get(url))?)
}

/// IMDSv2: `PUT /latest/api/token`, then the role under
/// `/latest/meta-data/iam/security-credentials/` and its keys. A service that does not
/// know the token call (404/405: IMDSv1 only) is asked without a token.
fn from_imds(agent: &ureq::Agent, endpoint: &str) -> Result<Keys, String> {
    let token = match agent
        .put(&format!("{endpoint}/latest/api/token"))
        .set("X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL)
        .call()
    {
        Ok(r) => Some(read_doc(r)?.trim().to_string()),
        Err(ureq::Error::Status(404 | 405, _)) => None,
        Err(ureq::Error::Status(code, _)) => {
            return Err(format!("the session token request answered {code}"))
        }
        Err(e) => return Err(e.to_string()),
    };
    let get = |path: &str| {
        let mut req = agent.get(&format!("{endpoint}{path}"));
        if let Some(t) = &token {
            req = req.set("X-aws-ec2-metadata-token", t);
        }
        call(req)
    };
    let base = "/latest/meta-data/iam/security-credentials/";
    let roles = get(base)?;
    let role = roles
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or("no IAM role is attached to this instance")?;
    parse_doc(&get(&format!("{base}{}", http::encode(role)))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn source_order() {
        let all = env_of(&[
            ("AWS_ACCESS_KEY_ID", "ak"),
            ("AWS_SECRET_ACCESS_KEY", "sk"),
            ("AWS_SESSION_TOKEN", "tok"),
            ("AWS_IAM_CREDENTIALS_URL", "http://127.0.0.1:1/creds"),
        ]);
        assert!(matches!(
            Source::from_env(true, &all),
            Ok(Source::Anonymous)
        ));
        match Source::from_env(false, &all) {
            Ok(Source::Static(k)) => {
                assert_eq!(
                    (
                        k.access_key.as_str(),
                        k.secret_key.as_str(),
                        k.token.as_deref()
                    ),
                    ("ak", "sk", Some("tok"))
                );
            }
            _ => panic!("static keys come first"),
        }
        let url = env_of(&[("AWS_IAM_CREDENTIALS_URL", "http://127.0.0.1:1/creds")]);
        assert!(
            matches!(Source::from_env(false, &url), Ok(Source::Url(u)) if u == "http://127.0.0.1:1/creds")
        );
        let imds = env_of(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:2/")]);
        assert!(
            matches!(Source::from_env(false, &imds), Ok(Source::Imds(e)) if e == "http://127.0.0.1:2")
        );
        let none = env_of(&[]);
        assert!(matches!(Source::from_env(false, &none), Ok(Source::Imds(e)) if e == DEFAULT_IMDS));
        let off = env_of(&[("AWS_EC2_METADATA_DISABLED", "TRUE")]);
        assert!(matches!(Source::from_env(false, &off), Ok(Source::Missing)));
    }

    #[test]
    fn malformed_sources_are_errors() {
        for env in [
            env_of(&[("AWS_ACCESS_KEY_ID", "ak")]),
            env_of(&[("AWS_SECRET_ACCESS_KEY", "sk")]),
            env_of(&[("AWS_IAM_CREDENTIALS_URL", "ftp://x/")]),
            env_of(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "not a url")]),
        ] {
            assert!(Source::from_env(false, &env).is_err());
        }
    }

    #[test]
    fn credential_documents() {
        let k = parse_doc(
            r#"{"Code":"Success","AccessKeyId":"A","SecretAccessKey":"S","Token":"T",
                "Expiration":"2030-01-01T00:00:00Z"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.access_key, "A");
        assert_eq!(k.token.as_deref(), Some("T"));
        assert_eq!(k.expires, Some(1_893_456_000));
        assert!(
            parse_doc(r#"{"Code":"Failure","AccessKeyId":"A","SecretAccessKey":"S"}"#).is_err()
        );
        assert!(parse_doc(r#"{"AccessKeyId":"A"}"#).is_err());
        assert!(parse_doc("<html>").is_err());
    }

    #[test]
    fn record_round_trip_is_tied_to_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = cache_file(dir.path());
        let k = Keys {
            access_key: "A".into(),
            secret_key: "S".into(),
            token: None,
            expires: Some(4_000_000_000),
        };
        write_record(&file, "url http://x", &k);
        assert!(read_record(&file, "url http://x") == Some(k));
        assert!(read_record(&file, "imds http://x").is_none());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "credentials record is readable by others");
    }
}
