//! RFC 7702 §5: an XMPP user joins a SIP conference through Parley. The
//! test plays the XMPP server (literal XML in and out), the focus (literal
//! SIP over loopback UDP: the peer is Parley's outbound proxy) and the MSRP
//! switch (the harness's peer, accepting Parley's connection).

use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};
use parley_sip::wire::{Message as SipWire, StartLine};
use tokio::net::TcpListener;

use super::world::{WAIT, World};

/// `[sessions]` (the MSRP endpoint) and `[conference]`.
const CONFERENCE: &str = "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n\n\
    [conference]\nenabled = true\nmax_per_user = 1\nmax_occupants = 4\njoin_secs = 2\n";

pub(super) const JULIET: &str = "juliet@example.com/balcony";
pub(super) const ROOM: &str = "montague@sip.example.net";
/// The conference URI `montague@sip.example.net` maps to (design §2).
pub(super) const CONF_URI: &str = "sip:montague@sip.example.net";

/// Example 1: Juliet's join presence.
fn join_presence(nick: &str) -> String {
    format!(
        "<presence from='{JULIET}' to='{ROOM}/{nick}'>\
         <x xmlns='http://jabber.org/protocol/muc'/></presence>"
    )
}

pub(super) fn status(m: &SipWire) -> u16 {
    match m.start {
        StartLine::Response { status, .. } => status,
        _ => 0,
    }
}

fn method(m: &SipWire) -> String {
    match &m.start {
        StartLine::Request { method, .. } => method.to_string(),
        _ => String::new(),
    }
}

/// The next request Parley sends (retransmissions of earlier ones skipped).
pub(super) async fn request(world: &World, wanted: &str) -> SipWire {
    loop {
        let m = world.sip_out().await;
        if method(&m) == wanted {
            return m;
        }
    }
}

/// The next response Parley sends (provisional ones skipped).
pub(super) async fn response(world: &World) -> SipWire {
    loop {
        let m = world.sip_out().await;
        if matches!(m.start, StartLine::Response { status, .. } if status >= 200) {
            return m;
        }
    }
}

