//! cachepot: a daemonless compiler cache. `argv` -> maintenance command or wrapped
//! compile (cli.rs) -> exit status. The modules live in the library (lib.rs); see
//! ARCHITECTURE.md for the map of the code and pipeline.rs for the flow of a cached
//! compile.

fn main() {
    let code = cachepot::cli::main(std::env::args_os().collect());
    std::process::exit(code);
}
