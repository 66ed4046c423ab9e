//! RFC 4975 §7.3.1, RFC 7573 §8: putting received chunks back together.
//!
//! §7.3.1: the receiver "forms a virtual buffer to receive the message,
//! keeping track of which bytes have been received and which are missing";
//! chunks may come in any order and overlap ("the last chunk received SHOULD
//! take precedence"), and "the chunk that has a termination character of
//! '$' defines the total length of the message". The buffer grows with the
//! bytes that arrive, never to an announced total: §14.5 warns of "very
//! large values in the byte-range header field".

use std::collections::HashMap;

use bytes::Bytes;

use crate::error::ReassemblyError;
use crate::wire::{Continuation, Frame, MessageId};

/// What the reassembler holds at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// The largest message, in bytes (RFC 7573 §8: no larger than the XMPP
    /// side's stanza limit; announced as SDP `a=max-size`).
    pub max_message_size: u64,
    /// Messages in progress at once in one session.
    pub max_incomplete: usize,
}

impl Default for ReassemblyLimits {
    /// 64 KiB messages (RFC 7573 §8: an XMPP service's stanza limit "is
    /// not allowed to be less than 10,000 bytes"), 8 in progress.
    fn default() -> ReassemblyLimits {
        ReassemblyLimits {
            max_message_size: 64 * 1024,
            max_incomplete: 8,
        }
    }
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its Message-ID, if the SEND had one (a single-chunk message may not).
    pub message_id: Option<MessageId>,
    /// Its Content-Type, as written.
    pub content_type: Option<String>,
    /// Its bytes.
    pub body: Bytes,
}

/// What a chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassembled {
    /// The message is complete.
    Complete(Message),
    /// More chunks are needed.
    Incomplete,
    /// §7.1: the `#` flag: "the sender is aborting an incomplete message";
    /// what was held is dropped.
    Aborted(Option<MessageId>),
    /// A bodiless SEND (§7.1: "traffic" with no content to render).
    NoContent,
}

/// The messages in progress in one session.
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    partial: HashMap<MessageId, Partial>,
}

#[derive(Debug, Default)]
struct Partial {
    buf: Vec<u8>,
    /// Received ranges of `buf`, zero-based and half-open, sorted, disjoint.
    received: Vec<(u64, u64)>,
    /// Set by the `$` chunk.
    len: Option<u64>,
    content_type: Option<String>,
}

impl Reassembler {
    /// A reassembler holding at most `limits`.
    pub fn new(limits: ReassemblyLimits) -> Reassembler {
        Reassembler {
            limits,
            partial: HashMap::new(),
        }
    }

    /// How many messages are in progress.
    pub fn incomplete(&self) -> usize {
        self.partial.len()
    }

    /// Drops what is held of a message (its chunk was refused elsewhere,
    /// e.g. by the decoder as too large).
    pub fn discard(&mut self, message_id: &MessageId) {
        self.partial.remove(message_id);
    }

    /// Takes one SEND's chunk.
    ///
    /// An error refuses the chunk and drops what was held of its message:
    /// after a 413 the sender "MUST NOT send any further chunks in the
    /// message" (§10.5).
    pub fn handle_chunk(&mut self, frame: &Frame) -> Result<Reassembled, ReassemblyError> {
        let result = self.take(frame);
        if result.is_err()
            && let Some(id) = frame.message_id()
        {
            self.partial.remove(id);
        }
        result
    }

