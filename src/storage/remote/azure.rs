//! Azure remote cache: not built yet (placeholder so that the settings parse).

use crate::config::Config;
use crate::error::Fault;
use crate::hash::Key;
use crate::storage::Storage;

pub struct Azure;

impl Azure {
    pub fn from_config(_connection_string: &str, _cfg: &Config) -> Result<Azure, String> {
        Err("this backend is not available yet".into())
    }
}

impl Storage for Azure {
    fn name(&self) -> &str {
        "azure"
    }

    fn get(&self, _key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        Ok(None)
    }

    fn put(&self, _key: &Key, _entry: &[u8]) -> Result<(), Fault> {
        Ok(())
    }
}
