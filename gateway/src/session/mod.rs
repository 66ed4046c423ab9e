//! RFC 7573 chat sessions: a SIP user's INVITE sets up an MSRP session
//! (RFC 4975) with an XMPP user, whose messages become `<message
//! type='chat'/>` and back (§5, Figure 2). Beside it, in this folder: the
//! SDP offer's answer (`offer.rs`), the open sessions and their limits
//! (`table.rs`) and each session's task between the MSRP endpoint and the
//! component stream (`relay.rs`). The rules are `parley_mapping::chat`'s and
//! `parley_msrp`'s; this module applies them to live dialogs and connections.
//!
//! What it does not do yet (issue 21): sessions Parley starts from the XMPP
//! side (§4), re-INVITE and UPDATE (refused with 488, the session kept as it
//! was, RFC 3261 §14.2), RFC 4028 session timers (not offered), `msrps`,
//! receipts for what the phone sends (the MSRP session answers a
//! `Success-Report: yes` itself when the message arrives, so XMPP
//! `<received/>` has nothing left to say), and failed SENDs mapped back as
//! stanza errors (RFC 7573 §7 asks for `Failure-Report: no`).

mod offer;
pub(crate) mod relay;
mod table;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::chat::{self, ToMsrp};
use parley_mapping::error::MappingError;
use parley_msrp::endpoint::{DriverError, Endpoint as MsrpEndpoint};
use parley_msrp::sdp::Origin;
use parley_msrp::session::NewMessage;
use parley_msrp::wire::{FailureReport, MessageId, SuccessReport};
use parley_sip::dialog::session::{InDialog, Session as Dialog, TimerAnswer};
use parley_sip::{IncomingRequest, OutgoingRequest, Responder, StatusCode};
use parley_xmpp::stanza::{DefinedCondition, Message, MessageType, Stanza, StanzaError};

use crate::links::Links;
use crate::metrics::{Direction, SessionRefusal};
use offer::{Local, Refused};
use relay::{Command, Receipt, Relay};
pub(crate) use table::Limits;
use table::{Entry, Full, Pair, Table};

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
            match chat::gone(&entry.sip_jid, &entry.xmpp_jid, call_id) {
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
}

/// Chat sessions' own state; the rest is in [`Links`].
pub(crate) struct Sessions {
    shared: Arc<Shared>,
}

