//! Entry points for fuzz targets (`fuzz/`) and for the property tests that
//! replay them: each runs one input through a whole untrusted-input path and
//! must never panic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;

use crate::framing;
use crate::wire::message::{Message, ParseLimits, Salvage};
use crate::wire::{validate, write};

/// A datagram: parse, validate, and write the answer the endpoint would send.
pub fn datagram(data: &[u8]) {
    let limits = ParseLimits::default();
    let salvage = match Message::parse(Bytes::copy_from_slice(data), limits) {
        Ok(message) => {
            let _ = validate::request(&message);
            let _ = validate::response(&message);
            let _ = message.header("Via");
            message.salvage()
        }
        Err(error) => {
            let _ = error.status();
            *error.salvage
        }
    };
    respond(salvage, 400);
}

/// What the endpoint does with a salvage before answering: stamp the top Via
/// with the source (RFC 3261 §18.2.1, RFC 3581 §4) and write the response.
fn respond(mut salvage: Salvage, status: u16) {
    if !salvage.can_respond() {
        return;
    }
    salvage.stamp = Some(SOURCE);
    let answer = write::response(&salvage, status, "Bad Request", "t", "", &[], None);
    // What we send must itself be a SIP response, whatever we salvaged.
    let parsed = Message::parse(
        answer.clone(),
        ParseLimits {
            max_headers: 1024,
            max_line_bytes: 1 << 20,
        },
    );
    assert!(
        parsed.is_ok(),
        "answer does not parse: {:?}",
        String::from_utf8_lossy(&answer)
    );
}

/// A source address unlike any sent-by, so `received` is always added.
const SOURCE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 40_000);

/// A stream: cut messages out as the TCP reader does, then parse each.
pub fn stream(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some(frame)) = framing::frame(rest, 65_536) {
        let end = frame.skip + frame.len;
        datagram(&rest[frame.skip..end]);
        rest = &rest[end..];
    }
}

/// The stream limit the split-stream target uses: small, so the fuzzer
/// reaches `TooLarge` with short inputs.
const STREAM_LIMIT: usize = 1024;

/// A stream arriving in pieces, as the TCP reader sees it (`transport/tcp.rs`).
///
/// The first byte seeds the piece sizes (1 to 64 bytes); the rest is the
/// stream. Each piece is appended to a buffer and every complete message is
/// cut out, parsed and answered like a datagram; a framing error salvages
/// the head and ends the stream. Panics if the messages cut out differ from
/// those cut from the whole stream at once: where reads split the bytes must
/// not change what the framer finds (RFC 3261 §18.3).
pub fn stream_in_pieces(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = cut_all(stream);
    let mut buf: Vec<u8> = Vec::new();
    let mut pieces = Vec::new();
    let mut failed = false;
    let mut at = 0;
    let mut step = usize::from(seed);
    'read: while at < stream.len() {
        // A cheap generator of piece sizes: deterministic per input.
        step = (step.wrapping_mul(37).wrapping_add(11)) % 64 + 1;
        let end = (at + step).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        loop {
            match framing::frame(&buf, STREAM_LIMIT) {
                Ok(Some(frame)) => {
                    let end = frame.skip + frame.len;
                    let message = buf[frame.skip..end].to_vec();
                    datagram(&message);
                    pieces.push(message);
                    buf.drain(..end);
                }
                Ok(None) => break,
                Err(error) => {
                    if let Some(len) = error.head_len() {
                        let head = Bytes::copy_from_slice(&buf[..len.min(buf.len())]);
                        let salvage = match Message::parse(head, ParseLimits::default()) {
                            Ok(message) => message.salvage(),
                            Err(error) => *error.salvage,
                        };
                        respond(salvage, u16::from(&error));
                    }
                    failed = true;
                    break 'read;
                }
            }
        }
    }
    assert_eq!(pieces, whole.0, "read boundaries changed the framing");
    assert_eq!(
        failed, whole.1,
        "read boundaries changed whether framing fails"
    );
}

/// Every message the framer cuts from `stream` in one buffer, and whether it
/// stopped on an error.
fn cut_all(stream: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    let mut rest = stream;
    loop {
        match framing::frame(rest, STREAM_LIMIT) {
            Ok(Some(frame)) => {
                let end = frame.skip + frame.len;
                out.push(rest[frame.skip..end].to_vec());
                rest = &rest[end..];
            }
            Ok(None) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::write::RequestParts;

    const SEED: &[u8] = b"MESSAGE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport\r\n\
        Max-Forwards: 70\r\n\
        From: \"Alice\" <sip:alice@example.com>;tag=49583\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: a84b4c76e66710\r\n\
        CSeq: 1 MESSAGE\r\n\
        Content-Type: text/plain\r\n\
        Content-Length: 5\r\n\r\nhello";

    proptest! {
        /// Parsers never panic on arbitrary bytes.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            datagram(&data);
            stream(&data);
            stream_in_pieces(&data);
        }

        /// Nor on a real message with bytes flipped, cut or inserted.
        #[test]
        fn mutated_message_never_panics(
            edits in proptest::collection::vec((0usize..SEED.len(), any::<u8>(), 0u8..3), 1..8)
        ) {
            let mut data = SEED.to_vec();
            for (at, byte, op) in edits {
                let at = at.min(data.len());
                match op {
                    0 if at < data.len() => data[at] = byte,
                    0 | 1 => data.insert(at, byte),
                    _ => data.truncate(at),
                }
            }
            datagram(&data);
            stream(&data);
        }

        /// parse(write(x)) == x for the fields a request is written from.
        #[test]
        fn written_requests_parse_back(
            user in "[a-z][a-z0-9.+-]{0,15}",
            call_id in "[A-Za-z0-9.@-]{1,30}",
            cseq in 1u32..(1 << 31),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let uri = format!("sip:{user}@example.com");
            let to = format!("<{uri}>");
            let bytes = write::request(&RequestParts {
                method: "MESSAGE",
                request_uri: &uri,
                via: "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;rport",
                from: "<sip:a@b>;tag=1",
                to: &to,
                call_id: &call_id,
                cseq,
                route: &[],
                user_agent: "t",
                headers: &[],
                body: Some(("application/octet-stream", &body)),
            });
            let message = Message::parse(bytes, ParseLimits::default()).expect("parses");
            let head = validate::request(&message).expect("valid");
            prop_assert_eq!(head.request_uri.as_str(), uri);
            prop_assert_eq!(head.call_id.as_str(), call_id);
            prop_assert_eq!(head.cseq, cseq);
            prop_assert_eq!(&message.body[..], &body[..]);
        }
    }
}
