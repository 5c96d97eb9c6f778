//! Gcs remote cache: not built yet (placeholder so that the settings parse).

use crate::config::Config;
use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;

pub struct Gcs;

impl Gcs {
    pub fn from_config(_bucket: &str, _cfg: &Config) -> Result<Gcs, String> {
        Err("this backend is not available yet".into())
    }
}

impl Storage for Gcs {
    fn name(&self) -> &str {
        "gcs"
    }

    fn get(&self, _key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        Ok(None)
    }

    fn put(&self, _key: &Key, _entry: &[u8]) -> Result<(), Fault> {
        Ok(())
    }
}
