//! One XMPP user in one SIP conference: the task that joins (`join.rs`),
//! subscribes to the roster (`roster.rs`), then carries presence and
//! messages both ways until either side leaves (§5.8). The router reaches
//! it only through [`Command`]s.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info};

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::error::ALLOW_WITH_SESSIONS;
use parley_mapping::groupchat::coherent_state::{
    Applied, ConferenceView, UserChange, user_changes,
};
use parley_mapping::groupchat::muc_error::{
    nickname_failure_to_stanza_error, room_send_failure_to_stanza_error,
};
use parley_mapping::groupchat::occupant::{
    MucAffiliation, MucRole, OccupantPresence, STATUS_NICK_CHANGE, STATUS_SELF,
};
use parley_mapping::groupchat::room_message::RoomRecipient;
use parley_mapping::groupchat::room_presence::room_request;
use parley_mapping::groupchat::{RoomRequest, change_presences, roster_presences, subject_message};
use parley_msrp::endpoint::{SessionEvent, SessionHandle};
use parley_msrp::session::{Delivered, Event};
use parley_msrp::wire::{MessageId, TransactionId};
use parley_sip::dialog::session::{InDialog, Session as Dialog};
use parley_sip::dialog::subscription::{SubscriptionState, Substate};
use parley_sip::{IncomingRequest, StatusCode};
use parley_xmpp::stanza::{Message, MessageType, Presence, Stanza};

use super::history;
use super::invite;
use super::join::{self, Joined};
use super::refresh;
use super::roster::{self, Subscription};
use super::{Shared, to_occupant, translate};
use crate::metrics::ConferenceJoin;

/// Groupchat messages of the user awaiting the SEND's answer, at most.
const MAX_PENDING: usize = 64;

/// What the router asks of an occupancy's task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Presence or a message of the user to the room or an occupant.
    User(Box<Stanza>),
    /// A request of the focus in one of the occupancy's dialogs.
    Sip(Box<IncomingRequest>),
    /// Parley stops.
    Close,
}

/// What `mod.rs` hands to a new task.
pub(super) struct Start {
    pub(super) id: u64,
    pub(super) user: Jid,
    pub(super) room: Jid,
    pub(super) nickname: String,
}

/// Why an occupancy ends; which of BYE and unsubscribing is still owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// §5.8: the user's unavailable presence (or its server's, on logout).
    UserLeft,
    /// The focus's BYE.
    FocusBye,
    /// The subscription was terminated, or the conference deleted.
    SubscriptionEnded,
    /// The MSRP connection failed.
    ConnectionLost,
    /// Parley stops.
    Shutdown,
}

/// What handling one input asks next.
enum Flow {
    Go,
    End(End),
}

struct Occupancy {
    shared: Arc<Shared>,
    id: u64,
    user: Jid,
    room: Jid,
    nickname: String,
    conference: SipAddress,
    me: SipAddress,
    dialog: Dialog,
    view: ConferenceView,
    /// The first roster (and the self-presence) went to the user.
    roster_sent: bool,
    /// When the self-presence goes without a roster, if no NOTIFY came.
    roster_due: Instant,
    subscription: Option<Subscription>,
    /// The user's groupchat messages, by the SEND's Message-ID, for the
    /// reflection on its 200 (§5.5.1 F19).
    pending: VecDeque<(MessageId, Message)>,
    /// A nickname change out (§5.6): the NICKNAME and the nickname asked.
    renaming: Option<(TransactionId, String)>,
    /// The Contact of the user's requests (`contact.rs`).
    contact: Option<String>,
    /// What a refresh of the INVITE dialog is answered with (`refresh.rs`).
    kept: refresh::Kept,
    /// The switch's messages until the self-presence (`history.rs`).
    held: history::Held,
}

