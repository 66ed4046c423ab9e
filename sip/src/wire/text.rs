//! `str` searches and trims of the message path that give std's answers a
//! byte at a time (issue 24: `str::find(char)` and `str::trim` decode
//! characters, ~130 and ~50 instructions a call on the short values of a
//! SIP message, a dozen calls each per message).
//!
//! An ASCII byte never occurs inside a multi-byte UTF-8 sequence, so a
//! byte search for an ASCII needle finds what the character search finds.
//! The trims step over ASCII whitespace bytes and hand whatever else they
//! meet at an end (a non-ASCII character, which may be Unicode whitespace)
//! to std, so their result is std's for every input (`tests` compares them).

/// `s.find(needle)` for an ASCII `needle`.
#[inline]
pub(crate) fn find(s: &str, needle: u8) -> Option<usize> {
    debug_assert!(needle.is_ascii());
    memchr::memchr(needle, s.as_bytes())
}

/// `s.split_once(needle)` for an ASCII `needle`.
#[inline]
pub(crate) fn split_once(s: &str, needle: u8) -> Option<(&str, &str)> {
    let at = find(s, needle)?;
    // `at` holds an ASCII byte: a character boundary, as is `at + 1`.
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// Whether `b` is one of the ASCII characters `char::is_whitespace` accepts
/// (U+0009–U+000D and U+0020).
#[inline]
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// `s.trim_start()`.
#[inline]
pub(crate) fn trim_start(s: &str) -> &str {
    let b = s.as_bytes();
    let mut at = 0;
    while at < b.len() && is_ascii_space(b[at]) {
        at += 1;
    }
    // Every byte before `at` is ASCII: `at` is a character boundary.
    let rest = s.get(at..).unwrap_or_default();
    match b.get(at) {
        Some(c) if !c.is_ascii() => rest.trim_start(),
        _ => rest,
    }
}

/// `s.trim_end()`.
#[inline]
pub(crate) fn trim_end(s: &str) -> &str {
    let b = s.as_bytes();
    let mut end = b.len();
    while end > 0 && is_ascii_space(b[end - 1]) {
        end -= 1;
    }
    // Every byte from `end` on is ASCII: `end` is a character boundary.
    let rest = s.get(..end).unwrap_or_default();
    match end.checked_sub(1).map(|last| b[last]) {
        Some(c) if !c.is_ascii() => rest.trim_end(),
        _ => rest,
    }
}

/// `s.trim()`.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    trim_end(trim_start(s))
}

/// `s.trim_matches(c)` for an ASCII `c`.
#[inline]
pub(crate) fn trim_byte(s: &str, c: u8) -> &str {
    debug_assert!(c.is_ascii());
    let b = s.as_bytes();
    let mut start = 0;
    while start < b.len() && b[start] == c {
        start += 1;
    }
    let mut end = b.len();
    while end > start && b[end - 1] == c {
        end -= 1;
    }
    // Both ends sit next to ASCII bytes (or the text's own ends).
    s.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters that matter to the functions: ASCII whitespace, the
    /// needles, Unicode whitespace of two and three bytes, and other
    /// characters of one to four bytes.
    const ALPHABET: &[char] = &[
        ' ', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{1c}', '\u{1f}', '\u{7f}', 'a', ';', '=', ':',
        '"', '<', '>', '\u{85}', '\u{a0}', '\u{2003}', '\u{3000}', 'é', '€', '𝄞',
    ];

    /// Every string of up to four characters of [`ALPHABET`] (~290 000).
    fn every_short_string() -> impl Iterator<Item = String> {
        let n = ALPHABET.len();
        (0..=4u32).flat_map(move |len| {
            (0..n.pow(len)).map(move |mut i| {
                let mut s = String::new();
                for _ in 0..len {
                    s.push(ALPHABET[i % n]);
                    i /= n;
                }
                s
            })
        })
    }

    #[test]
    fn trims_and_searches_answer_as_std_does() {
        let mut checked = 0;
        for s in every_short_string() {
            assert_eq!(trim(&s), s.trim(), "{s:?}");
            assert_eq!(trim_start(&s), s.trim_start(), "{s:?}");
            assert_eq!(trim_end(&s), s.trim_end(), "{s:?}");
            for needle in [b';', b'=', b':', b'"', b'<', b'>', b' '] {
                assert_eq!(find(&s, needle), s.find(char::from(needle)), "{s:?}");
                assert_eq!(
                    split_once(&s, needle),
                    s.split_once(char::from(needle)),
                    "{s:?}"
                );
                assert_eq!(
                    trim_byte(&s, needle),
                    s.trim_matches(char::from(needle)),
                    "{s:?}"
                );
            }
            checked += 1;
        }
        assert!(checked > 250_000, "{checked}");
    }

    /// Longer values, where `memchr` takes its vector path.
    #[test]
    fn long_values_answer_as_std_does() {
        let long = format!(
            " \t{}\u{a0}é;tag={}=x\"{} \r\n",
            "a".repeat(70),
            "b".repeat(40),
            "c".repeat(33)
        );
        for s in [long.as_str(), &long[2..], long.trim(), &long.repeat(3)] {
            assert_eq!(trim(s), s.trim());
            for needle in [b';', b'=', b'"', b'<'] {
                assert_eq!(find(s, needle), s.find(char::from(needle)));
                assert_eq!(split_once(s, needle), s.split_once(char::from(needle)));
                assert_eq!(trim_byte(s, needle), s.trim_matches(char::from(needle)));
            }
        }
    }
}