/// Example 3 (F4): the focus's 200, its SDP on loopback, `a=setup:passive`
/// (Parley connects), Contact with `isfocus` (RFC 4579 §4.2).
async fn answer_invite(world: &World, invite: &SipWire, msrp: &TcpListener) {
    let port = msrp.local_addr().expect("bound").port();
    let sdp = format!(
        "v=0\r\no=focus 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain\r\na=path:msrp://127.0.0.1:{port}/kjhd37s2s20w2a;tcp\r\n\
         a=setup:passive\r\na=chatroom:nickname private-messages\r\n"
    );
    let h = |n: &str| invite.header(n).expect("a header").to_owned();
    world
        .sip_send(&format!(
            "SIP/2.0 200 OK\nVia: {}\nFrom: {}\nTo: {};tag=focus1\nCall-ID: {}\nCSeq: {}\n\
             Contact: <sip:montague@{{peer}}>;isfocus\nAllow-Events: conference\n\
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

async fn frame(peer: &mut MsrpPeer) -> MsrpFrame {
    peer.next_frame(WAIT).await.expect("an MSRP frame in time")
}

/// The next request frame from Parley (responses to the switch's SENDs skipped).
pub(super) async fn request_frame(peer: &mut MsrpPeer) -> MsrpFrame {
    loop {
        let f = frame(peer).await;
        if f.method.is_some() {
            return f;
        }
    }
}

/// A NOTIFY of the focus in the subscription `subscribe` made.
pub(super) fn notify(
    world: &World,
    subscribe: &SipWire,
    cseq: u32,
    state: &str,
    body: &str,
) -> String {
    let h = |n: &str| subscribe.header(n).expect("a header").to_owned();
    format!(
        "NOTIFY sip:juliet@{endpoint} SIP/2.0\nVia: SIP/2.0/UDP {{peer}};branch=z9hG4bKn{cseq}{call}\n\
         Max-Forwards: 70\nFrom: {to};tag=sub-focus\nTo: {from}\nCall-ID: {call}\nCSeq: {cseq} NOTIFY\n\
         Contact: <sip:montague@{{peer}}>;isfocus\nEvent: conference\nSubscription-State: {state}\n\
         Content-Type: application/conference-info+xml\nContent-Length: {}\n\n{body}",
        body.len(),
        endpoint = world.endpoint_addr(),
        to = h("To"),
        from = h("From"),
        call = h("Call-ID"),
    )
}

/// RFC 7702 §5.4 Example 9 on this test's addresses: Romeo, Ben and Juliet
/// (JuliC), version `version`.
pub(super) fn roster(version: u32, users: &str) -> String {
    format!(
        "<?xml version='1.0' encoding='UTF-8'?>\
         <conference-info xmlns='urn:ietf:params:xml:ns:conference-info' \
         entity='{CONF_URI}' state='full' version='{version}'><users>{users}</users></conference-info>"
    )
}

pub(super) fn user(entity: &str, nick: &str) -> String {
    format!("<user entity='{entity}' state='full'><display-text>{nick}</display-text></user>")
}

pub(super) fn occupant(nick: &str, extra: &str) -> String {
    format!(
        "<presence from='{ROOM}/{nick}' to='{JULIET}'><x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' role='participant'/>{extra}</x></presence>"
    )
}

/// Juliet in the conference: the world, the switch's end of the MSRP
/// connection, the SUBSCRIBE (for NOTIFYs) and the INVITE's 200 sent.
pub(super) struct Joined {
    pub(super) world: World,
    pub(super) switch: MsrpPeer,
    pub(super) subscribe: SipWire,
    pub(super) invite: SipWire,
}

/// F1–F11: join presence → INVITE (Example 2) → 200 → ACK → MSRP →
/// NICKNAME (Example 5) → 200 → SUBSCRIBE (Example 7) → 200.
pub(super) async fn subscribed() -> Joined {
    let world = World::with("", CONFERENCE).await;
    let msrp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    world.stanza_in(&join_presence("JuliC"));
    let invite = request(&world, "INVITE").await;
    assert_eq!(
        invite.start,
        StartLine::Request {
            method: "INVITE".into(),
            uri: CONF_URI.into()
        }
    );
    assert_eq!(
        invite.header("To").as_deref(),
        Some("<sip:montague@sip.example.net>")
    );
    assert!(
        invite
            .header("From")
            .is_some_and(|f| f.starts_with("<sip:juliet@example.com>;tag=")),
        "{:?}",
        invite.header("From")
    );
    let sdp = String::from_utf8(invite.body.to_vec()).expect("SDP");
    // RFC 7701 §5.2 (message/cpim, not Example 2's text/cpim) and §8.
    assert!(sdp.contains("a=accept-types:message/cpim\r\n"), "{sdp}");
    assert!(
        sdp.contains("a=accept-wrapped-types:text/plain\r\n"),
        "{sdp}"
    );
    assert!(
        sdp.ends_with("a=chatroom:nickname private-messages\r\n"),
        "{sdp}"
    );
    let parley_path = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("a=path")
        .to_owned();
    answer_invite(&world, &invite, &msrp).await;
    request(&world, "ACK").await;
    let switch_uri = format!(
        "msrp://127.0.0.1:{}/kjhd37s2s20w2a;tcp",
        msrp.local_addr().expect("bound").port()
    );
    let mut switch = MsrpPeer::accept(&msrp, &switch_uri, &parley_path, WAIT)
        .await
        .expect("Parley connects to the switch");
    // RFC 4975 §5.4: the active side's bodiless SEND.
    let bind = request_frame(&mut switch).await;
    assert_eq!(bind.method.as_deref(), Some("SEND"));
    switch.respond(&bind, 200, "OK").await;
    // Example 5 (F8).
    let nick = request_frame(&mut switch).await;
    assert_eq!(nick.method.as_deref(), Some("NICKNAME"));
    assert_eq!(nick.header("Use-Nickname"), Some("\"JuliC\""));
    switch.respond(&nick, 200, "OK").await;
    // Example 7 (F10), outside the INVITE dialog (RFC 4579 §3).
    let subscribe = request(&world, "SUBSCRIBE").await;
    assert_ne!(subscribe.header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(subscribe.header("Event").as_deref(), Some("conference"));
    assert_eq!(
        subscribe.header("Accept").as_deref(),
        Some("application/conference-info+xml")
    );
    let contact = format!(
        "Expires: 600\nContact: <sip:montague@{}>\n",
        world.peer_addr()
    );
    world.sip_answer(&subscribe, "200 OK", &contact).await;
    Joined {
        world,
        switch,
        subscribe,
        invite,
    }
}

/// [`subscribed`], then the first NOTIFY (Example 9) → Romeo, Ben, then
/// Juliet with 110 (Example 10).
pub(super) async fn join() -> Joined {
    let Joined {
        mut world,
        switch,
        subscribe,
        invite,
    } = subscribed().await;
    let users = [
        user("sip:romeo@example.org", "Romeo"),
        user("sip:ben@example.org", "Ben"),
        user("sip:juliet@example.com", "JuliC"),
    ]
    .concat();
    let text = notify(
        &world,
        &subscribe,
        1,
        "active;expires=600",
        &roster(1, &users),
    );
    world.sip_in(&text).await;
    assert_eq!(status(&response(&world).await), 200);
    assert_eq!(world.stanza_out().await, occupant("Romeo", ""));
    assert_eq!(world.stanza_out().await, occupant("Ben", ""));
    assert_eq!(
        world.stanza_out().await,
        occupant("JuliC", "<status code='110'/>")
    );
    Joined {
        world,
        switch,
        subscribe,
        invite,
    }
}

pub(super) fn cpim(from: &str, to: &str, text: &str) -> String {
    format!("From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: text/plain\r\n\r\n{text}")
}

/// §5.1–§5.4, §5.5.1 (Examples 12–16), §5.5.2 (Examples 17–18), §5.8
/// (Example 26–27): join, roster, messages both ways, leave.
#[tokio::test]
async fn rfc7702_5_join_roster_messages_and_exit() {
    let Joined {
        mut world,
        mut switch,
        ..
    } = join().await;
    // Example 12 → Example 13; the 200 (F18) → the reflection (F19).
    world.stanza_in(&format!(
        "<message from='{JULIET}' to='{ROOM}' type='groupchat' id='lzfed24s'>\
         <body>Who knows where Romeo is?</body></message>"
    ));
    let send = request_frame(&mut switch).await;
    assert_eq!(send.header("Content-Type"), Some("message/cpim"));
    assert_eq!(
        send.text(),
        "From: <sip:juliet@example.com>\r\nTo: <sip:montague@sip.example.net>\r\n\r\n\
         Content-Type: text/plain;charset=utf-8\r\n\r\nWho knows where Romeo is?"
    );
    switch.respond(&send, 200, "OK").await;
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<message from='{ROOM}/JuliC' to='{JULIET}' id='lzfed24s' type='groupchat'>\
             <body>Who knows where Romeo is?</body></message>"
        )
    );
    // F20–F21: Romeo to all; his nickname from the roster (RFC 7701 §6.1:
    // the switch does not rewrite the CPIM From).
    let body = cpim("sip:romeo@example.org", CONF_URI, "Here I am");
    switch
        .send("m1", "message/cpim", body.as_bytes(), &[])
        .await;
    let said = world.stanza_out().await;
    assert!(
        said.starts_with(&format!("<message from='{ROOM}/Romeo' to='{JULIET}' id='")),
        "{said}"
    );
    assert!(
        said.ends_with("type='groupchat'><body>Here I am</body></message>"),
        "{said}"
    );
    // Example 17: private to Romeo → CPIM To his entity from the roster.
    world.stanza_in(&format!(
        "<message from='{JULIET}' to='{ROOM}/Romeo' type='chat' id='p1'><body>Psst</body></message>"
    ));
    let send = request_frame(&mut switch).await;
    assert_eq!(
        send.text(),
        "From: <sip:juliet@example.com>\r\nTo: <sip:romeo@example.org>\r\n\r\n\
         Content-Type: text/plain;charset=utf-8\r\n\r\nPsst"
    );
    switch.respond(&send, 200, "OK").await;
    // Example 18 (From the sender's own URI): private from Romeo.
    let body = cpim(
        "sip:romeo@example.org",
        "sip:juliet@example.com",
        "Only to thee",
    );
    switch
        .send("m2", "message/cpim", body.as_bytes(), &[])
        .await;
    let said = world.stanza_out().await;
    assert!(
        said.ends_with("type='chat'><body>Only to thee</body></message>")
            && said.starts_with(&format!("<message from='{ROOM}/Romeo' to='{JULIET}'")),
        "{said}"
    );
    // XEP-0045 §6.4: disco#info to the conference while Juliet is in it.
    world.stanza_in(&format!(
        "<iq from='{JULIET}' to='{ROOM}' type='get' id='d1'>\
         <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    ));
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<iq from='{ROOM}' to='{JULIET}' id='d1' type='result'>\
             <query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='conference' type='text'/>\
             <feature var='http://jabber.org/protocol/disco#info'/>\
             <feature var='http://jabber.org/protocol/muc'/></query></iq>"
        )
    );
    // Example 26 → BYE (F31), the unsubscription, Example 27.
    world.stanza_in(&format!(
        "<presence from='{JULIET}' to='{ROOM}/JuliC' type='unavailable'/>"
    ));
    let bye = request(&world, "BYE").await;
    world.sip_answer(&bye, "200 OK", "").await;
    let unsub = request(&world, "SUBSCRIBE").await;
    assert_eq!(unsub.header("Expires").as_deref(), Some("0"));
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

/// The presence a NOTIFY's body makes, answered 200 first.
async fn notify_in(world: &mut World, subscribe: &SipWire, cseq: u32, body: &str) -> u16 {
    let text = notify(world, subscribe, cseq, "active;expires=600", body);
    world.sip_in(&text).await;
    let r = response(world).await;
    status(&r)
}

fn partial(version: u32, users: &str) -> String {
    format!(
        "<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' \
         entity='{CONF_URI}' state='partial' version='{version}'>\
         <users state='partial'>{users}</users></conference-info>"
    )
}

/// §5.4 after the first roster: a partial NOTIFY (RFC 4575 §4.6, version
/// +1) → a join and a leave as presence; hostile bodies (not XML: 400; more
/// users than `conference.max_occupants`: 413) are refused and the
/// occupancy lives on; a version gap → a refresh SUBSCRIBE in the dialog.
#[tokio::test]
async fn rfc7702_5_4_partial_notify_and_hostile_bodies() {
    let Joined {
        mut world,
        subscribe,
        switch: _switch,
        ..
    } = join().await;
    let tybalt = user("sip:tybalt@example.org", "Tybalt");
    let body = partial(
        2,
        &format!("{tybalt}<user entity='sip:ben@example.org' state='deleted'/>"),
    );
    assert_eq!(notify_in(&mut world, &subscribe, 2, &body).await, 200);
    assert_eq!(world.stanza_out().await, occupant("Tybalt", ""));
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<presence from='{ROOM}/Ben' to='{JULIET}' type='unavailable'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='none' role='none'/></x></presence>"
        )
    );
    // Hostile: not XML, then five users over a bound of four.
    assert_eq!(
        notify_in(&mut world, &subscribe, 3, "<<<conference-info").await,
        400
    );
    let many: String = (0..5)
        .map(|i| user(&format!("sip:u{i}@example.org"), &format!("U{i}")))
        .collect();
    assert_eq!(
        notify_in(&mut world, &subscribe, 4, &roster(3, &many)).await,
        413
    );
    world
        .no_stanza_out(std::time::Duration::from_millis(200))
        .await;
    // RFC 4575 §4.6: version 5 after 2 is a gap → refresh SUBSCRIBE.
    let body = partial(5, &user("sip:paris@example.org", "Paris"));
    assert_eq!(notify_in(&mut world, &subscribe, 5, &body).await, 200);
    let refresh = request(&world, "SUBSCRIBE").await;
    assert_eq!(refresh.header("Call-ID"), subscribe.header("Call-ID"));
    assert_eq!(refresh.header("Expires").as_deref(), Some("600"));
    world.sip_answer(&refresh, "200 OK", "Expires: 600\n").await;
    // Still alive: the full document that follows is announced as changes.
    let users = [
        user("sip:romeo@example.org", "Romeo"),
        tybalt.clone(),
        user("sip:juliet@example.com", "JuliC"),
        user("sip:paris@example.org", "Paris"),
    ]
    .concat();
    assert_eq!(
        notify_in(&mut world, &subscribe, 6, &roster(6, &users)).await,
        200
    );
    assert_eq!(world.stanza_out().await, occupant("Paris", ""));
}

/// §5.6 (Examples 19–25): a rename the switch refuses (425 → `<conflict/>`,
/// Example 21), then one it takes (XEP-0045 §7.6: 303 then the new one).
#[tokio::test]
async fn rfc7702_5_6_nickname_conflict_then_change() {
    let Joined {
        mut world,
        mut switch,
        ..
    } = join().await;
    world.stanza_in(&format!("<presence from='{JULIET}' to='{ROOM}/Romeo'/>"));
    let nick = request_frame(&mut switch).await;
    assert_eq!(nick.method.as_deref(), Some("NICKNAME"));
    assert_eq!(nick.header("Use-Nickname"), Some("\"Romeo\""));
    switch
        .respond(&nick, 425, "Nickname reserved or already in use")
        .await;
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<presence from='{ROOM}/Romeo' to='{JULIET}' type='error'>\
             <error type='cancel' by='{ROOM}'>\
             <conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
        )
    );
    world.stanza_in(&format!(
        "<presence from='{JULIET}' to='{ROOM}/CapuletGirl'/>"
    ));
    let nick = request_frame(&mut switch).await;
    assert_eq!(nick.header("Use-Nickname"), Some("\"CapuletGirl\""));
    switch.respond(&nick, 200, "OK").await;
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<presence from='{ROOM}/JuliC' to='{JULIET}' type='unavailable'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='none' nick='CapuletGirl' role='participant'/>\
             <status code='303'/><status code='110'/></x></presence>"
        )
    );
    assert_eq!(
        world.stanza_out().await,
        occupant("CapuletGirl", "<status code='110'/>")
    );
}