/// Runs the occupancy from the join presence to its end.
pub(super) async fn run(shared: Arc<Shared>, start: Start, mut commands: mpsc::Receiver<Command>) {
    let Start {
        id,
        user,
        room,
        nickname,
    } = start;
    let occupant = to_occupant(&room, &nickname);
    let joined = match join::join(&shared, id, &user, &occupant, &nickname).await {
        Ok(j) => j,
        Err(failed) => {
            shared.links.metrics.conference_join(failed.outcome);
            shared.presence_error(&occupant, &user, failed.error);
            shared.forget(id);
            return;
        }
    };
    shared.links.metrics.conference_join(ConferenceJoin::Joined);
    info!(%user, %room, nickname, "joined the conference");
    let Joined {
        dialog,
        mut handle,
        conference,
        me,
        early,
        contact,
        kept,
    } = joined;
    let subscription = roster::subscribe(&shared, id, &conference, &me, contact.as_deref()).await;
    let roster_due = Instant::now() + shared.step();
    let mut o = Occupancy {
        shared,
        id,
        user,
        room,
        nickname,
        conference,
        me,
        dialog,
        view: ConferenceView::new(),
        roster_sent: false,
        roster_due,
        subscription,
        pending: VecDeque::new(),
        renaming: None,
        contact,
        kept,
        held: history::Held::default(),
    };
    if o.subscription.is_none() {
        // No roster to come: the join still worked (F9), say so.
        o.entered(&[]);
        o.roster_sent = true;
    }
    for event in early {
        if let Flow::End(why) = o.session_event(&handle, event) {
            o.end(&handle, why).await;
            return;
        }
    }
    loop {
        let refresh = o.subscription.as_ref().map(|s| s.refresh_at);
        let flow = tokio::select! {
            command = commands.recv() => match command {
                Some(Command::User(stanza)) => o.user_stanza(&handle, *stanza),
                Some(Command::Sip(request)) => o.focus_request(*request).await,
                Some(Command::Close) | None => Flow::End(End::Shutdown),
            },
            event = handle.next_event() => match event {
                Some(event) => o.session_event(&handle, event),
                None => Flow::End(End::ConnectionLost),
            },
            () = sleep_until(o.roster_due), if !o.roster_sent => {
                // No NOTIFY within `conference.join_secs`: the join worked
                // (F9), the roster comes as changes if it comes.
                o.entered(&[]);
                o.roster_sent = true;
                Flow::Go
            }
            () = sleep_until(refresh.unwrap_or_else(far_future)), if refresh.is_some() => {
                o.refresh().await;
                Flow::Go
            }
        };
        if let Flow::End(why) = flow {
            o.end(&handle, why).await;
            return;
        }
    }
}

impl Occupancy {
    fn occupant(&self) -> Jid {
        to_occupant(&self.room, &self.nickname)
    }

    fn send_presence(&self, p: Presence) {
        self.shared.links.send(Stanza::Presence(p));
    }

    /// The user's own occupant presence (XEP-0045 §7.2.2: status 110).
    fn send_self_presence(&self, available: bool, extra: &[u16]) {
        let mut status_codes = vec![STATUS_SELF];
        status_codes.extend_from_slice(extra);
        let me = OccupantPresence {
            nickname: self.nickname.clone(),
            role: if available {
                MucRole::Participant
            } else {
                MucRole::None
            },
            affiliation: MucAffiliation::None,
            real_jid: None,
            available,
            status_codes,
            new_nickname: None,
        };
        if let Ok(p) = me.to_presence(&self.room, &self.user.to_string()) {
            self.send_presence(p);
        }
    }

    /// The join is complete: the self-presence (`extra` status codes with
    /// 110), then what the switch sent meanwhile (`history.rs`).
    fn entered(&mut self, extra: &[u16]) {
        self.send_self_presence(true, extra);
        for raw in self.held.take() {
            if let Some((m, date_time)) = self.to_user(&raw.content_type, &raw.body) {
                let m = history::delayed(m, &self.room, date_time.as_deref(), raw.received);
                self.shared.links.send(Stanza::Message(m));
            }
        }
    }

