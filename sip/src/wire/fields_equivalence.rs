//! Header lookup by [`Key`](super::fields) against the lookup it replaced
//! (issue 24): for every message in the repository's SIP fixtures (RFC
//! 4475's torture messages, the real clients' messages, the fuzz corpora)
//! and every name spelling asked of it — each name the message carries as
//! sent, in its case and in upper and lower case, the long and compact forms
//! of the names the paths read, ezk's other names and extension names — the
//! values found are those that comparing ezk `Name`s by their printed form
//! finds (RFC 3261 §7.3.1: names match case-insensitively; §7.3.3: compact
//! forms are their long names).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use bytes::Bytes;
use ezk_sip_types::Name;

use crate::wire::message::{Message, ParseLimits};

/// The repository's directories of SIP messages, relative to the `sip`
/// crate (also read by `line_equivalence`).
pub(super) const DIRS: &[&str] = &[
    "tests/fixtures/rfc4475",
    "../gateway/tests/fixtures",
    "../mapping/tests/fixtures/sip",
    "../fuzz/corpus/sip_datagram",
    "../fuzz/corpus/sip_stream",
    "../fuzz/corpus/sip_message_to_xmpp",
];

/// Spellings asked of every message beside its own names.
const SPELLINGS: &[&str] = &[
    "Via",
    "v",
    "V",
    "From",
    "f",
    "To",
    "t",
    "T",
    "Call-ID",
    "call-id",
    "CALL-ID",
    "i",
    "I",
    "CSeq",
    "cseq",
    "Contact",
    "m",
    "Content-Type",
    "content-type",
    "c",
    "Content-Length",
    "l",
    "Content-Encoding",
    "e",
    "Content-Language",
    "Max-Forwards",
    "max-forwards",
    "Date",
    "Subject",
    "s",
    "Expires",
    "Event",
    "o",
    "Record-Route",
    "Route",
    "Require",
    "Supported",
    "k",
    "Session-Expires",
    "x",
    "Subscription-State",
    "Allow-Events",
    "u",
    "Refer-To",
    "r",
    "Accept",
    "Allow",
    "User-Agent",
    "Min-SE",
    "Retry-After",
    "WWW-Authenticate",
    "MIME-Version",
    "Content-Disposition",
    "Content-Transfer-Encoding",
    "Content-ID",
    "Content-Description",
    "Message-ID",
    "DateTime",
    "X-Ext",
    "b",
    "a",
    "z",
    "",
    "Vi",
    "Viaa",
    "To ",
    "Call_ID",
];

/// The lookup before issue 24's keys: names compared by their printed
/// form. Each value as its text and where it lies.
fn by_printed<'a>(msg: &'a Message, name: &Name) -> Vec<(&'a str, *const u8)> {
    let wanted = name.as_print_str();
    msg.headers
        .iter()
        .filter(|(n, _)| n.as_print_str().eq_ignore_ascii_case(wanted))
        .map(|(_, v)| (v.as_str(), v.as_ptr()))
        .collect()
}

#[test]
fn every_fixture_header_is_found_by_key_as_by_printed_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (mut messages, mut lookups, mut found) = (0, 0, 0);
    for dir in DIRS {
        let dir = root.join(dir);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let Ok(msg) = Message::parse(Bytes::from(bytes), ParseLimits::default()) else {
                continue;
            };
            messages += 1;
            let own: Vec<String> = msg
                .headers
                .iter()
                .map(|(n, _)| n.as_print_str().to_owned())
                .collect();
            let mut spellings: Vec<String> = SPELLINGS.iter().map(|s| (*s).to_owned()).collect();
            for name in own {
                spellings.push(name.to_ascii_uppercase());
                spellings.push(name.to_ascii_lowercase());
                spellings.push(name);
            }
            for spelling in &spellings {
                let name = Name::from(spelling.clone());
                let expected = by_printed(&msg, &name);
                let by_name: Vec<_> = msg
                    .headers
                    .get_raw(&name)
                    .map(|v| (v.as_str(), v.as_ptr()))
                    .collect();
                let spelled: Vec<_> = msg
                    .headers
                    .get_spelled(spelling)
                    .map(|v| (v.as_str(), v.as_ptr()))
                    .collect();
                assert_eq!(by_name, expected, "{}: {spelling:?}", path.display());
                assert_eq!(spelled, expected, "{}: {spelling:?}", path.display());
                assert_eq!(
                    msg.header(spelling),
                    msg.header_values(&name)
                        .into_iter()
                        .reduce(|a, b| a + ", " + &b),
                    "{}: {spelling:?}",
                    path.display()
                );
                lookups += 1;
                found += usize::from(!expected.is_empty());
            }
        }
    }
    // The fixtures are there and were read: a test over nothing proves nothing.
    assert!(messages > 100, "{messages} messages parsed");
    assert!(found > 1000, "{found} of {lookups} lookups found a field");
}
