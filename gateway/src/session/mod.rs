//! RFC 7573 chat sessions: a SIP user's INVITE sets up an MSRP session
//! (RFC 4975) with an XMPP user, whose messages become `<message
//! type='chat'/>` and back (§5, Figure 2). Beside it, in this folder: the
//! INVITE (`invite.rs`), the SDP offer's answer (`crate::msrp_offer`, shared with
//! `groupchat/`), the open sessions and their limits
//! (`table.rs`) and each session's task between the MSRP endpoint and the
//! component stream (`relay.rs`). The rules are `parley_mapping::chat`'s and
//! `parley_msrp`'s; this module applies them to live dialogs and connections.
//!
//! Parley also starts sessions for XMPP users (§4, Figure 1) when
//! `sessions.start = always` (`start.rs`): the first chat message for a SIP
//! user with no session sends an INVITE and waits in the table; if the
//! phone refuses or does not answer, it and what followed go as SIP MESSAGE
//! through page mode (the `fallback` the gateway gives), and that user gets
//! page mode for `sessions.fallback_secs`.
//!
//! A phone's `Success-Report: yes` becomes `<request/>`, and the XMPP
//! user's `<received/>` its REPORT (§7; the MSRP session leaves the REPORT
//! to the relay, `application_reports`).
//!
//! Session timers (RFC 4028) and the re-INVITEs and UPDATEs that refresh
//! a session are `timer.rs`'s.
//!
//! What it does not do yet (issue 21): a re-INVITE or UPDATE that changes
//! the session (another MSRP path, or no offer) is refused with 488, the
//! session kept as it was (RFC 3261 §14.2); `msrps`; failed SENDs mapped
//! back as stanza errors (RFC 7573 §7 asks for `Failure-Report: no`).

mod invite;
pub(crate) mod relay;
mod start;
mod table;
mod timer;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info};

use parley_mapping::address::Jid;
use parley_mapping::chat::{self, ToMsrp};
use parley_mapping::error::{ALLOW_WITH_SESSIONS, MappingError};
use parley_msrp::endpoint::Endpoint as MsrpEndpoint;
use parley_msrp::session::NewMessage;
use parley_msrp::wire::{FailureReport, MessageId, SuccessReport};
use parley_sip::dialog::session::InDialog;
use parley_sip::{IncomingRequest, OutgoingRequest, StatusCode};
use parley_xmpp::stanza::{DefinedCondition, Message, MessageType, Stanza, StanzaError};

use crate::config::SessionStart;
use crate::links::Links;
use crate::metrics::{Direction, Fallback};
use crate::msrp_offer;
use relay::{Command, Receipt};
pub(crate) use table::Limits;
use table::{Entry, Pair, Starting, Table};

/// Page mode, for messages a session cannot carry (the router's
/// `Messages::xmpp_message`).
pub(crate) type PageMode = Arc<dyn Fn(Message) + Send + Sync>;

/// XMPP messages held while Parley's INVITE is out, at most; more go as
/// SIP MESSAGE at once.
const MAX_HELD: usize = 32;

/// Commands waiting for one session's task, at most.
const COMMAND_CAPACITY: usize = 64;

/// `[sessions]` as the handler uses it.
pub(crate) struct SessionSettings {
    /// The bound MSRP endpoint.
    pub(crate) msrp: MsrpEndpoint,
    /// The host written in `a=path`.
    pub(crate) host: String,
    /// `sessions.max_message_bytes`.
    pub(crate) max_message_bytes: u64,
    /// `sessions.max_sessions`, `sessions.max_sessions_per_user`.
    pub(crate) limits: Limits,
    /// `sessions.idle_secs`.
    pub(crate) idle: Duration,
    /// `limits.sip_retry_after_secs`, for the 503 of a full table.
    pub(crate) retry_after_secs: u32,
    /// `sessions.start`.
    pub(crate) start: SessionStart,
    /// `sessions.answer_secs`.
    pub(crate) answer: Duration,
    /// `sessions.fallback_secs`.
    pub(crate) fallback: Duration,
}

/// Why a session ends; each says which of BYE and `gone` is still owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The phone's BYE (F29–F32): `gone` to the XMPP user (§6.1).
    Bye,
    /// The XMPP user's `gone` (§6.1): BYE to the phone.
    Gone,
    /// The MSRP connection failed (RFC 4975 §5.4): both.
    ConnectionLost,
    /// `sessions.idle_secs` passed without a message: both.
    Idle,
    /// Parley stops (issue 21 item 6): both.
    Shutdown,
    /// A new INVITE for the same pair: BYE only, the conversation goes on.
    Replaced,
    /// The session timer ran out, or its refresh failed (RFC 4028 §10): both.
    Expired,
}

