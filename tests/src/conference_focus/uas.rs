//! The focus as a SIP UAS over UDP: INVITE (RFC 7701 §5.2, §9.1; RFC 4579
//! §4.2 `isfocus`), ACK, BYE, SUBSCRIBE to the conference event (RFC 4575
//! §3, RFC 6665 §4.2), OPTIONS (RFC 4579 §4.3), and the responses to its
//! own NOTIFYs. Retransmitted requests get the answer they got before
//! (RFC 3261 §17.2), without being handled twice.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::conference_info::{RosterChange, RosterEntry};
use super::sdp::{self, Setup};
use super::sip::{self, SipMessage, SipParseError, StartLine, param, uri_of};
use super::state::{
    FocusState, MAX_LOG, MAX_SUBSCRIPTIONS, Participant, Remote, Resend, SipEvent, Subscription,
};

/// RFC 4575 §3.3: "The default expiration time for a subscription to a
/// conference is one hour."
const DEFAULT_EXPIRES: u64 = 3600;

const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS, BYE, SUBSCRIBE, NOTIFY, REFER";

/// Handle one datagram from `from`.
pub(crate) fn handle_datagram(state: &mut FocusState, bytes: &[u8], from: SocketAddr) {
    let message = match SipMessage::parse(bytes) {
        Ok(m) => m,
        // RFC 3261 §18.3: a request whose body is cut short "SHOULD
        // generate a 400 (Bad Request) response".
        Err(SipParseError::BodyCut(cut)) => {
            if cut.status().is_none() && cut.header("Via").is_some() {
                reply(
                    state,
                    &cut,
                    from,
                    Answer::new(400, "Body Shorter Than Content-Length"),
                );
            }
            return;
        }
        // Not SIP: nothing to answer (no Via to answer to).
        Err(_) => return,
    };
    if state.log.len() < MAX_LOG {
        state.log.push(SipEvent {
            from,
            message: message.clone(),
        });
    }
    match &message.start {
        StartLine::Response { status, .. } => match (message.header("Call-ID"), message.cseq()) {
            (Some(call_id), Some((cseq, "NOTIFY"))) => {
                state.notify_answered(call_id, cseq, *status)
            }
            (Some(call_id), Some((cseq, _))) => state.request_answered(call_id, cseq, *status),
            _ => {}
        },
        StartLine::Request { method, .. } => {
            let method = method.clone();
            handle_request(state, &message, &method, from);
        }
    }
}

fn handle_request(state: &mut FocusState, request: &SipMessage, method: &str, from: SocketAddr) {
    let (Some(call_id), Some((cseq, _)), Some(_via), Some(_from), Some(_to)) = (
        request.header("Call-ID"),
        request.cseq(),
        request.header("Via"),
        request.header("From"),
        request.header("To"),
    ) else {
        // RFC 3261 §8.1.1: these are mandatory; without Via there is
        // nowhere to send a 400.
        if request.header("Via").is_some() {
            reply(
                state,
                request,
                from,
                Answer::new(400, "Missing Header Field"),
            );
        }
        return;
    };
    let key = (call_id.to_owned(), cseq.to_string(), method.to_owned());
    if method != "ACK"
        && let Some((_, to, bytes)) = state.answered.iter().find(|(k, _, _)| *k == key)
    {
        let (to, bytes) = (*to, bytes.clone());
        state.udp_out.push((to, bytes));
        return;
    }
    match method {
        "INVITE" => invite(state, request, from),
        "ACK" => ack(state, request),
        "BYE" => bye(state, request, from),
        "SUBSCRIBE" => subscribe(state, request, from),
        "REFER" => refer(state, request, from),
        "OPTIONS" => {
            // RFC 4579 §4.3: "A focus MUST include the 'isfocus' feature
            // parameter in a 200 OK response to an OPTIONS".
            let answer = Answer::new(200, "OK")
                .header("Contact", format!("<{}>;isfocus", state.contact_uri))
                .header("Allow", ALLOW)
                .header("Allow-Events", "conference");
            reply(state, request, from, answer);
        }
        "CANCEL" => {
            reply(
                state,
                request,
                from,
                Answer::new(481, "Call/Transaction Does Not Exist"),
            );
        }
        _ => {
            reply(
                state,
                request,
                from,
                Answer::new(405, "Method Not Allowed").header("Allow", ALLOW),
            );
        }
    }
}

