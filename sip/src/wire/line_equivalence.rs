//! Header lines split and named once (`fast::header_line`,
//! `HeaderFields::push_spelled`, issue 24) against ezk's `Line::parse` and
//! `Name::from_bytes`, which `Message::parse` used for every line: every
//! header line of the repository's SIP fixtures (RFC 4475's torture
//! messages, the real clients' messages, the fuzz corpora) and every
//! variant of its first characters with one character cut, inserted or
//! replaced must give the same field — name, key, value and the value's
//! place in the message — or be left to ezk.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::msg::{Line, PullParser};

use crate::framing;
use crate::wire::fast;
use crate::wire::fast_equivalence::variants;
use crate::wire::fields::HeaderFields;
use crate::wire::fields_equivalence::DIRS;

/// Variants are made of a line's first this many bytes (where the name and
/// the colon are); the rest of the line follows each unchanged.
const PREFIX: usize = 24;

/// Every header line (folded lines as ezk's `PullParser` joins them) of
/// every fixture message.
fn fixture_lines() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lines = BTreeSet::new();
    for dir in DIRS {
        let dir = root.join(dir);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let Some(head_len) = framing::head_end(&bytes) else {
                continue;
            };
            let head = &bytes[..head_len];
            for line in PullParser::new(head, 0).skip(1) {
                let Ok(line) = line else { break };
                if let Ok(line) = std::str::from_utf8(line) {
                    lines.insert(line.to_owned());
                }
            }
        }
    }
    lines
}

/// The field each path makes of `line` (held in a buffer of its own, as a
/// message's head is): `None` from the fast path when it leaves the line
/// to ezk. Asserts they agree; says whether the fast path answered.
fn compare(line: &str) -> bool {
    let buffer = Bytes::copy_from_slice(line.as_bytes());
    let text = std::str::from_utf8(&buffer).unwrap();
    let Some((name, value)) = fast::header_line(text) else {
        return false;
    };
    let mut fast = HeaderFields::default();
    fast.push_spelled(
        BytesStr::from_parse(&buffer, name),
        BytesStr::from_parse(&buffer, value),
    );
    let (rest, parsed) = Line::parse(&buffer, text)
        .unwrap_or_else(|e| panic!("{line:?}: fast path took what ezk refuses: {e:?}"));
    assert_eq!(rest, "", "{line:?}");
    assert!(!parsed.name.as_print_str().is_empty(), "{line:?}");
    let mut ezk = HeaderFields::default();
    ezk.push(parsed.name, parsed.value);
    let (f, e) = (&fast.entries()[0], &ezk.entries()[0]);
    assert_eq!(f.0.as_print_str(), e.0.as_print_str(), "{line:?}");
    assert_eq!(f.0.as_parse_strs(), e.0.as_parse_strs(), "{line:?}");
    assert_eq!(f.2, e.2, "{line:?}");
    assert_eq!(f.1.as_str(), e.1.as_str(), "{line:?}");
    assert_eq!(f.1.as_ptr(), e.1.as_ptr(), "{line:?}");
    true
}

#[test]
fn every_fixture_header_line_and_its_neighbours_split_as_ezk_splits_them() {
    let lines = fixture_lines();
    assert!(lines.len() > 1000, "{} fixture lines", lines.len());
    let mut seeds = BTreeSet::new();
    for line in &lines {
        let cut = (0..=PREFIX.min(line.len()))
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        seeds.insert((line[..cut].to_owned(), line[cut..].to_owned()));
    }
    // Each seed's prefix varied, its rest kept.
    let texts: BTreeSet<String> = seeds
        .iter()
        .flat_map(|(prefix, rest)| variants(prefix).into_iter().map(move |p| p + rest))
        .collect();
    let (mut compared, mut took_fast) = (0, 0);
    for text in &texts {
        took_fast += usize::from(compare(text));
        compared += 1;
    }
    println!("{compared} header lines compared, {took_fast} of them on the fast path");
    // Most lines take the fast path, or this would compare ezk with itself.
    assert!(took_fast * 4 >= compared, "{took_fast} of {compared}");
}
