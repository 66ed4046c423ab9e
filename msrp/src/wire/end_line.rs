//! RFC 4975 §7.1, §9: finding the end-line that closes a body.
//!
//! `end-line = "-------" transact-id continuation-flag CRLF`, and "If a body
//! is present, the end-line MUST be preceded by a CRLF that is not part of
//! the body" (§7.1). The search looks for `CRLF "-------" transact-id` and
//! accepts it only when a flag and CRLF follow: anything else is body.
//! §7.3.1 notes the seven hyphens let a receiver "search for the value
//! '----', 32 bits at a time"; a byte search for CR does the same job here.

use crate::wire::Continuation;

pub(crate) enum Search {
    /// `CRLF -------tid flag CRLF` starts at `at` and ends before `end`.
    Found {
        at: usize,
        flag: Continuation,
        end: usize,
    },
    /// Not found; no end-line starts before `searched`.
    NotYet { searched: usize },
}

/// Looks for `needle` (`CRLF "-------" transact-id`) followed by a flag and
/// CRLF, from `from` on. An occurrence followed by anything else is body.
pub(crate) fn find_end_line(buf: &[u8], needle: &[u8], from: usize) -> Search {
    let mut from = from;
    while let Some(at) = find(buf, needle, from) {
        let tail = &buf[at + needle.len()..];
        if tail.len() < 3 {
            return Search::NotYet { searched: at };
        }
        if let Some(flag) = Continuation::from_byte(tail[0])
            && &tail[1..3] == b"\r\n"
        {
            return Search::Found {
                at,
                flag,
                end: at + needle.len() + 3,
            };
        }
        from = at + 1;
    }
    // A partial needle may sit at the very end of the buffer.
    let safe = buf.len().saturating_sub(needle.len() - 1).max(from);
    Search::NotYet {
        searched: safe.min(buf.len()),
    }
}

/// The first position at or after `from` where `needle` occurs.
pub(crate) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let offset = hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        i += offset;
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_line_needs_its_flag_and_crlf() {
        let needle = b"\r\n-------abcd";
        let found = |buf: &[u8]| match find_end_line(buf, needle, 0) {
            Search::Found { at, flag, end } => Some((at, flag, end)),
            Search::NotYet { .. } => None,
        };
        assert_eq!(
            found(b"xy\r\n-------abcd$\r\n"),
            Some((2, Continuation::End, 18))
        );
        assert_eq!(found(b"xy\r\n-------abcd!\r\n"), None);
        assert_eq!(found(b"xy\r\n-------abcd$\n"), None);
        assert_eq!(
            found(b"\r\n-------abcdX\r\n-------abcd#\r\n"),
            Some((14, Continuation::Abort, 30))
        );
    }

    #[test]
    fn partial_end_line_at_the_buffer_end_is_not_searched_past() {
        let needle = b"\r\n-------abcd";
        for tail in [&b"\r\n---"[..], b"\r\n-------abcd", b"\r\n-------abcd+\r"] {
            let mut buf = b"body".to_vec();
            buf.extend_from_slice(tail);
            match find_end_line(&buf, needle, 0) {
                Search::NotYet { searched } => assert!(searched <= 4, "{tail:?}"),
                Search::Found { .. } => panic!("{tail:?} is not complete"),
            }
        }
    }
}
