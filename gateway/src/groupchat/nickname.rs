//! RFC 7702 §6.4 with RFC 7701 §7: the phone's NICKNAME as a XEP-0045
//! §7.6 nickname change, and the room's answer as the NICKNAME's response.
//!
//! The room session takes NICKNAMEs itself (`SessionOptions::
//! nickname_requests = Application`, `join.rs`), and the answer declares
//! it (`a=chatroom:nickname`, RFC 7701 §8). A NICKNAME with `Use-Nickname:
//! "new"` becomes presence from the occupant client to `room/new` (Example
//! 39); then:
//!
//! | the room | the NICKNAME | source |
//! |---|---|---|
//! | self-presence (110) from a new nickname (the 303 pair, or 210 when the room changed it) | 200 | RFC 7701 §7.1: "MUST answer the NICKNAME request with a 200 response" |
//! | `<conflict/>` | 425 | RFC 7702 §6.4 Example 40 → 41 |
//! | `<jid-malformed/>` | 424 | RFC 7701 §7.1, malformed |
//! | `<not-acceptable/>` (nicknames locked down, XEP-0045 §7.6) and any other error | 403 | RFC 7701 §7.1: "If not allowed, the MSRP switch MUST reject the request with a 403 response" |
//! | nothing within `groupchat.join_secs` | 408 | RFC 4975 §10.4 |
//!
//! (`parley_mapping::groupchat::muc_error::nickname_refusal_to_msrp`.)
//! Answered without asking the room: the nickname held now → 200; one
//! that is no valid resourcepart (RFC 7622 §3.4) → 424; the empty one
//! (RFC 7701 §7.3, "no longer ... known by a nickname") → 403, as a MUC
//! occupant always has one.
//!
//! **The first NICKNAME.** RFC 7702 §6.1 lets the gateway join with a
//! temporary nickname and §6.4 says the NICKNAME that follows "is not
//! different from the initial reservation": Parley joins as the From's
//! display name (or user), and the phone's first NICKNAME is a nickname
//! change like any other. If it asks for the nickname Parley joined with,
//! it gets 200 at once; if Parley had to adjust a taken one (`Romeo (2)`,
//! §7) and the phone asks for `Romeo`, it gets 425 and keeps `Romeo (2)`
//! (RFC 7701 §7.2: "the current nickname stays in effect").
//!
//! **One at a time.** The room answers a nickname change by presence that
//! names no request, so one change is in flight at a time; NICKNAMEs that
//! come meanwhile wait in order. The MSRP session bounds how many are
//! awaiting an answer (`max_pending`): past it a flood is answered 403 by
//! the session and never reaches here. A NICKNAME cannot come before the
//! room has been entered: the phone learns the MSRP path in the 200, and
//! the 200 waits for the room (`mod.rs`).

use std::collections::VecDeque;

use tokio::time::Instant;
use tracing::info;

use parley_mapping::groupchat::muc_error::nickname_refusal_to_msrp;
use parley_mapping::groupchat::room_presence::nickname_presence;
use parley_mapping::groupchat::{OccupantPresence, occupant::STATUS_NICK_CHANGE};
use parley_msrp::endpoint::SessionHandle;
use parley_msrp::status::StatusCode as MsrpStatus;
use parley_msrp::wire::TransactionId;
use parley_xmpp::stanza::{DefinedCondition, Presence, PresenceType, Stanza, StanzaError};

use super::occupancy::Task;

/// The NICKNAME whose presence went to the room.
pub(super) struct InFlight {
    transaction_id: TransactionId,
    /// The nickname when it was asked: a self-presence from another one is
    /// the room's yes.
    from: String,
    /// The presence's id, which the room's error echoes (RFC 6120 §8.3.1,
    /// rule 3: "it is REQUIRED for the error stanza to also include an 'id'").
    stanza_id: String,
    pub(super) deadline: Instant,
}

/// The NICKNAMEs of one occupancy.
#[derive(Default)]
pub(super) struct Nicknames {
    pub(super) in_flight: Option<InFlight>,
    waiting: VecDeque<(TransactionId, String)>,
}

impl Task {
    /// The phone's NICKNAME `transaction_id` asks for `wanted`.
    pub(super) fn nickname_request(
        &mut self,
        handle: &SessionHandle,
        transaction_id: TransactionId,
        wanted: String,
    ) {
        self.nicknames.waiting.push_back((transaction_id, wanted));
        self.next_nickname(handle);
    }

