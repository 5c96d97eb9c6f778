//! Azure Blob storage over its REST API (ureq, rustls, blocking), authenticated with
//! SharedKey: `GET` and `PUT` (`x-ms-blob-type: BlockBlob`) of
//! `{BlobEndpoint}/{container}/cachepot/<2 hex>/<64 hex>` ([`super::object_path`]),
//! each request signed with HMAC-SHA256 of the canonical string under the account key.
//!
//! The connection string is parsed here (`AccountName`, `AccountKey`, `BlobEndpoint` used
//! as is, else `DefaultEndpointsProtocol` + `EndpointSuffix`; `UseDevelopmentStorage=true`
//! for a local Azurite). The container must exist: it is never created, so a typo is a
//! counted fault rather than a new container. The account key is never printed, in
//! errors or logs.
//!
//! Not here: statistics and back-off (pipeline::tiered, remote::mod), entry verification.

use super::http;
use crate::config::Config;
use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The REST version we speak: Block Blob PUT and GET have not changed since; Azure and
/// every Azurite since 3.19 accept it.
const API_VERSION: &str = "2021-08-06";
/// Azurite's well-known development account (public, documented by Microsoft).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

const EXPECTED: &str =
    "expected DefaultEndpointsProtocol=https;AccountName=NAME;AccountKey=BASE64;\
                        EndpointSuffix=core.windows.net (or BlobEndpoint=URL), or \
                        UseDevelopmentStorage=true";

/// What a connection string says.
#[derive(Debug, PartialEq, Eq)]
struct Account {
    name: String,
    key: Vec<u8>,
    /// The blob service URL without a trailing `/` (path-style for Azurite:
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    endpoint: String,
}

impl Account {
    /// Parses `k=v;k=v...` (keys in any case; values may hold `=`, as base64 keys do).
    /// The errors name what is wrong, never a value.
    fn parse(conn: &str) -> Result<Account, String> {
        let mut get = std::collections::HashMap::new();
        for part in conn.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err("a part is not Key=Value".into());
            };
            get.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        if get
            .get("usedevelopmentstorage")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(Account {
                name: DEV_ACCOUNT.into(),
                key: STANDARD
                    .decode(DEV_KEY)
                    .expect("the development key is base64"),
                endpoint: DEV_ENDPOINT.into(),
            });
        }
        let name = get.get("accountname").ok_or("no AccountName")?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("AccountName is not a storage account name (letters and digits)".into());
        }
        let key = get.get("accountkey").ok_or("no AccountKey")?;
        let key = STANDARD
            .decode(key.as_bytes())
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or("AccountKey is not base64")?;
        let endpoint = match get.get("blobendpoint") {
            Some(e) => http::endpoint(e, "https").map_err(|m| format!("BlobEndpoint: {m}"))?,
            None => {
                let proto = get
                    .get("defaultendpointsprotocol")
                    .map(|p| p.to_ascii_lowercase())
                    .unwrap_or_else(|| "https".into());
                if proto != "https" && proto != "http" {
                    return Err("DefaultEndpointsProtocol is neither https nor http".into());
                }
                let suffix = get
                    .get("endpointsuffix")
                    .map(String::as_str)
                    .unwrap_or("core.windows.net");
                http::endpoint(&format!("{proto}://{name}.blob.{suffix}"), "https")
                    .map_err(|m| format!("EndpointSuffix: {m}"))?
            }
        };
        Ok(Account {
            name: name.clone(),
            key,
            endpoint,
        })
    }
}

/// Container names: 3-63 of lower-case letters, digits and single `-`, starting with a
/// letter or digit (or `$root`).
fn valid_container(c: &str) -> bool {
    if c == "$root" {
        return true;
    }
    (3..=63).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !c.starts_with('-')
        && !c.ends_with('-')
        && !c.contains("--")
}

pub struct Azure {
    account: Account,
    container: String,
    agent: ureq::Agent,
}

