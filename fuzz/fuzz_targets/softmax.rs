//! Fuzz target `softmax`: the check of `tests/checks/softmax.rs`, shared with the
//! stable replay in `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../../tests/checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::softmax::check(data));
