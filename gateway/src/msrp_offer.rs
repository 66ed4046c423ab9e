//! RFC 7573 §5 (F17 → F22), RFC 4975 §8: what Parley answers to the SDP
//! offer of an INVITE, decided without sockets: the SDP answer and the
//! MSRP session it describes, or the refusal with the status and header
//! fields RFC 3261 asks for.

use parley_msrp::chunk::ReassemblyLimits;
use parley_msrp::endpoint::{Role, SessionOptions, SessionSpec};
use parley_msrp::sdp::{self, Chatroom, FormatList, LocalEndpoint, Origin, SessionDescription};
use parley_msrp::uri::Uri;
use parley_sip::StatusCode;

use crate::metrics::SessionRefusal;

/// The largest SDP body read (a chat offer is a few hundred bytes).
const MAX_SDP_BYTES: usize = 8192;

/// What Parley takes as root bodies in a chat session: RFC 7573 §4 (text,
/// CPIM) and §6 (isComposing).
pub(crate) const CHAT_ACCEPT_TYPES: &str = "message/cpim text/plain application/im-iscomposing+xml";

/// What Parley takes inside CPIM in a chat session.
pub(crate) const CHAT_ACCEPT_WRAPPED_TYPES: &str = "text/plain application/im-iscomposing+xml";

/// Where Parley's MSRP endpoint is, and the message limit (RFC 7573 §8).
#[derive(Debug, Clone)]
pub(crate) struct Local {
    /// The host phones connect to (`a=path`, `c=`).
    pub(crate) host: String,
    /// The plain `msrp` port.
    pub(crate) port: u16,
    /// The `msrps` port, when `sessions.msrps_listen` is set.
    pub(crate) tls_port: Option<u16>,
    /// `sessions.max_message_bytes` (`groupchat.max_message_bytes` for a room).
    pub(crate) max_message_bytes: u64,
    /// `a=accept-types`: what the session takes, anything else gets 415
    /// (RFC 4975 §7.3.1).
    pub(crate) accept_types: &'static str,
    /// `a=accept-wrapped-types`: what it takes inside CPIM.
    pub(crate) accept_wrapped_types: &'static str,
    /// `a=chatroom` (RFC 7701 §8), declared by a room and a room's
    /// participant; `None` for a chat session.
    pub(crate) chatroom: Option<Chatroom>,
}

/// An offer Parley takes: the SDP of its 200 and the MSRP session to open.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The answer's SDP text (`application/sdp`).
    pub(crate) sdp: String,
    /// The session to open on the MSRP endpoint.
    pub(crate) spec: SessionSpec,
    /// Whether the phone takes isComposing documents (RFC 4975 §8.6: we
    /// "MUST NOT send" a type it did not list).
    pub(crate) peer_takes_composing: bool,
    /// Whether the phone takes text inside CPIM (RFC 4975 §8.6: its
    /// `a=accept-types` or `a=accept-wrapped-types` lists `text/plain`, or
    /// `*`): what a room's SEND wraps (RFC 7701 §6.1).
    pub(crate) peer_takes_wrapped_text: bool,
    /// The phone's `a=chatroom` (RFC 7701 §8), `None` without one: a UA
    /// that is not chat room aware (§11).
    pub(crate) peer_chatroom: Option<Chatroom>,
}

/// An INVITE refused: its final response and the metric's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The status.
    pub(crate) status: StatusCode,
    /// Header fields the status asks for (Warning, Accept).
    pub(crate) headers: Vec<(String, String)>,
    /// For `parley_msrp_session_refusals_total`.
    pub(crate) reason: SessionRefusal,
}

