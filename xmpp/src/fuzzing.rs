//! Entry points for fuzz targets (`fuzz/`) and the stable tests that replay
//! their corpora: each runs one input through a whole untrusted-input path
//! and must never panic.

use std::io::{self, BufRead, Read};

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::error::StreamError;
use crate::stream::{self, Limits, StreamItem, StreamParser};

/// Parse arbitrary bytes as a component stream with default limits.
pub fn parse_stream(bytes: &[u8]) {
    let _ = stream::parse_bytes(bytes, Limits::default());
}

/// The component stream as the reader task sees it (`component/reader.rs`).
///
/// The first byte picks small limits (stanza size 64 B to 8 KiB, depth 1 to
/// 16) so the fuzzer reaches them with short inputs; the second seeds the
/// sizes of the reads (1 to 64 bytes); the rest is what the server sends.
///
/// Panics when
/// - the items or the violation differ between reading the bytes in pieces
///   and reading them at once (read boundaries must not change the stream);
/// - a stanza that was accepted does not read back equal after we write it
///   (RFC 6120 §11: what we forward must be the XML we were given).
pub fn component_stream(data: &[u8]) {
    let [limits_seed, read_seed, rest @ ..] = data else {
        return;
    };
    let limits = Limits {
        max_stanza_bytes: 64 << (limits_seed & 0x07),
        max_depth: usize::from(limits_seed >> 4) + 1,
    };
    let (items, error) = stream::parse_bytes(rest, limits);
    let (pieces, piece_error) = parse_in_pieces(rest, limits, *read_seed);
    assert_eq!(items, pieces, "read boundaries changed the items");
    assert_eq!(
        error.as_ref().map(StreamError::kind),
        piece_error.as_ref().map(StreamError::kind),
        "read boundaries changed the violation"
    );
    for item in &items {
        if let StreamItem::Stanza(stanza) = item {
            let mut again = HEADER.to_vec();
            stanza.write_to(&mut again);
            let (reread, error) = stream::parse_bytes(&again, Limits::default());
            assert_eq!(error, None, "our own XML is rejected: {}", stanza.to_xml());
            assert_eq!(
                reread.get(1),
                Some(item),
                "stanza changed on the round trip: {}",
                stanza.to_xml()
            );
        }
    }
}

/// A stream header as Prosody sends it, to reread our own stanzas in.
const HEADER: &[u8] = b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
    xmlns='jabber:component:accept' id='x' from='sip.example'>";

/// [`stream::parse_bytes`], but quick-xml reads through a `BufRead` that
/// hands out at most a few bytes at a time, as a socket would.
fn parse_in_pieces(
    bytes: &[u8],
    limits: Limits,
    seed: u8,
) -> (Vec<StreamItem>, Option<StreamError>) {
    let pieces = Pieces {
        bytes,
        at: 0,
        step: usize::from(seed),
    };
    let mut reader = Reader::from_reader(pieces);
    stream::configure(reader.config_mut());
    let mut parser = StreamParser::new(limits);
    let mut items = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let position = reader.buffer_position();
        let event = match reader.read_event_into(&mut buf) {
            Ok(r) => r,
            Err(e) => return (items, Some(stream::xml_error(&e))),
        };
        let eof = matches!(event, Event::Eof);
        match parser.handle_event(event, position) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => {}
            Err(e) => return (items, Some(e)),
        }
        if eof {
            return (items, None);
        }
    }
}

/// A reader that returns the bytes in pieces of 1 to 64 bytes.
struct Pieces<'a> {
    bytes: &'a [u8],
    at: usize,
    step: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pieces<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let end = (self.at + self.step % 64 + 1).min(self.bytes.len());
        Ok(&self.bytes[self.at..end])
    }

    fn consume(&mut self, amount: usize) {
        self.at = (self.at + amount).min(self.bytes.len());
        // A new piece size after each read, deterministic per input.
        self.step = self.step.wrapping_mul(37).wrapping_add(11);
    }
}