impl End {
    fn sends_bye(self) -> bool {
        self != End::Bye
    }

    fn sends_gone(self) -> bool {
        !matches!(self, End::Gone | End::Replaced)
    }
}

/// What the handler and every session's task share.
pub(crate) struct Shared {
    pub(crate) links: Arc<Links>,
    settings: SessionSettings,
    table: Mutex<Table>,
    id_prefix: String,
    page_mode: PageMode,
    /// Cancelled when Parley stops: INVITEs still out are cancelled.
    stopping: tokio_util::sync::CancellationToken,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh stanza id for what Parley sends to XMPP.
    pub(crate) fn stanza_id(&self) -> String {
        format!(
            "{}{:x}",
            self.id_prefix,
            self.links.registry.next_correlation()
        )
    }

    /// A message went through the session with `call_id` at `now`.
    pub(crate) fn touch(&self, call_id: &str, now: Instant) {
        if let Some(e) = self.table().get_mut(call_id) {
            e.last_activity = now;
        }
    }

    /// Ends the session with `call_id` (once: a second call finds nothing):
    /// its task stops, and the BYE and `gone` that `why` still owes go out.
    pub(crate) fn end(&self, call_id: &str, why: End) {
        let Some(entry) = self.table().remove(call_id) else {
            return;
        };
        self.finish(call_id, entry, why);
    }

    fn finish(&self, call_id: &str, mut entry: Entry, why: End) {
        info!(call_id, ?why, "chat session ended");
        let _ = entry.commands.try_send(Command::Close);
        if why.sends_gone() {
            // §6.1, Example 22: the SIP side left the conversation.
            match chat::gone(&entry.sip_jid, &entry.xmpp_jid, &entry.thread) {
                Ok(mut gone) => {
                    gone.id = Some(self.stanza_id());
                    self.links.send(Stanza::Message(gone));
                }
                Err(e) => self.links.metrics.error(e.kind()),
            }
        }
        if why.sends_bye() && !entry.dialog.is_ended() {
            // RFC 3261 §15.1.1; its answer changes nothing here.
            let bye = OutgoingRequest::in_dialog(entry.dialog.bye(), vec![], None);
            let sip = self.links.sip.clone();
            let metrics = Arc::clone(&self.links.metrics);
            let call_id = call_id.to_owned();
            self.links.tasks.spawn(async move {
                match sip.send_request(bye).await {
                    Ok(r) => debug!(call_id, status = r.status, "BYE answered"),
                    Err(e) => {
                        debug!(call_id, error = %e, "BYE unanswered");
                        metrics.error(e.kind());
                    }
                }
            });
        }
        self.gauges();
    }

    fn gauges(&self) {
        let open = self.table().len();
        self.links.metrics.msrp_sessions(open);
    }

    /// `message` goes as SIP MESSAGE (RFC 7572) instead of in a session.
    pub(crate) fn fall_back(&self, message: Message, why: Fallback) {
        self.links.metrics.msrp_fallback(why);
        (self.page_mode)(message);
    }

    /// RFC 7573 §4, §5 (F26–F28), §6, §7: an XMPP message to a SIP user
    /// goes into the pair's open session, waits for the one Parley is
    /// starting, or starts one (`sessions.start = always`); anything else is
    /// given back for page mode.
    pub(crate) fn route(self: &Arc<Self>, message: Message) -> Option<Message> {
        if matches!(
            message.message_type,
            Some(MessageType::Error | MessageType::Groupchat)
        ) {
            return Some(message);
        }
        let parse = |j: Option<&str>| j.and_then(|j| Jid::parse(j).ok());
        let (Some(from), Some(to)) = (parse(message.from.as_deref()), parse(message.to.as_deref()))
        else {
            return Some(message);
        };
        let pair = Pair::of(&to, &from);
        let mut table = self.table();
        let open = table.by_pair_mut(&pair).map(|(call_id, _)| call_id);
        if let Some(call_id) = open {
            return self.send_in_session(table, call_id, message, from);
        }
        if let Some(starting) = table.starting_mut(&pair) {
            if starting.held.len() < MAX_HELD {
                starting.held.push(message);
                return None;
            }
            return Some(message);
        }
        if self.settings.start != SessionStart::Always || !start::worth_a_session(&message) {
            return Some(message);
        }
        let now = Instant::now();
        if table.declined(&pair.sip_user, now) {
            drop(table);
            self.fall_back(message, Fallback::Declined);
            return None;
        }
        if table.admit(&pair, self.settings.limits).is_err() {
            // No room for one more session: the conversation goes as page mode.
            return Some(message);
        }
        let Some(invite) = start::prepare(self, &message, from, to) else {
            return Some(message);
        };
        table.start(
            pair.clone(),
            Starting {
                call_id: invite.call_id.clone(),
                held: vec![message],
            },
        );
        drop(table);
        self.links
            .tasks
            .spawn(start::run(Arc::clone(self), pair, invite));
        None
    }