fn fault(e: impl std::fmt::Display) -> Fault {
    Fault::new("remote", format!("azure: {e}"))
}

impl Azure {
    pub fn from_config(connection_string: &str, cfg: &Config) -> Result<Azure, String> {
        let account = Account::parse(connection_string).map_err(|m| {
            format!("invalid value for CACHEPOT_AZURE_CONNECTION_STRING: {m}; {EXPECTED}")
        })?;
        let container = cfg.azure_blob_container.as_deref().ok_or(
            "CACHEPOT_AZURE_BLOB_CONTAINER is not set: name the (existing) blob container",
        )?;
        if !valid_container(container) {
            return Err(format!(
                "invalid value '{container}' for CACHEPOT_AZURE_BLOB_CONTAINER: expected a \
                 container name (3-63 of a-z, 0-9, '-')"
            ));
        }
        Ok(Azure {
            account,
            container: container.to_string(),
            agent: http::agent(cfg.remote_timeout),
        })
    }

    fn url(&self, key: &Key) -> String {
        format!(
            "{}/{}/{}",
            self.account.endpoint,
            self.container,
            super::object_path(key)
        )
    }

    /// `req` with `x-ms-date`, `x-ms-version` and the SharedKey `Authorization` for a
    /// body of `len` bytes of `content_type` (the blob service's string-to-sign, version
    /// 2015-02-21 and later: an empty Content-Length when zero).
    fn signed(
        &self,
        req: ureq::Request,
        verb: &str,
        url: &str,
        len: usize,
        content_type: &str,
        blob_type: Option<&str>,
    ) -> ureq::Request {
        let date = crate::util::time::http_date(crate::util::time::now_secs());
        // Sorted by name, as the canonical form requires.
        let mut ms = Vec::new();
        if let Some(t) = blob_type {
            ms.push(("x-ms-blob-type", t));
        }
        ms.push(("x-ms-date", &date));
        ms.push(("x-ms-version", API_VERSION));
        let to_sign = string_to_sign(
            verb,
            len,
            content_type,
            &ms,
            &self.account.name,
            http::path_of(url),
        );
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.account.key),
            to_sign.as_bytes(),
        );
        let mut req = req.set(
            "Authorization",
            &format!(
                "SharedKey {}:{}",
                self.account.name,
                STANDARD.encode(mac.as_ref())
            ),
        );
        for (k, v) in ms {
            req = req.set(k, v);
        }
        if !content_type.is_empty() {
            req = req.set("Content-Type", content_type);
        }
        req
    }
}

/// The SharedKey string-to-sign of a request without the standard headers we never send
/// (Content-Encoding, -Language, -MD5, Date, If-*, Range) and without a query string.
fn string_to_sign(
    verb: &str,
    len: usize,
    content_type: &str,
    ms_headers: &[(&str, &str)],
    account: &str,
    path: &str,
) -> String {
    let len = if len == 0 {
        String::new()
    } else {
        len.to_string()
    };
    let mut s = format!("{verb}\n\n\n{len}\n\n{content_type}\n\n\n\n\n\n\n");
    for (k, v) in ms_headers {
        s += &format!("{k}:{v}\n");
    }
    s += &format!("/{account}{path}");
    s
}