/// The answer to an INVITE's body (`content_type` as sent), or why not.
/// `session_id` must be fresh and hard to guess (RFC 4975 §8.2); `agent`
/// is the Warning's warn-agent (RFC 3261 §20.43: "the host name").
pub(crate) fn answer(
    content_type: Option<&str>,
    body: &[u8],
    local: &Local,
    session_id: &str,
    origin: Origin,
    agent: &str,
) -> Result<Accepted, Refused> {
    if body.is_empty() {
        // RFC 3261 §13.2.1 allows an INVITE without offer, the answer then
        // coming in the ACK; the endpoint absorbs the ACK of a 2xx, so this
        // increment cannot take one (RFC 3261 §13.3.1.3: a UAS that cannot
        // accept the session "SHOULD" answer 488).
        return Err(not_acceptable(
            agent,
            399,
            "Offer required",
            SessionRefusal::NoOffer,
        ));
    }
    if !is_sdp(content_type) {
        // RFC 3261 §21.4.13: 415, whose Accept lists what we take (§8.2.3).
        return Err(Refused {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            headers: vec![("Accept".into(), "application/sdp".into())],
            reason: SessionRefusal::NoOffer,
        });
    }
    let bad = || not_acceptable(agent, 399, "Malformed SDP", SessionRefusal::BadOffer);
    let offer = SessionDescription::parse(body, MAX_SDP_BYTES).map_err(|_| bad())?;
    let endpoint = local_endpoint(local, session_id, origin).ok_or_else(bad)?;
    let answer = sdp::answer(&offer, &endpoint).map_err(|r| {
        // RFC 4975 §8.6: "in SIP, it SHOULD return a SIP 488 response".
        not_acceptable(
            agent,
            r.warn_code(),
            r.warn_text(),
            SessionRefusal::NotAcceptable,
        )
    })?;
    let negotiated = answer.session;
    let opened = session_of(&negotiated, local.max_message_bytes).ok_or_else(bad)?;
    let mut text = String::new();
    answer.sdp.write_to(&mut text);
    Ok(Accepted {
        sdp: text,
        peer_takes_composing: opened.peer_takes_composing,
        peer_takes_wrapped_text: negotiated.may_send("message/cpim", Some("text/plain")),
        peer_chatroom: opened.peer_chatroom,
        spec: opened.spec,
    })
}

/// A fresh MSRP session-id (RFC 4975 §8.2: hard to guess, 96 random bits
/// here) and the `o=` line of a new SDP.
pub(crate) fn fresh_ids() -> (String, Origin) {
    let session_id = format!(
        "{:016x}{:08x}",
        rand::random::<u64>(),
        rand::random::<u32>()
    );
    let origin = Origin {
        username: "parley".into(),
        session_id: rand::random::<u32>().into(),
        session_version: 1,
    };
    (session_id, origin)
}

/// Parley's offer for a session it starts (RFC 7573 §4, F3; RFC 4975 §8),
/// kept to read the answer against.
#[derive(Debug)]
pub(crate) struct Offered {
    /// The offer's SDP text (`application/sdp`).
    pub(crate) sdp: String,
    description: SessionDescription,
    endpoint: LocalEndpoint,
    max_message_bytes: u64,
}

/// The offer of a new session: one `m=message` line with Parley's path,
/// `a=setup:actpass` (RFC 6135 §4.2.2: Parley listens, so either side may
/// connect), the types it takes and `a=max-size` (RFC 7573 §8).
pub(crate) fn offer(local: &Local, session_id: &str, origin: Origin) -> Option<Offered> {
    let endpoint = local_endpoint(local, session_id, origin)?;
    let description = sdp::offer(&endpoint);
    let mut text = String::new();
    description.write_to(&mut text);
    Some(Offered {
        sdp: text,
        description,
        endpoint,
        max_message_bytes: local.max_message_bytes,
    })
}

/// The MSRP session an answer leaves, or why none.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The session to open on the MSRP endpoint.
    pub(crate) spec: SessionSpec,
    /// Whether the phone takes isComposing (RFC 4975 §8.6).
    pub(crate) peer_takes_composing: bool,
    /// The peer's `a=chatroom` (RFC 7701 §8).
    pub(crate) peer_chatroom: Option<Chatroom>,
}

/// Reads the SDP answer of the 2xx to Parley's INVITE (RFC 3264 §7).
pub(crate) fn read_answer(
    offered: &Offered,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Opened, &'static str> {
    if body.is_empty() || !is_sdp(content_type) {
        return Err("the 2xx carries no SDP answer");
    }
    let answer = SessionDescription::parse(body, MAX_SDP_BYTES)
        .map_err(|_| "the SDP answer does not parse")?;
    let negotiated = sdp::accept_answer(&offered.description, &answer, &offered.endpoint)
        .map_err(|e| e.kind())?;
    session_of(&negotiated, offered.max_message_bytes).ok_or("the answer's MSRP path is not usable")
}

