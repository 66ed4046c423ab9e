//! §6.1 (F36, F40, F41): the occupancy's first part. The task opens the
//! MSRP session, sends the join presence, retries a taken nickname
//! adjusted (§7), and answers the INVITE when the room has answered: 200
//! on the self-presence, the mapped status on an error, 504 when it stays
//! silent (see the module doc of `groupchat/`).

use std::sync::Arc;

use tokio::time::{Instant, sleep_until};
use tracing::{info, warn};

use parley_mapping::error::{SipAnswer, SipStatus, room_join_error_to_sip};
use parley_mapping::groupchat::room_address::adjusted_nickname;
use parley_msrp::endpoint::SessionHandle;
use parley_sip::StatusCode;
use parley_xmpp::stanza::{DefinedCondition, PresenceType, Stanza, StanzaError};

use super::NICK_ATTEMPTS;
use super::occupancy::{Command, Opening, Task};
use crate::metrics::GroupchatJoin;

/// How a join ended.
pub(super) enum Joining {
    /// The self-presence came (XEP-0045 §7.2.2).
    Joined,
    /// `<conflict/>`: the nickname is taken (XEP-0045 §7.2.8).
    Conflict,
    /// Another error (XEP-0045 §7.2.5–§7.2.11).
    Refused(StanzaError),
    /// No answer within `groupchat.join_secs`.
    Timeout,
    /// The phone's CANCEL.
    Cancelled,
    /// Parley stops.
    Closed,
}

impl Task {
    /// Opens the MSRP session, sends the join presence (F40) and waits for
    /// the room's answer; answers the INVITE. `None` when it was refused.
    pub(super) async fn enter(&mut self) -> Option<SessionHandle> {
        let shared = Arc::clone(&self.o.shared);
        let call_id = self.o.call_id.clone();
        let Opening {
            responder,
            spec,
            sdp,
            contact,
        } = self.o.opening.take()?;
        let opened = tokio::select! {
            opened = shared.settings.msrp.open(spec) => Some(opened),
            () = responder.cancelled() => None,
        };
        let handle = match opened {
            Some(Ok(h)) => h,
            Some(Err(e)) => {
                warn!(%call_id, error = %e, "MSRP session for a room not opened");
                shared.metrics_join(GroupchatJoin::Failed);
                responder.respond(StatusCode::SERVICE_UNAVAILABLE, None, vec![], None);
                shared.forget(&call_id);
                return None;
            }
            None => {
                shared.metrics_join(GroupchatJoin::Cancelled);
                shared.forget(&call_id);
                return None;
            }
        };
        let deadline = Instant::now() + shared.join_deadline();
        let base = self.o.nickname.clone();
        let mut attempts = 0;
        self.send_join();
        let outcome = loop {
            let step = tokio::select! {
                command = self.o.commands.recv() => match command {
                    Some(Command::Room(stanza)) => self.joining(*stanza),
                    Some(Command::PrivateCopy(m)) => {
                        self.private_copy(&m, None);
                        None
                    }
                    Some(Command::Subscribe { expires }) => {
                        self.subscribe(expires);
                        None
                    }
                    Some(Command::Invite { invitee }) => {
                        self.invite(&invitee);
                        None
                    }
                    Some(Command::Close) | None => Some(Joining::Closed),
                },
                () = sleep_until(deadline) => Some(Joining::Timeout),
                () = responder.cancelled() => Some(Joining::Cancelled),
            };
            match step {
                None => {}
                Some(Joining::Conflict) => {
                    attempts += 1;
                    if attempts >= NICK_ATTEMPTS {
                        break Joining::Conflict;
                    }
                    // RFC 7702 §7: the gateway adjusts the nickname.
                    self.o.nickname = adjusted_nickname(&base, attempts);
                    self.send_join();
                }
                Some(other) => break other,
            }
        };
        let refused = match outcome {
            Joining::Joined => None,
            // Every adjusted nickname taken: RFC 3261 §21.4.24, busy here.
            Joining::Conflict => Some((SipStatus::new(486), GroupchatJoin::Refused)),
            Joining::Refused(error) => {
                info!(%call_id, condition = ?error.condition, "the room refused the join");
                Some((room_join_error_to_sip(&error), GroupchatJoin::Refused))
            }
            Joining::Timeout => {
                // No answer: leave, in case the room answers later. RFC 3261
                // §21.5.5: no timely answer from a server it accessed.
                shared.links.send_presence_typed(
                    &self.o.me,
                    &self.occupant(),
                    PresenceType::Unavailable,
                );
                Some((SipStatus::new(504), GroupchatJoin::Timeout))
            }
            Joining::Cancelled | Joining::Closed => {
                shared.links.send_presence_typed(
                    &self.o.me,
                    &self.occupant(),
                    PresenceType::Unavailable,
                );
                handle.close();
                shared.metrics_join(GroupchatJoin::Cancelled);
                shared.forget(&call_id);
                return None;
            }
        };
        if let Some((status, outcome)) = refused {
            handle.close();
            shared.metrics_join(outcome);
            shared.links.answer_sip(responder, &SipAnswer::new(status));
            shared.forget(&call_id);
            return None;
        }
        // F36: 200 with the answer (RFC 7701 §8 `a=chatroom`) and the focus Contact.
        shared.metrics_join(GroupchatJoin::Joined);
        info!(%call_id, room = %self.o.room, nickname = %self.o.nickname, "SIP user in the room");
        responder.respond(
            StatusCode::OK,
            None,
            vec![
                ("Contact".into(), contact),
                ("Allow-Events".into(), "conference".into()),
            ],
            Some(("application/sdp".into(), sdp.into_bytes().into())),
        );
        Some(handle)
    }

    /// A stanza from the room while joining: what it decides, if anything.
    fn joining(&mut self, stanza: Stanza) -> Option<Joining> {
        match stanza {
            Stanza::Presence(p) if p.presence_type == Some(PresenceType::Error) => {
                let error = p
                    .error
                    .unwrap_or_else(|| StanzaError::new(DefinedCondition::UndefinedCondition));
                if error.condition == DefinedCondition::Conflict {
                    Some(Joining::Conflict)
                } else {
                    Some(Joining::Refused(error))
                }
            }
            Stanza::Presence(p) => self.room_presence(&p).then_some(Joining::Joined),
            Stanza::Message(m) => {
                self.room_message(&m, None);
                None
            }
            Stanza::Iq(_) => None,
        }
    }
}
