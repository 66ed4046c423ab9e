//! The wire path alone, as the message paths run it (issue 24): parse and
//! validate a MESSAGE, read what the layers above read, write its 200;
//! parse and validate a 200. Prints nanoseconds per round; run under
//! `valgrind --tool=callgrind` for instruction counts (never asserted).
//!
//! `cargo bench -p parley-sip --bench wire_path [-- ROUNDS]`

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use parley_sip::wire::{Message, ParseLimits, validate, write};

/// A MESSAGE as the project's load tool sends it.
const REQUEST: &str = "MESSAGE sip:juliet@xmpp.localhost SIP/2.0\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:36012;branch=z9hG4bK.lg.1.4711;rport\r\n\
    Max-Forwards: 70\r\n\
    From: <sip:romeo@sip.localhost>;tag=lg1\r\n\
    To: <sip:juliet@xmpp.localhost>\r\n\
    Call-ID: lg.1.4711@127.0.0.1:36012\r\n\
    CSeq: 1 MESSAGE\r\n\
    Content-Type: text/plain;charset=UTF-8\r\n\
    Content-Length: 5\r\n\r\nhello";

/// A 200 to a request the gateway sent, as the load tool answers it.
const RESPONSE: &str = "SIP/2.0 200 OK\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:36010;branch=z9hG4bKp7Yx3kq9LmA2sd81;rport=36010;received=127.0.0.1\r\n\
    From: <sip:romeo@xmpp.localhost>;tag=8f2k1xq\r\n\
    To: <sip:juliet@sip.localhost>;tag=lguas\r\n\
    Call-ID: 5c1e2f9a7b3d4e60@xmpp.localhost\r\n\
    CSeq: 1 MESSAGE\r\n\
    Content-Length: 0\r\n\r\n";

fn round(request: &Bytes, response: &Bytes) {
    let limits = ParseLimits::default();
    let message = Message::parse(request.clone(), limits).expect("parses");
    let head = validate::request(&message).expect("valid");
    for name in ["Content-Type", "Subject", "Content-Encoding", "Priority"] {
        black_box(message.header(name));
    }
    let salvage = message.salvage();
    black_box(write::response(&salvage, 200, "OK", "t1", "", &[], None));
    black_box(head);
    let answer = Message::parse(response.clone(), limits).expect("parses");
    black_box(validate::response(&answer).expect("valid"));
}

fn main() {
    let rounds: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let request = Bytes::from_static(REQUEST.as_bytes());
    let response = Bytes::from_static(RESPONSE.as_bytes());
    let start = Instant::now();
    for _ in 0..rounds {
        round(&request, &response);
    }
    let per = start.elapsed().as_nanos() / u128::from(rounds.max(1));
    println!("wire path: {per} ns per round (MESSAGE in and its 200 out, a 200 in)");
}
