//! The fast path (`wire::fast`) against ezk: every `sip:` URI and Via
//! element in the repository's SIP fixtures — RFC 4475's torture messages,
//! the real clients' messages of `gateway/tests/fixtures`,
//! `mapping/tests/fixtures/sip` and the fuzz corpora — and every variant of
//! them with one character cut, inserted or replaced, must come out of
//! `Uri::parse` and the Via check exactly as they do from ezk alone.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use bytes::Bytes;
use ezk_sip_types::host::Host;

use crate::wire::fast;
use crate::wire::header::outside_quotes;
use crate::wire::uri::{Uri, UriError, parse_host};
use crate::wire::validate::{via_transport, via_transport_by_ezk};

/// Real clients' messages (linphone, baresip, RFC 7572's examples),
/// relative to the `sip` crate: the shapes the fast path is for.
const CLIENT_DIRS: &[&str] = &["../gateway/tests/fixtures", "../mapping/tests/fixtures/sip"];

/// Every other directory of SIP messages: RFC 4475's torture tests and the
/// fuzz corpora (mutants of all of these).
const OTHER_DIRS: &[&str] = &[
    "tests/fixtures/rfc4475",
    "../fuzz/corpus/sip_datagram",
    "../fuzz/corpus/sip_stream",
    "../fuzz/corpus/sip_message_to_xmpp",
];

/// Shapes at the edges of what the fast path takes, beside the fixtures'.
const EDGES: &[&str] = &[
    "sip:1.2.3.4.5",
    "sip:01.2.3.4",
    "sip:256.1.1.1",
    "sip:1.2.3.04",
    "sip:1.2.3.0001",
    "sip:0.0.0.0",
    "sip:255.255.255.255:5060",
    "sip:1.2.3.0",
    "sip:1.2.3.00",
    "sip:1.2.3.4a",
    "sip:123.example.com",
    "sip:a..b",
    "sip:-a.example.com",
    "sip:a-.example.com",
    "sip:example.com.",
    "sip:example.com..",
    "sip:host:",
    "sip:host:99999",
    "sip:host:0",
    "sip:host:005060",
    "sip:host:65535",
    "sip:host:65536",
    "sip:host:0000000000065535",
    "sip:u:p@h",
    "sip:u:@h",
    "sip:@h",
    "sip:h;",
    "sip:h;=x",
    "sip:h;a=",
    "sip:h;a=\"x\"",
    "sip:h;a=b;c",
    "sip:h?x=y",
    "sip:u%41@h",
    "sip:h;a=%41",
    "sip:h;%41=b",
    "sip:h;a%41=b",
    "sip:h;a=b%41",
    "SIP:h",
    "sIpS:U@H.",
    "sip:[::1]:5060",
    "sip:h.:5",
    "sip:user;par=1@host",
    "sip:user?x@host",
    "sip:user/x@host;lr",
    "sip:host;lr;transport=udp",
    "sip:h:5060;maddr=[::1]",
    "sip:bob@127.0.0.1:5060;transport=udp",
    "sips:bob@example.com",
    "sip:é@h",
    "sip:h;a=é",
];

const VIA_EDGES: &[&str] = &[
    "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport",
    "SIP/2.0/UDP host;branch=",
    "SIP/2.0/UDP host ;branch=x",
    "SIP/2.0/UDP host;received=\"x\"",
    "SIP/2.0/UDP host:;branch=x",
    "SIP/2.0/UDP [::1]:5060;branch=x",
    "SIP / 2.0 / UDP host;branch=x",
    "SIP/2.0/UDPhost",
    "SIP/2.0/ UDP host",
    "sip/2.0/udp host",
    "SIP/2.0/TLS a.b.c:5061;branch=z9hG4bK%41",
    "SIP/2.0/UDP 1.2.3.4.5;branch=x",
    "SIP/2.0/UDP h;;branch=x",
];

/// Characters that move a scanner from one state to another.
pub(super) const PROBES: &[char] = &[
    ';', '@', ':', '.', '-', '%', '[', ']', '?', '=', '"', 'a', 'Z', '0', '9', ' ', '&', ',', '/',
    '+', '_', 'é', '\t',
];

/// What a fixture file holds: URIs (Request-URIs and those in address
/// headers) and Via elements.
#[derive(Default)]
struct Harvest {
    uris: BTreeSet<String>,
    vias: BTreeSet<String>,
}