/// §5.8 the other way: the focus's BYE → 200, Parley unsubscribes, and
/// the user gets the unavailable self-presence (status 110).
#[tokio::test]
async fn rfc7702_5_8_focus_bye_ends_the_occupancy() {
    let Joined {
        mut world,
        invite,
        switch: _switch,
        ..
    } = join().await;
    let h = |n: &str| invite.header(n).expect("a header").to_owned();
    let bye = format!(
        "BYE sip:juliet@{endpoint} SIP/2.0\nVia: SIP/2.0/UDP {{peer}};branch=z9hG4bKfocusbye\n\
         Max-Forwards: 70\nFrom: {to};tag=focus1\nTo: {from}\nCall-ID: {call}\nCSeq: 2 BYE\n\
         Content-Length: 0\n\n",
        endpoint = world.endpoint_addr(),
        to = h("To"),
        from = h("From"),
        call = h("Call-ID"),
    );
    world.sip_in(&bye).await;
    assert_eq!(status(&response(&world).await), 200);
    let unsub = request(&world, "SUBSCRIBE").await;
    assert_eq!(unsub.header("Expires").as_deref(), Some("0"));
    world.sip_answer(&unsub, "200 OK", "Expires: 0\n").await;
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<presence from='{ROOM}/JuliC' to='{JULIET}' type='unavailable'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='none' role='none'/><status code='110'/></x></presence>"
        )
    );
    world
        .no_sip_out(std::time::Duration::from_millis(200))
        .await;
    // No one in it any more: disco#info is a SIP user's account again.
    world.stanza_in(&format!(
        "<iq from='{JULIET}' to='{ROOM}' type='get' id='d2'>\
         <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    ));
    let info = world.stanza_out().await;
    assert!(
        info.contains("<identity category='account' type='registered'/>"),
        "{info}"
    );
}

/// §5.1 with RFC 7247 §7.2 Table 3: the focus refusing the INVITE → the
/// MUC presence error, `by` the room.
#[tokio::test]
async fn rfc7702_5_1_refused_invite_is_a_presence_error() {
    for (code, reason, condition, kind) in [
        (403, "Forbidden", "forbidden", "auth"),
        (404, "Not Found", "item-not-found", "cancel"),
        (486, "Busy Here", "recipient-unavailable", "wait"),
    ] {
        let mut world = World::with("", CONFERENCE).await;
        world.stanza_in(&join_presence("JuliC"));
        let invite = request(&world, "INVITE").await;
        world
            .sip_answer(&invite, &format!("{code} {reason}"), "")
            .await;
        request(&world, "ACK").await;
        assert_eq!(
            world.stanza_out().await,
            format!(
                "<presence from='{ROOM}/JuliC' to='{JULIET}' type='error'>\
                 <error type='{kind}' by='{ROOM}'>\
                 <{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
            ),
            "{code}"
        );
    }
}

/// §5.7 (Examples 22–24): a mediated invitation → REFER in the INVITE
/// dialog with Refer-To the invitee; the focus's `Event: refer` NOTIFY
/// → 200 (the occupancy goes on); a REFER the focus refuses → the
/// invitation's error (RFC 7247 §7.2: 403 `<forbidden/>`).
#[tokio::test]
async fn rfc7702_5_7_invitation_is_a_refer_in_the_invite_dialog() {
    let Joined {
        mut world,
        invite,
        mut switch,
        ..
    } = join().await;
    let invitation = format!(
        "<message from='{JULIET}' id='nzd143v8' to='{ROOM}'>\
         <x xmlns='http://jabber.org/protocol/muc#user'><invite to='benvolio@example.com'/></x></message>"
    );
    world.stanza_in(&invitation);
    let refer = request(&world, "REFER").await;
    assert_eq!(refer.header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(
        refer.header("Refer-To").as_deref(),
        Some("<sip:benvolio@example.com>")
    );
    world.sip_answer(&refer, "202 Accepted", "").await;
    let h = |n: &str| invite.header(n).expect("a header").to_owned();
    let sipfrag = "SIP/2.0 100 Trying\r\n";
    let progress = format!(
        "NOTIFY sip:juliet@{endpoint} SIP/2.0\nVia: SIP/2.0/UDP {{peer}};branch=z9hG4bKrefer1\n\
         Max-Forwards: 70\nFrom: {to};tag=focus1\nTo: {from}\nCall-ID: {call}\nCSeq: 7 NOTIFY\n\
         Event: refer\nSubscription-State: terminated;reason=noresource\n\
         Content-Type: message/sipfrag;version=2.0\nContent-Length: {len}\n\n{sipfrag}",
        endpoint = world.endpoint_addr(),
        to = h("To"),
        from = h("From"),
        call = h("Call-ID"),
        len = sipfrag.len(),
    );
    world.sip_in(&progress).await;
    assert_eq!(status(&response(&world).await), 200);
    // Refused this time.
    world.stanza_in(&invitation);
    let refer = request(&world, "REFER").await;
    world.sip_answer(&refer, "403 Forbidden", "").await;
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<message from='{ROOM}' to='{JULIET}' id='nzd143v8' type='error'>\
             <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        )
    );
    // Still in: a message to all still goes (the refer subscription's
    // end is not the conference's).
    world.stanza_in(&format!(
        "<message from='{JULIET}' to='{ROOM}' type='groupchat'><body>on</body></message>"
    ));
    let send = request_frame(&mut switch).await;
    assert_eq!(send.method.as_deref(), Some("SEND"));
    assert!(send.text().ends_with("\r\n\r\non"), "{}", send.text());
}

