//! The MSRP switch (RFC 7701 §4, §6, §7): SEND to the room goes to every
//! other participant, SEND to one participant goes to that one only,
//! NICKNAME reserves a nickname, responses and REPORTs as RFC 4975 §7
//! asks. Frames are read with the harness's own RFC 4975 reader
//! ([`crate::msrp_peer::split_frame`]).
//!
//! What it does not do: fast forwarding of first chunks (RFC 7701 §6.1
//! SHOULD): chunks are kept until the message is whole, bounded by
//! [`MAX_MESSAGE`]; RFC 7700 nickname preparation beyond case folding and
//! trimming; MSRP relays; TLS.

use super::conference_info::RosterChange;
use super::cpim::{self, CpimHead};
use super::sip::{aor_of, uri_param, user_of};
use super::state::{ConnId, Delivered, FocusState};
use crate::msrp_peer::MsrpFrame;

/// The largest message the switch reassembles; beyond it, 413 (RFC 4975
/// §10.5: "the receiver wishes the sender to stop sending the particular
/// message").
pub const MAX_MESSAGE: usize = 256 * 1024;
/// Messages being reassembled at once, per connection.
const MAX_PARTIAL: usize = 8;

/// Where a message goes, or why it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// To the room: every other participant (RFC 7701 §6.1).
    ToAll,
    /// To this one participant (by index) (RFC 7701 §6.2).
    Private(usize),
    /// Refused with this MSRP status.
    Refuse(u16, &'static str),
}

/// RFC 7701 §6.1–§6.3: where the message `head` sent by participant
/// `sender` goes.
pub(crate) fn route(state: &FocusState, sender: usize, head: Option<&CpimHead>) -> Route {
    // §6.3: "If the MSRP switch receives an MSRP SEND request that does not
    // contain a Message/CPIM wrapper, the MSRP switch MUST reject the
    // request with a 415 response".
    let Some(head) = head else {
        return Route::Refuse(415, "Unsupported Media Type");
    };
    // §6.3: a From that does not "belong" to the sender gets 403.
    let from_ok = head
        .from
        .as_deref()
        .is_some_and(|f| aor_of(f) == aor_of(&state.participants[sender].entry.uri));
    if !from_ok {
        return Route::Refuse(403, "Forbidden");
    }
    // §6.1: "If the MSRP switch receives a message containing several To
    // header fields in the Message/CPIM wrapper the MSRP switch MUST
    // reject the MSRP SEND request with a 403 response".
    let [to] = head.to.as_slice() else {
        return Route::Refuse(403, "Forbidden");
    };
    let to_room = user_of(to).is_some_and(|u| u == state.conference_user);
    let nick = uri_param(to, "gr");
    if to_room && nick.is_none() {
        return Route::ToAll;
    }
    if !state.private_messages_allowed {
        return Route::Refuse(403, "Forbidden");
    }
    // A participant's URI, or (RFC 7702 §5.5.2 Example 17) the room's URI
    // with the nickname as `gr`.
    let target = match (to_room, nick) {
        (true, Some(nick)) => state.participants.iter().position(|p| {
            p.entry
                .nickname
                .as_deref()
                .is_some_and(|n| prepare(n) == prepare(&nick))
        }),
        _ => state.participant(to),
    };
    // §6.2: "If this To header field does not contain the URI of a
    // participant of the chat room … the MSRP switch MUST reject the
    // request with a 404 response."
    let Some(target) = target.filter(|t| *t != sender) else {
        return Route::Refuse(404, "Not Found");
    };
    // §6.2: "If the recipient does not support private messages, the MSRP
    // switch MUST reject the request with a 428 response."
    let takes_private = state.participants[target]
        .remote
        .as_ref()
        .is_none_or(|r| r.offer.takes_private_messages());
    if !takes_private {
        return Route::Refuse(428, "Private Messages Not Supported");
    }
    Route::Private(target)
}

