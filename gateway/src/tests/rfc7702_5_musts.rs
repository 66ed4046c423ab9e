//! RFC 7702 §5 and RFC 7701's participant rules where `rfc7702_5.rs` runs
//! the step but does not assert the requirement: the offer's `a=path`
//! authority (RFC 7702 §5.1), the NICKNAME's headers (RFC 7701 §7.1) and
//! the nickname's length bounds. Literal XML in, literal SIP and MSRP out.

use parley_harness::msrp_peer::MsrpPeer;
use parley_sip::wire::{Message as SipWire, StartLine};
use tokio::net::TcpListener;

use super::rfc7702_5 as five;
use super::world::{WAIT, World};

/// `[sessions]` (the MSRP endpoint) and `[conference]`, as `rfc7702_5.rs`.
const CONFERENCE: &str = "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n\n\
    [conference]\nenabled = true\nmax_per_user = 1\nmax_occupants = 4\njoin_secs = 2\n";

const JULIET: &str = "juliet@example.com/balcony";
const ROOM: &str = "montague@sip.example.net";

/// Example 1 to `room/nick`.
fn join_presence(nick: &str) -> String {
    format!(
        "<presence from='{JULIET}' to='{ROOM}/{nick}'>\
         <x xmlns='http://jabber.org/protocol/muc'/></presence>"
    )
}

/// The next request Parley sends whose method is `wanted`.
async fn request(world: &World, wanted: &str) -> SipWire {
    loop {
        let m = world.sip_out().await;
        if matches!(&m.start, StartLine::Request { method, .. } if method == wanted) {
            return m;
        }
    }
}

/// Example 3 (F4) on loopback: the focus's 200 with `a=setup:passive`
/// (Parley connects) and the `nickname` token (RFC 7701 §8).
async fn answer_invite(world: &World, invite: &SipWire, msrp: &TcpListener) {
    let port = msrp.local_addr().expect("bound").port();
    let sdp = format!(
        "v=0\r\no=focus 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=path:msrp://127.0.0.1:{port}/kjhd37s2s20w2a;tcp\r\n\
         a=setup:passive\r\na=chatroom:nickname private-messages\r\n"
    );
    let h = |n: &str| invite.header(n).expect("a header").to_owned();
    world
        .sip_send(&format!(
            "SIP/2.0 200 OK\nVia: {}\nFrom: {}\nTo: {};tag=focus1\nCall-ID: {}\nCSeq: {}\n\
             Contact: <sip:montague@{{peer}}>;isfocus\n\
             Content-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
            h("Via"),
            h("From"),
            h("To"),
            h("Call-ID"),
            h("CSeq"),
            sdp.len()
        ))
        .await;
}