    /// Presence or a message of the user.
    fn user_stanza(&mut self, handle: &SessionHandle, stanza: Stanza) -> Flow {
        match stanza {
            Stanza::Presence(p) => {
                let to = p.to.as_deref().and_then(|t| Jid::parse(t).ok());
                let Some(to) = to else { return Flow::Go };
                match room_request(&p, &to, Some(&self.nickname)) {
                    Some(RoomRequest::Exit { .. }) => Flow::End(End::UserLeft),
                    Some(RoomRequest::ChangeNickname { nickname }) => {
                        self.rename(handle, nickname);
                        Flow::Go
                    }
                    _ => Flow::Go,
                }
            }
            Stanza::Message(m) => {
                match invite::invitee(&m) {
                    Some(invitee) if m.message_type != Some(MessageType::Groupchat) => {
                        invite::refer(
                            &self.shared,
                            &mut self.dialog,
                            m,
                            &invitee,
                            self.contact.as_deref(),
                        );
                    }
                    _ => self.user_message(handle, m),
                }
                Flow::Go
            }
            Stanza::Iq(_) => Flow::Go,
        }
    }

    /// §5.6 (F22–F23): NICKNAME for the new nickname; one at a time.
    fn rename(&mut self, handle: &SessionHandle, nickname: String) {
        if self.renaming.is_some() {
            let error = nickname_failure_to_stanza_error(0, &self.room.to_string());
            self.shared
                .presence_error(&to_occupant(&self.room, &nickname), &self.user, error);
            return;
        }
        match handle.send_nickname(&nickname) {
            Ok(tid) => self.renaming = Some((tid, nickname)),
            Err(e) => {
                debug!(error = %e, "NICKNAME not sent");
                let error = nickname_failure_to_stanza_error(408, &self.room.to_string());
                self.shared
                    .presence_error(&to_occupant(&self.room, &nickname), &self.user, error);
            }
        }
    }

    /// §5.6: the switch's answer to a rename. 200: XEP-0045 §7.6's pair,
    /// unavailable from the old nickname with 303 and the new one, then
    /// available from the new one (both with 110, the user's own); else
    /// the presence error (425 → `<conflict/>`, Example 21).
    fn renamed(&mut self, tid: &TransactionId, status: u16) {
        let Some((asked, nickname)) = self.renaming.take_if(|(t, _)| t == tid) else {
            return;
        };
        let _ = asked;
        if status != 200 {
            let error = nickname_failure_to_stanza_error(status, &self.room.to_string());
            self.shared
                .presence_error(&to_occupant(&self.room, &nickname), &self.user, error);
            return;
        }
        let gone = OccupantPresence {
            nickname: self.nickname.clone(),
            role: MucRole::Participant,
            affiliation: MucAffiliation::None,
            real_jid: None,
            available: false,
            status_codes: vec![STATUS_NICK_CHANGE, STATUS_SELF],
            new_nickname: Some(nickname.clone()),
        };
        if let Ok(p) = gone.to_presence(&self.room, &self.user.to_string()) {
            self.send_presence(p);
        }
        self.nickname = nickname;
        self.send_self_presence(true, &[]);
    }