/// Whether a re-INVITE or UPDATE (`kind`) in an MSRP session whose peer
/// path is `remote_path` only refreshes it (RFC 4028): an UPDATE without an
/// offer (§7.4: "It is RECOMMENDED that the UPDATE request not contain an
/// offer"), or a re-INVITE offering the same MSRP path. An offer that moves
/// the session, one that does not parse, an UPDATE with an offer or a
/// re-INVITE without one is not a refresh (chat sessions and rooms answer
/// it 488).
pub(crate) fn refresh_keeps_session(
    kind: parley_sip::dialog::session::InDialog,
    view: &parley_sip::RequestView,
    remote_path: &[Uri],
) -> bool {
    use parley_sip::dialog::session::InDialog;
    let offered = (!view.body().is_empty())
        .then(|| offered_path(view.header("Content-Type").as_deref(), view.body()));
    match (kind, offered) {
        (InDialog::Update, None) => true,
        (InDialog::Reinvite, Some(Some(path))) => path == remote_path,
        _ => false,
    }
}

/// The MSRP path of the first usable `m=message` line of an SDP offer
/// (a re-INVITE's), to tell a refresh from a change of session.
fn offered_path(content_type: Option<&str>, body: &[u8]) -> Option<Vec<Uri>> {
    if !is_sdp(content_type) {
        return None;
    }
    let offer = SessionDescription::parse(body, MAX_SDP_BYTES).ok()?;
    let media = (0..offer.media_lines().len())
        .find_map(|i| offer.msrp_media(i, sdp::MediaLimits::default()).ok())?;
    media
        .path
        .uris()
        .iter()
        .map(|u| Uri::parse(u.as_str()).ok())
        .collect()
}

fn is_sdp(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
}

/// This side of one exchange: our path (`msrp://host:port/session_id;tcp`),
/// the types Parley takes and its message limit.
fn local_endpoint(local: &Local, session_id: &str, origin: Origin) -> Option<LocalEndpoint> {
    let mut endpoint =
        LocalEndpoint::new(&local.host, local.port, local.tls_port, session_id, origin).ok()?;
    // With msrps on, Parley's own offers use it.
    endpoint.prefer_tls = local.tls_port.is_some();
    endpoint.accept_types = FormatList::parse(local.accept_types, 8).ok()?;
    endpoint.accept_wrapped_types = FormatList::parse(local.accept_wrapped_types, 8).ok()?;
    endpoint.max_size = local.max_message_bytes;
    endpoint.chatroom = local.chatroom.clone();
    Some(endpoint)
}

/// The MSRP session an exchange agreed on, either side.
fn session_of(negotiated: &sdp::NegotiatedSession, max_message_bytes: u64) -> Option<Opened> {
    let uri = |u: &sdp::MsrpUri| Uri::parse(u.as_str()).ok();
    let local_uri = uri(negotiated.local_path.target())?;
    let remote_path = negotiated
        .remote_path
        .uris()
        .iter()
        .map(uri)
        .collect::<Option<Vec<_>>>()?;
    Some(Opened {
        peer_takes_composing: negotiated.may_send("application/im-iscomposing+xml", None),
        peer_chatroom: negotiated.remote_chatroom.clone(),
        spec: SessionSpec {
            local: local_uri,
            remote_path,
            role: match negotiated.role {
                sdp::Role::Active => Role::Active,
                sdp::Role::Passive => Role::Passive,
            },
            options: SessionOptions {
                // What we told the phone we take (a=accept-types): anything
                // else gets 415 from the session (RFC 4975 §7.3.1).
                accept_types: negotiated
                    .local_accept_types
                    .entries()
                    .iter()
                    .map(|e| e.as_str().to_owned())
                    .collect(),
                // RFC 7573 §8: a message over the limit gets 413.
                limits: ReassemblyLimits {
                    max_message_size: max_message_bytes,
                    ..ReassemblyLimits::default()
                },
                // RFC 7573 §7: the REPORT answers the XMPP user's
                // `<received/>`, so the relay decides when it goes.
                application_reports: true,
                ..SessionOptions::default()
            },
        },
    })
}

