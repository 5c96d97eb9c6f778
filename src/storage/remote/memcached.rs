//! Memcached over its text protocol (`get`/`set`), one or several servers; a key goes to
//! one server chosen by its hash. Hand-written: two commands over a TcpStream are less
//! code than a client crate's configuration.

use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

pub struct Memcached {
    servers: Vec<String>,
    timeout: Duration,
}

/// Values larger than this are not stored (memcached's item limit is configurable; the
/// default is 1 MB, and a refused `set` is answered, not an error of ours).
const MAX_VALUE: usize = 64 << 20;

impl Memcached {
    pub fn new(list: &str, timeout: Duration) -> Result<Memcached, String> {
        let mut servers = Vec::new();
        for item in list.split([',', ' ']).filter(|s| !s.is_empty()) {
            let addr = item
                .strip_prefix("tcp://")
                .ok_or_else(|| format!("'{item}' does not start with tcp://"))?;
            let addr = addr.trim_end_matches('/');
            let (host, port) = addr
                .rsplit_once(':')
                .ok_or_else(|| format!("'{item}' has no port"))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(format!("'{item}' is not host:port"));
            }
            servers.push(addr.to_string());
        }
        if servers.is_empty() {
            return Err("no server".into());
        }
        Ok(Memcached { servers, timeout })
    }

    fn connect(&self, key: &Key) -> Result<TcpStream, Fault> {
        let server = &self.servers[key.0[0] as usize % self.servers.len()];
        let err = |e: std::io::Error| Fault::new("remote", format!("memcached {server}: {e}"));
        let addr: SocketAddr = server
            .to_socket_addrs()
            .map_err(err)?
            .next()
            .ok_or_else(|| Fault::new("remote", format!("memcached {server}: no address")))?;
        let s = TcpStream::connect_timeout(&addr, self.timeout).map_err(err)?;
        s.set_read_timeout(Some(self.timeout)).map_err(err)?;
        s.set_write_timeout(Some(self.timeout)).map_err(err)?;
        Ok(s)
    }
}

fn fault(e: impl std::fmt::Display) -> Fault {
    Fault::new("remote", format!("memcached: {e}"))
}

impl Storage for Memcached {
    fn name(&self) -> &str {
        "memcached"
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        let name = super::object_name(key);
        let mut s = self.connect(key)?;
        s.write_all(format!("get {name}\r\n").as_bytes())
            .map_err(fault)?;
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).map_err(fault)?;
        if line.starts_with("END") {
            return Ok(None);
        }
        // VALUE <key> <flags> <bytes>
        let len: usize = line
            .split_whitespace()
            .nth(3)
            .and_then(|n| n.parse().ok())
            .filter(|_| line.starts_with("VALUE "))
            .ok_or_else(|| fault(format!("unexpected reply {:?}", line.trim_end())))?;
        if len > MAX_VALUE {
            return Err(fault("value too large"));
        }
        let mut data = vec![0u8; len + 2];
        r.read_exact(&mut data).map_err(fault)?;
        data.truncate(len);
        Ok(Some(data))
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), Fault> {
        self.put_kept(key, entry).map(|_| ())
    }

    fn put_kept(&self, key: &Key, entry: &[u8]) -> Result<bool, Fault> {
        if entry.len() > MAX_VALUE {
            return Ok(false);
        }
        let name = super::object_name(key);
        let mut s = self.connect(key)?;
        let mut msg = format!("set {name} 0 0 {}\r\n", entry.len()).into_bytes();
        msg.extend_from_slice(entry);
        msg.extend_from_slice(b"\r\n");
        s.write_all(&msg).map_err(fault)?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).map_err(fault)?;
        match line.trim_end() {
            "STORED" => Ok(true),
            // Too large for the server's item size: nothing stored, nothing broken.
            other if other.starts_with("SERVER_ERROR object too large") => Ok(false),
            other => Err(fault(format!("set answered {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lists() {
        let t = Duration::from_secs(1);
        assert_eq!(
            Memcached::new("tcp://a:1, tcp://b:2", t).unwrap().servers,
            ["a:1", "b:2"]
        );
        assert!(Memcached::new("http://a:1", t).is_err());
        assert!(Memcached::new("tcp://a", t).is_err());
        assert!(Memcached::new("", t).is_err());
    }
}
