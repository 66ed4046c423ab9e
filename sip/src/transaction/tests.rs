//! Unit tests of the transaction table, on a virtual clock.

use std::time::Duration;

use super::*;
use crate::config::Timers;

fn udp() -> Target {
    Target {
        transport: Transport::Udp,
        addr: "127.0.0.1:5060".parse().expect("addr"),
    }
}

fn key(branch: &str) -> ServerKey {
    ServerKey::new(branch, "h", "MESSAGE")
}

/// RFC 3261 §17.2.3: a request is keyed by its top Via's branch, its
/// sent-by without case and its method, an ACK's as INVITE; the packed key
/// reads back those parts and equals the key made from them.
#[test]
fn a_request_key_is_its_branch_lowered_sent_by_and_method() {
    for (method, via_host, sent_by, keyed_method) in [
        (
            "MESSAGE",
            "Host.Example:5070",
            "host.example:5070",
            "MESSAGE",
        ),
        ("MESSAGE", "host.example", "host.example", "MESSAGE"),
        ("ACK", "192.0.2.1:5060", "192.0.2.1:5060", "INVITE"),
    ] {
        let text = format!(
            "{method} sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP {via_host};branch=z9hG4bKa\r\n\
             From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n\
             CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let message = crate::wire::Message::parse(bytes::Bytes::from(text), Default::default())
            .expect("parses");
        let head = crate::wire::validate::request(&message).expect("valid");
        let key = ServerKey::of(&head);
        assert_eq!(
            (key.branch(), key.sent_by(), key.method()),
            ("z9hG4bKa", sent_by, keyed_method)
        );
        let made = ServerKey::new("z9hG4bKa", sent_by, keyed_method);
        assert_eq!(key, made);
        assert_eq!(key.key_hash(), made.key_hash());
        assert_eq!(key.branch_hash(), made.branch_hash());
    }
}

/// RFC 3261 §17.2.3: the same branch is the same transaction.
#[test]
fn retransmitted_request_matches_its_server_transaction() {
    let now = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    assert_eq!(
        t.handle_request(&key("z9hG4bK1"), false, udp(), now),
        RequestOutcome::New
    );
    assert_eq!(
        t.handle_request(&key("z9hG4bK1"), false, udp(), now),
        RequestOutcome::Retransmission(None)
    );
    t.respond(&key("z9hG4bK1"), 200, Bytes::from_static(b"200"), now)
        .expect("sent");
    let RequestOutcome::Retransmission(Some(again)) =
        t.handle_request(&key("z9hG4bK1"), false, udp(), now)
    else {
        panic!("expected the response again");
    };
    assert_eq!(&again.bytes[..], b"200");
    assert_eq!(
        t.handle_request(&key("z9hG4bK2"), false, udp(), now),
        RequestOutcome::New
    );
}

#[test]
fn full_table_is_overloaded() {
    let now = Instant::now();
    let mut t = Transactions::new(Timers::default(), 1);
    assert_eq!(
        t.handle_request(&key("z9hG4bK1"), false, udp(), now),
        RequestOutcome::New
    );
    assert_eq!(
        t.handle_request(&key("z9hG4bK2"), false, udp(), now),
        RequestOutcome::Overloaded
    );
}

/// RFC 3261 §17.1.3: a response matching no transaction is stray.
#[test]
fn unmatched_response_is_stray() {
    let mut t = Transactions::new(Timers::default(), 10);
    let k = ClientKey::new("z9hG4bKx", "MESSAGE");
    assert_eq!(
        t.handle_response(&k, 200, Instant::now()),
        ResponseOutcome::Stray
    );
}

/// Timers of many transactions run from one heap on a virtual clock.
#[test]
fn client_times_out_and_server_is_reaped_on_a_virtual_clock() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    let ck = ClientKey::new("z9hG4bKc", "MESSAGE");
    t.start_client(ck.clone(), Bytes::from_static(b"M"), udp(), t0)
        .expect("started");
    t.handle_request(&key("z9hG4bKs"), false, udp(), t0);
    assert!(t.has_server_branch("z9hG4bKs"));
    assert!(
        !t.has_server_branch("z9hG4bKc"),
        "a client branch is not a server's"
    );
    t.respond(
        &key("z9hG4bKs"),
        200,
        Bytes::from_static(b"200"),
        t0 + Duration::from_millis(100),
    );
    let mut retransmits = Vec::new();
    let mut timed_out = None;
    while let Some(at) = t.poll_timeout() {
        for o in t.handle_timeout(at) {
            match o {
                Output::Transmit(_) => retransmits.push((at - t0).as_millis()),
                Output::TimedOut(k) => timed_out = Some(((at - t0).as_millis(), k)),
                Output::AckTimedOut(_) | Output::InviteEnded(_) => panic!("no INVITE here"),
            }
        }
    }
    assert_eq!(retransmits.len(), 10, "{retransmits:?}");
    assert_eq!(timed_out, Some((32_000, ck)));
    assert!(t.is_empty(), "Timer J reaped the server transaction");
    assert!(!t.has_server_branch("z9hG4bKs"), "and forgot its branch");
}

