//! RFC 3264 §5, §7 with RFC 4975 §8: the offerer's side (Parley as UAC).

use crate::sdp::accept::FormatList;
use crate::sdp::error::{AnswerError, MediaError};
use crate::sdp::local::{LocalEndpoint, NegotiatedSession};
use crate::sdp::media::{MsrpMedia, Transport};
use crate::sdp::path::Path;
use crate::sdp::session::SessionDescription;
use crate::sdp::setup::{Setup, offer_setup, offerer_role};

/// The offer for a new chat session: one `m=message` line.
pub fn offer(local: &LocalEndpoint) -> SessionDescription {
    let transport = if local.prefer_tls && local.tls_allowed() {
        Transport::TcpTlsMsrp
    } else {
        Transport::TcpMsrp
    };
    let media = offered_media(local, transport);
    SessionDescription::build(
        &local.origin,
        &local.connection(),
        (0, 0),
        vec![media.to_sdp()],
    )
}

/// Reads the answer to `offer` (which `offer(local)` made) into the session.
pub fn accept_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
    local: &LocalEndpoint,
) -> Result<NegotiatedSession, AnswerError> {
    let offered = offer.media_lines().len();
    let answered = answer.media_lines().len();
    if offered != answered {
        return Err(AnswerError::MediaCount { offered, answered });
    }
    let (index, ours) = (0..offered)
        .find_map(|i| offer.msrp_media(i, local.limits).ok().map(|m| (i, m)))
        .ok_or(AnswerError::NoOfferedMedia)?;
    let theirs = answer
        .msrp_media(index, local.limits)
        .map_err(|e| match e {
            MediaError::PortZero => AnswerError::Rejected,
            other => AnswerError::Media(other),
        })?;
    // RFC 4975 §8.1 names the protocol of "an offered or accepted media-line";
    // an answer cannot switch TCP and TLS.
    if theirs.transport != ours.transport {
        return Err(AnswerError::TransportChanged);
    }
    // An offer without a=setup follows RFC 4975 §5.4: the offerer is active.
    let role = offerer_role(ours.setup.unwrap_or(Setup::Active), theirs.setup)?;
    // Something we may send as a root body must exist (RFC 4975 §8.6).
    if !ours.accept_types.entries().iter().any(|e| {
        e.media_type()
            .is_some_and(|t| theirs.accept_types.allows(&t))
    }) {
        return Err(AnswerError::NoCommonFormat);
    }
    Ok(NegotiatedSession {
        media_index: index,
        transport: ours.transport,
        local_path: ours.path,
        remote_path: theirs.path,
        role,
        local_accept_types: ours.accept_types,
        local_accept_wrapped_types: ours.accept_wrapped_types,
        remote_accept_types: theirs.accept_types,
        remote_accept_wrapped_types: theirs.accept_wrapped_types,
        remote_max_size: theirs.max_size,
        local_chatroom: ours.chatroom,
        remote_chatroom: theirs.chatroom,
    })
}

fn offered_media(local: &LocalEndpoint, transport: Transport) -> MsrpMedia {
    let setup = offer_setup(local.reachable);
    // `offer` only picks TLS when there is a TLS URI.
    let (transport, uri) = match local.uri(transport) {
        Some(uri) => (transport, uri),
        None => (Transport::TcpMsrp, local.plain_uri()),
    };
    let port = if setup == Setup::Active {
        9
    } else {
        uri.port()
    };
    MsrpMedia {
        transport,
        port,
        connection: None,
        path: Path::single(uri.clone()),
        accept_types: local.accept_types.clone(),
        accept_wrapped_types: if local.accept_types.allows("message/cpim") {
            local.accept_wrapped_types.clone()
        } else {
            FormatList::default()
        },
        max_size: Some(local.max_size),
        setup: Some(setup),
        chatroom: local.chatroom.clone(),
    }
}