/// A focus that accepts the SUBSCRIBE but sends no NOTIFY: the
/// self-presence (110) still comes, `conference.join_secs` later.
#[tokio::test]
async fn rfc7702_5_3_no_notify_in_time_still_gives_the_self_presence() {
    let Joined {
        mut world,
        switch: _switch,
        ..
    } = subscribed().await;
    world
        .no_stanza_out(std::time::Duration::from_millis(500))
        .await;
    let own = tokio::time::timeout(std::time::Duration::from_secs(2), world.stanza_out())
        .await
        .expect("the self-presence within join_secs");
    assert_eq!(own, occupant("JuliC", "<status code='110'/>"));
}

/// XEP-0045 §7.2.2: the focus lists the user's entity under another
/// nickname than the one asked → the self-presence from that nickname,
/// with 110 and 210.
#[tokio::test]
async fn rfc7702_5_4_a_nickname_the_focus_changed_gives_status_210() {
    let Joined {
        mut world,
        subscribe,
        switch: _switch,
        ..
    } = subscribed().await;
    let users = [
        user("sip:romeo@example.org", "Romeo"),
        user("sip:juliet@example.com", "Jules"),
    ]
    .concat();
    assert_eq!(
        notify_in(&mut world, &subscribe, 1, &roster(1, &users)).await,
        200
    );
    assert_eq!(world.stanza_out().await, occupant("Romeo", ""));
    assert_eq!(
        world.stanza_out().await,
        occupant("Jules", "<status code='110'/><status code='210'/>")
    );
}