fn tcp() -> Target {
    Target {
        transport: Transport::Tcp,
        addr: "127.0.0.1:5060".parse().expect("addr"),
    }
}

fn client_key(branch: &str) -> ClientKey {
    ClientKey::new(branch, "MESSAGE")
}

/// Client transactions' first deadlines are kept in start order, a ring
/// for each kind of transport (issue 24): one started with an earlier
/// `now` than the last still fires on time, one answered before its
/// deadline leaves nothing to fire, and a reliable transport's first
/// deadline is Timer F.
#[test]
fn first_client_deadlines_fire_on_time_whatever_order_they_were_set_in() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut t = Transactions::new(Timers::default(), 10);
    let late = client_key("z9hG4bKlate");
    let early = client_key("z9hG4bKearly");
    let answered_early = client_key("z9hG4bKanswered");
    let reliable = client_key("z9hG4bKtcp");
    t.start_client(late.clone(), Bytes::from_static(b"L"), udp(), t0 + ms(100))
        .expect("started");
    // A `now` from before the last start: its deadline is the earliest.
    t.start_client(early.clone(), Bytes::from_static(b"E"), udp(), t0)
        .expect("started");
    t.start_client(
        answered_early.clone(),
        Bytes::from_static(b"A"),
        udp(),
        t0 + ms(200),
    )
    .expect("started");
    t.start_client(
        reliable.clone(),
        Bytes::from_static(b"T"),
        tcp(),
        t0 + ms(50),
    )
    .expect("started");
    assert_eq!(
        t.handle_response(&answered_early, 200, t0 + ms(210)),
        ResponseOutcome::Final
    );
    assert_eq!(t.poll_timeout(), Some(t0 + ms(500)), "the earliest first");
    let mut sent = Vec::new();
    let mut timed_out = Vec::new();
    while let Some(at) = t.poll_timeout() {
        for o in t.handle_timeout(at) {
            match o {
                Output::Transmit(tr) if at <= t0 + ms(1_000) => {
                    sent.push(((at - t0).as_millis(), tr.bytes));
                }
                Output::Transmit(_) => {}
                Output::TimedOut(k) => timed_out.push(((at - t0).as_millis(), k)),
                Output::AckTimedOut(_) | Output::InviteEnded(_) => panic!("no INVITE here"),
            }
        }
    }
    // Timer E (T1 = 500 ms) of the two unanswered over UDP; none over TCP,
    // nothing for the answered one.
    assert_eq!(
        sent,
        vec![
            (500, Bytes::from_static(b"E")),
            (600, Bytes::from_static(b"L")),
        ]
    );
    // Timer F (64·T1) of all three unanswered, in deadline order.
    assert_eq!(
        timed_out,
        vec![(32_000, early), (32_050, reliable), (32_100, late)]
    );
    assert!(t.is_empty());
}