/// RFC 7701 §7.1: whether participant `who` may take the nickname in a
/// `Use-Nickname` value; `Ok(None)` removes it (§7.3).
pub(crate) fn decide_nickname(
    state: &FocusState,
    who: usize,
    use_nickname: Option<&str>,
) -> Result<Option<String>, (u16, &'static str)> {
    // §7.1: "If not allowed, the MSRP switch MUST reject the request with a
    // 403 response".
    if !state.nicknames_allowed {
        return Err((403, "Forbidden"));
    }
    // §7.1: "If the NICKNAME request contains a malformed value in the
    // Use-Nickname header field, the MSRP switch MUST answer the NICKNAME
    // request with a 424 response code." The syntax: DQUOTE 1*1023(qdtext
    // / qd-esc) DQUOTE.
    let malformed = (424, "Malformed nickname");
    let value = use_nickname.ok_or(malformed)?;
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or(malformed)?;
    let nickname = unescape(inner).ok_or(malformed)?;
    if nickname.is_empty() {
        // §7.3: "The nickname element of the Use-Nickname header MUST be
        // set to an empty quoted string."
        return Ok(None);
    }
    if inner.len() > 1023
        || nickname.chars().any(|c| c.is_control() && c != '\t')
        || nickname.trim().is_empty()
    {
        return Err(malformed);
    }
    // §7.1: "if … that particular value is already in use by another
    // user … the MSRP switch MUST answer the NICKNAME request with a 425".
    let wanted = prepare(&nickname);
    let me = aor_of(&state.participants[who].entry.uri);
    let taken = state.participants.iter().any(|p| {
        aor_of(&p.entry.uri) != me
            && p.entry
                .nickname
                .as_deref()
                .is_some_and(|n| prepare(n) == wanted)
    });
    if taken || wanted == prepare(&state.conference_user) {
        return Err((425, "Nickname reserved or already in use"));
    }
    Ok(Some(nickname))
}

