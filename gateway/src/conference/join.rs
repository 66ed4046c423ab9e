//! RFC 7702 §5.1, §5.2 (F1–F9): the join. Parley INVITEs the conference
//! with an MSRP offer from the XMPP user's SIP address, ACKs the focus's
//! 2xx, opens the MSRP session and asks the nickname with NICKNAME (RFC
//! 7701 §7.1). Every wait is at most `conference.join_secs`; any failure
//! is the XEP-0045 §7.2 presence error the user gets.

use std::sync::Arc;

use tracing::{debug, info};

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::error::{ALLOW_WITH_SESSIONS, conference_join_failure_to_stanza_error};
use parley_mapping::groupchat::muc_error::nickname_failure_to_stanza_error;
use parley_mapping::groupchat::room_address::conference_for_occupant;
use parley_msrp::endpoint::{DriverError, SessionEvent, SessionHandle};
use parley_msrp::session::Event;
use parley_sip::dialog::session::Session as Dialog;
use parley_sip::{InviteClient, OutgoingRequest, Response, TransactionError};
use parley_xmpp::stanza::{DefinedCondition, ErrorType, StanzaError};

use super::Shared;
use crate::metrics::ConferenceJoin;
use crate::msrp_offer::{self as offer, Local};

/// A conference joined: its dialog, MSRP session and addresses.
pub(super) struct Joined {
    /// The INVITE dialog.
    pub(super) dialog: Dialog,
    /// The MSRP session with the switch.
    pub(super) handle: SessionHandle,
    /// The conference URI (CPIM To of messages to all).
    pub(super) conference: SipAddress,
    /// The user's address as the focus knows it (From, CPIM From).
    pub(super) me: SipAddress,
    /// Events of the session read while the NICKNAME was out.
    pub(super) early: Vec<SessionEvent>,
    /// The Contact of the user's requests, `gr` its resourcepart
    /// (`contact.rs`); `None`: the endpoint's.
    pub(super) contact: Option<String>,
    /// The offer sent and the switch's path, for refreshes (`refresh.rs`).
    pub(super) kept: super::refresh::Kept,
}

/// Why a join failed: the presence error and the metric's outcome.
pub(super) struct Failed {
    pub(super) error: StanzaError,
    pub(super) outcome: ConferenceJoin,
}

impl Failed {
    fn new(condition: DefinedCondition, error_type: ErrorType, outcome: ConferenceJoin) -> Self {
        Failed {
            error: StanzaError {
                error_type,
                ..StanzaError::new(condition)
            },
            outcome,
        }
    }

    fn timeout() -> Self {
        // RFC 7247 §7.2 Table 3: 408 ↔ <remote-server-timeout/>.
        Failed::new(
            DefinedCondition::RemoteServerTimeout,
            ErrorType::Wait,
            ConferenceJoin::Timeout,
        )
    }

    fn unavailable() -> Self {
        Failed::new(
            DefinedCondition::ServiceUnavailable,
            ErrorType::Wait,
            ConferenceJoin::Failed,
        )
    }
}

