//! Where entries live. [`Storage`] is the whole interface a backend implements: three
//! blocking methods, no policy and no statistics. The local disk cache ([`local`]) is
//! always the first level and also owns size bounds, eviction and the statistics files;
//! remote backends are one file each under `remote/` behind the same trait.

pub mod local;
pub mod records;
pub mod remote;

use crate::error::Fault;
use crate::hash::Key;

pub trait Storage {
    /// Short name for logs and statistics ("local", "redis"...).
    fn name(&self) -> &str;
    /// The entry stored under `key`, if any. The caller verifies it.
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Fault>;
    /// Store a complete entry under `key` (atomically: readers never see a part).
    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), Fault>;
    /// [`put`](Storage::put), saying whether the entry was kept: a backend may decline
    /// one it cannot hold (memcached's item size) without that being a failure.
    fn put_kept(&self, key: &Key, entry: &[u8]) -> Result<bool, Fault> {
        self.put(key, entry).map(|()| true)
    }
    /// A backend that only reads (GCS in READ_ONLY mode or without credentials): never
    /// asked to `put`. CACHEPOT_REMOTE_READ_ONLY applies to every backend on top of this.
    fn read_only(&self) -> bool {
        false
    }
}