/// A request answered `ok` at `now`.
fn answered(t: &mut Transactions, k: &ServerKey, now: Instant) {
    assert_eq!(t.handle_request(k, false, udp(), now), RequestOutcome::New);
    t.respond(k, 200, Bytes::from_static(b"200"), now)
        .expect("sent");
}

/// RFC 3261 §17.2.2: "While in the "Completed" state, the server
/// transaction MUST pass the final response to the transport layer for
/// retransmission whenever a retransmission of the request is
/// received", until Timer J (64·T1 over UDP) destroys it.
#[test]
fn retransmission_during_timer_j_gets_the_stored_response_bytes() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    let k = key("z9hG4bKj");
    t.handle_request(&k, false, udp(), t0);
    let response = Bytes::from(b"SIP/2.0 200 OK\r\n\r\n".to_vec());
    let first = t.respond(&k, 200, response.clone(), t0).expect("sent");
    assert!(!first.retransmission);
    assert_eq!((t.pending_len(), t.completed_len()), (0, 1));
    let j = t0 + Duration::from_millis(32_000);
    assert_eq!(t.poll_timeout(), Some(j), "Timer J is the only timer");
    t.handle_timeout(j - Duration::from_millis(1));
    let RequestOutcome::Retransmission(Some(again)) =
        t.handle_request(&k, false, udp(), j - Duration::from_millis(1))
    else {
        panic!("expected the final response again");
    };
    assert_eq!(again.bytes, response);
    assert_eq!(
        again.bytes.as_ptr(),
        response.as_ptr(),
        "the bytes sent, shared, not a copy"
    );
    assert_eq!(again.target, udp());
    assert!(again.retransmission);
    assert!(t.has_server(&k) && t.has_server_branch("z9hG4bKj"));
    t.handle_timeout(j);
    assert!(t.is_empty(), "Timer J destroyed it");
    assert!(!t.has_server(&k) && !t.has_server_branch("z9hG4bKj"));
    assert_eq!(t.poll_timeout(), None);
}

/// An answered non-INVITE request leaves no timer behind in the heap:
/// Timer J is its ring's, and the TU's deadline is swept.
#[test]
fn answered_request_holds_no_heap_timer() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    answered(&mut t, &key("z9hG4bK1"), t0);
    assert_eq!(t.heap_len(), 0);
}

/// Only pending work meets `max_pending`: a table for one pending
/// transaction takes a new request while a thousand completed ones
/// wait out Timer J.
#[test]
fn completed_transactions_do_not_count_toward_the_pending_limit() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 1);
    for n in 0..1000 {
        answered(&mut t, &key(&format!("z9hG4bK{n}")), t0);
    }
    assert_eq!((t.pending_len(), t.completed_len()), (0, 1000));
    assert_eq!(
        t.handle_request(&key("z9hG4bKnew"), false, udp(), t0),
        RequestOutcome::New
    );
    assert_eq!(
        t.handle_request(&key("z9hG4bKmore"), false, udp(), t0),
        RequestOutcome::Overloaded,
        "one pending is the limit"
    );
    assert_eq!(t.refused_for_completed(), 0);
    assert!(
        t.start_client(client_key("z9hG4bKc"), Bytes::new(), udp(), t0)
            .is_none(),
        "a client transaction is pending work too"
    );
}