    /// §5.5: groupchat to the room → SEND To the conference; chat to
    /// `room/nick` → SEND To that participant.
    fn user_message(&mut self, handle: &SessionHandle, m: Message) {
        let to = m.to.as_deref().and_then(|t| Jid::parse(t).ok());
        let recipient = match (m.message_type, to.as_ref().and_then(Jid::resource)) {
            (Some(MessageType::Groupchat), None) => RoomRecipient::Everyone,
            (Some(MessageType::Chat), Some(nick)) => RoomRecipient::Occupant(nick.to_owned()),
            _ => return,
        };
        let Some(send) = translate::to_switch(
            &self.me,
            &self.conference,
            self.view.current(),
            &recipient,
            &m,
        ) else {
            return;
        };
        let message_id = send.message_id.clone();
        if let Err(e) = handle.send(send) {
            debug!(error = %e, "SEND to the switch not queued");
            self.shared.links.metrics.error("msrp_send_refused");
            self.shared
                .links
                .bounce(&m, room_send_failure_to_stanza_error(503));
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((message_id, m));
    }

    /// The SEND's answer: a groupchat message is reflected on 200 (§5.5.1
    /// F19); a refusal is the message's error (RFC 7701 §6.2).
    fn answered(&mut self, message_id: &MessageId, status: u16) {
        let Some(at) = self.pending.iter().position(|(id, _)| id == message_id) else {
            return;
        };
        let Some((_, m)) = self.pending.remove(at) else {
            return;
        };
        if status != 200 {
            self.shared
                .links
                .bounce(&m, room_send_failure_to_stanza_error(status));
            return;
        }
        if m.message_type == Some(MessageType::Groupchat) {
            let reflection = Message {
                from: Some(self.occupant().to_string()),
                to: Some(self.user.to_string()),
                ..m
            };
            self.shared.links.send(Stanza::Message(reflection));
        }
    }

    fn session_event(&mut self, handle: &SessionHandle, event: SessionEvent) -> Flow {
        match event {
            SessionEvent::Msrp(Event::Message(d)) => self.switch_message(handle, d),
            SessionEvent::Msrp(Event::Response { message_id, status }) => {
                self.answered(&message_id, status.0);
            }
            SessionEvent::Msrp(Event::NicknameResponse {
                transaction_id,
                status,
            }) => self.renamed(&transaction_id, status.0),
            SessionEvent::Closed(_) => return Flow::End(End::ConnectionLost),
            _ => {}
        }
        Flow::Go
    }

    /// §5.5.1 F20–F21, §5.5.2: a SEND from the switch → the user.
    fn switch_message(&mut self, handle: &SessionHandle, d: Delivered) {
        let message = d.message;
        if let Some(id) = &message.message_id {
            let _ = handle.report_success(id);
        }
        let Some(content_type) = message.content_type.as_deref() else {
            return;
        };
        if !self.roster_sent {
            // Not before the self-presence (`history.rs`).
            if self.held.hold(content_type, &message.body) {
                self.shared
                    .links
                    .metrics
                    .error("conference_history_dropped");
            }
            return;
        }
        if let Some((m, _)) = self.to_user(content_type, &message.body) {
            self.shared.links.send(Stanza::Message(m));
        }
    }

    /// A SEND's body as the message to the user, its CPIM DateTime with it.
    fn to_user(&self, content_type: &str, body: &[u8]) -> Option<(Message, Option<String>)> {
        let id = self.shared.stanza_id();
        let m = translate::from_switch(
            &self.conference,
            self.view.current(),
            &self.room,
            &self.user,
            content_type,
            body,
            id,
        );
        if m.is_none() {
            self.shared
                .links
                .metrics
                .error("conference_message_unreadable");
        }
        m
    }

    /// A request of the focus: BYE or re-INVITE in the INVITE dialog,
    /// NOTIFY in the subscription's.
    async fn focus_request(&mut self, request: IncomingRequest) -> Flow {
        match request.method() {
            "NOTIFY" => self.notify(request).await,
            _ => {
                let (view, responder) = request.into_responder();
                match self
                    .dialog
                    .handle_request(view.message(), || rand::random::<u32>() % 11)
                {
                    Ok(InDialog::Bye) => {
                        responder.respond(StatusCode::OK, None, vec![], None);
                        Flow::End(End::FocusBye)
                    }
                    Ok(InDialog::Ack) => Flow::Go,
                    Ok(kind @ (InDialog::Reinvite | InDialog::Update)) => {
                        let contact = self.contact.clone().unwrap_or_else(|| {
                            self.shared
                                .links
                                .sip
                                .contact(None, view.transport, view.source)
                        });
                        refresh::answer(
                            &mut self.dialog,
                            kind,
                            &view,
                            responder,
                            &self.kept,
                            contact,
                        );
                        Flow::Go
                    }
                    Ok(_) => {
                        responder.respond(
                            StatusCode::METHOD_NOT_ALLOWED,
                            None,
                            vec![("Allow".into(), ALLOW_WITH_SESSIONS.into())],
                            None,
                        );
                        Flow::Go
                    }
                    Err(r) => {
                        let (status, reason, headers) = r.response_parts();
                        responder.respond(status, reason, headers, None);
                        Flow::Go
                    }
                }
            }
        }
    }

    /// §5.3–§5.4 (F12–F15): a NOTIFY. The body first (refused with 400 or
    /// 413 when unreadable, the occupancy going on), then the state.
    async fn notify(&mut self, request: IncomingRequest) -> Flow {
        let (view, responder) = request.into_responder();
        let event = view.header("Event").unwrap_or_default();
        let package = event.split(';').next().unwrap_or_default().trim();
        if !package.eq_ignore_ascii_case("conference") {
            // §5.7 F30: the progress of a REFER (`Event: refer`, RFC 3515)
            // in the INVITE dialog; nothing for the user.
            let status = if package.eq_ignore_ascii_case("refer") {
                StatusCode::OK
            } else {
                // RFC 6665 §4.1.3: "If, for some reason, the event package
                // designated in the "Event" header field of the NOTIFY
                // request is not supported, the subscriber will respond
                // with a 489 (Bad Event) response."
                StatusCode::BAD_EVENT
            };
            responder.respond(status, None, vec![], None);
            return Flow::Go;
        }
        // RFC 3261 §12.2.2 in the subscription's dialog: an out-of-order
        // CSeq is refused (500), a new Contact is the focus's new target.
        if let Some(sub) = &mut self.subscription
            && let Err(r) = sub.dialog.handle_request(view.message())
        {
            let status = StatusCode::new(r.status).unwrap_or(StatusCode::BAD_REQUEST);
            responder.respond(status, Some(r.reason), vec![], None);
            return Flow::Go;
        }
        let state = view
            .header("Subscription-State")
            .and_then(|s| SubscriptionState::parse(&s));
        let read = roster::read_document(
            view.header("Content-Type").as_deref(),
            view.body(),
            self.shared.settings.config.max_occupants,
        );
        let doc = match read {
            Ok(doc) => doc,
            Err(status) => {
                self.shared
                    .links
                    .metrics
                    .error("conference_roster_unreadable");
                responder.respond(status, None, vec![], None);
                return Flow::Go;
            }
        };
        responder.respond(StatusCode::OK, None, vec![], None);
        let mut flow = Flow::Go;
        if let Some(doc) = doc {
            flow = self.roster(doc).await;
        }
        if state.is_some_and(|s| s.state == Substate::Terminated) {
            self.subscription = None;
            return Flow::End(End::SubscriptionEnded);
        }
        flow
    }

    /// A conference document into the view (RFC 4575 §4.6), and what
    /// changed as occupant presence.
    async fn roster(&mut self, doc: parley_mapping::groupchat::ConferenceInfo) -> Flow {
        let before = self.view.current().cloned();
        match self.view.apply(doc) {
            Applied::Discarded => Flow::Go,
            Applied::RefreshNeeded => {
                // §4.6: "the subscriber MUST generate a subscription
                // refresh request to trigger a full state notification".
                self.refresh().await;
                Flow::Go
            }
            Applied::ConferenceEnded => Flow::End(End::SubscriptionEnded),
            Applied::Replaced | Applied::Updated => {
                self.announce(before.as_ref());
                Flow::Go
            }
        }
    }

    /// The first roster (Example 10: others, then the self-presence with
    /// 110), or the changes since `before` (joins, leaves, renames).
    fn announce(&mut self, before: Option<&parley_mapping::groupchat::ConferenceInfo>) {
        let Some(current) = self.view.current().cloned() else {
            return;
        };
        let to = self.user.to_string();
        if !self.roster_sent {
            self.roster_sent = true;
            let (own_nick, changed) = self.own_nickname(&current);
            self.nickname = own_nick;
            let me = self.occupant();
            match roster_presences(&current, &self.conference, &self.room, &to, &self.nickname) {
                Ok(presences) => {
                    presences
                        .into_iter()
                        .filter(|p| !is_self_presence(p, &me))
                        .for_each(|p| self.send_presence(p));
                    // XEP-0045 §7.2.2: the self-presence last, 110; and 210
                    // when the service changed the nickname asked.
                    let extra: &[u16] = if changed { &[210] } else { &[] };
                    self.entered(extra);
                }
                Err(e) => debug!(error = %e, "roster not mapped"),
            }
            self.send_subject(&current, &to);
            return;
        }
        let subject = |doc: Option<&parley_mapping::groupchat::ConferenceInfo>| {
            doc.and_then(|d| d.description.as_ref())
                .and_then(|d| d.subject.clone())
        };
        if subject(before) != subject(Some(&current)) {
            self.send_subject(&current, &to);
        }
        let changes: Vec<UserChange<'_>> = user_changes(before, Some(&current))
            .into_iter()
            .filter(|c| !self.already_said(c))
            .collect();
        match change_presences(&changes, &self.conference, &self.room, &to, &self.nickname) {
            Ok(presences) => presences.into_iter().for_each(|p| self.send_presence(p)),
            Err(e) => debug!(error = %e, "roster change not mapped"),
        }
    }

    /// RFC 7702 §5.4, Example 11 (F15): "If the NOTIFY request included a
    /// subject, the gateway converts that into a separate XMPP message",
    /// after the self-presence (XEP-0045 §7.2.15: the subject follows the
    /// presence and the history), and again when a later document changes
    /// it. Example 11 carries no type; XEP-0045 §7.2.15's subject message
    /// is `type='groupchat'`, which is how MUC clients recognise it.
    fn send_subject(&self, doc: &parley_mapping::groupchat::ConferenceInfo, to: &str) {
        if let Some(mut m) = subject_message(doc, &self.room, to) {
            m.message_type = Some(MessageType::Groupchat);
            m.id = Some(self.shared.stanza_id());
            self.shared.links.send(Stanza::Message(m));
        }
    }

    /// The user's nickname as the focus lists the user's entity (and
    /// whether it differs from the one asked), else the one asked.
    fn own_nickname(&self, doc: &parley_mapping::groupchat::ConferenceInfo) -> (String, bool) {
        let listed = doc
            .users
            .iter()
            .flat_map(|u| &u.users)
            .find(|u| self.is_me(&u.entity))
            .and_then(|u| OccupantPresence::from_user(u, &self.conference))
            .map(|o| o.nickname);
        match listed {
            Some(n) if n != self.nickname => (n, true),
            _ => (self.nickname.clone(), false),
        }
    }

    fn is_me(&self, entity: &str) -> bool {
        SipAddress::parse(entity).is_ok_and(|e| {
            e.user() == self.me.user()
                && e.host().map(|h| h.to_ascii_lowercase())
                    == self.me.host().map(|h| h.to_ascii_lowercase())
        })
    }

    /// A rename of the user's own entry that `renamed` announced already.
    fn already_said(&self, change: &UserChange<'_>) -> bool {
        match change {
            UserChange::Changed { before, after } if self.is_me(&after.entity) => {
                let nick = |u| OccupantPresence::from_user(u, &self.conference).map(|o| o.nickname);
                nick(after).as_deref() == Some(self.nickname.as_str())
                    && nick(before) != nick(after)
            }
            _ => false,
        }
    }

    /// RFC 6665 §4.1.2.2: the subscription refreshed (and, after a gap, the
    /// full document asked, RFC 4575 §4.6). Refused: no roster from now on.
    async fn refresh(&mut self) {
        let Some(mut current) = self.subscription.take() else {
            return;
        };
        match roster::resubscribe(
            &self.shared,
            &mut current,
            roster::REQUESTED_EXPIRES,
            self.contact.as_deref(),
        )
        .await
        {
            Some(next) => {
                current.refresh_at = next.refresh_at;
                self.subscription = Some(current);
            }
            None => info!(room = %self.room, "conference subscription not refreshed"),
        }
    }

    /// The occupancy is over: the BYE and unsubscription still owed, the
    /// unavailable self-presence (§5.8 Example 27), out of the table.
    async fn end(mut self, handle: &SessionHandle, why: End) {
        info!(user = %self.user, room = %self.room, ?why, "left the conference");
        handle.close();
        if why != End::FocusBye {
            join::bye(&self.shared, self.dialog.clone());
        }
        if let Some(mut s) = self.subscription.take() {
            let _ = roster::resubscribe(&self.shared, &mut s, 0, self.contact.as_deref()).await;
        }
        self.send_self_presence(false, &[]);
        self.shared.forget(self.id);
    }
}

/// Whether `p` comes from `occupant`.
fn is_self_presence(p: &Presence, occupant: &Jid) -> bool {
    p.from.as_deref() == Some(occupant.to_string().as_str())
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}