fn harvest(dirs: &[&str]) -> Harvest {
    let mut out = Harvest::default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in dirs {
        let dir = root.join(dir);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            harvest_message(&text, &mut out);
        }
    }
    out
}

fn harvest_message(text: &str, out: &mut Harvest) {
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    if let Some(first) = lines.next() {
        let words: Vec<&str> = first.split_whitespace().collect();
        if words.len() >= 3 && words[words.len() - 1].starts_with("SIP/") {
            for word in &words[1..words.len() - 1] {
                out.uris.insert((*word).to_owned());
            }
        }
    }
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        match name.as_str() {
            "via" | "v" => {
                for element in outside_quotes(value, b',') {
                    out.vias.insert(element.trim().to_owned());
                }
            }
            "from"
            | "f"
            | "to"
            | "t"
            | "contact"
            | "m"
            | "route"
            | "record-route"
            | "refer-to"
            | "r"
            | "referred-by"
            | "b"
            | "p-asserted-identity" => {
                for address in outside_quotes(value, b',') {
                    let uri = match address.split_once('<') {
                        Some((_, rest)) => rest.split('>').next().unwrap_or_default(),
                        None => address.split(';').next().unwrap_or_default(),
                    };
                    out.uris.insert(uri.trim().to_owned());
                }
            }
            _ => {}
        }
    }
}

/// Eight of the clients' Vias, each joined to a second one on the same line.
fn via_pairs(clients: &Harvest) -> Vec<String> {
    clients
        .vias
        .iter()
        .take(8)
        .map(|v| format!("{v}, SIP/2.0/TCP other.example;branch=z9hG4bKx"))
        .collect()
}

/// The text itself and every text one character away from it.
pub(super) fn variants(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    for (n, &i) in bounds.iter().enumerate() {
        out.insert(text[..i].to_owned());
        if let Some(&next) = bounds.get(n + 1) {
            out.insert(format!("{}{}", &text[..i], &text[next..]));
        }
        for &c in PROBES {
            out.insert(format!("{}{c}{}", &text[..i], &text[i..]));
            if let Some(&next) = bounds.get(n + 1) {
                out.insert(format!("{}{c}{}", &text[..i], &text[next..]));
            }
        }
    }
    out
}

/// The URIs every URI test starts from: the real clients', the other
/// fixtures', and the edges.
fn uri_seeds<'a>(clients: &'a Harvest, others: &'a Harvest) -> impl Iterator<Item = &'a str> {
    clients
        .uris
        .iter()
        .chain(&others.uris)
        .map(String::as_str)
        .chain(EDGES.iter().copied())
}

/// Every one-character neighbour of each of `seeds`, each given to
/// `compare` (which asserts the fast path against ezk and says whether the
/// fast path answered); at least a tenth must have taken it, or the test
/// would compare ezk with itself.
fn compare_neighbours<'a>(
    what: &str,
    seeds: impl Iterator<Item = &'a str>,
    mut compare: impl FnMut(&str) -> bool,
) {
    let mut texts = BTreeSet::new();
    for seed in seeds {
        texts.extend(variants(seed));
    }
    let (mut compared, mut took_fast) = (0, 0);
    for text in &texts {
        took_fast += usize::from(compare(text));
        compared += 1;
    }
    println!("{compared} {what} compared, {took_fast} of them on the fast path");
    assert!(
        took_fast * 10 >= compared,
        "{took_fast} of {compared} {what} took the fast path"
    );
}