/// RFC 7702 §5.4 Table 2: `<user/>` 'associated-aors' → "user full JID (if
/// avail.)". Example 9's Romeo lists `xmpp:romeo@example.org/dr4hcr0st3lup4c`:
/// his presence carries it as `<item jid/>` (Example 10 leaves it out, the
/// table maps it). A SIP AOR is no full JID: no `jid` for it.
#[tokio::test]
async fn rfc7702_5_4_table_2_an_xmpp_associated_aor_is_the_item_jid() {
    let Joined {
        mut world,
        subscribe,
        switch: _switch,
        ..
    } = subscribed().await;
    let aors =
        |uri: &str| format!("<associated-aors><entry><uri>{uri}</uri></entry></associated-aors>");
    let users = [
        format!(
            "<user entity='sip:montague@sip.example.net;gr=Romeo' state='full'>\
             <display-text>Romeo</display-text>{}</user>",
            aors("xmpp:romeo@example.org/dr4hcr0st3lup4c")
        ),
        format!(
            "<user entity='sip:ben@example.org' state='full'>\
             <display-text>Ben</display-text>{}</user>",
            aors("sip:ben@example.org")
        ),
        user("sip:juliet@example.com", "JuliC"),
    ]
    .concat();
    assert_eq!(
        notify_in(&mut world, &subscribe, 1, &roster(1, &users)).await,
        200
    );
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<presence from='{ROOM}/Romeo' to='{JULIET}'><x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='none' jid='romeo@example.org/dr4hcr0st3lup4c' role='participant'/></x></presence>"
        )
    );
    assert_eq!(world.stanza_out().await, occupant("Ben", ""));
    assert_eq!(
        world.stanza_out().await,
        occupant("JuliC", "<status code='110'/>")
    );
}

