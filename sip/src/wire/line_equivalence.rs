//! Header lines split and named once (`fast::header_line`,
//! `HeaderFields::push_spelled`, issue 24) against ezk's `Line::parse` and
//! `Name::from_bytes`, which `Message::parse` used for every line: every
//! header line of the repository's SIP fixtures (RFC 4475's torture
//! messages, the real clients' messages, the fuzz corpora) and every
//! variant of its first characters with one character cut, inserted or
//! replaced must give the same field — name, key, value and the value's
//! place in the message — or be left to ezk. And whole messages read
//! without `PullParser` (`plain_head`) against the general loop.

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

/// Every fixture message (the READMEs left out), with the index of its
/// directory in [`DIRS`] and its path.
fn fixture_messages() -> Vec<(usize, std::path::PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut messages = Vec::new();
    for (n, dir) in DIRS.iter().enumerate() {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            messages.push((n, path, bytes));
        }
    }
    messages
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
    let (mut compared, mut from_fields) = (0, 0);
    for (_, path, bytes) in fixture_messages() {
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
    println!("{compared} messages compared, {from_fields} unfolded");
    assert!(from_fields * 10 >= compared, "{from_fields} of {compared}");
}

/// Variants of a message around each of its line ends: every text one
/// byte away from it (one cut, one probe inserted or in place of a byte)
/// within two bytes of an LF, the probes being the bytes that decide how a
/// head splits into lines.
fn line_end_variants(text: &[u8]) -> BTreeSet<Vec<u8>> {
    const PROBES: &[u8] = b"\r\n \tx:";
    let mut out = BTreeSet::from([text.to_vec()]);
    let head = framing::head_end(text).unwrap_or(text.len());
    for lf in memchr::memchr_iter(b'\n', &text[..head]) {
        for at in lf.saturating_sub(2)..(lf + 3).min(text.len()) {
            let mut cut = text.to_vec();
            cut.remove(at);
            out.insert(cut);
            for &probe in PROBES {
                let mut inserted = text.to_vec();
                inserted.insert(at, probe);
                out.insert(inserted);
                let mut replaced = text.to_vec();
                replaced[at] = probe;
                out.insert(replaced);
            }
        }
    }
    out
}

/// `Message::parse`, which reads the usual head without ezk's
/// `PullParser`, against `Message::parse_general`, which reads every head
/// with it: the same start line, fields (names, keys, values and the
/// values' places in the message), body, folding flag, or the same error
/// and salvage (and a parsed message's salvage as a search per key gave
/// it). Over every fixture message, the curated fixtures' variants
/// around each line end, and limits that the fixtures reach.
#[test]
fn every_fixture_message_splits_into_the_lines_pull_parser_gives() {
    use crate::wire::message::{Message, ParseLimits};
    let limits = [
        ParseLimits::default(),
        ParseLimits {
            max_headers: 4,
            ..ParseLimits::default()
        },
        ParseLimits {
            max_line_bytes: 40,
            ..ParseLimits::default()
        },
    ];
    let (mut compared, mut parsed, mut plain) = (0, 0, 0);
    // Heads around the number of line ends the plain path keeps (48):
    // 44 to 47 fields and Content-Length, so 47 to 50 line ends.
    let long_heads = (44..=47).map(|fields| {
        let mut text = b"MESSAGE sip:a@b SIP/2.0\r\n".to_vec();
        for n in 0..fields {
            text.extend_from_slice(format!("X-Field-{n}: {n}\r\n").as_bytes());
        }
        text.extend_from_slice(b"Content-Length: 2\r\n\r\nhi");
        text
    });
    let mut long_plain = 0;
    for text in long_heads {
        let text = Bytes::from(text);
        let fast = Message::parse(text.clone(), ParseLimits::default()).unwrap();
        let general = Message::parse_general(text.clone(), ParseLimits::default()).unwrap();
        assert_eq!(format!("{fast:?}"), format!("{general:?}"));
        assert_eq!(&fast.body[..], b"hi");
        long_plain += usize::from(Message::reads_plainly(&text, ParseLimits::default()));
    }
    // 47 and 48 line ends are kept, 49 and 50 are not.
    assert_eq!(long_plain, 2);
    for (n, _, bytes) in fixture_messages() {
        // The first three directories are the curated messages; the
        // fuzz corpora are compared as they are.
        let texts = if n < 3 {
            line_end_variants(&bytes)
        } else {
            BTreeSet::from([bytes])
        };
        for text in texts {
            let shown = String::from_utf8_lossy(&text).into_owned();
            let text = Bytes::from(text);
            for limits in limits {
                let fast = Message::parse(text.clone(), limits);
                let general = Message::parse_general(text.clone(), limits);
                match (&fast, &general) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.start, b.start, "{shown:?}");
                        assert_eq!(a.body, b.body, "{shown:?}");
                        assert_eq!(a.body.as_ptr(), b.body.as_ptr(), "{shown:?}");
                        assert_eq!(a.headers.unfolded(), b.headers.unfolded(), "{shown:?}");
                        let (fa, fb) = (a.headers.entries(), b.headers.entries());
                        assert_eq!(fa.len(), fb.len(), "{shown:?}");
                        for (x, y) in fa.iter().zip(fb) {
                            assert_eq!(x.0.as_print_str(), y.0.as_print_str(), "{shown:?}");
                            assert_eq!(x.0.as_parse_strs(), y.0.as_parse_strs(), "{shown:?}");
                            assert_eq!(x.2, y.2, "{shown:?}");
                            assert_eq!(x.1.as_str(), y.1.as_str(), "{shown:?}");
                            assert_eq!(x.1.as_ptr(), y.1.as_ptr(), "{shown:?}");
                        }
                        // The salvage in one pass over the fields
                        // as in one search per key.
                        assert_eq!(
                            format!("{:?}", a.salvage()),
                            format!("{:?}", a.salvage_by_key()),
                            "{shown:?}"
                        );
                        parsed += 1;
                        plain += usize::from(Message::reads_plainly(&text, limits));
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!(a.kind, b.kind, "{shown:?}");
                        assert_eq!(
                            format!("{:?}", a.salvage),
                            format!("{:?}", b.salvage),
                            "{shown:?}"
                        );
                    }
                    _ => panic!("{shown:?}: {fast:?} vs {general:?}"),
                }
                compared += 1;
            }
        }
    }
    println!("{compared} messages compared, {parsed} parsed, {plain} of them without PullParser");
    // Many of the messages that parse take the plain path, or this would
    // compare the general loop with itself.
    assert!(plain * 4 >= parsed, "{plain} of {parsed}");
}