/// At the completed bound no completed server transaction is dropped
/// early (its retransmitted request would reach the TU again): new
/// requests are refused until Timer J makes room.
#[test]
fn at_the_completed_bound_new_requests_are_refused_and_none_is_dropped() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 100).with_max_completed(3);
    for n in 0..3 {
        answered(&mut t, &key(&format!("z9hG4bK{n}")), t0);
    }
    let later = t0 + Duration::from_secs(1);
    assert_eq!(
        t.handle_request(&key("z9hG4bKnew"), false, udp(), later),
        RequestOutcome::Overloaded
    );
    assert_eq!(t.refused_for_completed(), 1);
    for n in 0..3 {
        assert!(matches!(
            t.handle_request(&key(&format!("z9hG4bK{n}")), false, udp(), later),
            RequestOutcome::Retransmission(Some(_))
        ));
    }
    t.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(
        t.handle_request(
            &key("z9hG4bKnew"),
            false,
            udp(),
            t0 + Duration::from_secs(32)
        ),
        RequestOutcome::New
    );
}

/// Each admitted request holds its place among the completed from the
/// start, so the bound holds however many answers come at once.
#[test]
fn pending_requests_hold_their_place_among_the_completed() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 100).with_max_completed(2);
    for n in 0..2 {
        let k = key(&format!("z9hG4bK{n}"));
        assert_eq!(t.handle_request(&k, false, udp(), t0), RequestOutcome::New);
    }
    assert_eq!(
        t.handle_request(&key("z9hG4bK2"), false, udp(), t0),
        RequestOutcome::Overloaded
    );
    for n in 0..2 {
        t.respond(&key(&format!("z9hG4bK{n}")), 200, Bytes::new(), t0);
    }
    assert_eq!(t.completed_len(), 2);
}

/// RFC 3261 §17.1.2.2: a completed client transaction absorbs the final
/// response's retransmissions until Timer K (T4 over UDP); then a late
/// one matches nothing (§17.1.3).
#[test]
fn timer_k_removes_a_completed_client_transaction() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 1);
    let k = client_key("z9hG4bKc");
    t.start_client(k.clone(), Bytes::from_static(b"M"), udp(), t0)
        .expect("started");
    assert_eq!(t.handle_response(&k, 200, t0), ResponseOutcome::Final);
    assert_eq!((t.pending_len(), t.completed_len()), (0, 1));
    assert!(
        t.start_client(client_key("z9hG4bKd"), Bytes::new(), udp(), t0)
            .is_some(),
        "a completed client transaction is not pending work"
    );
    let k_fires = t0 + Duration::from_secs(5);
    t.handle_timeout(k_fires - Duration::from_millis(1));
    assert_eq!(
        t.handle_response(&k, 200, k_fires - Duration::from_millis(1)),
        ResponseOutcome::Absorbed
    );
    t.handle_timeout(k_fires);
    assert_eq!(t.completed_len(), 0);
    assert_eq!(t.handle_response(&k, 200, k_fires), ResponseOutcome::Stray);
}

/// At the completed bound a completed client transaction makes room
/// oldest first: all it costs is a late retransmitted response counted
/// as stray instead of absorbed.
#[test]
fn at_the_completed_bound_the_oldest_client_transaction_makes_room() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10).with_max_completed(2);
    for n in 0..3 {
        let k = client_key(&format!("z9hG4bK{n}"));
        t.start_client(k.clone(), Bytes::new(), udp(), t0)
            .expect("started");
        assert_eq!(t.handle_response(&k, 200, t0), ResponseOutcome::Final);
    }
    assert_eq!(t.completed_len(), 2);
    assert_eq!(
        t.handle_response(&client_key("z9hG4bK0"), 200, t0),
        ResponseOutcome::Stray
    );
    for n in 1..3 {
        assert_eq!(
            t.handle_response(&client_key(&format!("z9hG4bK{n}")), 200, t0),
            ResponseOutcome::Absorbed
        );
    }
    // A completed server transaction is never the one to make room.
    let mut t = Transactions::new(Timers::default(), 10).with_max_completed(1);
    answered(&mut t, &key("z9hG4bKs"), t0);
    let k = client_key("z9hG4bKc");
    t.start_client(k.clone(), Bytes::new(), udp(), t0)
        .expect("started");
    assert_eq!(t.handle_response(&k, 200, t0), ResponseOutcome::Final);
    assert_eq!(t.completed_len(), 1, "the client's was not kept");
    assert!(t.has_server(&key("z9hG4bKs")));
}