/// F1–F9 for `user` joining `occupant` (`room@component/nick`), the
/// occupancy `id` (its Call-IDs go into the table).
pub(super) async fn join(
    shared: &Arc<Shared>,
    id: u64,
    user: &Jid,
    occupant: &Jid,
    nickname: &str,
) -> Result<Joined, Failed> {
    let mapper = &shared.links.mapper;
    let target = conference_for_occupant(mapper, occupant).map_err(|_| {
        Failed::new(
            DefinedCondition::JidMalformed,
            ErrorType::Modify,
            ConferenceJoin::BadRequest,
        )
    })?;
    // The AOR, no `gr`: the focus lists the user by it (RFC 7701 §6.1).
    let me = mapper.xmpp_user_to_sip(&user.bare()).map_err(|_| {
        Failed::new(
            DefinedCondition::JidMalformed,
            ErrorType::Modify,
            ConferenceJoin::BadRequest,
        )
    })?;
    let conference = target.conference;
    let call_id = format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    shared.table().add_call_id(id, &call_id);
    let local = Local {
        host: shared.settings.host.clone(),
        port: shared.settings.msrp.local_addr().map_or(0, |a| a.port()),
        tls_port: shared.settings.msrp.local_tls_addr().map(|a| a.port()),
        max_message_bytes: shared.settings.config.max_message_bytes,
        // RFC 7701 §5.2: "the 'accept-types' attribute for the MSRP
        // message media in both the SDP offer and answer need to include
        // at least the value 'Message/CPIM'" (RFC 7702 Example 2's
        // text/cpim is a fault of the example).
        accept_types: "message/cpim",
        accept_wrapped_types: "text/plain",
        // RFC 7701 §8, Example 2's `a=chatroom:nickname private-messages`.
        chatroom: Some(parley_msrp::sdp::Chatroom::nicknames_and_private_messages()),
    };
    let (session_id, origin) = offer::fresh_ids();
    let offered = offer::offer(&local, &session_id, origin).ok_or_else(Failed::unavailable)?;
    // 7702-3: the resourcepart as the Contact's `gr` (`contact.rs`).
    let contact = super::contact::contact(shared, user, &conference).await;
    let mut headers = vec![("Allow".into(), ALLOW_WITH_SESSIONS.into())];
    headers.extend(contact.iter().map(|c| ("Contact".to_owned(), c.clone())));
    // F3 / Example 2: To is the conference URI ("to (without the /nick)").
    let request = OutgoingRequest {
        method: "INVITE".into(),
        request_uri: conference.to_string(),
        from: format!("<{me}>"),
        to: format!("<{conference}>"),
        call_id: Some(call_id.clone()),
        headers,
        body: Some((
            "application/sdp".into(),
            offered.sdp.clone().into_bytes().into(),
        )),
    };
    let room = occupant.bare().to_string();
    let client = shared.links.sip.send_invite(request).await.map_err(|e| {
        info!(%call_id, error = %e, "conference INVITE not sent");
        shared.links.metrics.error(e.kind());
        Failed::unavailable()
    })?;
    let (ok, client) = final_answer(shared, client, &call_id, &room).await?;
    // F5: the 2xx is ACKed whatever follows (RFC 3261 §13.2.2.4).
    client
        .send_ack(&ok, vec![], None)
        .await
        .map_err(|_| Failed::unavailable())?;
    let dialog =
        Dialog::uac(ok.message(), std::time::Instant::now()).map_err(|_| Failed::unavailable())?;
    let opened = match offer::read_answer(&offered, ok.header("Content-Type").as_deref(), &ok.body)
    {
        Ok(o) => o,
        Err(why) => {
            info!(%call_id, why, "the focus's SDP answer is not usable");
            bye(shared, dialog);
            return Err(Failed::new(
                DefinedCondition::NotAcceptable,
                ErrorType::Cancel,
                ConferenceJoin::Failed,
            ));
        }
    };
    // RFC 7701 §7.1: NICKNAME only to a switch whose `a=chatroom` says
    // `nickname`; otherwise the join goes on without one.
    let nicknames = opened.peer_chatroom.as_ref().is_some_and(|c| c.nicknames);
    let kept = super::refresh::Kept {
        local_sdp: offered.sdp.clone(),
        remote_path: opened.spec.remote_path.clone(),
    };
    let handle = match tokio::time::timeout(shared.step(), shared.settings.msrp.open(opened.spec))
        .await
    {
        Ok(Ok(h)) => h,
        other => {
            info!(%call_id, outcome = ?other.map(|r| r.err()), "MSRP session with the switch not opened");
            bye(shared, dialog);
            return Err(Failed::timeout());
        }
    };
    let mut joined = Joined {
        dialog,
        handle,
        conference,
        me,
        early: Vec::new(),
        contact,
        kept,
    };
    if nicknames && let Err(code) = set_nickname(shared, &mut joined, nickname).await {
        info!(%call_id, code, "nickname refused by the switch");
        joined.handle.close();
        bye(shared, joined.dialog);
        return Err(Failed {
            error: nickname_failure_to_stanza_error(code, &room),
            outcome: ConferenceJoin::NicknameRefused,
        });
    }
    Ok(joined)
}

