//! Fuzz target `log_sum_exp`: the check of `tests/checks/log_sum_exp.rs`, shared with the
//! stable replay in `tests/fuzz_replay.rs`.
#![no_main]

#[path = "../../tests/checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::log_sum_exp::check(data));