/// RFC 3261 §17.2.2, §17.1.2.2: Timers J and K are zero on reliable
/// transports, so nothing is kept.
#[test]
fn nothing_completed_is_kept_over_tcp() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    let k = key("z9hG4bKt");
    assert_eq!(t.handle_request(&k, false, tcp(), t0), RequestOutcome::New);
    t.respond(&k, 200, Bytes::new(), t0).expect("sent");
    let ck = client_key("z9hG4bKc");
    t.start_client(ck.clone(), Bytes::new(), tcp(), t0)
        .expect("started");
    assert_eq!(t.handle_response(&ck, 200, t0), ResponseOutcome::Final);
    assert_eq!((t.pending_len(), t.completed_len()), (0, 0));
    assert!(!t.has_server_branch("z9hG4bKt"));
}

/// A request the TU never answers is ended by the sweep once its
/// deadline (128·T1) has passed, and not before.
#[test]
fn unanswered_request_is_abandoned_by_the_sweep() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    let k = key("z9hG4bKu");
    t.handle_request(&k, false, udp(), t0);
    let mut looked = Vec::new();
    while let Some(at) = t.poll_timeout() {
        assert!(t.handle_timeout(at).is_empty());
        looked.push(((at - t0).as_millis(), t.has_server(&k)));
    }
    assert_eq!(looked, [(32_000, true), (64_000, false)]);
    assert!(t.is_empty() && !t.has_server_branch("z9hG4bKu"));
    assert!(t.respond(&k, 200, Bytes::new(), t0).is_none());
}

