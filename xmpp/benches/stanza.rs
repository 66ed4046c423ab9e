//! Stanzas per second parsed from and written to a component stream, one core.
//!
//! Measured 2026-11-25 (release, Rust 1.95, shared 2-core machine under load
//! ~5): parsing 1000 of the ~290-byte messages below (two payloads, entity and
//! char refs) takes ~5.0 ms, ~200k stanzas/s; writing them ~1.1 ms, ~900k
//! stanzas/s. Never asserted: numbers only.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parley_xmpp::Stanza;
use parley_xmpp::stream::{Limits, StreamItem, parse_bytes};

const HEADER: &[u8] = include_bytes!("../tests/fixtures/prosody-0.12-stream-header.xml");
const MESSAGE: &str = "<message from='juliet@xmpp.example/balcony' to='romeo@sip.example' type='chat' id='a1b2c3' xml:lang='en'><body>Wherefore art thou, Romeo? &lt;3 &#x1F339;</body><thread>7b1f</thread><request xmlns='urn:xmpp:receipts'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>";
const STANZAS: usize = 1000;

fn stream() -> Vec<u8> {
    let mut v = HEADER.to_vec();
    for _ in 0..STANZAS {
        v.extend_from_slice(MESSAGE.as_bytes());
    }
    v
}

fn parse(c: &mut Criterion) {
    let bytes = stream();
    let mut g = c.benchmark_group("component-stream");
    g.throughput(Throughput::Elements(STANZAS as u64));
    g.bench_function("parse 1000 messages", |b| {
        b.iter(|| {
            let (items, err) = parse_bytes(black_box(&bytes), Limits::default());
            assert!(err.is_none());
            black_box(items.len())
        })
    });
    let (items, _) = parse_bytes(&bytes, Limits::default());
    let stanzas: Vec<Stanza> = items
        .into_iter()
        .filter_map(|i| match i {
            StreamItem::Stanza(s) => Some(*s),
            _ => None,
        })
        .collect();
    g.bench_function("write 1000 messages", |b| {
        let mut out = Vec::with_capacity(bytes.len());
        b.iter(|| {
            out.clear();
            for s in &stanzas {
                s.write_to(&mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
