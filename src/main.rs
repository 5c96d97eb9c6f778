//! cachepot: a daemonless compiler cache. `argv` -> maintenance command or wrapped
//! compile (cli.rs) -> exit status. See ARCHITECTURE.md for the map of the code and
//! pipeline.rs for the flow of a cached compile.

mod cli;
mod compiler;
mod config;
mod depfile;
mod digest_cache;
mod entry;
mod error;
mod exec;
mod hash;
mod logging;
mod manifest;
mod pipeline;
mod stats;
mod storage;
mod util;

fn main() {
    let code = cli::main(std::env::args_os().collect());
    std::process::exit(code);
}
