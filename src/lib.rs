//! cachepot's code as a library, so that the fuzz targets (`fuzz/`) and the corpus test
//! (`tests/fuzz_corpus.rs`) can call the parsers and decoders directly. The binary
//! (`main.rs`) is a thin entry point over [`cli::main`]. This is not a stable API: the
//! modules are public only as far as the binary, the fuzz targets and tests need them.
//! See ARCHITECTURE.md for the map of the code and `pipeline/mod.rs` for the flow of a
//! cached compile.

pub mod arena;
pub mod cli;
pub mod compiler;
pub mod config;
pub mod depfile;
mod digest_cache;
pub mod entry;
pub mod error;
mod exec;
pub mod hash;
mod logging;
pub mod manifest;
#[cfg(target_endian = "little")]
mod memcmp;
mod pipeline;
pub mod stats;
mod storage;
mod util;
