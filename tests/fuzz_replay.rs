//! SPEC §7: replays every committed fuzz input — the seed and saturated
//! corpora (`fuzz/corpus/<target>/`) and the minimized findings
//! (`fuzz/regressions/<target>/`) — through the same check functions the
//! cargo-fuzz targets run, on stable Rust. Then runs each check on a stream
//! of pseudo-random inputs, so the checks also act as property tests.

mod checks;

use checks::{TARGETS, common::Rng};
use std::path::Path;

fn replay_dir(dir: &Path, check: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "fuzz input {} fails its check",
            path.display()
        );
    }
    files.len()
}

#[test]
fn committed_corpora_and_regressions_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, check) in TARGETS {
        let corpus = replay_dir(&root.join("corpus").join(name), check);
        let regressions = replay_dir(&root.join("regressions").join(name), check);
        println!("{name}: {corpus} corpus inputs, {regressions} regressions replayed");
    }
}

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
