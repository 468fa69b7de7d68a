//! Fuzz target `lane_math`: the check of `tests/checks/lane_math.rs`, shared with the
//! stable replay in `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../../tests/checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::lane_math::check(data));
