//! cargo-fuzz target `msvc_args`: the checks are in src/lib.rs (shared with the stable
//! corpus test); this file only hands libFuzzer's input to them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachepot_fuzz::msvc_args(data));
