//! Property tests of the wire format: `parse(write(x)) == x`, any split of
//! a valid stream yields the same frames, and no input panics.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use proptest::prelude::*;

use parley_msrp::fuzzing;
use parley_msrp::status::StatusCode;
use parley_msrp::uri::{Host, Scheme, Uri};
use parley_msrp::wire::{
    self, ByteRange, Continuation, Decoder, FailureReport, Frame, Header, Limits, MessageId,
    Method, StartLine, Status, SuccessReport, TransactionId,
};

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.+%=-]{3,31}"
}

fn uri() -> impl Strategy<Value = Uri> {
    (
        prop_oneof![Just(Scheme::Msrp), Just(Scheme::Msrps)],
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}".prop_map(Host::Name),
            any::<[u8; 4]>().prop_map(|o| Host::Ip(std::net::Ipv4Addr::from(o).into())),
            any::<[u16; 8]>().prop_map(|s| Host::Ip(std::net::Ipv6Addr::from(s).into())),
        ],
        any::<u16>(),
        proptest::option::of("[A-Za-z0-9._~+=/-]{1,20}"),
        proptest::collection::vec(("[a-z]{1,6}", proptest::option::of("[a-z0-9]{1,6}")), 0..2),
    )
        .prop_map(|(scheme, host, port, session_id, params)| Uri {
            scheme,
            userinfo: None,
            host,
            port: Some(port),
            session_id,
            transport: "tcp".into(),
            params,
        })
}

fn path() -> impl Strategy<Value = Vec<Uri>> {
    proptest::collection::vec(uri(), 1..4)
}

fn byte_range() -> impl Strategy<Value = ByteRange> {
    (
        1u64..10_000,
        proptest::option::of(0u64..10_000),
        any::<bool>(),
    )
        .prop_map(|(start, len, known_total)| {
            let end = len.map(|len| start - 1 + len);
            let last = end.unwrap_or(start - 1);
            ByteRange {
                start,
                end,
                total: known_total.then_some(last + 7),
            }
        })
}

fn continuation() -> impl Strategy<Value = Continuation> {
    prop_oneof![
        Just(Continuation::End),
        Just(Continuation::More),
        Just(Continuation::Abort)
    ]
}

prop_compose! {
    fn request()(
        tid in ident(),
        method in prop_oneof![Just(Method::Send), Just(Method::Report), "[A-Z]{1,8}".prop_map(Method::Other)],
        to in path(),
        from in path(),
        message_id in proptest::option::of(ident()),
        range in proptest::option::of(byte_range()),
        success in proptest::option::of(prop_oneof![Just(SuccessReport::Yes), Just(SuccessReport::No)]),
        failure in proptest::option::of(prop_oneof![Just(FailureReport::Yes), Just(FailureReport::No), Just(FailureReport::Partial)]),
        status in proptest::option::of((0u16..1000, 100u16..1000, proptest::option::of("[!-~]([ -~]{0,15}[!-~])?"))),
        other in proptest::collection::vec(("X-[A-Za-z0-9]{1,8}", "[!-~]([ -~]{0,20}[!-~])?"), 0..3),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        flag in continuation(),
    ) -> Frame {
        let method = match method {
            Method::Other(m) if m == "SEND" || m == "REPORT" => Method::Other("OTHER".into()),
            m => m,
        };
        let mut frame = Frame::request(TransactionId::new(&tid).unwrap(), method, to, from);
        if let Some(id) = message_id {
            frame.headers.push(Header::MessageId(MessageId::new(&id).unwrap()));
        }
        if let Some(range) = range {
            frame.headers.push(Header::ByteRange(range));
        }
        if let Some(v) = success {
            frame.headers.push(Header::SuccessReport(v));
        }
        if let Some(v) = failure {
            frame.headers.push(Header::FailureReport(v));
        }
        if let Some((namespace, code, comment)) = status {
            frame.headers.push(Header::Status(Status { namespace, code: StatusCode(code), comment }));
        }
        for (name, value) in other {
            frame.headers.push(Header::Other { name, value });
        }
        if let Some(body) = body {
            frame.headers.push(Header::ContentType("text/plain; charset=utf-8".into()));
            frame.body = Some(Bytes::from(body));
        }
        frame.continuation = flag;
        frame
    }
}

prop_compose! {
    fn response()(
        tid in ident(),
        code in 100u16..1000,
        comment in proptest::option::of("[ -~]{0,20}"),
        to in path(),
        from in path(),
    ) -> Frame {
        Frame {
            transaction_id: TransactionId::new(&tid).unwrap(),
            start: StartLine::Response { status: StatusCode(code), comment },
            headers: vec![Header::ToPath(to), Header::FromPath(from)],
            body: None,
            continuation: Continuation::End,
        }
    }
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![3 => request(), 1 => response()].prop_filter(
        "a body must not hold its own end-line (RFC 4975 §7.1)",
        |f| !f.end_line_in_body() && f.body.as_ref().is_none_or(|b| b.len() <= 10_240),
    )
}

const SEED: &[u8] = include_bytes!("fixtures/rfc4975-11.4-cpim-chunk1.msrp");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// parse(write(x)) == x.
    #[test]
    fn written_frames_parse_back(frame in frame()) {
        let bytes = frame.to_bytes();
        prop_assert_eq!(wire::parse(&bytes), Ok(frame));
    }

    /// Where the stream is cut into reads never changes the frames found.
    #[test]
    fn any_split_of_a_valid_stream_yields_the_same_frames(
        frames in proptest::collection::vec(frame(), 1..4),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..12),
    ) {
        let stream: Vec<u8> = frames.iter().flat_map(Frame::to_bytes).collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut decoder = Decoder::new(Limits::unlimited());
        let mut found = Vec::new();
        let mut at = 0;
        for cut in cuts {
            decoder.handle_bytes(&stream[at..cut]);
            at = cut;
            while let Some(frame) = decoder.poll_frame().unwrap() {
                found.push(frame);
            }
        }
        prop_assert_eq!(found, frames);
        prop_assert_eq!(decoder.buffered(), 0);
    }

    /// Arbitrary bytes never panic, and never frame differently in pieces.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::msrp_frames(&data);
        let mut msrp = b"\x05MSRP ".to_vec();
        msrp.extend_from_slice(&data);
        fuzzing::msrp_frames(&msrp);
    }

    /// Nor does a real frame with bytes flipped, cut or inserted.
    #[test]
    fn mutated_frame_never_panics(
        edits in proptest::collection::vec((0usize..SEED.len(), any::<u8>(), 0u8..3), 1..8),
        seed in any::<u8>(),
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
        data.insert(0, seed);
        fuzzing::msrp_frames(&data);
    }
}