/// Nickname comparison. RFC 7701 §7.1 asks for RFC 7700's preparation and
/// comparison; this is a reduction of it (case folding and whitespace, no
/// Unicode normalization), enough for the harness's tests.
fn prepare(nickname: &str) -> String {
    nickname
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// RFC 4975 §9 quoted-string: `qd-esc = (BACKSLASH BACKSLASH) /
/// (BACKSLASH DQUOTE)`; a bare DQUOTE is not qdtext.
fn unescape(inner: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                c @ ('\\' | '"') => out.push(c),
                _ => return None,
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Deliver the message `body` (a whole Message/CPIM) from `sender` along
/// `route`: a copy per recipient, the content unmodified (RFC 7701 §6.1).
pub(crate) fn deliver(state: &mut FocusState, sender: usize, route: &Route, body: &[u8]) -> usize {
    let Some(head) = cpim::parse(body) else {
        return 0;
    };
    let recipients: Vec<usize> = match route {
        Route::ToAll => (0..state.participants.len())
            .filter(|i| *i != sender)
            .collect(),
        Route::Private(i) => vec![*i],
        Route::Refuse(..) => return 0,
    };
    let wrapped = head
        .content_type
        .clone()
        .unwrap_or_else(|| "text/plain".into());
    let mut delivered = 0;
    for i in recipients {
        let Some(remote) = state.participants[i].remote.as_ref() else {
            state.participants[i].inbox.push(Delivered {
                from: head.from.clone().unwrap_or_default(),
                to: head.to.first().cloned().unwrap_or_default(),
                private: matches!(route, Route::Private(_)),
                content_type: head.content_type.clone(),
                text: String::from_utf8_lossy(&head.content).into_owned(),
            });
            delivered += 1;
            continue;
        };
        // §6.1: "If the MSRP switch is aware that the media type of the
        // wrapped content is not acceptable to the recipient, the MSRP
        // switch SHOULD NOT forward this message to that endpoint."
        if matches!(route, Route::ToAll) && !remote.offer.accepts_wrapped(&wrapped) {
            continue;
        }
        let Some(conn) = remote.conn else {
            continue;
        };
        let to_path = remote.offer.path.join(" ");
        let from_path = state.msrp_uri(&remote.session_id.clone());
        let tid = state.token("sw");
        let message_id = state.token("m");
        let total = body.len();
        let mut frame = format!(
            "MSRP {tid} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\nMessage-ID: {message_id}\r\n\
             Byte-Range: 1-{total}/{total}\r\nContent-Type: message/cpim\r\n\r\n"
        )
        .into_bytes();
        frame.extend_from_slice(body);
        frame.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
        if write(state, conn, frame) {
            delivered += 1;
        }
    }
    delivered
}

/// Queue bytes on a connection; a full queue drops them (RFC 7701 §6.4:
/// the switch "MAY discard regular MSRP messages sent to that user while
/// the congestion flag is raised").
pub(crate) fn write(state: &FocusState, conn: ConnId, bytes: Vec<u8>) -> bool {
    state
        .conns
        .get(&conn)
        .is_some_and(|tx| tx.try_send(bytes).is_ok())
}

/// Handle one frame that arrived on connection `conn`.
pub(crate) fn handle_frame(state: &mut FocusState, conn: ConnId, frame: &MsrpFrame) {
    let Some(method) = frame.method.as_deref() else {
        // Responses to our SENDs: RFC 7701 §6.3 "The receiver reports from
        // the recipients MUST NOT be forwarded to the originator".
        return;
    };
    if method == "REPORT" {
        // RFC 4975 §7.1.2: "MSRP nodes MUST NOT send MSRP responses to
        // REPORT requests."
        return;
    }
    // The session is named by the last URI of To-Path, the switch's own.
    let session = frame
        .header("To-Path")
        .and_then(|p| p.split(' ').next_back())
        .and_then(|uri| uri.strip_prefix("msrp://"))
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, path)| path.split(';').next().unwrap_or(path).to_owned());
    let sender = session.as_deref().and_then(|s| {
        state.participants.iter().position(|p| {
            p.remote
                .as_ref()
                .is_some_and(|r| r.session_id == s && r.conn.is_none_or(|c| c == conn))
        })
    });
    let Some(sender) = sender else {
        // RFC 4975 §10.8: "A 481 response indicates that the indicated
        // session does not exist."
        respond(state, conn, frame, None, 481, "Session Does Not Exist");
        return;
    };
    if let Some(remote) = state.participants[sender].remote.as_mut() {
        remote.conn = Some(conn);
    }
    match method {
        "SEND" => send(state, conn, sender, frame),
        "NICKNAME" => {
            let decision = decide_nickname(state, sender, frame.header("Use-Nickname"));
            match decision {
                Ok(nickname) => {
                    respond(state, conn, frame, Some(sender), 200, "OK");
                    let p = &mut state.participants[sender];
                    if p.entry.nickname != nickname {
                        p.entry.nickname = nickname;
                        let confirmed = p.remote.as_ref().is_none_or(|r| r.confirmed);
                        let entry = p.entry.clone();
                        if confirmed {
                            state.roster_changed(RosterChange::Renamed(entry));
                        }
                    }
                }
                Err((status, comment)) => {
                    respond(state, conn, frame, Some(sender), status, comment)
                }
            }
        }
        // RFC 4975 §12: "If an MSRP device receives a request with an
        // unknown method, it MUST return a 501 response."
        _ => respond(state, conn, frame, Some(sender), 501, "Not Implemented"),
    }
}