fn same_uri(a: &Result<Uri, UriError>, b: &Result<Uri, UriError>) -> bool {
    match (a, b) {
        (Ok(Uri::Sip(x)), Ok(Uri::Sip(y))) => {
            x.sips == y.sips
                && x.user_part == y.user_part
                && x.host_port == y.host_port
                && format!("{:?}", x.uri_params) == format!("{:?}", y.uri_params)
                && format!("{:?}", x.header_params) == format!("{:?}", y.header_params)
                && format!("{x:?}") == format!("{y:?}")
        }
        (Ok(Uri::Tel(x)), Ok(Uri::Tel(y))) => x == y,
        (
            Ok(Uri::Other { scheme, text }),
            Ok(Uri::Other {
                scheme: s2,
                text: t2,
            }),
        ) => scheme == s2 && text == t2,
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}

#[test]
fn every_fixture_uri_and_its_neighbours_parse_as_ezk_parses_them() {
    let clients = harvest(CLIENT_DIRS);
    let others = harvest(OTHER_DIRS);
    let sip_uris: Vec<&String> = clients
        .uris
        .iter()
        .filter(|u| u.get(..3).is_some_and(|s| s.eq_ignore_ascii_case("sip")))
        .collect();
    assert!(sip_uris.len() >= 5, "too few client URIs: {sip_uris:?}");
    // The fast path must carry the real clients' shapes, or the test would
    // compare ezk with itself (and the hot path would not gain).
    let slow: Vec<&&String> = sip_uris
        .iter()
        .filter(|u| fast::sip_uri(u).is_none())
        .collect();
    assert!(
        slow.is_empty(),
        "the fast path refused client URIs: {slow:?}"
    );
    let seeds = uri_seeds(&clients, &others);
    compare_neighbours("URIs", seeds, |text| {
        let ours = Uri::parse(text);
        let ezk = Uri::parse_with_ezk(text);
        assert!(
            same_uri(&ours, &ezk),
            "{text:?}: fast path {ours:?}, ezk {ezk:?}"
        );
        fast::sip_uri(text).is_some()
    });
}

/// A URI or address parsed in the received buffer (`Uri::parse_in`,
/// `Address::parse_in`: its parts slices of that buffer, issue 24) comes out
/// as parsed from its own text, for every fixture URI and its neighbours,
/// and the fast path's parts do lie in the buffer.
#[test]
fn every_fixture_uri_parses_in_its_buffer_as_on_its_own() {
    use bytesstr::BytesStr;

    use crate::wire::header::Address;
    let clients = harvest(CLIENT_DIRS);
    let others = harvest(OTHER_DIRS);
    let seeds = uri_seeds(&clients, &others);
    compare_neighbours("URIs in their buffer", seeds, |text| {
        let src = BytesStr::from(format!("\"A\" <{text}>;tag=1"));
        let start = src.as_str().find('<').unwrap() + 1;
        let inner = &src.as_str()[start..start + text.len()];
        let alone = Uri::parse(text);
        let within = Uri::parse_in(&src, inner);
        assert!(
            same_uri(&within, &alone),
            "{text:?}: in the buffer {within:?}, alone {alone:?}"
        );
        if let Ok(Uri::Sip(uri)) = &within
            && let Host::Name(name) = &uri.host_port.host
            && fast::sip_uri(text).is_some()
        {
            let whole = src.as_str().as_bytes().as_ptr_range();
            assert!(whole.contains(&name.as_str().as_ptr()), "{text:?}");
        }
        // Not in the buffer: a copy, as before.
        assert!(same_uri(&Uri::parse_in(&src, text), &alone), "{text:?}");
        assert_eq!(
            format!("{:?}", Address::parse_in(&src, src.as_str())),
            format!("{:?}", Address::parse(src.as_str())),
            "{text:?}"
        );
        fast::sip_uri(text).is_some()
    });
}

#[test]
fn every_fixture_via_and_its_neighbours_check_as_ezk_checks_them() {
    let clients = harvest(CLIENT_DIRS);
    let others = harvest(OTHER_DIRS);
    assert!(
        clients.vias.len() >= 10,
        "too few client Vias: {:?}",
        clients.vias
    );
    let slow: Vec<&String> = clients
        .vias
        .iter()
        .filter(|v| fast::via_transport(v).is_none())
        .collect();
    assert!(
        slow.is_empty(),
        "the fast path refused client Vias: {slow:?}"
    );
    let seeds = clients
        .vias
        .iter()
        .chain(&others.vias)
        .map(String::as_str)
        .chain(VIA_EDGES.iter().copied());
    compare_neighbours("Vias", seeds, |text| {
        // The Via check gets trimmed elements.
        let src = Bytes::copy_from_slice(text.trim().as_bytes());
        let element = std::str::from_utf8(&src).unwrap();
        let ours = via_transport(&src, element);
        let ezk = via_transport_by_ezk(&src, element);
        assert_eq!(ours, ezk, "{text:?}");
        fast::via_transport(element).is_some()
    });
}

/// The host of a `sip:` URI's text: after the scheme and any `user@`, up to
/// a port, parameters or headers.
fn host_of(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':')?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let end = rest.find([':', ';', '?']).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn every_fixture_host_and_its_neighbours_parse_as_ezk_parses_them() {
    let clients = harvest(CLIENT_DIRS);
    let others = harvest(OTHER_DIRS);
    let seeds = uri_seeds(&clients, &others).filter_map(host_of);
    compare_neighbours("hosts", seeds, |text| {
        let ours = parse_host(text);
        let ezk = ezk_sip_types::host::Host::from_str(text).ok();
        assert_eq!(ours, ezk, "{text:?}");
        fast::host(text).is_some()
    });
}

/// The top Via as `validate` reads it in one pass (`fast::via`, issue 24)
/// against splitting and checking it part by part, for every Via value
/// of the fixtures (elements alone and two joined), the edges and their
/// one-character neighbours, each in a message of its own.
#[test]
fn every_fixture_via_value_and_its_neighbours_validate_as_part_by_part() {
    use crate::wire::message::{Message, ParseLimits};
    use crate::wire::validate::{vias, vias_by_parts};
    let clients = harvest(CLIENT_DIRS);
    let others = harvest(OTHER_DIRS);
    let slow: Vec<&String> = clients
        .vias
        .iter()
        .filter(|v| fast::via(v).is_none())
        .collect();
    assert!(
        slow.is_empty(),
        "the one pass refused client Vias: {slow:?}"
    );
    let pairs = via_pairs(&clients);
    let seeds = clients
        .vias
        .iter()
        .chain(&others.vias)
        .chain(&pairs)
        .map(String::as_str)
        .chain(VIA_EDGES.iter().copied());
    compare_neighbours("Via values", seeds, |text| {
        let message = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: {text}\r\nVia: SIP/2.0/UDP second;branch=z9hG4bK2\r\n\r\n"
        );
        let Ok(message) = Message::parse(Bytes::from(message), ParseLimits::default()) else {
            return false;
        };
        assert_eq!(vias(&message), vias_by_parts(&message), "{text:?}");
        fast::via(text.trim()).is_some()
    });
}

