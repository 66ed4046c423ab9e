//! Entry points for fuzz targets (`fuzz/`) and for the property tests that
//! replay them: each runs one input through a whole untrusted-input path and
//! must never panic.

use bytes::Bytes;

use crate::framing;
use crate::wire::message::{Message, ParseLimits};
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
    if salvage.can_respond() {
        let _ = write::response(&salvage, 400, "Bad Request", "t", "", &[], None);
    }
}

/// A stream: cut messages out as the TCP reader does, then parse each.
pub fn stream(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some(frame)) = framing::frame(rest, 65_536) {
        let end = frame.skip + frame.len;
        datagram(&rest[frame.skip..end]);
        rest = &rest[end..];
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
            prop_assert_eq!(head.request_uri, uri);
            prop_assert_eq!(head.call_id, call_id);
            prop_assert_eq!(head.cseq, cseq);
            prop_assert_eq!(&message.body[..], &body[..]);
        }
    }
}
