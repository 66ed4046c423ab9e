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

/// Variants of a message around its Content-Length: the line's text one
/// character away (any place, any probe), the line repeated with another
/// value, folded, in its compact form and put first.
fn content_length_variants(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::from([text.to_owned()]);
    let Some(start) = text
        .find("\nContent-Length:")
        .or_else(|| text.find("\nl:"))
        .or_else(|| text.find("\ncontent-length:"))
    else {
        return out;
    };
    let start = start + 1;
    let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
    let line = text[start..end].trim_end_matches('\r');
    let (before, after) = (&text[..start], &text[start + line.len()..]);
    for variant in variants(line) {
        out.insert(format!("{before}{variant}{after}"));
    }
    let value = line.split_once(':').map_or("", |(_, v)| v.trim());
    for extra in [
        format!("{line}\r\n"),
        format!("Content-Length: 1{value}\r\n"),
        format!("l:{value}\r\n"),
        "Subject: x\r\n l: 3\r\n".to_owned(),
        "Subject: x\r\n Content-Length: 99\r\n".to_owned(),
    ] {
        out.insert(format!("{before}{extra}{}", &text[start..]));
    }
    out.insert(format!("{before}Content-Length:\r\n {value}{after}"));
    out.insert(format!("{before}Content-Length :{value}{after}"));
    out
}

/// The body a message gets, or why it has none: Content-Length read from
/// the parsed fields (`HeaderFields::content_length`, issue 24) against
/// reading the head again, over every fixture message and its variants
/// around Content-Length; and a message said to have no folded value has
/// none.
#[test]
fn every_fixture_message_gets_the_body_reading_the_head_gave_it() {
    use crate::wire::message::{Message, ParseLimits};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (mut compared, mut from_fields) = (0, 0);
    for dir in DIRS {
        let dir = root.join(dir);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let texts = match std::str::from_utf8(&bytes) {
                Ok(text) => content_length_variants(text),
                Err(_) => BTreeSet::new(),
            };
            let raw = [bytes.clone()];
            for text in texts.iter().map(|t| t.as_bytes().to_vec()).chain(raw) {
                let ours = Message::parse(Bytes::from(text.clone()), ParseLimits::default());
                let head = Message::parse_reading_head(Bytes::from(text), ParseLimits::default());
                match (&ours, &head) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.body, b.body, "{}", path.display());
                        if a.headers.unfolded() {
                            from_fields += 1;
                            for (_, value) in a.headers.iter() {
                                assert!(
                                    !value.contains(['\r', '\n']),
                                    "{}: {value:?}",
                                    path.display()
                                );
                            }
                        }
                    }
                    (Err(a), Err(b)) => assert_eq!(a.kind, b.kind, "{}", path.display()),
                    _ => panic!("{}: {ours:?} vs {head:?}", path.display()),
                }
                compared += 1;
            }
        }
    }
    println!("{compared} messages compared, {from_fields} unfolded");
    assert!(from_fields * 10 >= compared, "{from_fields} of {compared}");
}