/// `conference.max_per_user` (1 here): a second conference is refused
/// with `<resource-constraint/>` (RFC 6120 §8.3.3.18, type wait) and no
/// INVITE goes out.
#[tokio::test]
async fn a_join_over_max_per_user_is_a_resource_constraint() {
    let Joined {
        mut world,
        switch: _switch,
        ..
    } = join().await;
    world.stanza_in(&format!(
        "<presence from='{JULIET}' to='capulet@sip.example.net/JuliC'>\
         <x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ));
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<presence from='capulet@sip.example.net/JuliC' to='{JULIET}' type='error'>\
             <error type='wait' by='capulet@sip.example.net'>\
             <resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
        )
    );
    world
        .no_sip_out(std::time::Duration::from_millis(200))
        .await;
}

/// RFC 3261 §12.2.2 in the subscription's dialog: a NOTIFY whose CSeq is
/// not above the last one is refused with 500 and changes nothing.
#[tokio::test]
async fn a_notify_out_of_cseq_order_is_refused_with_500() {
    let Joined {
        mut world,
        subscribe,
        switch: _switch,
        ..
    } = join().await;
    let stale = partial(2, &user("sip:tybalt@example.org", "Tybalt"));
    // CSeq 1 again, in a new transaction (another branch).
    let text = notify(&world, &subscribe, 1, "active;expires=600", &stale)
        .replace("branch=z9hG4bKn1", "branch=z9hG4bKstale1");
    world.sip_in(&text).await;
    assert_eq!(status(&response(&world).await), 500);
    world
        .no_stanza_out(std::time::Duration::from_millis(200))
        .await;
    assert_eq!(notify_in(&mut world, &subscribe, 2, &stale).await, 200);
    assert_eq!(world.stanza_out().await, occupant("Tybalt", ""));
}

