//! Redis (redis crate, blocking API): `GET`/`SET cachepot:<key>`. `redis://` and
//! `rediss://` URLs with password and database number.

use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;
use std::cell::RefCell;
use std::time::Duration;

pub struct Redis {
    client: redis::Client,
    timeout: Duration,
    conn: RefCell<Option<redis::Connection>>,
}

impl Redis {
    pub fn new(url: &str, timeout: Duration) -> Result<Redis, String> {
        if !(url.starts_with("redis://")
            || url.starts_with("rediss://")
            || url.starts_with("redis+unix://"))
        {
            return Err(format!("'{}' is not a redis URL", mask_url(url)));
        }
        let client = redis::Client::open(url).map_err(|e| format!("'{}': {e}", mask_url(url)))?;
        Ok(Redis {
            client,
            timeout,
            conn: RefCell::new(None),
        })
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Fault> {
        let mut slot = self.conn.borrow_mut();
        if slot.is_none() {
            let c = self
                .client
                .get_connection_with_timeout(self.timeout)
                .map_err(|e| Fault::new("remote", format!("redis: {e}")))?;
            c.set_read_timeout(Some(self.timeout))
                .map_err(|e| Fault::new("remote", format!("redis: {e}")))?;
            c.set_write_timeout(Some(self.timeout))
                .map_err(|e| Fault::new("remote", format!("redis: {e}")))?;
            *slot = Some(c);
        }
        let conn = slot.as_mut().expect("set above");
        f(conn).map_err(|e| {
            *slot = None;
            Fault::new("remote", format!("redis: {e}"))
        })
    }
}

/// A URL with its password replaced, for messages and `--show-config`.
pub fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:********{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Storage for Redis {
    fn name(&self) -> &str {
        "redis"
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        let name = super::object_name(key);
        self.with_conn(|c| redis::cmd("GET").arg(&name).query::<Option<Vec<u8>>>(c))
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), Fault> {
        let name = super::object_name(key);
        self.with_conn(|c| redis::cmd("SET").arg(&name).arg(entry).query::<()>(c))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            super::mask_url("redis://:s3cret@h:1/2"),
            "redis://:********@h:1/2"
        );
        assert_eq!(
            super::mask_url("redis://u:s3cret@h:1"),
            "redis://u:********@h:1"
        );
        assert_eq!(super::mask_url("redis://h:1"), "redis://h:1");
    }
}