fn not_acceptable(agent: &str, code: u16, text: &str, reason: SessionRefusal) -> Refused {
    Refused {
        status: StatusCode::NOT_ACCEPTABLE_HERE,
        headers: vec![("Warning".into(), format!("{code} {agent} \"{text}\""))],
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local {
            host: "127.0.0.1".into(),
            port: 2855,
            tls_port: None,
            max_message_bytes: 65_536,
            accept_types: CHAT_ACCEPT_TYPES,
            accept_wrapped_types: CHAT_ACCEPT_WRAPPED_TYPES,
            chatroom: None,
        }
    }

    fn origin() -> Origin {
        Origin {
            username: "parley".into(),
            session_id: 1,
            session_version: 1,
        }
    }

    const AUDIO_ONLY: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n\
        t=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";

    #[test]
    fn audio_only_offer_is_refused_with_488_and_warning_304() {
        let refused = answer(
            Some("application/sdp"),
            AUDIO_ONLY.as_bytes(),
            &local(),
            "s1",
            origin(),
            "sip.example.net",
        )
        .expect_err("refused");
        assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE_HERE);
        assert_eq!(
            refused.headers,
            vec![(
                "Warning".to_owned(),
                "304 sip.example.net \"Media type not available\"".to_owned()
            )]
        );
    }

    #[test]
    fn a_body_that_is_not_sdp_gets_415_with_accept() {
        let refused =
            answer(Some("text/plain"), b"hi", &local(), "s1", origin(), "x").expect_err("refused");
        assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(refused.headers[0].1, "application/sdp");
    }

    /// RFC 4975 §8.6: "An MSRP endpoint MUST NOT send content of a type not
    /// signaled by the peer in either an accept-types or an
    /// accept-wrapped-types attribute" ("explicit, or implicit through the
    /// use of the "*" character"): what a room wraps, text/plain in CPIM.
    /// RFC 7701 §8: the phone's `a=chatroom` is read from its offer (the
    /// `private-messages` chat-token, §6.2; none at all: not chat room
    /// aware, §11), and a room's answer declares its own on the accepted
    /// `m=message` line (RFC 7702 Example 28), not on a refused one.
    #[test]
    fn rfc7701_8_the_chatroom_attribute_is_read_from_the_offer_and_declared_in_the_answer() {
        let room = Local {
            accept_types: "message/cpim",
            accept_wrapped_types: "text/plain",
            chatroom: Some(Chatroom::nicknames_and_private_messages()),
            ..local()
        };
        let accept = |attr: &str| {
            let offer = format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 0 RTP/AVP 0\r\n\
                 m=message 7313 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
                 {attr}a=path:msrp://127.0.0.1:7313/p1;tcp\r\n"
            );
            answer(
                Some("application/sdp"),
                offer.as_bytes(),
                &room,
                "s1",
                origin(),
                "x",
            )
            .expect("accepted")
        };
        let private = |attr: &str| accept(attr).peer_chatroom.map(|c| c.private_messages);
        assert_eq!(
            private("a=chatroom:nickname private-messages\r\n"),
            Some(true)
        );
        assert_eq!(private("a=chatroom:nickname\r\n"), Some(false));
        assert_eq!(private("a=chatroom\r\n"), Some(false));
        assert_eq!(private(""), None);
        let sdp = accept("").sdp;
        let message = sdp.find("m=message").expect("the message line");
        let chatroom = sdp
            .find("a=chatroom:nickname private-messages\r\n")
            .expect("the room's a=chatroom");
        assert!(chatroom > message, "{sdp}");
        assert_eq!(sdp.matches("a=chatroom").count(), 1, "{sdp}");
    }

    #[test]
    fn rfc4975_8_6_text_inside_cpim_is_read_from_either_list_or_a_wildcard() {
        let room = Local {
            accept_types: "message/cpim",
            accept_wrapped_types: "text/plain",
            ..local()
        };
        let takes = |lines: &str| {
            let offer = format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=message 7313 TCP/MSRP *\r\n{lines}a=path:msrp://127.0.0.1:7313/p1;tcp\r\n"
            );
            answer(
                Some("application/sdp"),
                offer.as_bytes(),
                &room,
                "s1",
                origin(),
                "x",
            )
            .map(|a| a.peer_takes_wrapped_text)
            .expect("accepted")
        };
        let cpim = "a=accept-types:message/cpim\r\n";
        assert!(takes(&format!(
            "{cpim}a=accept-wrapped-types:text/plain\r\n"
        )));
        assert!(takes(&format!(
            "{cpim}a=accept-wrapped-types:text/html *\r\n"
        )));
        assert!(takes(&format!("{cpim}a=accept-wrapped-types:text/*\r\n")));
        assert!(takes("a=accept-types:message/cpim text/plain\r\n"));
        assert!(!takes(&format!(
            "{cpim}a=accept-wrapped-types:text/html\r\n"
        )));
        assert!(!takes(cpim));
    }

    #[test]
    fn an_invite_without_offer_gets_488() {
        let refused = answer(None, b"", &local(), "s1", origin(), "x").expect_err("refused");
        assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE_HERE);
        assert_eq!(refused.reason, SessionRefusal::NoOffer);
    }
}