/// RFC 7702 §5.1: "The authority component of the MSRP URI here MUST
/// contain the XMPP-to-MSRP gateway hostname or numeric IP address (as
/// well as, in accordance with [RFC4975], an explicit port number)": the
/// offer's `a=path` is Parley's own MSRP listener, host and port. RFC 7701
/// §7.1: the NICKNAME carries `Use-Nickname` and "MUST NOT include
/// Success-Report or Failure-Report header fields".
#[tokio::test]
async fn rfc7702_5_1_offer_path_is_parleys_listener_and_7701_7_1_nickname_has_no_reports() {
    let world = World::with("", CONFERENCE).await;
    let listener = world.msrp_addr();
    let msrp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    world.stanza_in(&join_presence("JuliC"));
    let invite = request(&world, "INVITE").await;
    let sdp = String::from_utf8(invite.body.to_vec()).expect("SDP");
    let path = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("a=path")
        .to_owned();
    let authority = path
        .strip_prefix("msrp://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(authority, _)| authority)
        .expect("an msrp URI with a session-id");
    assert_eq!(
        authority,
        format!("{}:{}", listener.ip(), listener.port()),
        "{sdp}"
    );
    assert_ne!(listener.port(), 0);
    assert!(
        sdp.contains(&format!("m=message {} TCP/MSRP *\r\n", listener.port())),
        "{sdp}"
    );
    answer_invite(&world, &invite, &msrp).await;
    request(&world, "ACK").await;
    let switch_uri = format!(
        "msrp://127.0.0.1:{}/kjhd37s2s20w2a;tcp",
        msrp.local_addr().expect("bound").port()
    );
    let mut switch = MsrpPeer::accept(&msrp, &switch_uri, &path, WAIT)
        .await
        .expect("Parley connects to the switch from its offer's path");
    let nickname = loop {
        let f = switch
            .next_frame(WAIT)
            .await
            .expect("an MSRP frame in time");
        match f.method.as_deref() {
            Some("NICKNAME") => break f,
            Some(_) => switch.respond(&f, 200, "OK").await,
            None => {}
        }
    };
    assert_eq!(nickname.header("Use-Nickname"), Some("\"JuliC\""));
    assert_eq!(nickname.header("Success-Report"), None, "{nickname:?}");
    assert_eq!(nickname.header("Failure-Report"), None, "{nickname:?}");
}

/// RFC 7701 §7.1: the nickname "MUST NOT be zero octets in length" "and
/// MUST NOT be more than 1023 octets in length"; XEP-0045 §7.2.1: "If the
/// user does not specify a room nickname ..., the service MUST return a
/// <jid-malformed/> error". A join to the bare room, to `room/`, to a
/// 1024-octet nickname or to one with a code point RFC 7622's resourcepart
/// prohibits (U+FDD0, a noncharacter) gets that error from the room, type
/// `modify` (RFC 6120 §8.3.3.8), its id echoed, and sends no INVITE (so no
/// NICKNAME); a join that follows with a 1023-octet nickname does.
#[tokio::test]
async fn rfc7701_7_1_a_missing_empty_long_or_prohibited_nickname_is_jid_malformed() {
    let mut world = World::with("", CONFERENCE).await;
    let long = "n".repeat(1024);
    for to in [
        ROOM.to_owned(),
        format!("{ROOM}/"),
        format!("{ROOM}/{long}"),
        format!("{ROOM}/Juli\u{FDD0}"),
    ] {
        world.stanza_in(&format!(
            "<presence from='{JULIET}' to='{to}' id='j1'>\
             <x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ));
        assert_eq!(
            world.stanza_out().await,
            format!(
                "<presence from='{ROOM}' to='{JULIET}' id='j1' type='error'>\
                 <error type='modify' by='{ROOM}'>\
                 <jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
            ),
            "{to}"
        );
        world
            .no_sip_out(std::time::Duration::from_millis(200))
            .await;
    }
    world.stanza_in(&join_presence(&"n".repeat(1023)));
    let invite = request(&world, "INVITE").await;
    assert_eq!(
        invite.start,
        StartLine::Request {
            method: "INVITE".into(),
            uri: "sip:montague@sip.example.net".into()
        }
    );
}

/// RFC 7702 §5.1 (7702-3): "include the resourcepart of the full JID as
/// the Globally Routable User Agent URI (GRUU) portion [RFC5627] of the
/// SIP URI". The From stays the bare JID (asserted by `join`); the INVITE's
/// and the SUBSCRIBE's Contact carry `gr=balcony` on Parley's own address,
/// and the focus's requests sent to that Contact (RFC 5627 §3: a GRUU
/// "routes to a specific UA instance") still reach the occupancy: a NOTIFY
/// updates the roster, a BYE ends it.
#[tokio::test]
async fn rfc7702_5_1_the_contact_carries_the_resourcepart_as_gr_and_routes_back() {
    let five::Joined {
        mut world,
        invite,
        subscribe,
        switch: _switch,
    } = five::join().await;
    let contact = format!("<sip:juliet@{};gr=balcony>", world.endpoint_addr());
    assert_eq!(invite.header("Contact").as_deref(), Some(contact.as_str()));
    assert_eq!(
        subscribe.header("Contact").as_deref(),
        Some(contact.as_str())
    );
    let target = contact.trim_start_matches('<').trim_end_matches('>');
    let to_contact = |text: String| {
        let (_, rest) = text.split_once(' ').expect("a request line");
        let (_, rest) = rest.split_once(' ').expect("a request line");
        let method = text.split(' ').next().unwrap_or_default();
        format!("{method} {target} {rest}")
    };
    let users = [
        five::user("sip:romeo@example.org", "Romeo"),
        five::user("sip:ben@example.org", "Ben"),
        five::user("sip:juliet@example.com", "JuliC"),
        five::user("sip:mercutio@example.org", "Mercutio"),
    ]
    .concat();
    let text = five::notify(
        &world,
        &subscribe,
        2,
        "active;expires=600",
        &five::roster(2, &users),
    );
    world.sip_in(&to_contact(text)).await;
    assert_eq!(five::status(&five::response(&world).await), 200);
    assert_eq!(world.stanza_out().await, five::occupant("Mercutio", ""));
    let h = |n: &str| invite.header(n).expect("a header").to_owned();
    let bye = format!(
        "BYE sip:x SIP/2.0\nVia: SIP/2.0/UDP {{peer}};branch=z9hG4bKgrbye\n\
         Max-Forwards: 70\nFrom: {to};tag=focus1\nTo: {from}\nCall-ID: {call}\nCSeq: 2 BYE\n\
         Content-Length: 0\n\n",
        to = h("To"),
        from = h("From"),
        call = h("Call-ID"),
    );
    world.sip_in(&to_contact(bye)).await;
    assert_eq!(five::status(&five::response(&world).await), 200);
    let unsub = request(&world, "SUBSCRIBE").await;
    assert_eq!(unsub.header("Expires").as_deref(), Some("0"));
    assert_eq!(unsub.header("Contact").as_deref(), Some(contact.as_str()));
    world.sip_answer(&unsub, "200 OK", "Expires: 0\n").await;
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<presence from='{ROOM}/JuliC' to='{JULIET}' type='unavailable'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='none' role='none'/><status code='110'/></x></presence>"
        )
    );
}

/// 7702-3 with characters to escape: the localpart as the From's user part
/// (XEP-0106 `\20` → a space, `%20` in SIP, RFC 3261 §25.1), the
/// resourcepart percent-encoded as a `gr` value (RFC 7247 §6.3: non-ASCII
/// "percent-encoded in accordance with [RFC3986]"; `;` and `=` would end
/// the parameter).
#[tokio::test]
async fn rfc7702_5_1_a_resourcepart_to_escape_is_a_percent_encoded_gr() {
    let world = World::with("", CONFERENCE).await;
    world.stanza_in(&format!(
        "<presence from='juliet\\20capulet@example.com/balcony window;x=é' to='{ROOM}/JuliC'>\
         <x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ));
    let invite = request(&world, "INVITE").await;
    assert!(
        invite
            .header("From")
            .is_some_and(|f| f.starts_with("<sip:juliet%20capulet@example.com>;tag=")),
        "{:?}",
        invite.header("From")
    );
    assert_eq!(
        invite.header("Contact"),
        Some(format!(
            "<sip:juliet%20capulet@{};gr=balcony%20window%3Bx%3D%C3%A9>",
            world.endpoint_addr()
        ))
    );
}

/// A request of the focus in the INVITE dialog, `extra` headers and `sdp`.
fn in_invite_dialog(invite: &SipWire, method: &str, cseq: u32, extra: &str, sdp: &str) -> String {
    let h = |n: &str| invite.header(n).expect("a header").to_owned();
    let body = if sdp.is_empty() {
        "Content-Length: 0\n\n".to_owned()
    } else {
        format!(
            "Content-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
            sdp.len()
        )
    };
    format!(
        "{method} sip:juliet@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {{peer}};branch=z9hG4bKre{cseq}\n\
         Max-Forwards: 70\nFrom: {to};tag=focus1\nTo: {from}\nCall-ID: {call}\nCSeq: {cseq} {method}\n\
         Contact: <sip:montague@{{peer}}>;isfocus\n{extra}{body}",
        to = h("To"),
        from = h("From"),
        call = h("Call-ID"),
    )
}

/// The focus's ACK of Parley's final answer to its re-INVITE `cseq`: for
/// a 2xx its own transaction, else the INVITE's (RFC 3261 §17.1.1.3), so
/// no retransmission of the answer is read as the next one.
async fn ack(world: &World, invite: &SipWire, cseq: u32, ok: bool) {
    let text = in_invite_dialog(invite, "ACK", cseq, "", "");
    if ok {
        let text = text.replace(
            &format!("branch=z9hG4bKre{cseq}"),
            &format!("branch=z9hG4bKack{cseq}"),
        );
        world.sip_send(&text).await;
    } else {
        // The INVITE server transaction absorbs it.
        world.sip_send(&text).await;
    }
}

/// The focus's re-INVITE and UPDATE in a §5 session, answered as chat
/// sessions answer them (`msrp_offer::refresh_keeps_session`): a re-INVITE
/// offering the same MSRP path gets 200 with Parley's offer again and the
/// join's Contact; an UPDATE without an offer 200; a re-INVITE moving the
/// session 488 (RFC 3261 §14.2: the session stays); `Require: timer` 420
/// with `Unsupported: timer` (RFC 3261 §8.2.2.3). The occupancy lives on:
/// a groupchat message still goes to the switch.
#[tokio::test]
async fn the_focus_refreshing_the_session_gets_200_and_moving_it_488() {
    let five::Joined {
        mut world,
        invite,
        mut switch,
        ..
    } = five::join().await;
    let port = switch.local_addr().port();
    let focus_sdp = |path_port: u16| {
        format!(
            "v=0\r\no=focus 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=message {path_port} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
             a=path:msrp://127.0.0.1:{path_port}/kjhd37s2s20w2a;tcp\r\n\
             a=setup:passive\r\na=chatroom:nickname private-messages\r\n"
        )
    };
    let contact = format!("<sip:juliet@{};gr=balcony>", world.endpoint_addr());
    let offer = String::from_utf8(invite.body.to_vec()).expect("SDP");
    world
        .sip_in(&in_invite_dialog(
            &invite,
            "INVITE",
            2,
            "Session-Expires: 1800\nSupported: timer\n",
            &focus_sdp(port),
        ))
        .await;
    let ok = five::response(&world).await;
    assert_eq!(five::status(&ok), 200);
    assert_eq!(String::from_utf8(ok.body.to_vec()).expect("SDP"), offer);
    assert_eq!(ok.header("Contact").as_deref(), Some(contact.as_str()));
    assert_eq!(ok.header("Session-Expires"), None, "no session timer");
    ack(&world, &invite, 2, true).await;
    world
        .sip_in(&in_invite_dialog(&invite, "UPDATE", 3, "", ""))
        .await;
    let ok = five::response(&world).await;
    assert_eq!(five::status(&ok), 200);
    assert!(ok.body.is_empty());
    world
        .sip_in(&in_invite_dialog(
            &invite,
            "INVITE",
            4,
            "",
            &focus_sdp(port + 1),
        ))
        .await;
    assert_eq!(five::status(&five::response(&world).await), 488);
    ack(&world, &invite, 4, false).await;
    world
        .sip_in(&in_invite_dialog(
            &invite,
            "INVITE",
            5,
            "Session-Expires: 1800\nRequire: timer\nSupported: timer\n",
            &focus_sdp(port),
        ))
        .await;
    let refused = five::response(&world).await;
    assert_eq!(five::status(&refused), 420);
    assert_eq!(refused.header("Unsupported").as_deref(), Some("timer"));
    ack(&world, &invite, 5, false).await;
    world.stanza_in(&format!(
        "<message from='{JULIET}' to='{ROOM}' type='groupchat' id='g1'><body>still here</body></message>"
    ));
    let send = five::request_frame(&mut switch).await;
    assert!(send.text().ends_with("still here"), "{}", send.text());
}

/// Issue 23 ("history and `<delay/>` stamps for messages that arrive while
/// joining"), XEP-0045 §7.2.13: "The room MUST NOT send any discussion
/// history before it finishes sending room presence", and history is
/// "stamped with ... 'urn:xmpp:delay' ... The 'from' attribute MUST be set
/// to the JID of the room itself". Two SENDs of the switch before the first
/// NOTIFY reach the user only after the self-presence, in order, their
/// nicknames from that roster; the stamp is the CPIM DateTime, or (none
/// given) the time Parley received it. A SEND after the join has no delay.
#[tokio::test]
async fn xep0045_7_2_messages_while_joining_follow_the_self_presence_with_delay() {
    let five::Joined {
        mut world,
        mut switch,
        subscribe,
        ..
    } = five::subscribed().await;
    let early = format!(
        "From: <sip:romeo@example.org>\r\nTo: <{}>\r\nDateTime: 2002-10-13T23:58:37Z\r\n\r\n\
         Content-Type: text/plain\r\n\r\nEarly",
        five::CONF_URI
    );
    switch
        .send("e1", "message/cpim", early.as_bytes(), &[])
        .await;
    let later = five::cpim("sip:ben@example.org", five::CONF_URI, "Then me");
    switch
        .send("e2", "message/cpim", later.as_bytes(), &[])
        .await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    world
        .no_stanza_out(std::time::Duration::from_millis(300))
        .await;
    let users = [
        five::user("sip:romeo@example.org", "Romeo"),
        five::user("sip:ben@example.org", "Ben"),
        five::user("sip:juliet@example.com", "JuliC"),
    ]
    .concat();
    let text = five::notify(
        &world,
        &subscribe,
        1,
        "active;expires=600",
        &five::roster(1, &users),
    );
    world.sip_in(&text).await;
    assert_eq!(five::status(&five::response(&world).await), 200);
    assert_eq!(world.stanza_out().await, five::occupant("Romeo", ""));
    assert_eq!(world.stanza_out().await, five::occupant("Ben", ""));
    assert_eq!(
        world.stanza_out().await,
        five::occupant("JuliC", "<status code='110'/>")
    );
    let first = world.stanza_out().await;
    assert!(
        first.starts_with(&format!("<message from='{ROOM}/Romeo' to='{JULIET}' id='")),
        "{first}"
    );
    assert!(
        first.ends_with(&format!(
            "type='groupchat'><body>Early</body>\
             <delay xmlns='urn:xmpp:delay' from='{ROOM}' stamp='2002-10-13T23:58:37Z'/></message>"
        )),
        "{first}"
    );
    let second = world.stanza_out().await;
    assert!(
        second.starts_with(&format!("<message from='{ROOM}/Ben' to='{JULIET}' id='")),
        "{second}"
    );
    let stamp = second
        .split("stamp='")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a delay stamp");
    let near = |secs: u64| parley_mapping::imdn::date_time(secs);
    assert!(
        (before.saturating_sub(5)..=before + 5).any(|s| near(s) == stamp),
        "{second}"
    );
    assert!(
        second.contains(&format!(
            "<delay xmlns='urn:xmpp:delay' from='{ROOM}' stamp="
        )),
        "{second}"
    );
    let now = five::cpim("sip:romeo@example.org", five::CONF_URI, "Now");
    switch.send("e3", "message/cpim", now.as_bytes(), &[]).await;
    let third = world.stanza_out().await;
    assert!(
        third.ends_with("type='groupchat'><body>Now</body></message>"),
        "{third}"
    );
}