    fn take(&mut self, frame: &Frame) -> Result<Reassembled, ReassemblyError> {
        let limit = self.limits.max_message_size;
        let too_large = ReassemblyError::MessageTooLarge { limit };
        let body = frame.body.clone().unwrap_or_default();
        let range = frame.byte_range();
        // RFC 7573 §8: 413 "in response to the first SEND request whose
        // Byte-Range header field indicates a byte total exceeding the limit".
        if range
            .and_then(|r| r.total)
            .is_some_and(|total| total > limit)
        {
            return Err(too_large);
        }
        let start = range.map_or(1, |r| r.start);
        let len = body.len() as u64;
        // §7.3.1: the receiver trusts the body's length; a body longer than
        // its numeric range-end is a contradiction, a shorter one an
        // interrupted chunk.
        if range
            .and_then(|r| r.end)
            .is_some_and(|end| len > end.saturating_add(1).saturating_sub(start))
        {
            return Err(ReassemblyError::InconsistentRange);
        }
        let offset = start.saturating_sub(1);
        let end = offset.saturating_add(len);
        if end > limit {
            return Err(too_large);
        }
        if frame.continuation == Continuation::Abort {
            if let Some(id) = frame.message_id() {
                self.partial.remove(id);
            }
            return Ok(Reassembled::Aborted(frame.message_id().cloned()));
        }
        // §7.3.1: "If the request contains no Byte-Range header field, or
        // contains one with a range-start value of '1', and the closing line
        // continuation flag has a value of '$', then the request contained
        // the entire message."
        if start == 1 && frame.continuation == Continuation::End {
            if let Some(id) = frame.message_id() {
                self.partial.remove(id);
            }
            if frame.body.is_none() {
                return Ok(Reassembled::NoContent);
            }
            return Ok(Reassembled::Complete(Message {
                message_id: frame.message_id().cloned(),
                content_type: frame.content_type().map(str::to_owned),
                body,
            }));
        }
        let id = frame
            .message_id()
            .ok_or(ReassemblyError::MissingMessageId)?;
        if !self.partial.contains_key(id) && self.partial.len() >= self.limits.max_incomplete {
            return Err(ReassemblyError::TooManyIncomplete {
                limit: self.limits.max_incomplete,
            });
        }
        let partial = self.partial.entry(id.clone()).or_default();
        partial.write(offset, &body);
        if frame.continuation == Continuation::End {
            partial.len = Some(end);
        }
        if let Some(content_type) = frame.content_type()
            && (start == 1 || partial.content_type.is_none())
        {
            partial.content_type = Some(content_type.to_owned());
        }
        let Some(total) = partial.len.filter(|&len| partial.covers(len)) else {
            return Ok(Reassembled::Incomplete);
        };
        let Some(mut done) = self.partial.remove(id) else {
            return Ok(Reassembled::Incomplete);
        };
        // Bytes past the `$` chunk's end (from an overlapping '+') are not
        // part of the message.
        done.buf
            .truncate(usize::try_from(total).unwrap_or(usize::MAX));
        Ok(Reassembled::Complete(Message {
            message_id: Some(id.clone()),
            content_type: done.content_type,
            body: Bytes::from(done.buf),
        }))
    }
}

impl Partial {
    /// Places `data` at zero-based `offset`; later bytes overwrite earlier.
    fn write(&mut self, offset: u64, data: &[u8]) {
        // Callers bound offset + len by the message limit, a usize-sized value.
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = at.saturating_add(data.len());
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf[at..end].copy_from_slice(data);
        if !data.is_empty() {
            self.add_range(offset, offset.saturating_add(data.len() as u64));
        }
    }

    fn add_range(&mut self, start: u64, end: u64) {
        let (mut start, mut end) = (start, end);
        self.received.retain(|&(s, e)| {
            let touches = s <= end && start <= e;
            if touches {
                start = start.min(s);
                end = end.max(e);
            }
            !touches
        });
        let at = self.received.partition_point(|&(s, _)| s < start);
        self.received.insert(at, (start, end));
    }

