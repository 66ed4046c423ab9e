//! One SIP user in one room: the task that opens the MSRP session, enters
//! the room and answers the INVITE when the room has (§6.1, `enter.rs`),
//! then carries messages both ways (§6.3) and
//! the roster to the conference subscription (§6.2) until either side
//! leaves (§6.6). The router reaches it only through [`Command`]s.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info};

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::groupchat::coherent_state::partial_update;
use parley_mapping::groupchat::invitation::{
    REFER_NOTIFY_BODY, REFER_NOTIFY_STATE, SIPFRAG_TYPE, mediated_invitation,
};
use parley_mapping::groupchat::muc_error::room_message_refusal_to_msrp;
use parley_mapping::groupchat::occupant::{NS_MUC, STATUS_NICK_CHANGE};
use parley_mapping::groupchat::room_address::occupant_jid;
use parley_mapping::groupchat::{ConferenceInfo, MucRoster, OccupantPresence, RosterEvent};
use parley_msrp::endpoint::{SessionEvent, SessionHandle, SessionSpec};
use parley_msrp::session::{Delivered, Event, NewMessage};
use parley_msrp::status::StatusCode as MsrpStatus;
use parley_msrp::wire::{MessageId, SuccessReport};
use parley_sip::Responder;
use parley_xmpp::stanza::{
    DefinedCondition, Element, Message, MessageType, Presence, PresenceType, Stanza, StanzaError,
};

use super::conference::{self, MAX_EXPIRES, Notify};
use super::nickname::Nicknames;
use super::{End, Shared, translate};
use crate::metrics::GroupchatJoin;

/// The phone's groupchat messages awaiting their reflection, at most.
const MAX_PENDING: usize = 64;

/// What the router asks of an occupancy's task.
#[derive(Debug)]
pub(crate) enum Command {
    /// A stanza from the room (or an occupant) to the occupant client.
    Room(Box<Stanza>),
    /// A private message the room delivered to this session or to another
    /// of the same SIP user in the room, for this phone, which takes
    /// private messages (RFC 7701 §6.2, `Groupchat::xmpp`).
    PrivateCopy(Box<Message>),
    /// The phone subscribed to the conference event (0: unsubscribed).
    Subscribe { expires: u32 },
    /// The phone's REFER invites `invitee` (§6.5).
    Invite { invitee: Jid },
    /// The occupancy is over: close the MSRP session.
    Close,
}

/// What `join.rs` hands to the task.
pub(super) struct Occupancy {
    pub(super) shared: Arc<Shared>,
    pub(super) call_id: String,
    /// The room, a bare JID.
    pub(super) room: Jid,
    /// The room's SIP URI (conference-info entity, CPIM To).
    pub(super) room_uri: SipAddress,
    /// The phone's address-of-record (CPIM To of private messages).
    pub(super) phone_uri: SipAddress,
    /// The phone offered the `private-messages` chat-token (RFC 7701 §8).
    pub(super) private_messages: bool,
    /// The phone's offer had `a=chatroom` (RFC 7701 §8); one without is
    /// told where it is (§11, `to_phone.rs`).
    pub(super) chatroom_aware: bool,
    /// The phone takes text inside CPIM (its `a=accept-types` or
    /// `a=accept-wrapped-types`, RFC 4975 §8.6; RFC 7701 §6.1).
    pub(super) takes_wrapped_text: bool,
    /// The occupant client.
    pub(super) me: Jid,
    pub(super) nickname: String,
    pub(super) roster: MucRoster,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) opening: Option<Opening>,
}

/// The INVITE still to be answered.
pub(super) struct Opening {
    pub(super) responder: Responder,
    pub(super) spec: SessionSpec,
    /// The 200's SDP answer.
    pub(super) sdp: String,
    /// The 200's Contact.
    pub(super) contact: String,
}

/// A groupchat message of the phone, awaiting its reflection (§6.3.1).
struct Pending {
    stanza_id: String,
    body: String,
    message_id: Option<MessageId>,
    /// The CPIM From and To, for a failure REPORT (RFC 7701 §6.2).
    wrapper: Vec<u8>,
    deadline: Instant,
}

/// The conference subscription (§6.2).
#[derive(Default)]
struct Subscription {
    until: Option<Instant>,
    /// RFC 4575 §5.1: the last version sent.
    version: u32,
    /// The last document sent, for the next partial one.
    sent: Option<ConferenceInfo>,
}