/// The top Via stamped for a response byte by byte (`write::stamp_via`,
/// issue 24) against the `str` searches it replaced, for every Via of the
/// fixtures (elements alone and two joined), the edges and their
/// one-character neighbours, from sources that sent-by does and does not
/// name, IPv4 and IPv6.
#[test]
fn every_fixture_via_and_its_neighbours_stamp_as_before() {
    use crate::wire::write::{stamp_via, stamp_via_by_parts};
    const STAMP_EDGES: &[&str] = &[
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport",
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport=5060",
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;received=127.0.0.1",
        "SIP/2.0/UDP 127.0.0.1;RPORT;Received=x",
        "SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1; rport ",
        "SIP/2.0/UDP [2001:db8::9];branch=z9hG4bK1",
        "SIP/2.0/UDP\u{3000}127.0.0.1;branch=x",
        "SIP/2.0/UDP 127.0.0.1 , SIP/2.0/UDP b;rport",
        ";rport",
        "",
    ];
    let clients = harvest(CLIENT_DIRS);
    let others = harvest(OTHER_DIRS);
    let pairs = via_pairs(&clients);
    let mut texts = BTreeSet::new();
    for seed in clients
        .vias
        .iter()
        .chain(&others.vias)
        .chain(&pairs)
        .map(String::as_str)
        .chain(VIA_EDGES.iter().copied())
        .chain(STAMP_EDGES.iter().copied())
    {
        texts.extend(variants(seed));
    }
    let sources: Vec<std::net::SocketAddr> = [
        "127.0.0.1:5060",
        "192.0.2.1:5060",
        "10.0.0.1:0",
        "[::1]:5060",
        "[2001:db8::9]:65535",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let mut received_added = 0;
    for text in &texts {
        for &source in &sources {
            let stamped = stamp_via(text, source);
            assert_eq!(
                stamped,
                stamp_via_by_parts(text, source),
                "{text:?} from {source}"
            );
            received_added += usize::from(stamped.len() > text.len());
        }
    }
    println!(
        "{} Vias stamped from {} sources, {received_added} of them changed",
        texts.len(),
        sources.len()
    );
    // Both ways were taken: stamped and left as they were.
    assert!(received_added > 0 && received_added < texts.len() * sources.len());
}
