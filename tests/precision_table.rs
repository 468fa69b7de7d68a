//! The documented bounds and the table the tests read agree: every entry of
//! `docs/precision.toml` is quoted, with its values, by the doc comments of
//! the files it names, so a bound cannot change in the docs without
//! changing in the table (and so in every test that enforces it).

mod common;

use common::precision::{Value, entries, render, render_quote};
use std::path::Path;

#[test]
fn every_documented_bound_quotes_the_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    for entry in entries() {
        let quote = render_quote(entry);
        assert!(
            !quote.contains('{'),
            "[{}]: quote {quote:?} names a field the entry lacks",
            entry.kernel
        );
        let Some(Value::List(files)) = entry.field("in") else {
            panic!("[{}] lists no file that quotes it", entry.kernel);
        };
        for file in files {
            let text = std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|e| panic!("[{}]: {file}: {e}", entry.kernel));
            // Doc comments wrap: compare with line breaks and comment
            // markers folded into single spaces.
            let folded = fold_comment_lines(&text);
            if !folded.contains(&quote) {
                missing.push(format!(
                    "{file} does not state [{}]: {quote:?}",
                    entry.kernel
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_readme_accuracy_table_quotes_the_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut missing = Vec::new();
    for entry in entries() {
        let row = render(entry, "readme");
        if let Some(row) = row.filter(|row| !readme.lines().any(|line| line.starts_with(row))) {
            missing.push(format!("README.md has no row starting {row:?}"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Joins wrapped comment lines: each line loses its leading `///`, `//!` or
/// `//` and whitespace runs become one space.
fn fold_comment_lines(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        let line = ["///", "//!", "//"]
            .iter()
            .find_map(|p| line.strip_prefix(p))
            .unwrap_or(line);
        out.push(' ');
        out.push_str(line.trim());
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_table_parses_and_renders() {
    let table = common::precision::parse(
        "[k]\nulp = 0.5 # half\nx_log2 = -21\nquote = \"{ulp} + {x_log2} # kept\"\nin = [\"a\", \"b\"]\n",
    );
    assert_eq!(table.len(), 1);
    assert_eq!(render_quote(&table[0]), "½ + 2⁻²¹ # kept");
    assert_eq!(
        table[0].field("in"),
        Some(&Value::List(vec!["a".into(), "b".into()]))
    );
    assert_eq!(
        common::precision::bound("cross_entropy", "grad_floor_log2"),
        2f64.powi(-24)
    );
}

/// The error measure the bounds are stated in (`docs/accuracy.md`, "How
/// errors are measured") near overflow: +inf sits at 2¹²⁸ on the grid, a
/// value between f32::MAX and 2¹²⁸ has both as neighbours, and beyond 2¹²⁸
/// only +inf is right.
#[test]
fn ulp_error_near_overflow() {
    let big = 2f64.powi(128);
    let ulp_at_max = 2f64.powi(104);
    let max = f32::MAX as f64;
    // Just past the rounding midpoint between f32::MAX and 2¹²⁸: rounds to inf.
    let past_midpoint = max + 0.54 * ulp_at_max;
    assert!((past_midpoint as f32).is_infinite());
    assert_eq!(common::ulp_error(f32::INFINITY, past_midpoint), 0.0);
    let e = common::ulp_error(f32::MAX, past_midpoint);
    assert!((e - 0.54).abs() < 1e-9, "{e}");
    assert_eq!(common::ulp_error(-f32::MAX, past_midpoint), f64::INFINITY);
    assert_eq!(common::ulp_error(f32::MAX, big), f64::INFINITY);
    assert_eq!(common::ulp_error(f32::MAX, 1.3 * big), f64::INFINITY);
    assert_eq!(common::ulp_error(f32::INFINITY, 1.3 * big), 0.0);
    assert_eq!(common::ulp_error(f32::INFINITY, max), 1.0);
    assert_eq!(common::ulp_error(f32::NEG_INFINITY, -past_midpoint), 0.0);
    assert_eq!(common::ulp_error(f32::MAX, f64::INFINITY), f64::INFINITY);
}