/// Two tables over a link that loses the first two responses, on a
/// virtual clock: the client's Timer E retransmissions meet the stored
/// final response, the server's TU sees the request once, and both
/// sides end empty.
#[test]
fn lost_responses_are_recovered_from_the_completed_transaction() {
    let t0 = Instant::now();
    let mut uac = Transactions::new(Timers::default(), 10);
    let mut uas = Transactions::new(Timers::default(), 10);
    let ck = client_key("z9hG4bKl");
    let sk = key("z9hG4bKl");
    let mut to_uas = vec![
        uac.start_client(ck.clone(), Bytes::from_static(b"MESSAGE"), udp(), t0)
            .expect("started"),
    ];
    let mut delivered_to_tu = 0;
    let mut responses_sent = 0;
    let mut final_at = None;
    let mut now = t0;
    loop {
        for _request in to_uas.drain(..) {
            let answer = match uas.handle_request(&sk, false, udp(), now) {
                RequestOutcome::New => {
                    delivered_to_tu += 1;
                    uas.respond(&sk, 200, Bytes::from_static(b"200"), now)
                }
                RequestOutcome::Retransmission(again) => again,
                other => panic!("unexpected {other:?}"),
            };
            if let Some(answer) = answer {
                responses_sent += 1;
                // The link loses the first two responses.
                if responses_sent > 2 {
                    assert_eq!(&answer.bytes[..], b"200");
                    if uac.handle_response(&ck, 200, now) == ResponseOutcome::Final {
                        final_at = Some((now - t0).as_millis());
                    }
                }
            }
        }
        let Some(next) = [uac.poll_timeout(), uas.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = next;
        for output in uac.handle_timeout(now) {
            match output {
                Output::Transmit(t) => to_uas.push(t),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(uas.handle_timeout(now).is_empty());
    }
    assert_eq!(delivered_to_tu, 1);
    assert_eq!(responses_sent, 3);
    assert_eq!(final_at, Some(1_500), "Timer E at 500 ms and 1 500 ms");
    assert!(uac.is_empty() && uas.is_empty());
    assert_eq!(
        (now - t0).as_millis(),
        32_000,
        "Timer J, 64·T1 after the first answer, is the last timer"
    );
}

fn invite_key(branch: &str) -> ClientKey {
    ClientKey::new(branch, "INVITE")
}

fn ack_template() -> AckTemplate {
    AckTemplate {
        request_uri: "sip:bob@127.0.0.1".into(),
        via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKi1".into(),
        from: "<sip:alice@a>;tag=a".into(),
        call_id: "c@a".into(),
        cseq: 1,
        route: Vec::new(),
    }
}

/// RFC 3261 §17.1.3: an INVITE client transaction is matched by branch and
/// CSeq method; Timer B reaches the TU as a timeout through the heap.
#[test]
fn invite_client_is_matched_by_branch_and_method_and_times_out_at_timer_b() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    let k = invite_key("z9hG4bKi1");
    t.start_invite_client(
        k.clone(),
        Bytes::from_static(b"INVITE"),
        ack_template(),
        udp(),
        t0,
    )
    .expect("started");
    assert_eq!(t.pending_len(), 1);
    let other_method = ClientKey::new(&k.branch, "CANCEL");
    assert_eq!(
        t.handle_invite_response(&other_method, 180, "<sip:b>;tag=b", "b", t0),
        None
    );
    assert_eq!(
        t.handle_response(&other_method, 200, t0),
        ResponseOutcome::Stray,
        "a CANCEL's response is not the INVITE's"
    );
    let mut sent = Vec::new();
    let mut timed_out = None;
    while let Some(at) = t.poll_timeout() {
        for o in t.handle_timeout(at) {
            match o {
                Output::Transmit(_) => sent.push((at - t0).as_millis()),
                Output::TimedOut(key) => timed_out = Some(((at - t0).as_millis(), key)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(sent, [500, 1_500, 3_500, 7_500, 15_500, 31_500]);
    assert_eq!(timed_out, Some((32_000, k)));
    assert!(t.is_empty());
}

/// RFC 3261 §17.1.1.2: a 486 is ACKed by the transaction, the ACK goes again
/// for the retransmitted 486, and Timer D (32 s) ends it.
#[test]
fn invite_client_acks_a_rejection_until_timer_d() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    let k = invite_key("z9hG4bKi1");
    t.start_invite_client(
        k.clone(),
        Bytes::from_static(b"INVITE"),
        ack_template(),
        udp(),
        t0,
    )
    .expect("started");
    let Some(InviteClientEvent::Final(Some(ack))) =
        t.handle_invite_response(&k, 486, "<sip:b>;tag=b", "b", t0)
    else {
        panic!("ACK");
    };
    let later = t0 + Duration::from_secs(1);
    let Some(InviteClientEvent::Absorbed(Some(again))) =
        t.handle_invite_response(&k, 486, "<sip:b>;tag=b", "b", later)
    else {
        panic!("ACK again");
    };
    assert_eq!(again.bytes, ack.bytes);
    let mut ended = None;
    while let Some(at) = t.poll_timeout() {
        for o in t.handle_timeout(at) {
            if let Output::InviteEnded(key) = o {
                ended = Some(((at - t0).as_millis(), key));
            }
        }
    }
    assert_eq!(ended, Some((32_000, k)));
    assert!(t.is_empty());
}

/// Two cores over a lossy link on a virtual clock: the first INVITE and the
/// first 486 are lost. RFC 3261 §17.1.1.2 (Timer A) and §17.2.1 (Timer G)
/// recover them; the client's ACK (§17.1.1.3) stops Timer G; Timer D and
/// Timer I leave both tables empty.
#[test]
fn invite_rejection_survives_a_lost_invite_and_a_lost_response() {
    let t0 = Instant::now();
    let mut uac = Transactions::new(Timers::default(), 10);
    let mut uas = Transactions::new(Timers::default(), 10);
    let ck = invite_key("z9hG4bKi1");
    let sk = ServerKey::new("z9hG4bKi1", "127.0.0.1:5060", "INVITE");
    let _lost = uac
        .start_invite_client(
            ck.clone(),
            Bytes::from_static(b"INVITE"),
            ack_template(),
            udp(),
            t0,
        )
        .expect("started");
    let mut log = Vec::new();
    let mut lost_486 = false;
    let mut acked = false;
    while let Some(at) = [uac.poll_timeout(), uas.poll_timeout()]
        .into_iter()
        .flatten()
        .min()
    {
        let ms = (at - t0).as_millis();
        for o in uac.handle_timeout(at) {
            if let Output::Transmit(t) = o {
                log.push((ms, "INVITE"));
                assert_eq!(&t.bytes[..], b"INVITE");
                assert_eq!(
                    uas.handle_request(&sk, false, udp(), at),
                    RequestOutcome::New
                );
                uas.respond(&sk, 486, Bytes::from_static(b"486"), at)
                    .expect("486 sent");
                // The first 486 is lost too.
                lost_486 = true;
            }
        }
        for o in uas.handle_timeout(at) {
            if let Output::Transmit(t) = o {
                log.push((ms, "486"));
                assert_eq!(&t.bytes[..], b"486");
                let Some(InviteClientEvent::Final(Some(_ack))) =
                    uac.handle_invite_response(&ck, 486, "<sip:b>;tag=b", "b", at)
                else {
                    panic!("the 486 completes the client and is ACKed");
                };
                assert_eq!(
                    uas.handle_request(&sk, true, udp(), at),
                    RequestOutcome::AckAbsorbed
                );
                acked = true;
            }
        }
    }
    assert!(lost_486 && acked);
    assert_eq!(log, [(500, "INVITE"), (1_000, "486")]);
    assert!(
        uac.is_empty() && uas.is_empty(),
        "Timers D and I ended both"
    );
}

/// A client key's usual method is one shared copy, any other its own; keys
/// still compare and hash by their text (RFC 3261 §17.1.3 matching).
#[test]
fn client_keys_share_the_usual_method_names_and_compare_by_text() {
    let a = ClientKey::new("z9hG4bKa", "MESSAGE");
    let b = ClientKey::new("z9hG4bKa", "MESSAGE");
    assert!(std::sync::Arc::ptr_eq(&a.method, &b.method));
    assert_eq!(a, b);
    let odd = ClientKey::new("z9hG4bKa", "PUBLISH");
    assert_eq!(&*odd.method, "PUBLISH");
    assert_ne!(odd, a);
    let mut table = std::collections::HashMap::new();
    table.insert(a, 1);
    assert_eq!(table.get(&ClientKey::new("z9hG4bKa", "MESSAGE")), Some(&1));
    assert_eq!(table.get(&ClientKey::new("z9hG4bKb", "MESSAGE")), None);
}

/// RFC 3261 §17.1.3: a response's branch and CSeq method, borrowed, find
/// the client transaction an owned key started (same hash, same text).
#[test]
fn a_borrowed_response_key_finds_its_client_transaction() {
    let t0 = Instant::now();
    let mut t = Transactions::new(Timers::default(), 10);
    t.start_client(client_key("z9hG4bKb"), Bytes::from_static(b"M"), udp(), t0)
        .expect("started");
    assert_eq!(
        t.handle_response(ClientKeyRef::new("z9hG4bKb", "INVITE"), 200, t0),
        ResponseOutcome::Stray
    );
    assert_eq!(
        t.handle_response(ClientKeyRef::new("z9hG4bKb", "MESSAGE"), 200, t0),
        ResponseOutcome::Final
    );
    // §17.1.2.2: Completed absorbs the retransmission.
    assert_eq!(
        t.handle_response(ClientKeyRef::new("z9hG4bKb", "MESSAGE"), 200, t0),
        ResponseOutcome::Absorbed
    );
    assert_eq!(
        ClientKeyRef::new("z9hG4bKb", "MESSAGE").owned(),
        client_key("z9hG4bKb")
    );
}