pub(super) struct Task {
    pub(super) o: Occupancy,
    /// The self-presence came: the roster is as complete as it gets (§6.2).
    complete: bool,
    /// The last NOTIFY's "on the wire" signal, which the next one awaits.
    notify_chain: Option<tokio::sync::oneshot::Receiver<()>>,
    subject: Option<String>,
    subscription: Subscription,
    pending: VecDeque<Pending>,
    /// SENDs for the phone before its connection bound the session
    /// (`to_phone.rs`).
    pub(super) held: VecDeque<NewMessage>,
    /// The phone's NICKNAMEs (§6.4, `nickname.rs`).
    pub(super) nicknames: Nicknames,
    /// The room's messages not copied to a phone that takes no text inside
    /// CPIM (logged at the first).
    pub(super) skipped_wrapped: u64,
}

/// Runs the occupancy from the INVITE to its end.
pub(super) async fn run(o: Occupancy) {
    let mut task = Task {
        o,
        complete: false,
        notify_chain: None,
        subject: None,
        subscription: Subscription::default(),
        pending: VecDeque::new(),
        held: VecDeque::new(),
        nicknames: Nicknames::default(),
        skipped_wrapped: 0,
    };
    let Some(handle) = task.enter().await else {
        return;
    };
    task.relay(handle).await;
}

