//! Replays every committed fuzz input — the seed and saturated corpora
//! (`fuzz/corpus/<target>/`) and the minimized findings
//! (`fuzz/regressions/<target>/`) — through the same check functions the
//! cargo-fuzz targets run, on stable Rust (`docs/fuzzing.md`).
//!
//! The corpora live in the repository, not in the published package, so
//! this file is left out of the package; in a checkout a missing corpus
//! fails the test rather than replaying nothing.

mod checks;

use checks::TARGETS;
use std::path::Path;

/// Replays every file of `dir` through `check`; returns how many there were.
/// A missing directory is `None`.
fn replay_dir(dir: &Path, check: fn(&[u8])) -> Option<usize> {
    let entries = std::fs::read_dir(dir).ok()?;
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
    Some(files.len())
}

#[test]
fn committed_corpora_and_regressions_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, check) in TARGETS {
        let corpus_dir = root.join("corpus").join(name);
        let corpus = replay_dir(&corpus_dir, check).unwrap_or(0);
        assert!(
            corpus > 0,
            "{}: no committed corpus to replay",
            corpus_dir.display()
        );
        let regressions = replay_dir(&root.join("regressions").join(name), check).unwrap_or(0);
        println!("{name}: {corpus} corpus inputs, {regressions} regressions replayed");
    }
}