impl Storage for Azure {
    fn name(&self) -> &str {
        "azure"
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        let url = self.url(key);
        let req = self.signed(self.agent.get(&url), "GET", &url, 0, "", None);
        match req.call() {
            Ok(resp) => Ok(Some(http::read_body(resp, http::MAX_BODY).map_err(fault)?)),
            // Only a missing blob is a miss: a missing container (ContainerNotFound) or an
            // unknown path is a fault that must be seen.
            Err(ureq::Error::Status(404, resp))
                if resp.header("x-ms-error-code") == Some("BlobNotFound") =>
            {
                Ok(None)
            }
            Err(ureq::Error::Status(code, resp)) => Err(fault(format!(
                "GET {url}: status {code} {}",
                resp.header("x-ms-error-code").unwrap_or("")
            ))),
            Err(e) => Err(fault(e)),
        }
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), Fault> {
        let url = self.url(key);
        let ct = "application/octet-stream";
        let req = self.signed(
            self.agent.put(&url),
            "PUT",
            &url,
            entry.len(),
            ct,
            Some("BlockBlob"),
        );
        match req.send_bytes(entry) {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, resp)) => Err(fault(format!(
                "PUT {url}: status {code} {}",
                resp.header("x-ms-error-code").unwrap_or("")
            ))),
            Err(e) => Err(fault(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings() {
        let a = Account::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;\
             BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
        )
        .unwrap();
        assert_eq!(a.name, "devstoreaccount1");
        assert_eq!(a.key, b"key");
        assert_eq!(a.endpoint, "http://127.0.0.1:10000/devstoreaccount1");

        let a = Account::parse("accountname=acct1;accountkey=a2V5").unwrap();
        assert_eq!(a.endpoint, "https://acct1.blob.core.windows.net");
        let a = Account::parse(
            "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=a2V5;\
             EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(a.endpoint, "https://acct1.blob.core.chinacloudapi.cn");

        let dev = Account::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(dev.name, DEV_ACCOUNT);
        assert_eq!(dev.endpoint, DEV_ENDPOINT);
        assert_eq!(dev.key.len(), 64);
    }

    #[test]
    fn malformed_connection_strings_never_quote_the_key() {
        for (conn, what) in [
            ("AccountKey=c2VjcmV0S2V5", "no AccountName"),
            ("AccountName=acct", "no AccountKey"),
            ("AccountName=acct;AccountKey=not*base64!Zq", "not base64"),
            ("AccountName=acct;c2VjcmV0S2V5", "Key=Value"),
            ("AccountName=ac/ct;AccountKey=a2V5", "AccountName"),
            (
                "AccountName=acct;AccountKey=a2V5;BlobEndpoint=ftp://x",
                "BlobEndpoint",
            ),
            (
                "AccountName=acct;AccountKey=a2V5;DefaultEndpointsProtocol=gopher",
                "DefaultEndpointsProtocol",
            ),
        ] {
            let e = Account::parse(conn).expect_err(conn);
            assert!(e.contains(what), "{conn}: {e}");
            assert!(!e.contains("c2Vj") && !e.contains("base64!"), "{e}");
        }
    }

    #[test]
    fn container_names() {
        for ok in ["cachepot", "abc", "a-b-c", "$root", "c0ntainer9"] {
            assert!(valid_container(ok), "{ok}");
        }
        for bad in ["ab", "Caps", "a--b", "-ab", "ab-", "a/b", "a_b"] {
            assert!(!valid_container(bad), "{bad}");
        }
    }

    /// The example from Microsoft's "Authorize with Shared Key" page, shape for shape:
    /// 13 lines of standard headers, then the x-ms headers, then the resource.
    #[test]
    fn string_to_sign_layout() {
        let s = string_to_sign(
            "PUT",
            11,
            "application/octet-stream",
            &[
                ("x-ms-blob-type", "BlockBlob"),
                ("x-ms-date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("x-ms-version", API_VERSION),
            ],
            "acct",
            "/acct/box/cachepot/ab/abcd",
        );
        assert_eq!(
            s,
            format!(
                "PUT\n\n\n11\n\napplication/octet-stream\n\n\n\n\n\n\n\
                 x-ms-blob-type:BlockBlob\nx-ms-date:Sun, 06 Nov 1994 08:49:37 GMT\n\
                 x-ms-version:{API_VERSION}\n/acct/acct/box/cachepot/ab/abcd"
            )
        );
        let g = string_to_sign("GET", 0, "", &[], "a", "/c/b");
        assert_eq!(g, "GET\n\n\n\n\n\n\n\n\n\n\n\n/a/c/b");
    }
}