    /// Whether bytes `0..len` have all arrived.
    fn covers(&self, len: u64) -> bool {
        len == 0
            || self
                .received
                .first()
                .is_some_and(|&(s, e)| s == 0 && e >= len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Uri;
    use crate::wire::{ByteRange, Header, Method, TransactionId};

    fn chunk(id: &str, range: &str, flag: Continuation, data: &'static [u8]) -> Frame {
        let mut frame = Frame::request(
            TransactionId::new("t1234").expect("ident"),
            Method::Send,
            vec![Uri::parse("msrp://a.example:1/s;tcp").expect("uri")],
            vec![Uri::parse("msrp://b.example:2/t;tcp").expect("uri")],
        );
        frame
            .headers
            .push(Header::MessageId(MessageId::new(id).expect("ident")));
        let range: ByteRange = range.parse().expect("range");
        frame.headers.push(Header::ByteRange(range));
        frame.headers.push(Header::ContentType("text/plain".into()));
        frame.body = Some(Bytes::from_static(data));
        frame.continuation = flag;
        frame
    }

    fn body(result: Result<Reassembled, ReassemblyError>) -> Vec<u8> {
        match result {
            Ok(Reassembled::Complete(message)) => message.body.to_vec(),
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn single_chunk_is_a_whole_message() {
        let mut r = Reassembler::default();
        let got = r.handle_chunk(&chunk("m1", "1-5/5", Continuation::End, b"hello"));
        assert_eq!(body(got), b"hello");
        assert_eq!(r.incomplete(), 0);
    }

    #[test]
    fn chunks_in_order_reassemble() {
        // RFC 4975 §5.1, Figure 3.
        let mut r = Reassembler::default();
        let first = chunk("4564dpWd", "1-*/8", Continuation::More, b"abcd");
        assert_eq!(r.handle_chunk(&first), Ok(Reassembled::Incomplete));
        let second = chunk("4564dpWd", "5-8/8", Continuation::End, b"EFGH");
        assert_eq!(body(r.handle_chunk(&second)), b"abcdEFGH");
    }

    #[test]
    fn chunks_out_of_order_reassemble() {
        // §7.3.1: "Receivers MUST not assume that the chunks will be
        // delivered in order".
        let mut r = Reassembler::default();
        let last = chunk("m", "7-9/9", Continuation::End, b"ghi");
        let middle = chunk("m", "4-6/9", Continuation::More, b"def");
        let first = chunk("m", "1-3/9", Continuation::More, b"abc");
        assert_eq!(r.handle_chunk(&last), Ok(Reassembled::Incomplete));
        assert_eq!(r.handle_chunk(&middle), Ok(Reassembled::Incomplete));
        let done = r.handle_chunk(&first);
        assert!(
            matches!(&done, Ok(Reassembled::Complete(m)) if m.content_type.as_deref() == Some("text/plain"))
        );
        assert_eq!(body(done), b"abcdefghi");
    }

    #[test]
    fn overlapping_chunk_received_last_takes_precedence() {
        let mut r = Reassembler::default();
        r.handle_chunk(&chunk("m", "1-4/6", Continuation::More, b"abcd"))
            .expect("ok");
        r.handle_chunk(&chunk("m", "3-4/6", Continuation::More, b"XY"))
            .expect("ok");
        let done = r.handle_chunk(&chunk("m", "5-6/6", Continuation::End, b"ef"));
        assert_eq!(body(done), b"abXYef");
    }

    #[test]
    fn duplicate_chunk_changes_nothing() {
        let mut r = Reassembler::default();
        let first = chunk("m", "1-2/4", Continuation::More, b"ab");
        r.handle_chunk(&first).expect("ok");
        r.handle_chunk(&first).expect("ok");
        assert_eq!(r.incomplete(), 1);
        assert_eq!(
            body(r.handle_chunk(&chunk("m", "3-4/4", Continuation::End, b"cd"))),
            b"abcd"
        );
    }

    #[test]
    fn unknown_total_is_set_by_the_dollar_chunk() {
        let mut r = Reassembler::default();
        r.handle_chunk(&chunk("m", "1-*/*", Continuation::More, b"abc"))
            .expect("ok");
        let done = r.handle_chunk(&chunk("m", "4-*/*", Continuation::End, b"de"));
        assert_eq!(body(done), b"abcde");
    }

    #[test]
    fn interrupted_chunk_shorter_than_its_range_end_counts_its_bytes() {
        // §7.3.1: "it is possible the body is shorter than the range-end
        // field indicates".
        let mut r = Reassembler::default();
        r.handle_chunk(&chunk("m", "1-6/6", Continuation::More, b"abc"))
            .expect("ok");
        let done = r.handle_chunk(&chunk("m", "4-6/6", Continuation::End, b"def"));
        assert_eq!(body(done), b"abcdef");
    }

    #[test]
    fn abort_flag_drops_the_message() {
        let mut r = Reassembler::default();
        r.handle_chunk(&chunk("m", "1-3/9", Continuation::More, b"abc"))
            .expect("ok");
        let aborted = r.handle_chunk(&chunk("m", "4-6/9", Continuation::Abort, b"def"));
        assert_eq!(
            aborted,
            Ok(Reassembled::Aborted(Some(
                MessageId::new("m").expect("ident")
            )))
        );
        assert_eq!(r.incomplete(), 0);
        // A later '$' chunk of the same id does not complete the old bytes.
        let late = r.handle_chunk(&chunk("m", "7-9/9", Continuation::End, b"ghi"));
        assert_eq!(late, Ok(Reassembled::Incomplete));
    }

    #[test]
    fn total_over_the_limit_is_refused_at_the_first_chunk() {
        // RFC 7573 §8; a 10 MB Byte-Range total with four bytes of body.
        let mut r = Reassembler::new(ReassemblyLimits {
            max_message_size: 10_000,
            max_incomplete: 4,
        });
        let result = r.handle_chunk(&chunk("m", "1-4/10485760", Continuation::More, b"abcd"));
        assert_eq!(
            result,
            Err(ReassemblyError::MessageTooLarge { limit: 10_000 })
        );
        assert_eq!(r.incomplete(), 0, "nothing held for it");
    }

    #[test]
    fn chunks_reaching_past_the_limit_are_refused_without_a_total() {
        let mut r = Reassembler::new(ReassemblyLimits {
            max_message_size: 5,
            max_incomplete: 4,
        });
        r.handle_chunk(&chunk("m", "1-*/*", Continuation::More, b"abc"))
            .expect("ok");
        let result = r.handle_chunk(&chunk("m", "4-*/*", Continuation::More, b"def"));
        assert_eq!(result, Err(ReassemblyError::MessageTooLarge { limit: 5 }));
        assert_eq!(r.incomplete(), 0, "the refused message is dropped");
    }

    #[test]
    fn incomplete_messages_are_bounded() {
        let mut r = Reassembler::new(ReassemblyLimits {
            max_message_size: 100,
            max_incomplete: 2,
        });
        for id in ["m1", "m2"] {
            r.handle_chunk(&chunk(id, "1-1/2", Continuation::More, b"a"))
                .expect("ok");
        }
        let third = r.handle_chunk(&chunk("m3", "1-1/2", Continuation::More, b"a"));
        assert_eq!(third, Err(ReassemblyError::TooManyIncomplete { limit: 2 }));
        // Chunks of messages already in progress still go on.
        let done = r.handle_chunk(&chunk("m1", "2-2/2", Continuation::End, b"b"));
        assert_eq!(body(done), b"ab");
    }

    #[test]
    fn body_longer_than_its_range_is_inconsistent() {
        let mut r = Reassembler::default();
        let result = r.handle_chunk(&chunk("m", "1-2/4", Continuation::More, b"abc"));
        assert_eq!(result, Err(ReassemblyError::InconsistentRange));
    }

    #[test]
    fn chunk_without_message_id_is_refused() {
        let mut r = Reassembler::default();
        let mut frame = chunk("m", "3-4/4", Continuation::End, b"cd");
        frame.headers.retain(|h| !matches!(h, Header::MessageId(_)));
        assert_eq!(
            r.handle_chunk(&frame),
            Err(ReassemblyError::MissingMessageId)
        );
    }

    #[test]
    fn bodiless_send_has_no_content() {
        let mut r = Reassembler::default();
        let mut frame = chunk("m", "1-0/0", Continuation::End, b"");
        frame.body = None;
        assert_eq!(r.handle_chunk(&frame), Ok(Reassembled::NoContent));
    }

    #[test]
    fn whole_message_range_helper_matches_the_rfc_form() {
        assert_eq!(ByteRange::whole(0).to_string(), "1-0/0");
    }
}