/// §5.8 from the focus's side of the roster: a NOTIFY `terminated`
/// (RFC 6665 §4.1.3) → 200, then BYE and the unavailable self-presence.
#[tokio::test]
async fn a_terminated_conference_subscription_ends_the_occupancy() {
    let Joined {
        mut world,
        subscribe,
        switch: _switch,
        ..
    } = join().await;
    let text = notify(&world, &subscribe, 2, "terminated;reason=noresource", "");
    world.sip_in(&text).await;
    assert_eq!(status(&response(&world).await), 200);
    let bye = request(&world, "BYE").await;
    world.sip_answer(&bye, "200 OK", "").await;
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<presence from='{ROOM}/JuliC' to='{JULIET}' type='unavailable'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='none' role='none'/><status code='110'/></x></presence>"
        )
    );
}

/// §5.4 Example 11 (F15): a subject in the NOTIFY becomes a separate
/// message after the self-presence (XEP-0045 §7.2.15, `type='groupchat'`),
/// and a later document that changes it sends it again.
#[tokio::test]
async fn rfc7702_5_4_example_11_subject_becomes_a_subject_message() {
    let Joined {
        mut world,
        subscribe,
        switch: _switch,
        ..
    } = subscribed().await;
    let with_subject = |version: u32, subject: &str| {
        format!(
            "<?xml version='1.0' encoding='UTF-8'?>\
             <conference-info xmlns='urn:ietf:params:xml:ns:conference-info' \
             entity='{CONF_URI}' state='full' version='{version}'>\
             <conference-description><subject>{subject}</subject></conference-description>\
             <users>{}{}</users></conference-info>",
            user("sip:romeo@example.org", "Romeo"),
            user("sip:juliet@example.com", "JuliC"),
        )
    };
    assert_eq!(
        notify_in(
            &mut world,
            &subscribe,
            1,
            &with_subject(1, "Today in Verona")
        )
        .await,
        200
    );
    assert_eq!(world.stanza_out().await, occupant("Romeo", ""));
    assert_eq!(
        world.stanza_out().await,
        occupant("JuliC", "<status code='110'/>")
    );
    let subject = world.stanza_out().await;
    assert!(
        subject.starts_with(&format!(
            "<message from='{ROOM}' to='{JULIET}' id='parley-conf-"
        )) && subject.ends_with("' type='groupchat'><subject>Today in Verona</subject></message>"),
        "{subject}"
    );
    // The same subject again says nothing; a new one is sent.
    assert_eq!(
        notify_in(
            &mut world,
            &subscribe,
            2,
            &with_subject(2, "Today in Verona")
        )
        .await,
        200
    );
    assert_eq!(
        notify_in(
            &mut world,
            &subscribe,
            3,
            &with_subject(3, "Tomorrow in Mantua")
        )
        .await,
        200
    );
    let subject = world.stanza_out().await;
    assert!(
        subject.contains("<subject>Tomorrow in Mantua</subject>"),
        "{subject}"
    );
}
