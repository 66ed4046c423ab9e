//! RFC 4975 §7.1, §7.1.1: the SEND requests that carry one message.

use bytes::Bytes;

use crate::error::SendError;
use crate::uri::Uri;
use crate::wire::{
    ByteRange, Continuation, FailureReport, Frame, Header, MessageId, Method, StartLine,
    SuccessReport, TransactionId,
};

/// Where new transaction ids come from. §7.1: an id "MUST contain at least
/// 64 bits of randomness"; the crate has no RNG, so the caller supplies them.
pub trait TransactionIds {
    /// A fresh transaction id.
    fn next_transaction_id(&mut self) -> TransactionId;
}

impl<F: FnMut() -> TransactionId> TransactionIds for F {
    fn next_transaction_id(&mut self) -> TransactionId {
        self()
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// §7.1.1: "The value MUST be highly unlikely to be repeated"; the
    /// caller's choice.
    pub message_id: MessageId,
    /// The peer's path (To-Path), leftmost hop first.
    pub to_path: Vec<Uri>,
    /// Our path (From-Path).
    pub from_path: Vec<Uri>,
    /// The body's media type.
    pub content_type: String,
    /// The whole message.
    pub body: Bytes,
    /// Whether we want a success REPORT.
    pub success_report: SuccessReport,
    /// Which failures we want to hear of (RFC 7573 §7: a gateway SHOULD say `no`).
    pub failure_report: FailureReport,
}

/// §7.1.1: a chunk larger than this MUST be interruptible, so its range-end is `*`.
const INTERRUPTIBLE_ABOVE: usize = 2048;

/// How many transaction ids are drawn before giving up on one whose
/// end-line is absent from the chunk's body.
const ID_ATTEMPTS: usize = 8;

/// The SEND requests carrying `message`, each with at most `max_chunk` bytes
/// of body, in Byte-Range order (§7.1.1: "The sender MUST send all chunks
/// in Byte-Range order").
pub fn split(
    message: &OutgoingMessage,
    max_chunk: usize,
    ids: &mut impl TransactionIds,
) -> Result<Vec<Frame>, SendError> {
    if max_chunk == 0 {
        return Err(SendError::ZeroChunkSize);
    }
    let total = message.body.len();
    let mut frames = Vec::with_capacity(total / max_chunk + 1);
    let mut at = 0;
    loop {
        let end = (at + max_chunk).min(total);
        let last = end == total;
        let body = message.body.slice(at..end);
        let range = ByteRange {
            // §7.1.1: "a Byte-Range header field referring to nonexistent or
            // zero-length content MUST still have a range-start value of 1".
            start: at as u64 + 1,
            end: (body.len() <= INTERRUPTIBLE_ABOVE).then_some(end as u64),
            total: Some(total as u64),
        };
        let continuation = if last {
            Continuation::End
        } else {
            Continuation::More
        };
        frames.push(chunk(message, range, body, continuation, ids)?);
        if last {
            return Ok(frames);
        }
        at = end;
    }
}

fn chunk(
    message: &OutgoingMessage,
    range: ByteRange,
    body: Bytes,
    continuation: Continuation,
    ids: &mut impl TransactionIds,
) -> Result<Frame, SendError> {
    let mut headers = vec![
        Header::ToPath(message.to_path.clone()),
        Header::FromPath(message.from_path.clone()),
        Header::MessageId(message.message_id.clone()),
        Header::ByteRange(range),
    ];
    // §7.1.1: "If the sender wishes non-default status reporting, it MUST
    // insert a Failure-Report and/or Success-Report header field"; the same
    // values go in every chunk.
    if message.success_report == SuccessReport::Yes {
        headers.push(Header::SuccessReport(SuccessReport::Yes));
    }
    if message.failure_report != FailureReport::Yes {
        headers.push(Header::FailureReport(message.failure_report));
    }
    // §7.1: "The Content-Type header field MUST be the last field".
    headers.push(Header::ContentType(message.content_type.clone()));
    for _ in 0..ID_ATTEMPTS {
        let frame = Frame {
            transaction_id: ids.next_transaction_id(),
            start: StartLine::Request(Method::Send),
            headers: headers.clone(),
            body: Some(body.clone()),
            continuation,
        };
        if !frame.end_line_in_body() {
            return Ok(frame);
        }
    }
    Err(SendError::EndLineInBody)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    fn message(body: &'static [u8]) -> OutgoingMessage {
        OutgoingMessage {
            message_id: MessageId::new("4564dpWd").expect("ident"),
            to_path: vec![
                Uri::parse("msrp://bob.example.com:8888/9di4eae923wzd;tcp").expect("uri"),
            ],
            from_path: vec![
                Uri::parse("msrp://alicepc.example.com:7777/iau39soe2843z;tcp").expect("uri"),
            ],
            content_type: "text/plain".into(),
            body: Bytes::from_static(body),
            success_report: SuccessReport::No,
            failure_report: FailureReport::Yes,
        }
    }

    fn counter() -> impl FnMut() -> TransactionId {
        let mut n = 0;
        move || {
            n += 1;
            TransactionId::new(&format!("tid{n:05}")).expect("ident")
        }
    }

    #[test]
    fn message_is_cut_into_chunks_with_ranges_and_flags() {
        // RFC 4975 §5.1's "abcdEFGH" in two chunks.
        let frames = split(&message(b"abcdEFGH"), 4, &mut counter()).expect("splits");
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].byte_range().expect("range").to_string(), "1-4/8");
        assert_eq!(frames[0].continuation, Continuation::More);
        assert_eq!(frames[1].byte_range().expect("range").to_string(), "5-8/8");
        assert_eq!(frames[1].continuation, Continuation::End);
        assert_ne!(frames[0].transaction_id, frames[1].transaction_id);
        assert_eq!(frames[0].message_id(), frames[1].message_id());
        for frame in &frames {
            assert_eq!(wire::parse(&frame.to_bytes()).as_ref(), Ok(frame));
            assert!(matches!(frame.headers.last(), Some(Header::ContentType(_))));
        }
    }

    #[test]
    fn empty_message_is_one_chunk_1_0_0() {
        let frames = split(&message(b""), 2048, &mut counter()).expect("splits");
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].byte_range().expect("range").to_string(), "1-0/0");
        assert_eq!(frames[0].body.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn chunk_over_2048_bytes_has_an_interruptible_range_end() {
        static BIG: [u8; 3000] = [b'x'; 3000];
        let frames = split(&message(&BIG), 4096, &mut counter()).expect("splits");
        assert_eq!(
            frames[0].byte_range().expect("range").to_string(),
            "1-*/3000"
        );
    }

    #[test]
    fn non_default_reports_are_written_in_every_chunk() {
        let mut m = message(b"abcdEFGH");
        m.success_report = SuccessReport::Yes;
        m.failure_report = FailureReport::No;
        for frame in split(&m, 3, &mut counter()).expect("splits") {
            assert_eq!(frame.success_report(), SuccessReport::Yes);
            assert_eq!(frame.failure_report(), FailureReport::No);
        }
    }

    #[test]
    fn transaction_id_found_in_the_body_is_replaced() {
        let body = b"x\r\n-------tid00001$\r\n";
        let frames = split(&message(body), 100, &mut counter()).expect("splits");
        assert_eq!(frames[0].transaction_id.as_str(), "tid00002");
        let mut same = || TransactionId::new("tid00001").expect("ident");
        assert_eq!(
            split(&message(body), 100, &mut same),
            Err(SendError::EndLineInBody)
        );
    }
}