    /// Whether another session of the same SIP user in this room holds
    /// `wanted`.
    fn held_by_another_session(&self, wanted: &str) -> bool {
        let table = self.shared().table();
        let Some(user) = table.get(&self.o.call_id).map(|e| e.user.clone()) else {
            return false;
        };
        table
            .nicknames_of(&user, &self.o.room)
            .iter()
            .any(|n| n == wanted)
    }

    /// Starts the next waiting NICKNAME, unless one is in flight; those
    /// answered without the room are answered here.
    fn next_nickname(&mut self, handle: &SessionHandle) {
        while self.nicknames.in_flight.is_none() {
            let Some((transaction_id, wanted)) = self.nicknames.waiting.pop_front() else {
                return;
            };
            let status = if wanted.is_empty() {
                // §7.3 asks to be known by no nickname; a MUC occupant is
                // always known by one.
                Some(MsrpStatus::FORBIDDEN)
            } else if wanted == self.o.nickname {
                Some(MsrpStatus::OK)
            } else if self.held_by_another_session(&wanted) {
                // RFC 7701 §7.1: the switch "MUST NOT automatically assign
                // the same nickname to more than one MSRP session
                // established from the same URI"; the room would admit it
                // (XEP-0045 §7.2.8, same bare JID), so Parley refuses it:
                // 425, "already in use".
                Some(MsrpStatus::NICKNAME_UNAVAILABLE)
            } else {
                match nickname_presence(&self.o.me, &self.o.room, &wanted) {
                    // No valid resourcepart: RFC 7701 §7.1, malformed.
                    Err(_) => Some(MsrpStatus::MALFORMED_NICKNAME),
                    Ok(mut p) => {
                        info!(call_id = %self.o.call_id, from = %self.o.nickname, to = %wanted, "nickname change asked");
                        let stanza_id = self.shared().stanza_id();
                        p.id = Some(stanza_id.clone());
                        self.shared().links.send(Stanza::Presence(p));
                        self.nicknames.in_flight = Some(InFlight {
                            transaction_id: transaction_id.clone(),
                            from: self.o.nickname.clone(),
                            stanza_id,
                            deadline: Instant::now() + self.shared().join_deadline(),
                        });
                        None
                    }
                }
            };
            if let Some(status) = status {
                self.answer_nickname(handle, &transaction_id, status);
            }
        }
    }

    fn answer_nickname(
        &self,
        handle: &SessionHandle,
        transaction_id: &TransactionId,
        status: MsrpStatus,
    ) {
        if status != MsrpStatus::OK {
            info!(call_id = %self.o.call_id, status = status.0, "nickname change refused");
        }
        if handle.answer_nickname(transaction_id, status).is_err() {
            self.shared()
                .links
                .metrics
                .error("groupchat_nickname_unanswered");
        }
    }

    /// The in-flight NICKNAME is over with `status`; the next one starts.
    fn finish_nickname(&mut self, handle: &SessionHandle, status: MsrpStatus) {
        if let Some(done) = self.nicknames.in_flight.take() {
            self.answer_nickname(handle, &done.transaction_id, status);
        }
        self.next_nickname(handle);
    }

    /// Presence from the room, for the NICKNAME in flight: an error with
    /// its id (or none) refuses it, a self-presence from a nickname other
    /// than the one held when it was asked accepts it. True when it was
    /// the error's answer.
    pub(super) fn nickname_answer(&mut self, handle: &SessionHandle, p: &Presence) -> bool {
        let Some(in_flight) = &self.nicknames.in_flight else {
            return false;
        };
        if p.presence_type == Some(PresenceType::Error) {
            // An error for an earlier presence (a NICKNAME answered 408
            // before the room spoke) is not this one's answer.
            if p.id.as_ref().is_some_and(|id| *id != in_flight.stanza_id) {
                return false;
            }
            let error = p
                .error
                .clone()
                .unwrap_or_else(|| StanzaError::new(DefinedCondition::UndefinedCondition));
            let status = MsrpStatus(nickname_refusal_to_msrp(&error).code());
            self.finish_nickname(handle, status);
            return true;
        }
        let accepted = OccupantPresence::from_presence(p).is_some_and(|o| {
            o.available
                && o.is_self()
                && o.nickname != in_flight.from
                && !o.status_codes.contains(&STATUS_NICK_CHANGE)
        });
        if accepted {
            self.finish_nickname(handle, MsrpStatus::OK);
        }
        false
    }

    /// The in-flight NICKNAME got no answer from the room in time.
    pub(super) fn nickname_timeout(&mut self, handle: &SessionHandle) {
        self.finish_nickname(handle, MsrpStatus::REQUEST_TIMEOUT);
    }
}
