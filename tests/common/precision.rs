//! The documented error bounds, read from `docs/precision.toml`: the one
//! table the tests, the fuzz checks and the firmware vectors take their
//! limits from. The file is embedded at compile time, so the fuzz targets
//! and cross-target test binaries (which run away from the checkout) carry
//! it too.

use std::sync::OnceLock;

/// The table's text.
pub const SOURCE: &str = include_str!("../../docs/precision.toml");

/// A field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    List(Vec<String>),
}

/// One `[kernel]` section: its name and its fields in file order.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kernel: String,
    pub fields: Vec<(String, Value)>,
}

impl Entry {
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Every section of the table, parsed once.
pub fn entries() -> &'static [Entry] {
    static TABLE: OnceLock<Vec<Entry>> = OnceLock::new();
    TABLE.get_or_init(|| parse(SOURCE))
}

/// The number `key` of `kernel`; a `*_log2` field gives the power of two it
/// names. Panics if the table has no such number (a test asking for a bound
/// that is not documented is a bug in the test).
pub fn bound(kernel: &str, key: &str) -> f64 {
    let entry = entries()
        .iter()
        .find(|e| e.kernel == kernel)
        .unwrap_or_else(|| panic!("docs/precision.toml has no [{kernel}]"));
    match entry.field(key) {
        Some(Value::Number(v)) if key.ends_with("_log2") => 2f64.powf(*v),
        Some(Value::Number(v)) => *v,
        other => panic!("docs/precision.toml: [{kernel}] {key} is {other:?}, not a number"),
    }
}

/// The subset of TOML the table uses: comments, `[section]` headers and
/// `key = value` lines whose value is a number, a string without escapes,
/// or a one-line list of such strings.
pub fn parse(source: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for (number, raw) in source.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("docs/precision.toml:{}: {raw:?}", number + 1);
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            entries.push(Entry {
                kernel: name.trim().to_string(),
                fields: Vec::new(),
            });
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{}: expected key = value", at()));
        let value = value.trim();
        let value = if let Some(list) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            Value::List(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| unquote(s).unwrap_or_else(|| panic!("{}: list of strings", at())))
                    .collect(),
            )
        } else if let Some(text) = unquote(value) {
            Value::Text(text)
        } else {
            Value::Number(
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: not a number or string", at())),
            )
        };
        entries
            .last_mut()
            .unwrap_or_else(|| panic!("{}: field before any [section]", at()))
            .fields
            .push((key.trim().to_string(), value));
    }
    entries
}

/// A basic string without escapes, or a literal ('…') string.
fn unquote(s: &str) -> Option<String> {
    ['"', '\'']
        .iter()
        .find_map(|&q| s.strip_prefix(q).and_then(|s| s.strip_suffix(q)))
        .map(str::to_string)
}

/// The line without a `#` comment (a `#` inside a string is kept).
fn strip_comment(line: &str) -> &str {
    let mut open: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (c, open) {
            ('"' | '\'', None) => open = Some(c),
            (q, Some(o)) if q == o => open = None,
            ('#', None) => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `quote` with each `{field}` replaced by its value as the docs write it:
/// 0.5 as ½, whole numbers without a decimal point, `*_log2` fields as a
/// power of two with a superscript exponent (2⁻²¹).
pub fn render_quote(entry: &Entry) -> String {
    render(entry, "quote")
        .unwrap_or_else(|| panic!("docs/precision.toml: [{}] has no quote", entry.kernel))
}

/// The text field `key` of `entry` rendered as [`render_quote`] does, if
/// the entry has it.
pub fn render(entry: &Entry, key: &str) -> Option<String> {
    let Some(Value::Text(quote)) = entry.field(key) else {
        return None;
    };
    let mut out = quote.clone();
    for (key, value) in &entry.fields {
        let Value::Number(v) = value else { continue };
        let written = if key.ends_with("_log2") {
            format!("2{}", superscript(*v as i64))
        } else if *v == 0.5 {
            "½".to_string()
        } else if v.fract() == 0.0 {
            format!("{}", *v as i64)
        } else {
            format!("{v}")
        };
        out = out.replace(&format!("{{{key}}}"), &written);
    }
    Some(out)
}

fn superscript(n: i64) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits = n.unsigned_abs().to_string();
    let sign = if n < 0 { "⁻" } else { "" };
    sign.chars()
        .chain(digits.bytes().map(|d| DIGITS[(d - b'0') as usize]))
        .collect()
}