fn send(state: &mut FocusState, conn: ConnId, sender: usize, frame: &MsrpFrame) {
    let failure_report = frame
        .header("Failure-Report")
        .unwrap_or("yes")
        .to_ascii_lowercase();
    let answer = |state: &mut FocusState, status: u16, comment: &str| {
        // RFC 4975 §7.1.4: "no": no response at all; "partial": no 200.
        let quiet = failure_report == "no" || (failure_report == "partial" && status == 200);
        if !quiet {
            respond(state, conn, frame, Some(sender), status, comment);
        }
    };
    let Some(message_id) = frame.header("Message-ID").map(str::to_owned) else {
        answer(state, 400, "Bad Request");
        return;
    };
    let key = (conn, message_id.clone());
    let mut body = state.chunks.remove(&key).unwrap_or_default();
    body.extend_from_slice(&frame.body);
    if body.len() > MAX_MESSAGE {
        // RFC 4975 §10.5: "A 413 response indicates that the receiver
        // wishes the sender to stop sending the particular message."
        answer(state, 413, "Message Too Large");
        return;
    }
    match frame.flag {
        '#' => return,
        '+' => {
            if state.chunks.keys().filter(|(c, _)| *c == conn).count() >= MAX_PARTIAL {
                answer(state, 413, "Message Too Large");
                return;
            }
            state.chunks.insert(key, body);
            answer(state, 200, "OK");
            return;
        }
        _ => {}
    }
    if body.is_empty() {
        // RFC 4975 §5.4: the active endpoint's first SEND "MAY have no body
        // at all" (RFC 7702 §5.1 F6).
        answer(state, 200, "OK");
        return;
    }
    let is_cpim = frame.header("Content-Type").is_some_and(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("message/cpim")
    });
    let head = if is_cpim { cpim::parse(&body) } else { None };
    let route = route(state, sender, head.as_ref());
    if let Route::Refuse(status, comment) = route {
        answer(state, status, comment);
        return;
    }
    answer(state, 200, "OK");
    deliver(state, sender, &route, &body);
    // RFC 4975 §7.1.3: "When an endpoint receives a message in one or more
    // chunks that contain a Success-Report value of "yes", it MUST send a
    // success report"; RFC 7701 §6.3 has the switch act as that endpoint.
    if frame
        .header("Success-Report")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    {
        let to_path = frame.header("From-Path").unwrap_or_default().to_owned();
        let from_path = session_uri(state, sender);
        let tid = state.token("r");
        let total = body.len();
        let report = format!(
            "MSRP {tid} REPORT\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\nMessage-ID: {message_id}\r\n\
             Byte-Range: 1-{total}/{total}\r\nStatus: 000 200 OK\r\n-------{tid}$\r\n"
        );
        write(state, conn, report.into_bytes());
    }
}

fn session_uri(state: &FocusState, who: usize) -> String {
    let session = state.participants[who]
        .remote
        .as_ref()
        .map(|r| r.session_id.clone())
        .unwrap_or_default();
    state.msrp_uri(&session)
}

