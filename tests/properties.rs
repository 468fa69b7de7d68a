//! Property tests: each family's check (the oracle the fuzz targets use,
//! `tests/checks/`) on a deterministic stream of pseudo-random inputs.

mod checks;

use checks::{TARGETS, common::Rng};

#[test]
fn random_inputs_pass() {
    let runs = if cfg!(debug_assertions) { 200 } else { 3000 };
    let mut rng = Rng(0x5eed_f00d);
    for (name, check) in TARGETS {
        for run in 0..runs {
            let len = rng.below(64);
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{name}: random input #{run} {data:02x?} fails its check"
            );
        }
    }
}