    /// `message` in the open session with `call_id` (the table locked).
    fn send_in_session(
        &self,
        mut table: MutexGuard<'_, Table>,
        call_id: String,
        message: Message,
        from: Jid,
    ) -> Option<Message> {
        let Some(entry) = table.get_mut(&call_id) else {
            return Some(message);
        };
        match self.command_for(message, from, entry.peer_takes_composing) {
            Routed::Command(command) => {
                entry.last_activity = Instant::now();
                if let Err(full) = entry.commands.try_send(command) {
                    drop(table);
                    self.links.metrics.error("msrp_session_busy");
                    if let Command::Send {
                        stanza: Some(message),
                        ..
                    } = full.into_inner()
                    {
                        self.links.bounce(
                            &message,
                            StanzaError::new(DefinedCondition::ResourceConstraint),
                        );
                    }
                }
            }
            Routed::Gone => {
                drop(table);
                self.end(&call_id, End::Gone);
            }
            Routed::Dropped => {}
            Routed::Refused(message, e) => {
                drop(table);
                info!(%call_id, error = %e, "XMPP message not carried in the session");
                self.links.metrics.error(e.kind());
                self.links.bounce(&message, e.stanza_error());
            }
        }
        None
    }

    /// RFC 7573 §4 (F9), §5 (F26–F28), §6, §7: what `message` from `from`
    /// becomes in a session.
    fn command_for(&self, message: Message, from: Jid, peer_takes_composing: bool) -> Routed {
        let send = |content_type: String, body: Vec<u8>, success: bool| NewMessage {
            message_id: fresh_message_id(),
            content_type,
            body: body.into(),
            success_report: if success {
                SuccessReport::Yes
            } else {
                SuccessReport::No
            },
            // RFC 7573 §7: a gateway "SHOULD" set it to `no`.
            failure_report: FailureReport::No,
        };
        match chat::to_msrp(&message) {
            Ok(ToMsrp::Send {
                content_type,
                body,
                success_report,
            }) => {
                self.links
                    .metrics
                    .msrp_message(Direction::XmppToSip, body.len());
                let receipt = match (success_report, &message.id) {
                    (true, Some(id)) => Some(Receipt {
                        stanza_id: id.clone(),
                        to: from,
                    }),
                    _ => None,
                };
                // The stanza rides along for page mode until it is on the
                // wire (`relay.rs`).
                Routed::Command(Command::Send {
                    message: send(content_type, body, receipt.is_some()),
                    receipt,
                    stanza: Some(Box::new(message)),
                })
            }
            Ok(ToMsrp::Composing { body }) if peer_takes_composing => {
                Routed::Command(Command::Send {
                    message: send("application/im-iscomposing+xml".into(), body, false),
                    receipt: None,
                    stanza: None,
                })
            }
            Ok(ToMsrp::Gone) => Routed::Gone,
            // §7: a receipt for what the phone sent → its REPORT (`relay.rs`).
            Ok(ToMsrp::Receipt { id }) => Routed::Command(Command::Report { stanza_id: id }),
            // A chat state the phone does not take, or a notification with
            // nothing to carry: dropped.
            Ok(ToMsrp::Composing { .. }) | Err(MappingError::NotificationOnly) => Routed::Dropped,
            Err(e) => Routed::Refused(message, e),
        }
    }

    /// Where Parley's MSRP endpoint is, for an offer or an answer.
    fn local(&self) -> msrp_offer::Local {
        msrp_offer::Local {
            host: self.settings.host.clone(),
            port: self.settings.msrp.local_addr().map_or(0, |a| a.port()),
            tls_port: self.settings.msrp.local_tls_addr().map(|a| a.port()),
            max_message_bytes: self.settings.max_message_bytes,
            accept_types: msrp_offer::CHAT_ACCEPT_TYPES,
            accept_wrapped_types: msrp_offer::CHAT_ACCEPT_WRAPPED_TYPES,
            chatroom: None,
        }
    }
}

