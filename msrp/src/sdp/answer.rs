//! RFC 3264 §6 with RFC 4975 §8: answering an offer that proposes MSRP.
//!
//! The first usable `m=message` line is accepted; every other m-line is
//! refused with port 0. A second usable MSRP line is refused too: RFC 3264
//! §6: "An offered stream MAY be rejected in the answer, for any reason."
//! Parley ties one MSRP session to one XMPP conversation (issue 21: the
//! `<thread>` is tied to the session), so a second chat in the same INVITE
//! would have nowhere to go.

use crate::sdp::accept::FormatList;
use crate::sdp::error::{MediaError, Refusal};
use crate::sdp::local::{LocalEndpoint, NegotiatedSession};
use crate::sdp::media::{MsrpMedia, Transport};
use crate::sdp::path::Path;
use crate::sdp::session::SessionDescription;
use crate::sdp::setup::{answer_setup, own_role};

/// An accepted offer: the SDP to send and the session it sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer SDP.
    pub sdp: SessionDescription,
    /// What was agreed.
    pub session: NegotiatedSession,
}

/// Answers `offer` for `local`, or says why the whole offer is refused
/// (the SIP side sends 488 with [`Refusal::warn_code`]).
pub fn answer(offer: &SessionDescription, local: &LocalEndpoint) -> Result<Answer, Refusal> {
    let mut chosen: Option<(usize, MsrpMedia, FormatList)> = None;
    let mut refusal = Refusal::NoMessageMedia;
    for index in 0..offer.media_lines().len() {
        if chosen.is_some() {
            break;
        }
        match usable(offer, index, local) {
            Ok((media, types)) => chosen = Some((index, media, types)),
            Err(why) => refusal = closer(refusal, why),
        }
    }
    let Some((index, remote, accept_types)) = chosen else {
        return Err(refusal);
    };

    let setup = answer_setup(remote.setup, local.reachable);
    let role = own_role(setup);
    let Some(uri) = local.uri(remote.transport) else {
        // `usable` checked that we have a URI for this transport.
        return Err(Refusal::TransportNotAvailable);
    };
    let local_path = Path::single(uri.clone());
    // RFC 6135 §4.2.2: "if the a=setup attribute value is "active", the
    // port number value should be 9"; otherwise RFC 4975 §8.1: the port
    // "MUST match the port value used in the endpoint's MSRP URI".
    let port = if role == crate::sdp::setup::Role::Active {
        9
    } else {
        uri.port()
    };
    // Wrapped types only mean something inside a container we listed.
    let accept_wrapped_types = if accept_types.allows("message/cpim") {
        local.accept_wrapped_types.clone()
    } else {
        FormatList::default()
    };
    let ours = MsrpMedia {
        transport: remote.transport,
        port,
        connection: None,
        path: local_path.clone(),
        accept_types: accept_types.clone(),
        accept_wrapped_types: accept_wrapped_types.clone(),
        max_size: Some(local.max_size),
        setup: Some(setup),
        // RFC 7701 §8: "an SDP answer MAY contain a 'chatroom' attribute even
        // if its corresponding SDP offer did not include it".
        chatroom: local.chatroom.clone(),
    };

    let medias = (0..offer.media_lines().len())
        .map(|i| {
            if i == index {
                ours.to_sdp()
            } else {
                refused(offer, i)
            }
        })
        .collect();
    let sdp = SessionDescription::build(&local.origin, &local.connection(), offer.time(), medias);
    Ok(Answer {
        sdp,
        session: NegotiatedSession {
            media_index: index,
            transport: remote.transport,
            local_path,
            remote_path: remote.path,
            role,
            local_accept_types: accept_types,
            local_accept_wrapped_types: accept_wrapped_types,
            remote_accept_types: remote.accept_types,
            remote_accept_wrapped_types: remote.accept_wrapped_types,
            remote_max_size: remote.max_size,
            local_chatroom: local.chatroom.clone(),
            remote_chatroom: remote.chatroom,
        },
    })
}

/// Whether offered m-line `index` can be accepted, with the accept-types to answer.
fn usable(
    offer: &SessionDescription,
    index: usize,
    local: &LocalEndpoint,
) -> Result<(MsrpMedia, FormatList), Refusal> {
    let media = offer.msrp_media(index, local.limits).map_err(|e| match e {
        MediaError::NotMessage | MediaError::PortZero => Refusal::NoMessageMedia,
        MediaError::Transport { .. } => Refusal::TransportNotAvailable,
        other => Refusal::InvalidMedia(other),
    })?;
    // TLS only if offered and allowed; we never answer a plain offer with TLS.
    if local.uri(media.transport).is_none() {
        return Err(Refusal::TransportNotAvailable);
    }
    let types = FormatList::intersect(&local.accept_types, &media.accept_types);
    if types.is_empty() {
        // RFC 4975 §8.6: "If the recipient of an offer does not understand
        // any of the payload types indicated in the offered SDP, it SHOULD
        // indicate that ... in SIP, it SHOULD return a SIP 488 response."
        return Err(Refusal::NoCommonFormat);
    }
    Ok((media, types))
}

/// Of two reasons, the one from the line that came closest to usable.
fn closer(a: Refusal, b: Refusal) -> Refusal {
    fn rank(r: &Refusal) -> u8 {
        match r {
            Refusal::NoMessageMedia => 0,
            Refusal::TransportNotAvailable => 1,
            Refusal::InvalidMedia(_) => 2,
            Refusal::NoCommonFormat => 3,
        }
    }
    if rank(&b) > rank(&a) { b } else { a }
}

/// RFC 3264 §6: "To reject an offered stream, the port number in the
/// corresponding stream in the answer MUST be set to zero. Any media formats
/// listed are ignored. At least one MUST be present"; §6.1: "The media type
/// of the stream in the answer MUST match that of the offer."
fn refused(offer: &SessionDescription, index: usize) -> sdp_types::Media {
    let (media, proto, fmt) = match offer.raw_media(index) {
        Some(m) => (m.media.clone(), m.proto.clone(), m.fmt.clone()),
        None => (
            "message".to_owned(),
            Transport::TcpMsrp.as_str().to_owned(),
            "*".to_owned(),
        ),
    };
    sdp_types::Media {
        media,
        port: 0,
        num_ports: None,
        proto,
        fmt,
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    }
}
