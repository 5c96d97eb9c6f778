//! S3 remote cache: not built yet (placeholder so that the settings parse).

use crate::config::Config;
use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;

pub struct S3;

impl S3 {
    pub fn from_config(_bucket: &str, _cfg: &Config) -> Result<S3, String> {
        Err("this backend is not available yet".into())
    }
}

impl Storage for S3 {
    fn name(&self) -> &str {
        "s3"
    }

    fn get(&self, _key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        Ok(None)
    }

    fn put(&self, _key: &Key, _entry: &[u8]) -> Result<(), Fault> {
        Ok(())
    }
}