/// A response to send: status, reason, and what goes beyond the copied headers.
struct Answer {
    status: u16,
    reason: &'static str,
    to_tag: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn new(status: u16, reason: &'static str) -> Answer {
        Answer {
            status,
            reason,
            to_tag: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn tag(mut self, tag: &str) -> Answer {
        self.to_tag = Some(tag.to_owned());
        self
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Answer {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn body(mut self, body: Vec<u8>) -> Answer {
        self.body = body;
        self
    }
}

/// Send a response, remember it for retransmissions of the request.
fn reply(
    state: &mut FocusState,
    request: &SipMessage,
    from: SocketAddr,
    answer: Answer,
) -> Vec<u8> {
    let tag = answer.to_tag.unwrap_or_else(|| state.token("t"));
    let mut response = request.response(answer.status, answer.reason, &tag);
    response.headers.extend(answer.headers);
    response.body = answer.body;
    let bytes = response.to_bytes();
    let to = response_target(request, from);
    state.udp_out.push((to, bytes.clone()));
    if answer.status >= 200
        && let (Some(call_id), Some((cseq, method))) = (request.header("Call-ID"), request.cseq())
    {
        let key = (call_id.to_owned(), cseq.to_string(), method.to_owned());
        state.answered.push_back((key, to, bytes.clone()));
        if state.answered.len() > 256 {
            state.answered.pop_front();
        }
    }
    bytes
}

/// RFC 3261 §18.2.2 and RFC 3581: over UDP, responses go back to the
/// source (the harness never sits behind a NAT, so "received"/"rport"
/// and the source agree).
fn response_target(_request: &SipMessage, from: SocketAddr) -> SocketAddr {
    from
}

/// Where in-dialog requests go: the Contact URI when it names an IP and
/// port (RFC 3261 §12.1.1 remote target), else the request's source.
fn remote_target(request: &SipMessage, from: SocketAddr) -> (String, SocketAddr) {
    let contact = request.header("Contact").map(uri_of).map(str::to_owned);
    let socket = contact.as_deref().and_then(sip::socket_of).unwrap_or(from);
    let uri = contact.unwrap_or_else(|| format!("sip:{from}"));
    (uri, socket)
}

fn invite(state: &mut FocusState, request: &SipMessage, from: SocketAddr) {
    let from_header = request.header("From").unwrap_or_default().to_owned();
    let call_id = request.header("Call-ID").unwrap_or_default().to_owned();
    if param(request.header("To").unwrap_or_default(), "tag").is_some() {
        // A re-INVITE: the focus offers no session changes.
        reply(
            state,
            request,
            from,
            Answer::new(488, "Not Acceptable Here"),
        );
        return;
    }
    reply(state, request, from, Answer::new(100, "Trying"));
    let is_sdp = request
        .header("Content-Type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/sdp"));
    let offer = match is_sdp.then(|| sdp::parse_offer(&String::from_utf8_lossy(&request.body))) {
        Some(Ok(offer)) => offer,
        // RFC 7701 §5.2: an offer without Message/CPIM in accept-types is
        // refused, "responding the INVITE with a 488 response"; the
        // Warning (RFC 3261 §20.43, 399 miscellaneous) says why.
        refused => {
            let why = match refused {
                Some(Err(refusal)) => refusal.kind(),
                _ => "no_sdp_offer",
            };
            let warning = format!("399 {} \"{why}\"", state.sip_addr);
            let answer = Answer::new(488, "Not Acceptable Here").header("Warning", warning);
            reply(state, request, from, answer);
            return;
        }
    };
    let uri = uri_of(&from_header).to_owned();
    if state.participant(&uri).is_some() {
        // One session per participant URI: this focus's policy does not
        // allow simultaneous access (RFC 7701 §4.1).
        reply(state, request, from, Answer::new(486, "Busy Here"));
        return;
    }
    let local_tag = state.token("focus");
    let session_id = state.token("s");
    let (target_uri, target) = remote_target(request, from);
    let our_uri = state.msrp_uri(&session_id);
    let setup = offer.answer_setup();
    let mut chatroom = Vec::new();
    if state.nicknames_allowed {
        chatroom.push("nickname");
    }
    if state.private_messages_allowed {
        chatroom.push("private-messages");
    }
    let answer = sdp::answer(state.msrp_addr.port(), &our_uri, setup, &chatroom.join(" "));
    if setup == Setup::Active {
        // RFC 4975 §5.4: connect to the first URI of the peer's path.
        if let Some(addr) = offer.path.first().and_then(|u| msrp_socket(u)) {
            state.connect_out.push((session_id.clone(), addr));
        }
    }
    state.participants.push(Participant {
        entry: RosterEntry {
            uri,
            nickname: None,
            display_name: sip::display_name_of(&from_header),
            simulated: false,
        },
        remote: Some(Remote {
            offer,
            session_id,
            conn: None,
            call_id: call_id.clone(),
            local_tag: local_tag.clone(),
            peer: from_header.clone(),
            target_uri,
            target,
            confirmed: false,
        }),
        inbox: Vec::new(),
    });
    // RFC 4579 §4.2: "a focus MUST include the 'isfocus' feature parameter
    // in the Contact header field"; RFC 7701 §9.1 F2 lists the methods and
    // the conference event.
    let answer = Answer::new(200, "OK")
        .tag(&local_tag)
        .header("Contact", format!("<{}>;isfocus", state.contact_uri))
        .header("Allow", ALLOW)
        .header("Allow-Events", "conference")
        .header("Content-Type", "application/sdp")
        .body(answer.into_bytes());
    let ok = reply(state, request, from, answer);
    let (t1, now) = (state.t1, Instant::now());
    state
        .unacked
        .insert(call_id, Resend::new(from, ok, now, t1));
}

fn msrp_socket(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("msrp://")?;
    let authority = rest.split(['/', ';']).next()?;
    let hostport = authority.rsplit('@').next()?;
    hostport.parse().ok()
}

/// RFC 3261 §13.3.1.4: the ACK stops the 2xx retransmissions; the
/// participant is now connected (RFC 4575 §3.6).
fn ack(state: &mut FocusState, request: &SipMessage) {
    let call_id = request.header("Call-ID").unwrap_or_default();
    if state.unacked.remove(call_id).is_none() {
        return;
    }
    let Some(i) = state.participants.iter().position(|p| {
        p.remote
            .as_ref()
            .is_some_and(|r| r.call_id == call_id && !r.confirmed)
    }) else {
        return;
    };
    if let Some(remote) = state.participants[i].remote.as_mut() {
        remote.confirmed = true;
    }
    let entry = state.participants[i].entry.clone();
    state.roster_changed(RosterChange::Joined(entry));
}

fn bye(state: &mut FocusState, request: &SipMessage, from: SocketAddr) {
    let call_id = request.header("Call-ID").unwrap_or_default().to_owned();
    let Some(i) = state
        .participants
        .iter()
        .position(|p| p.remote.as_ref().is_some_and(|r| r.call_id == call_id))
    else {
        reply(
            state,
            request,
            from,
            Answer::new(481, "Call/Transaction Does Not Exist"),
        );
        return;
    };
    reply(state, request, from, Answer::new(200, "OK"));
    state.unacked.remove(&call_id);
    // Leaving ends the leaver's subscriptions too (see `remove_participant`).
    state.remove_participant(i);
}

fn subscribe(state: &mut FocusState, request: &SipMessage, from: SocketAddr) {
    // RFC 6665 §4.2.1.1: an event package the notifier does not know gets
    // 489 (Bad Event); RFC 4575 §3.1 names this one "conference".
    let event = request.header("Event").unwrap_or_default().to_owned();
    let package = event.split(';').next().unwrap_or_default().trim();
    if !package.eq_ignore_ascii_case("conference") {
        let answer = Answer::new(489, "Bad Event").header("Allow-Events", "conference");
        reply(state, request, from, answer);
        return;
    }
    // RFC 4575 §3.4: "If the Accept header field is present, it MUST
    // include "application/conference-info+xml""; RFC 6665 §4.2.1.1:
    // otherwise "the proper error response is 406 (Not Acceptable)".
    if let Some(accept) = request.header("Accept") {
        let ok = accept.split(',').any(|t| {
            let t = t
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            t == "application/conference-info+xml" || t == "application/*" || t == "*/*"
        });
        if !ok {
            reply(state, request, from, Answer::new(406, "Not Acceptable"));
            return;
        }
    }
    let expires = match request.header("Expires").map(str::parse::<u64>) {
        None => DEFAULT_EXPIRES,
        Some(Ok(e)) => e.min(DEFAULT_EXPIRES),
        Some(Err(_)) => {
            reply(state, request, from, Answer::new(400, "Bad Expires"));
            return;
        }
    };
    let call_id = request.header("Call-ID").unwrap_or_default().to_owned();
    let remote = request.header("From").unwrap_or_default().to_owned();
    let to_tag = param(request.header("To").unwrap_or_default(), "tag");
    let id = param(&event, "id");
    let existing = to_tag.as_ref().and_then(|tag| {
        state.subscriptions.iter().position(|s| {
            s.call_id == call_id && s.local_tag == *tag && param(&s.event, "id") == id && !s.ending
        })
    });
    // A SUBSCRIBE inside an INVITE dialog (RFC 7702 §5.3 Example 7 sends
    // it with the INVITE's To tag) starts a subscription in that dialog.
    let in_invite_dialog = to_tag.as_ref().is_some_and(|tag| {
        state.participants.iter().any(|p| {
            p.remote
                .as_ref()
                .is_some_and(|r| r.call_id == call_id && r.local_tag == *tag)
        })
    });
    if to_tag.is_some() && existing.is_none() && !in_invite_dialog {
        reply(
            state,
            request,
            from,
            Answer::new(481, "Subscription Does Not Exist"),
        );
        return;
    }
    let now = Instant::now();
    let i = match existing {
        Some(i) => {
            state.subscriptions[i].expires_at = now + Duration::from_secs(expires);
            i
        }
        None => {
            if state.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                reply(
                    state,
                    request,
                    from,
                    Answer::new(503, "Service Unavailable"),
                );
                return;
            }
            let local_tag = to_tag.unwrap_or_else(|| state.token("focus"));
            let (target_uri, target) = remote_target(request, from);
            state.subscriptions.push(Subscription {
                call_id,
                local_tag,
                remote,
                subscriber: uri_of(request.header("From").unwrap_or_default()).to_owned(),
                target_uri,
                target,
                event: event.clone(),
                expires_at: now + Duration::from_secs(expires),
                outbox: Default::default(),
                in_flight: None,
                ending: false,
            });
            state.subscriptions.len() - 1
        }
    };
    let tag = state.subscriptions[i].local_tag.clone();
    let answer = Answer::new(200, "OK")
        .tag(&tag)
        .header("Contact", format!("<{}>;isfocus", state.contact_uri))
        .header("Expires", expires.to_string());
    reply(state, request, from, answer);
    // RFC 6665 §4.2.2: "When a SUBSCRIBE request is answered with a
    // 200-class response, the notifier MUST immediately construct and send
    // a NOTIFY request"; RFC 4575 §3.2: with the full state. Expires 0
    // (§4.2.1.4) ends it with that NOTIFY, reason "timeout".
    let body = state.full_document().into_bytes();
    state.enqueue_with(
        i,
        body,
        "application/conference-info+xml",
        expires == 0,
        "timeout",
    );
}

/// RFC 4579 §5.5: "To request that the focus add a new information
/// resource to the specified conference, any SIP UA can send a REFER to the
/// conference URI with a Refer-To containing the URI of the new resource."
/// As its Figure 5: 202 Accepted, NOTIFY (Trying), the focus "dials out",
/// NOTIFY (OK). The harness's dial-out adds the referred URI as a
/// simulated participant, its user part as nickname.
fn refer(state: &mut FocusState, request: &SipMessage, from: SocketAddr) {
    let refer_to = request.headers_named("Refer-To");
    let [refer_to] = refer_to.as_slice() else {
        reply(
            state,
            request,
            from,
            Answer::new(400, "Exactly One Refer-To"),
        );
        return;
    };
    let invitee = uri_of(refer_to).to_owned();
    if !invitee.starts_with("sip:") && !invitee.starts_with("sips:") {
        reply(
            state,
            request,
            from,
            Answer::new(416, "Unsupported URI Scheme"),
        );
        return;
    }
    let call_id = request.header("Call-ID").unwrap_or_default().to_owned();
    let to_tag = param(request.header("To").unwrap_or_default(), "tag");
    let known = to_tag.as_ref().is_none_or(|tag| {
        let in_invite = state.participants.iter().any(|p| {
            p.remote
                .as_ref()
                .is_some_and(|r| r.call_id == call_id && r.local_tag == *tag)
        });
        in_invite
            || state
                .subscriptions
                .iter()
                .any(|s| s.call_id == call_id && s.local_tag == *tag)
    });
    if !known {
        reply(
            state,
            request,
            from,
            Answer::new(481, "Call/Transaction Does Not Exist"),
        );
        return;
    }
    if state.subscriptions.len() >= MAX_SUBSCRIPTIONS {
        reply(
            state,
            request,
            from,
            Answer::new(503, "Service Unavailable"),
        );
        return;
    }
    let local_tag = to_tag.unwrap_or_else(|| state.token("focus"));
    let (target_uri, target) = remote_target(request, from);
    let event = format!("refer;id={}", request.cseq().map_or(0, |(n, _)| n));
    state.subscriptions.push(Subscription {
        call_id,
        local_tag: local_tag.clone(),
        remote: request.header("From").unwrap_or_default().to_owned(),
        subscriber: uri_of(request.header("From").unwrap_or_default()).to_owned(),
        target_uri,
        target,
        event: event.clone(),
        expires_at: Instant::now() + Duration::from_secs(60),
        outbox: Default::default(),
        in_flight: None,
        ending: false,
    });
    let answer = Answer::new(202, "Accepted")
        .tag(&local_tag)
        .header("Contact", format!("<{}>;isfocus", state.contact_uri));
    reply(state, request, from, answer);
    let refer_subscription = |state: &FocusState| {
        state
            .subscriptions
            .iter()
            .position(|s| s.event == event && s.local_tag == local_tag)
    };
    if let Some(i) = refer_subscription(state) {
        state.enqueue(i, b"SIP/2.0 100 Trying\r\n".to_vec(), SIPFRAG, false);
    }
    if state.participant(&invitee).is_none() {
        let nickname = sip::user_of(&invitee).map(str::to_owned);
        let entry = RosterEntry {
            uri: invitee,
            nickname,
            display_name: None,
            simulated: true,
        };
        state.participants.push(Participant {
            entry: entry.clone(),
            remote: None,
            inbox: Vec::new(),
        });
        state.roster_changed(RosterChange::Joined(entry));
    }
    if let Some(i) = refer_subscription(state) {
        state.enqueue(i, b"SIP/2.0 200 OK\r\n".to_vec(), SIPFRAG, true);
    }
}

/// The body type of a REFER's NOTIFYs (RFC 4579 §5.5 Figure 5, RFC 7702
/// §5.7 Example 24).
const SIPFRAG: &str = "message/sipfrag;version=2.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msrp_socket_reads_the_authority() {
        assert_eq!(
            msrp_socket("msrp://127.0.0.1:7654/jshA7weztas;tcp"),
            "127.0.0.1:7654".parse().ok()
        );
        assert_eq!(
            msrp_socket("msrp://client.atlanta.example.com:7654/x;tcp"),
            None
        );
    }
}
