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