impl Sessions {
    pub(crate) fn new(links: Arc<Links>, settings: SessionSettings) -> Self {
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
            }),
        }
    }

    /// RFC 7573 §5 (F17–F22): an INVITE from a SIP user to an XMPP user.
    pub(crate) fn sip_invite(&self, request: IncomingRequest) {
        if request.view().to_tag().is_some() {
            self.in_dialog(request);
            return;
        }
        let shared = &self.shared;
        let links = &shared.links;
        let call_id = request.call_id().to_owned();
        let (view, responder) = request.into_responder();
        let refuse = |responder: Responder, refused: Refused, reason: Option<&str>| {
            links.metrics.msrp_refusal(refused.reason);
            responder.respond(refused.status, reason, refused.headers, None);
        };
        // The addresses as page mode maps them (RFC 7247 §6).
        let users = SipAddress::from_uri(&view.from_address().uri).and_then(|from| {
            let sip_jid = links.mapper.sip_user_to_jid(&from)?;
            let target = SipAddress::from_uri(view.uri())?;
            let xmpp_jid = match links.mapper.sip_target_to_jid(&target) {
                Err(MappingError::AddressIncomplete) => {
                    let to = SipAddress::from_uri(&view.to_address().uri)?;
                    links.mapper.sip_target_to_jid(&to)?
                }
                other => other?,
            };
            Ok((sip_jid, xmpp_jid))
        });
        let (sip_jid, xmpp_jid) = match users {
            Ok(u) => u,
            Err(e) => {
                info!(%call_id, error = %e, "INVITE refused");
                links.metrics.msrp_refusal(SessionRefusal::Unmappable);
                links.answer_sip(responder, &e.sip_answer());
                return;
            }
        };
        if !links.xmpp.is_connected() {
            // As page mode: the XMPP side cannot take the conversation now.
            let refused = Refused {
                status: StatusCode::SERVICE_UNAVAILABLE,
                headers: vec![("Retry-After".into(), "30".into())],
                reason: SessionRefusal::Unavailable,
            };
            refuse(responder, refused, Some("XMPP Server Unavailable"));
            return;
        }
        let local = Local {
            host: shared.settings.host.clone(),
            port: shared.settings.msrp.local_addr().map_or(0, |a| a.port()),
            max_message_bytes: shared.settings.max_message_bytes,
        };
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
        let accepted = match offer::answer(
            view.header("Content-Type").as_deref(),
            view.body(),
            &local,
            &session_id,
            origin,
            &links.mapper.sip_domain,
        ) {
            Ok(a) => a,
            Err(refused) => {
                info!(%call_id, status = refused.status.code(), "INVITE offer refused");
                refuse(responder, refused, None);
                return;
            }
        };
        let pair = Pair::of(&sip_jid, &xmpp_jid);
        let dialog = match Dialog::uas(
            view.message(),
            responder.to_tag(),
            // RFC 4028 is not offered (no `Supported: timer`): no expiry.
            TimerAnswer::None,
            std::time::Instant::now(),
        ) {
            Ok(d) => d,
            Err(e) => {
                debug!(%call_id, error = %e, "INVITE without a usable dialog");
                responder.respond(StatusCode::BAD_REQUEST, None, vec![], None);
                return;
            }
        };
        let (commands, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
        {
            let mut table = shared.table();
            match table.admit(&pair, shared.settings.limits) {
                Ok(()) => {}
                Err(full) => {
                    drop(table);
                    let refused = match full {
                        // RFC 3261 §21.5.4: temporarily unable, try later.
                        Full::Total => Refused {
                            status: StatusCode::SERVICE_UNAVAILABLE,
                            headers: vec![(
                                "Retry-After".into(),
                                shared.settings.retry_after_secs.to_string(),
                            )],
                            reason: SessionRefusal::Overloaded,
                        },
                        // §21.4.24: "not willing or able to take additional calls".
                        Full::User => Refused {
                            status: StatusCode::BUSY_HERE,
                            headers: vec![],
                            reason: SessionRefusal::UserLimit,
                        },
                    };
                    refuse(responder, refused, None);
                    return;
                }
            }
            let entry = Entry {
                pair,
                sip_jid: sip_jid.clone(),
                xmpp_jid: xmpp_jid.clone(),
                dialog,
                commands,
                last_activity: Instant::now(),
                peer_takes_composing: accepted.peer_takes_composing,
            };
            if let Some((old_call, old)) = table.insert(call_id.clone(), entry) {
                drop(table);
                shared.finish(&old_call, old, End::Replaced);
            }
        }
        shared.gauges();
        let contact = links.sip.contact(None, view.transport, view.source);
        let shared = Arc::clone(shared);
        links.tasks.spawn(async move {
            let opened = tokio::select! {
                opened = shared.settings.msrp.open(accepted.spec) => opened,
                () = responder.cancelled() => Err(DriverError::Closed),
            };
            let handle = match opened {
                Ok(h) if !responder.is_cancelled() => h,
                other => {
                    // A CANCEL (the endpoint answered 487) or no MSRP session.
                    shared.table().remove(&call_id);
                    shared.gauges();
                    match other {
                        Err(DriverError::TooManySessions) => {
                            shared
                                .links
                                .metrics
                                .msrp_refusal(SessionRefusal::Overloaded);
                            responder.respond(
                                StatusCode::SERVICE_UNAVAILABLE,
                                None,
                                vec![(
                                    "Retry-After".into(),
                                    shared.settings.retry_after_secs.to_string(),
                                )],
                                None,
                            );
                        }
                        Err(e) if !responder.is_cancelled() => {
                            warn!(%call_id, error = %e, "MSRP session not opened");
                            responder.respond(
                                StatusCode::SERVER_INTERNAL_ERROR,
                                None,
                                vec![],
                                None,
                            );
                        }
                        _ => debug!(%call_id, "INVITE cancelled"),
                    }
                    return;
                }
            };
            info!(%call_id, from = %sip_jid, to = %xmpp_jid, "chat session accepted");
            // F22: 200 with the SDP answer and a Contact (RFC 3261 §12.1.1).
            responder.respond(
                StatusCode::OK,
                None,
                vec![("Contact".into(), contact)],
                Some(("application/sdp".into(), accepted.sdp.into_bytes().into())),
            );
            Relay {
                shared,
                call_id,
                sip_jid,
                xmpp_jid,
                handle,
                commands: commands_rx,
                held: VecDeque::new(),
                receipts: VecDeque::new(),
            }
            .run()
            .await;
        });
    }

    /// A request inside a session's dialog: BYE (F29–F32), a re-INVITE.
    pub(crate) fn in_dialog(&self, request: IncomingRequest) {
        let call_id = request.call_id().to_owned();
        let (view, responder) = request.into_responder();
        let decided = {
            let mut table = self.shared.table();
            match table.get_mut(&call_id) {
                // RFC 3261 §12.2.2: no such dialog, 481.
                None => Err((481, "Call/Transaction Does Not Exist", vec![])),
                Some(entry) => entry
                    .dialog
                    .handle_request(view.message(), || rand::random::<u32>() % 11)
                    .map_err(|r| (r.status, r.reason, r.headers())),
            }
        };
        match decided {
            Err((status, reason, headers)) => {
                let status = StatusCode::new(status).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
                responder.respond(status, Some(reason), headers, None);
            }
            Ok(InDialog::Bye) => {
                // §15.1.2: 200, and the session is over.
                responder.respond(StatusCode::OK, None, vec![], None);
                self.shared.end(&call_id, End::Bye);
            }
            Ok(InDialog::Reinvite | InDialog::Update) => {
                // Not taken in this increment; the session stays as it was
                // (§14.2: 488 leaves it unchanged).
                let cseq = view.cseq();
                responder.respond(StatusCode::NOT_ACCEPTABLE_HERE, None, vec![], None);
                if let Some(e) = self.shared.table().get_mut(&call_id) {
                    e.dialog
                        .answered(cseq, 488, TimerAnswer::None, std::time::Instant::now());
                }
            }
            Ok(InDialog::Ack) => {}
            Ok(_) => {
                responder.respond(StatusCode::METHOD_NOT_ALLOWED, None, vec![], None);
            }
        }
    }

    /// RFC 7573 §5 (F26–F28), §6, §7: an XMPP message to a SIP user with
    /// whom its sender has a session goes into it; anything else is given
    /// back for page mode.
    pub(crate) fn xmpp_message(&self, message: Message) -> Option<Message> {
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
        let shared = &self.shared;
        let mut table = shared.table();
        let Some((call_id, entry)) = table.by_pair_mut(&pair) else {
            return Some(message);
        };
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
        let command = match chat::to_msrp(&message) {
            Ok(ToMsrp::Send {
                content_type,
                body,
                success_report,
            }) => {
                entry.last_activity = Instant::now();
                shared.links.metrics.msrp_message(Direction::XmppToSip);
                let receipt = match (success_report, &message.id) {
                    (true, Some(id)) => Some(Receipt {
                        stanza_id: id.clone(),
                        to: from.clone(),
                    }),
                    _ => None,
                };
                Command::Send {
                    message: send(content_type, body, receipt.is_some()),
                    receipt,
                }
            }
            Ok(ToMsrp::Composing { body }) if entry.peer_takes_composing => Command::Send {
                message: send("application/im-iscomposing+xml".into(), body, false),
                receipt: None,
            },
            Ok(ToMsrp::Gone) => {
                drop(table);
                shared.end(&call_id, End::Gone);
                return None;
            }
            // A receipt for what the phone sent: the session reported it
            // already (see the module doc); a chat state the phone does not
            // take, or a notification with nothing to carry: dropped.
            Ok(ToMsrp::Receipt { .. } | ToMsrp::Composing { .. })
            | Err(MappingError::NotificationOnly) => return None,
            Err(e) => {
                drop(table);
                info!(%call_id, error = %e, "XMPP message not carried in the session");
                shared.links.metrics.error(e.kind());
                shared.links.bounce(&message, e.stanza_error());
                return None;
            }
        };
        if entry.commands.try_send(command).is_err() {
            drop(table);
            shared.links.metrics.error("msrp_session_busy");
            shared.links.bounce(
                &message,
                StanzaError::new(DefinedCondition::ResourceConstraint),
            );
        }
        None
    }

    /// The reaper's tick: sessions idle for `sessions.idle_secs` end.
    pub(crate) fn reap(&self, now: Instant) {
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