/// F8–F9: NICKNAME with `nickname`; `Err` with the switch's status (408
/// when none came within `conference.join_secs`).
async fn set_nickname(shared: &Shared, joined: &mut Joined, nickname: &str) -> Result<(), u16> {
    let deadline = tokio::time::Instant::now() + shared.step();
    let mut tid = None;
    loop {
        if tid.is_none() {
            match joined.handle.send_nickname(nickname) {
                Ok(t) => tid = Some(t),
                // Passive: the switch has not connected yet; its Bound wakes us.
                Err(DriverError::NotBound) => {}
                Err(_) => return Err(408),
            }
        }
        let event = tokio::time::timeout_at(deadline, joined.handle.next_event()).await;
        match event {
            Err(_) | Ok(None) | Ok(Some(SessionEvent::Closed(_))) => return Err(408),
            Ok(Some(SessionEvent::Msrp(Event::NicknameResponse {
                transaction_id,
                status,
            }))) if Some(&transaction_id) == tid.as_ref() => {
                return if status.0 == 200 {
                    Ok(())
                } else {
                    Err(status.0)
                };
            }
            Ok(Some(SessionEvent::Bound)) => {}
            Ok(Some(other)) => joined.early.push(other),
        }
    }
}

/// F3–F4: the INVITE's final answer, a 2xx; a refusal is the presence
/// error RFC 7247 §7.2 gives its status (`by` the room); unanswered within
/// `conference.join_secs`, or out when Parley stops, it is cancelled (RFC
/// 3261 §9.1) and the join times out.
async fn final_answer(
    shared: &Arc<Shared>,
    mut client: InviteClient,
    call_id: &str,
    room: &str,
) -> Result<(Response, InviteClient), Failed> {
    let give_up = tokio::time::sleep(shared.step());
    tokio::pin!(give_up);
    loop {
        let heard = tokio::select! {
            r = client.next_response() => r,
            () = &mut give_up => None,
            () = shared.stopping.cancelled() => None,
        };
        match heard {
            Some(Ok(r)) if r.status < 200 => {}
            Some(Ok(r)) if r.is_success() => return Ok((r, client)),
            Some(Ok(r)) => {
                info!(call_id, status = r.status, "conference INVITE refused");
                return Err(Failed {
                    error: conference_join_failure_to_stanza_error(r.status, room),
                    outcome: ConferenceJoin::Refused,
                });
            }
            Some(Err(TransactionError::Timeout)) => return Err(Failed::timeout()),
            Some(Err(e)) => {
                shared.links.metrics.error(e.kind());
                return Err(Failed::unavailable());
            }
            None => {
                debug!(call_id, "conference INVITE unanswered; cancelling it");
                let canceller = client.canceller();
                shared.links.tasks.spawn(async move {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(32),
                        canceller.cancel(),
                    )
                    .await;
                });
                return Err(Failed::timeout());
            }
        }
    }
}

/// BYE in the INVITE dialog (RFC 3261 §15.1.1); its answer changes nothing.
pub(super) fn bye(shared: &Shared, mut dialog: Dialog) {
    if dialog.is_ended() {
        return;
    }
    let bye = OutgoingRequest::in_dialog(dialog.bye(), vec![], None);
    let sip = shared.links.sip.clone();
    shared.links.tasks.spawn(async move {
        let answered = sip.send_request(bye).await.map(|r| r.status);
        debug!(?answered, "conference BYE answered");
    });
}
