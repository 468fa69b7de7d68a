//! Fuzz target `cross_entropy`: the check of `tests/checks/cross_entropy.rs`, shared with the
//! stable replay in `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../../tests/checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::cross_entropy::check(data));