/// What an XMPP message becomes in a session.
enum Routed {
    /// A command for the session's relay.
    Command(Command),
    /// `<gone/>`: the session ends (§6.1).
    Gone,
    /// Nothing to carry.
    Dropped,
    /// Refused with this mapping error, to be bounced.
    Refused(Message, MappingError),
}

/// Chat sessions' own state; the rest is in [`Links`].
pub(crate) struct Sessions {
    shared: Arc<Shared>,
}

impl Sessions {
    pub(crate) fn new(links: Arc<Links>, settings: SessionSettings, page_mode: PageMode) -> Self {
        let id_prefix = if links.store.is_shared() {
            format!("parley-{}-", links.store.instance_id())
        } else {
            "parley-".to_owned()
        };
        Self {
            shared: Arc::new(Shared {
                links,
                settings,
                table: Mutex::new(Table::default()),
                id_prefix,
                page_mode,
                stopping: tokio_util::sync::CancellationToken::new(),
            }),
        }
    }

    /// RFC 7573 §5 (F17–F22): an INVITE from a SIP user to an XMPP user
    /// (`invite.rs`); one with a To tag is a re-INVITE.
    pub(crate) fn sip_invite(&self, request: IncomingRequest) {
        if request.view().to_tag().is_some() {
            self.in_dialog(request);
            return;
        }
        invite::handle(&self.shared, request);
    }
    /// A request inside a session's dialog: BYE (F29–F32), a re-INVITE.
    pub(crate) fn in_dialog(&self, request: IncomingRequest) {
        let call_id = request.call_id().to_owned();
        let (view, responder) = request.into_responder();
        let decided = {
            let mut table = self.shared.table();
            match table.get_mut(&call_id) {
                // RFC 3261 §12.2.2: no such dialog, 481.
                None => Err((StatusCode::CALL_DOES_NOT_EXIST, None, vec![])),
                Some(entry) => entry
                    .dialog
                    .handle_request(view.message(), || rand::random::<u32>() % 11)
                    .map_err(|r| r.response_parts()),
            }
        };
        match decided {
            Err((status, reason, headers)) => responder.respond(status, reason, headers, None),
            Ok(InDialog::Bye) => {
                // §15.1.2: 200, and the session is over.
                responder.respond(StatusCode::OK, None, vec![], None);
                self.shared.end(&call_id, End::Bye);
            }
            Ok(kind @ (InDialog::Reinvite | InDialog::Update)) => {
                timer::answer_refresh(&self.shared, &call_id, kind, &view, responder);
            }
            Ok(InDialog::Ack) => {}
            Ok(_) => {
                // RFC 3261 §21.4.6: a 405 "MUST contain an Allow header field".
                responder.respond(
                    StatusCode::METHOD_NOT_ALLOWED,
                    None,
                    vec![("Allow".into(), ALLOW_WITH_SESSIONS.into())],
                    None,
                );
            }
        }
    }

    /// An XMPP message to a SIP user: into a session (`Shared::route`), or
    /// given back for page mode.
    pub(crate) fn xmpp_message(&self, message: Message) -> Option<Message> {
        self.shared.route(message)
    }

    /// The reaper's tick: sessions idle for `sessions.idle_secs` end.
    pub(crate) fn reap(&self, now: Instant) {
        timer::tick(&self.shared, now);
        let Some(cutoff) = now.checked_sub(self.shared.settings.idle) else {
            return;
        };
        let idle = self.shared.table().idle_since(cutoff);
        for call_id in idle {
            self.shared.end(&call_id, End::Idle);
        }
    }

    /// Shutdown (issue 21 item 6): BYE and `gone` for every open session;
    /// the BYEs are the drain's tasks, bounded by its deadline.
    pub(crate) fn stop(&self) {
        // Sessions being started: their INVITEs are cancelled (`start.rs`)
        // and what they held goes as SIP MESSAGE.
        self.shared.stopping.cancel();
        let starting = self.shared.table().take_all_starting();
        for message in starting.into_iter().flat_map(|s| s.held) {
            self.shared.fall_back(message, Fallback::SessionFailed);
        }
        let all = self.shared.table().call_ids();
        for call_id in all {
            self.shared.end(&call_id, End::Shutdown);
        }
    }
}

/// RFC 4975 §7.1.1: a Message-ID unique within the session; 64 random bits.
fn fresh_message_id() -> MessageId {
    let text = format!("{:016x}", rand::random::<u64>());
    MessageId::new(&text).expect("16 hex digits are an ident")
}
