//! What the ureq-based object stores (S3, GCS, Azure Blob) share: an agent with cachepot's
//! timeouts, bounded body reads, percent-encoding, and the check of an endpoint URL.
//! No backend knowledge: URLs, signing and status meanings stay in each backend's file.

use std::io::Read;
use std::time::Duration;

/// The largest entry read back from a remote. Entries are bounded well below this (a big
/// rlib is tens of MB); a larger body is refused rather than buffered.
pub const MAX_BODY: u64 = 4 << 30;

/// The largest token or error document read (an OAuth answer is under 2 kB).
pub const MAX_SMALL_BODY: u64 = 64 << 10;

/// An agent whose connect and each socket read and write are bounded by `timeout` (not
/// the whole request): a server that stalls costs one timeout, while a large upload that
/// keeps moving completes.
pub fn agent(timeout: Duration) -> ureq::Agent {
    agent_builder(timeout).build()
}

/// The builder of [`agent`], for a backend that sets more (S3 turns redirects off).
pub fn agent_builder(timeout: Duration) -> ureq::AgentBuilder {
    ureq::AgentBuilder::new()
        .timeout_connect(timeout)
        .timeout_read(timeout)
        .timeout_write(timeout)
}

/// The body of `resp`, at most `limit` bytes (more is an error, not a silent truncation;
/// a larger `Content-Length` is refused before reading).
pub fn read_body(resp: ureq::Response, limit: u64) -> std::io::Result<Vec<u8>> {
    let too_large = || std::io::Error::other(format!("response body larger than {limit} bytes"));
    let declared = resp
        .header("Content-Length")
        .and_then(|l| l.parse::<u64>().ok());
    if declared.is_some_and(|l| l > limit) {
        return Err(too_large());
    }
    let mut data = Vec::with_capacity(declared.unwrap_or(0) as usize);
    resp.into_reader()
        .take(limit.saturating_add(1))
        .read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(data)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, upper-case hex (so
/// `/` too: a GCS object name is one path segment, and a query value must not break the
/// query).
pub fn encode(s: &str) -> String {
    percent_encode(s, false)
}

/// As [`encode`] but keeping `/`: an object name as URL path segments. This is also the
/// canonical URI of S3's SigV4 (encoded once).
pub fn encode_path(s: &str) -> String {
    percent_encode(s, true)
}

fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` without a trailing `/`, checked to be `http(s)://host[:port][/path]`; a bare
/// `host[:port]` gets `default_scheme`.
pub fn endpoint(url: &str, default_scheme: &str) -> Result<String, String> {
    let url = url.trim();
    let full = if url.contains("://") {
        url.to_string()
    } else {
        format!("{default_scheme}://{url}")
    };
    let Some(rest) = full
        .strip_prefix("http://")
        .or_else(|| full.strip_prefix("https://"))
    else {
        return Err(format!("'{url}' is not an http(s) URL"));
    };
    let host = rest.split('/').next().unwrap_or("");
    let bad = |c: char| c.is_whitespace() || matches!(c, '?' | '#' | '@' | '\\');
    if host.is_empty() || host.starts_with(':') || full.contains(bad) {
        return Err(format!("'{url}' is not a URL with a host"));
    }
    if let Some((_, port)) = host.rsplit_once(':').filter(|_| !host.ends_with(']')) {
        if port.parse::<u16>().is_err() {
            return Err(format!("'{url}' has a bad port"));
        }
    }
    // What the HTTP client will parse: an unclosed `[`, a bad IPv6 address...
    match url::Url::parse(&full) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => {}
        Ok(_) => return Err(format!("'{url}' is not a URL with a host")),
        Err(e) => return Err(format!("'{url}' is not a valid URL ({e})")),
    }
    Ok(full.trim_end_matches('/').to_string())
}

/// `url` unchanged (query and trailing `/` kept: it is requested as given), checked to be
/// `http(s)://host[:port]...` with no spaces.
pub fn full_url(url: &str) -> Result<String, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("'{url}' is not an http(s) URL"));
    }
    let base: String = url
        .chars()
        .take_while(|c| !matches!(c, '?' | '#'))
        .collect();
    endpoint(&base, "https")?;
    if url.contains(char::is_whitespace) {
        return Err(format!("'{url}' has spaces"));
    }
    Ok(url.to_string())
}

/// The path of an http(s) URL (`/` when it has none), as sent on the request line.
pub fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_components() {
        assert_eq!(encode("cachepot/ab/0f"), "cachepot%2Fab%2F0f");
        assert_eq!(encode("a b+c~_.-"), "a%20b%2Bc~_.-");
        assert_eq!(encode("a/b+c=d"), "a%2Fb%2Bc%3Dd");
    }

    #[test]
    fn encodes_paths() {
        assert_eq!(encode_path("a b/c~d_e.f-g"), "a%20b/c~d_e.f-g");
        assert_eq!(encode_path("é"), "%C3%A9");
        assert_eq!(encode_path("test$file.text"), "test%24file.text");
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("127.0.0.1:9023", "http").unwrap(),
            "http://127.0.0.1:9023"
        );
        assert_eq!(
            endpoint("https://storage.example/", "http").unwrap(),
            "https://storage.example"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:1/devstoreaccount1/", "https").unwrap(),
            "http://127.0.0.1:1/devstoreaccount1"
        );
        for bad in [
            "http://[::1",
            "http://[::1]:99999/",
            "http://127.0.0.1:abc/",
            "http://127.0.0.1:99999/",
            "ftp://x",
            "http://",
            "http://:80",
            "not a url",
            "http://h:port",
            "http://u@h",
        ] {
            assert!(endpoint(bad, "https").is_err(), "{bad}");
        }
    }

    #[test]
    fn full_urls() {
        let u = "http://127.0.0.1:8080/token/?scopes=a,b";
        assert_eq!(full_url(u).unwrap(), u);
        for bad in ["127.0.0.1:1/token", "http:///x", "http://h/a b", "ftp://h/"] {
            assert!(full_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(path_of("http://h:1/a/b"), "/a/b");
        assert_eq!(path_of("https://h"), "/");
    }
}
