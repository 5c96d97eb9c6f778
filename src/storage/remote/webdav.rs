//! WebDAV / plain HTTP caches (nginx `dav_methods PUT`, bazel-remote, ccache's HTTP
//! layout): `GET` and `PUT <endpoint><2 hex>/<64 hex>`, with basic or bearer auth.
//! ureq with rustls (no OpenSSL), blocking, with connect, read and write timeouts.

use crate::config::Config;
use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;
use std::io::Read;
use std::time::Duration;

pub enum Auth {
    None,
    Basic(String),
    Bearer(String),
}

impl Auth {
    pub fn from_config(cfg: &Config) -> Auth {
        if let Some(t) = &cfg.webdav_token {
            return Auth::Bearer(format!("Bearer {t}"));
        }
        match (&cfg.webdav_username, &cfg.webdav_password) {
            (Some(u), p) => Auth::Basic(format!(
                "Basic {}",
                base64(format!("{u}:{}", p.as_deref().unwrap_or("")).as_bytes())
            )),
            _ => Auth::None,
        }
    }
}

fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub struct WebDav {
    base: String,
    auth: Auth,
    agent: ureq::Agent,
}

/// Entries are bounded well below this; a larger body is refused rather than buffered.
const MAX_BODY: u64 = 4 << 30;

impl WebDav {
    pub fn new(url: &str, auth: Auth, timeout: Duration) -> Result<WebDav, String> {
        super::http::full_url(url)?;
        let base = if url.ends_with('/') {
            url.to_string()
        } else {
            format!("{url}/")
        };
        // Each socket read and write is bounded (not the whole request): a server that
        // stalls costs one timeout, while a large upload that keeps moving completes.
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .build();
        Ok(WebDav { base, auth, agent })
    }

    fn url(&self, key: &Key) -> String {
        let hex = key.hex();
        format!("{}{}/{}", self.base, &hex[..2], hex)
    }

    fn with_auth(&self, req: ureq::Request) -> ureq::Request {
        match &self.auth {
            Auth::None => req,
            Auth::Basic(v) | Auth::Bearer(v) => req.set("Authorization", v),
        }
    }
}

fn fault(e: impl std::fmt::Display) -> Fault {
    Fault::new("remote", format!("webdav: {e}"))
}

impl Storage for WebDav {
    fn name(&self) -> &str {
        "webdav"
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        match self.with_auth(self.agent.get(&self.url(key))).call() {
            Ok(resp) => {
                let mut data = Vec::new();
                resp.into_reader()
                    .take(MAX_BODY)
                    .read_to_end(&mut data)
                    .map_err(fault)?;
                Ok(Some(data))
            }
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(fault(e)),
        }
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), Fault> {
        self.with_auth(self.agent.put(&self.url(key)))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(entry)
            .map(|_| ())
            .map_err(fault)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(super::base64(b"a"), "YQ==");
        assert_eq!(super::base64(b"ab"), "YWI=");
    }
}