impl Task {
    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.o.shared
    }

    pub(super) fn occupant(&self) -> Jid {
        occupant_jid(&self.o.room, &self.o.nickname).unwrap_or_else(|_| self.o.room.clone())
    }

    /// F40, Example 30: presence to `room/nick` with the MUC `<x/>`.
    pub(super) fn send_join(&self) {
        let occupant = self.occupant();
        if let Some(e) = self.shared().table().get_mut(&self.o.call_id) {
            e.occupant = occupant.clone();
        }
        let mut p = Presence::default();
        p.payloads.push(Element::new("x", NS_MUC));
        self.shared().links.send_presence(&self.o.me, &occupant, p);
    }

    /// An occupant presence from the room; true once the roster is complete.
    pub(super) fn room_presence(&mut self, p: &Presence) -> bool {
        let Some(occupant) = OccupantPresence::from_presence(p) else {
            return false;
        };
        let renamed = occupant.status_codes.contains(&STATUS_NICK_CHANGE);
        if occupant.is_self() {
            if !occupant.available {
                // Only the first half of the own nickname change (303)
                // touches the roster: any other own unavailable presence
                // ended the occupancy (`ends_occupancy`).
                if renamed {
                    self.o.roster.handle_presence(occupant);
                }
                return false;
            }
            // XEP-0045: the room may have changed the nickname (status 210).
            self.o.nickname = occupant.nickname.clone();
            let me = self.occupant();
            if let Some(e) = self.shared().table().get_mut(&self.o.call_id) {
                e.occupant = me;
            }
        }
        let available = occupant.available;
        match self.o.roster.handle_presence(occupant) {
            RosterEvent::Complete => {
                if !self.complete && !self.o.chatroom_aware {
                    self.tell_unaware_phone();
                }
                self.complete = true;
                self.notify_roster();
                true
            }
            // The first half of a nickname change (303): the document
            // waits for the second, so that one partial NOTIFY says it.
            RosterEvent::Changed if !available && renamed => false,
            RosterEvent::Changed => {
                self.notify_roster();
                false
            }
            RosterEvent::Pending => false,
            RosterEvent::TooManyOccupants => {
                // `groupchat.max_occupants`: left out of the document,
                // counted (`MucRoster` still records the self-presence
                // past the bound, so the join completes).
                self.shared().links.metrics.error("groupchat_roster_full");
                false
            }
        }
    }

    /// The relay, until either side leaves.
    async fn relay(mut self, mut handle: SessionHandle) {
        loop {
            let next_deadline = self.pending.front().map(|p| p.deadline);
            let nickname_deadline = self.nicknames.in_flight.as_ref().map(|n| n.deadline);
            let expires = self.subscription.until;
            tokio::select! {
                command = self.o.commands.recv() => match command {
                    Some(Command::Room(stanza)) => match *stanza {
                        Stanza::Presence(p) => {
                            if self.ends_occupancy(&p) {
                                self.end(&handle, End::RoomLeft);
                                return;
                            }
                            if p.presence_type != Some(PresenceType::Error) {
                                self.room_presence(&p);
                            }
                            self.nickname_answer(&handle, &p);
                        }
                        Stanza::Message(m) => self.room_message(&m, Some(&handle)),
                        Stanza::Iq(_) => {}
                    },
                    Some(Command::PrivateCopy(m)) => self.private_copy(&m, Some(&handle)),
                    Some(Command::Subscribe { expires }) => self.subscribe(expires),
                    Some(Command::Invite { invitee }) => self.invite(&invitee),
                    Some(Command::Close) | None => {
                        handle.close();
                        return;
                    }
                },
                event = handle.next_event() => match event {
                    Some(SessionEvent::Bound) => {
                        while let Some(m) = self.held.pop_front() {
                            self.send(&handle, m);
                        }
                    }
                    Some(SessionEvent::Msrp(Event::Message(d))) => self.phone_message(&handle, d),
                    Some(SessionEvent::Msrp(Event::NicknameRequest { transaction_id, nickname })) => {
                        self.nickname_request(&handle, transaction_id, nickname);
                    }
                    Some(SessionEvent::Msrp(Event::Refused(e))) => {
                        debug!(call_id = %self.o.call_id, error = %e, "MSRP request refused");
                        self.shared().links.metrics.error(e.kind());
                    }
                    Some(SessionEvent::Closed(_)) | None => {
                        self.end(&handle, End::ConnectionLost);
                        return;
                    }
                    Some(_) => {}
                },
                () = sleep_until(expires.unwrap_or_else(far_future)), if expires.is_some() => {
                    // RFC 6665 §4.2.1.4: not refreshed in time, removed, and
                    // the notifier "SHOULD send a NOTIFY request with a
                    // "Subscription-State" value of "terminated"" with
                    // "reason=timeout".
                    self.subscription = Subscription::default();
                    self.notify("terminated;reason=timeout".into(), None);
                }
                () = sleep_until(nickname_deadline.unwrap_or_else(far_future)), if nickname_deadline.is_some() => {
                    self.nickname_timeout(&handle);
                }
                () = sleep_until(next_deadline.unwrap_or_else(far_future)), if next_deadline.is_some() => {
                    // §6.3.1: no reflection in time; the phone's failure REPORT.
                    if let Some(p) = self.pending.pop_front()
                        && let Some(id) = p.message_id
                    {
                        report_failure(&handle, &id, 408, Some(p.wrapper));
                    }
                }
            }
        }
    }

    fn end(&mut self, handle: &SessionHandle, why: End) {
        if self.subscription.until.is_some() {
            // RFC 4575 §3.3: the conference ended for this subscriber.
            self.notify("terminated;reason=noresource".into(), None);
        }
        handle.close();
        self.shared().end(&self.o.call_id, why);
    }

    /// XEP-0045: the occupant's own unavailable presence ends the
    /// occupancy (kicked 307, banned 301, removed 321/322, service shut
    /// down 332, the room destroyed), unless it is the first half of a
    /// nickname change (303), whose new nickname is then Parley's.
    fn ends_occupancy(&mut self, p: &Presence) -> bool {
        let Some(o) = OccupantPresence::from_presence(p) else {
            return false;
        };
        let own = o.is_self() || o.nickname == self.o.nickname;
        if o.available || !own {
            return false;
        }
        if o.status_codes.contains(&STATUS_NICK_CHANGE) {
            if let Some(new) = o.new_nickname {
                self.o.nickname = new;
            }
            return false;
        }
        true
    }

    /// A message from the room or an occupant (§6.3).
    pub(super) fn room_message(&mut self, m: &Message, handle: Option<&SessionHandle>) {
        let from = m.from.as_deref().and_then(|f| Jid::parse(f).ok());
        let Some(from) = from else { return };
        match m.message_type {
            Some(MessageType::Error) => {
                let id = m.id.as_deref();
                if let Some(i) = self
                    .pending
                    .iter()
                    .position(|p| Some(p.stanza_id.as_str()) == id)
                    && let Some(p) = self.pending.remove(i)
                    && let (Some(message_id), Some(handle), Some(error)) =
                        (p.message_id, handle, m.error.as_ref())
                {
                    let status = room_message_refusal_to_msrp(error);
                    report_failure(handle, &message_id, status.code(), Some(p.wrapper));
                }
                return;
            }
            Some(MessageType::Groupchat) if m.subject.is_some() && m.body.is_none() => {
                // The subject (XEP-0045 §7.2.15, from the room or the
                // occupant who set it): the conference description's.
                self.subject = m.subject.clone().filter(|s| !s.is_empty());
                if self.complete {
                    self.notify_roster();
                }
                return;
            }
            Some(MessageType::Groupchat) if from.resource().is_none() => return,
            Some(MessageType::Groupchat)
                if from.resource() == Some(self.o.nickname.as_str())
                    && translate::delay_stamp(m).is_none() =>
            {
                // §6.3.1: the reflection of the phone's own message.
                let body = m.body.as_deref().unwrap_or_default();
                let at = self
                    .pending
                    .iter()
                    .position(|p| m.id.as_deref() == Some(p.stanza_id.as_str()) || p.body == body);
                if let Some(i) = at
                    && let Some(p) = self.pending.remove(i)
                    && let (Some(id), Some(handle)) = (p.message_id, handle)
                {
                    let _ = handle.report_success(&id);
                }
                return;
            }
            Some(MessageType::Groupchat) => {}
            _ if !self.o.private_messages => {
                // RFC 7701 §6.2: "The MSRP switch MUST NOT forward private
                // messages to a recipient that does not support private
                // messaging" (no `private-messages` in the phone's offer,
                // §8). The sender learns it: RFC 6120 §8.3.3.3, "The
                // feature represented in the XML stanza is not implemented
                // by the intended recipient".
                if m.body.is_some() {
                    self.shared()
                        .links
                        .bounce(m, StanzaError::new(DefinedCondition::FeatureNotImplemented));
                }
                return;
            }
            _ => {}
        }
        if !self.o.takes_wrapped_text {
            self.not_for_this_phone(m);
            return;
        }
        self.forward(m, handle);
    }

    /// A whole message from the phone (§6.3, Table 5). The room session
    /// answers the SEND that completed it here (`MessageAnswers::
    /// Application`, `join.rs`): RFC 7701 §6's refusals are its response
    /// (403, 404, 415), and only what the room says later is a REPORT.
    fn phone_message(&mut self, handle: &SessionHandle, delivered: Delivered) {
        let answer = delivered.answer.clone();
        let message = delivered.message;
        let id = self.shared().stanza_id();
        let occupants = (self.o.roster.dropped() == 0).then(|| self.o.roster.occupants());
        let sender = translate::Sender {
            room: &self.o.room,
            room_uri: &self.o.room_uri,
            me: &self.o.me,
            phone_uri: &self.o.phone_uri,
            nickname: &self.o.nickname,
            occupants,
        };
        let outcome = match &message.content_type {
            Some(content_type) => {
                translate::phone_send(&sender, content_type, &message.body, id.clone())
            }
            None => Err(translate::Refused {
                code: 415,
                wrapper: None,
            }),
        };
        // RFC 7701 §6.2: "If the recipient does not support private
        // messages, the MSRP switch MUST reject the request with a 428
        // response." Parley knows that only of its own SIP users' occupants
        // (XMPP occupants take private messages).
        let outcome = outcome.and_then(|sent| {
            let refuses = !sent.to_everyone
                && sent
                    .message
                    .to
                    .as_deref()
                    .is_some_and(|to| self.shared().table().refuses_private(to));
            if refuses {
                Err(translate::Refused {
                    code: 428,
                    wrapper: Some(sent.wrapper),
                })
            } else {
                Ok(sent)
            }
        });
        match outcome {
            Ok(sent) => {
                if let Some(tid) = &answer {
                    let _ = handle.answer_message(tid, MsrpStatus(200));
                }
                let body = sent.message.body.clone().unwrap_or_default();
                self.shared().links.send(Stanza::Message(sent.message));
                let asked = delivered.success_report == SuccessReport::Yes;
                if sent.to_everyone {
                    if self.pending.len() >= MAX_PENDING {
                        self.pending.pop_front();
                    }
                    self.pending.push_back(Pending {
                        stanza_id: id,
                        body,
                        message_id: message.message_id.clone(),
                        wrapper: sent.wrapper,
                        deadline: Instant::now() + self.shared().join_deadline(),
                    });
                } else if asked && let Some(mid) = &message.message_id {
                    let _ = handle.report_success(mid);
                }
            }
            Err(refused) => {
                info!(call_id = %self.o.call_id, code = refused.code, "SEND to the room refused");
                match (&answer, &message.message_id) {
                    (Some(tid), _) => {
                        let _ = handle.answer_message(tid, MsrpStatus(refused.code));
                    }
                    // Answered already (not the room session's way): the
                    // refusal can only be a REPORT.
                    (None, Some(mid)) => {
                        report_failure(handle, mid, refused.code, refused.wrapper);
                    }
                    (None, None) => {}
                }
            }
        }
    }

    /// The phone subscribed (or unsubscribed, `expires` 0).
    pub(super) fn subscribe(&mut self, expires: u32) {
        if expires == 0 {
            // RFC 6665 §4.1.2.3: "a successful unsubscription will also
            // trigger a final NOTIFY request".
            self.subscription = Subscription::default();
            self.notify("terminated".into(), None);
            return;
        }
        self.subscription.until =
            Some(Instant::now() + std::time::Duration::from_secs(u64::from(expires)));
        // A new subscription, or a refresh: the full document (RFC 4575 §5.1).
        self.subscription.sent = None;
        if self.complete {
            self.notify_roster();
        }
    }

    /// §6.5: the mediated invitation (F58, XEP-0045 §7.8.2), and the
    /// NOTIFY that ends the REFER's subscription (Example 43).
    pub(super) fn invite(&mut self, invitee: &Jid) {
        let id = self.shared().stanza_id();
        let invitation = mediated_invitation(&self.o.me, &self.o.room, invitee, id);
        self.shared().links.send(Stanza::Message(invitation));
        let previous = self.notify_chain.take();
        self.notify_chain = conference::send_notify(
            self.shared(),
            &self.o.call_id,
            Notify::Refer,
            REFER_NOTIFY_STATE.into(),
            Some((SIPFRAG_TYPE.into(), REFER_NOTIFY_BODY.as_bytes().to_vec())),
            previous,
        );
    }

    /// A NOTIFY in the dialog, after the one before it (`conference::notify`).
    fn notify(&mut self, state: String, body: Option<String>) {
        let previous = self.notify_chain.take();
        self.notify_chain =
            conference::notify(self.shared(), &self.o.call_id, state, body, previous);
    }

    /// §6.2: the roster to the subscription: full the first time, then the
    /// partial document of the change (RFC 4575 §4.4).
    fn notify_roster(&mut self) {
        let Some(until) = self.subscription.until else {
            // §6: kept until the subscription is established.
            return;
        };
        let now = Instant::now();
        if until <= now {
            self.subscription = Subscription::default();
            return;
        }
        let full = self.o.roster.to_conference_info(
            &self.o.room_uri,
            self.subscription.version + 1,
            self.subject.as_deref(),
        );
        let doc = match &self.subscription.sent {
            None => full.clone(),
            Some(before) => match partial_update(before, &full, self.subscription.version + 1) {
                Some(partial) => partial,
                None => return,
            },
        };
        self.subscription.version += 1;
        self.subscription.sent = Some(full);
        let left = until
            .saturating_duration_since(now)
            .as_secs()
            .min(u64::from(MAX_EXPIRES));
        self.notify(format!("active;expires={left}"), Some(doc.to_xml()));
    }
}

impl Shared {
    pub(super) fn metrics_join(&self, outcome: GroupchatJoin) {
        self.links.metrics.groupchat_join(outcome);
    }

    /// The occupancy never started: out of the table, nothing owed.
    pub(super) fn forget(&self, call_id: &str) {
        self.table().remove(call_id);
        self.gauges();
    }
}

/// A failure REPORT on a message of the phone, with the CPIM wrapper RFC
/// 7701 §6.2 asks for ("Any potential REPORT request that the MSRP switch
/// sends to the sender MUST include a Message/CPIM wrapper").
fn report_failure(handle: &SessionHandle, id: &MessageId, code: u16, wrapper: Option<Vec<u8>>) {
    let _ = match wrapper {
        Some(body) => {
            handle.report_failure_with_body(id, MsrpStatus(code), "message/cpim", body.into())
        }
        None => handle.report_failure(id, MsrpStatus(code)),
    };
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}