/// RFC 4975 §7.2: "If the request triggering the response was a SEND
/// request, the To-Path header field is formed by copying the first
/// (leftmost) URI in the From-Path header field of the request. … For
/// responses to all other request methods, the To-Path header field
/// contains the full path back to the original sender."
fn respond(
    state: &FocusState,
    conn: ConnId,
    frame: &MsrpFrame,
    who: Option<usize>,
    status: u16,
    comment: &str,
) {
    let from = frame.header("From-Path").unwrap_or_default();
    let to = if frame.method.as_deref() == Some("SEND") {
        from.split(' ').next().unwrap_or_default()
    } else {
        from
    };
    let from_path = match who {
        Some(w) => session_uri(state, w),
        None => frame
            .header("To-Path")
            .and_then(|p| p.split(' ').next_back())
            .unwrap_or_default()
            .to_owned(),
    };
    let id = &frame.transaction_id;
    let out = format!(
        "MSRP {id} {status} {comment}\r\nTo-Path: {to}\r\nFrom-Path: {from_path}\r\n-------{id}$\r\n"
    );
    write(state, conn, out.into_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conference_focus::FocusOptions;
    use crate::conference_focus::conference_info::RosterEntry;
    use crate::conference_focus::state::Participant;

    const ROOM: &str = "sip:chatroom22@chat.example.com";

    /// RFC 7701 §9's chat room with Alice and Bob, both simulated.
    fn room() -> FocusState {
        let mut options = FocusOptions::new("chatroom22");
        options.domain = Some("chat.example.com".into());
        let addr = "127.0.0.1:1".parse().expect("an address");
        let mut state = FocusState::new(options, addr, addr);
        for (uri, nick) in [
            ("sip:alice@atlanta.example.com", "Alice the great"),
            ("sip:bob@example.com", "Dopey Donkey"),
        ] {
            state.participants.push(Participant {
                entry: RosterEntry {
                    uri: uri.into(),
                    nickname: Some(nick.into()),
                    display_name: None,
                    simulated: true,
                },
                remote: None,
                inbox: Vec::new(),
            });
        }
        state
    }

    fn head(from: &str, to: &[&str]) -> CpimHead {
        CpimHead {
            to: to.iter().map(|t| t.to_string()).collect(),
            from: Some(from.into()),
            content_type: Some("text/plain".into()),
            content: b"hi".to_vec(),
        }
    }

    #[test]
    fn rfc7701_9_3_to_the_room_goes_to_all() {
        let state = room();
        let h = head(
            "sip:alice@atlanta.example.com",
            &["sip:chatroom22@chat.example.com;transport=tcp"],
        );
        assert_eq!(route(&state, 0, Some(&h)), Route::ToAll);
    }

    #[test]
    fn rfc7701_9_4_to_bob_goes_to_bob() {
        let state = room();
        let h = head("sip:alice@example.com", &["sip:bob@example.com"]);
        // §9.4's From is sip:alice@example.com, not the AOR she joined
        // with (atlanta.example.com): that is someone else's URI, 403.
        assert_eq!(route(&state, 0, Some(&h)), Route::Refuse(403, "Forbidden"));
        let h = head("sip:alice@atlanta.example.com", &["sip:bob@example.com"]);
        assert_eq!(route(&state, 0, Some(&h)), Route::Private(1));
        let by_nick = format!("{ROOM};gr=dopey donkey");
        let h = head("sip:alice@atlanta.example.com", &[by_nick.as_str()]);
        assert_eq!(route(&state, 0, Some(&h)), Route::Private(1));
    }

    #[test]
    fn rfc7701_6_refusals() {
        let mut state = room();
        let alice = "sip:alice@atlanta.example.com";
        assert_eq!(
            route(&state, 0, None),
            Route::Refuse(415, "Unsupported Media Type")
        );
        let two = head(alice, &["sip:bob@example.com", ROOM]);
        assert_eq!(
            route(&state, 0, Some(&two)),
            Route::Refuse(403, "Forbidden")
        );
        let unknown = head(alice, &["sip:carol@example.com"]);
        assert_eq!(
            route(&state, 0, Some(&unknown)),
            Route::Refuse(404, "Not Found")
        );
        let to_self = head(alice, &[alice]);
        assert_eq!(
            route(&state, 0, Some(&to_self)),
            Route::Refuse(404, "Not Found")
        );
        state.private_messages_allowed = false;
        let private = head(alice, &["sip:bob@example.com"]);
        assert_eq!(
            route(&state, 0, Some(&private)),
            Route::Refuse(403, "Forbidden")
        );
    }

    #[test]
    fn rfc7701_7_1_nickname_decisions() {
        let mut state = room();
        assert_eq!(
            decide_nickname(&state, 0, Some("\"dopey  DONKEY\"")),
            Err((425, "Nickname reserved or already in use"))
        );
        assert_eq!(
            decide_nickname(&state, 0, Some("\"chatroom22\"")),
            Err((425, "Nickname reserved or already in use"))
        );
        assert_eq!(
            decide_nickname(&state, 0, Some("\"Alice the great\"")),
            Ok(Some("Alice the great".into()))
        );
        assert_eq!(
            decide_nickname(&state, 0, Some("\"\"")),
            Ok(None),
            "§7.3 removes it"
        );
        for bad in [None, Some("Alice"), Some("\"a\u{7}b\""), Some("\"a\\xb\"")] {
            assert_eq!(
                decide_nickname(&state, 0, bad),
                Err((424, "Malformed nickname")),
                "{bad:?}"
            );
        }
        let long = format!("\"{}\"", "n".repeat(1024));
        assert_eq!(
            decide_nickname(&state, 0, Some(&long)),
            Err((424, "Malformed nickname"))
        );
        state.nicknames_allowed = false;
        assert_eq!(
            decide_nickname(&state, 0, Some("\"x\"")),
            Err((403, "Forbidden"))
        );
    }

    #[test]
    fn quoted_nicknames_unescape() {
        assert_eq!(
            unescape(r#"Alice \"the\" great"#).as_deref(),
            Some("Alice \"the\" great")
        );
        assert_eq!(unescape("a\"b"), None);
        assert_eq!(prepare("  Alice   The Great "), "alice the great");
    }
}
