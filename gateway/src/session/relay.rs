//! One session's task: MSRP events to XMPP stanzas (RFC 7573 §5 F23–F25,
//! §6, §7) and the router's commands to MSRP SENDs (F26–F28). It owns the
//! session's [`SessionHandle`]; the router reaches it only through
//! [`Command`]s, and it ends the session through `Shared::end` when the
//! MSRP side fails (RFC 4975 §5.4: the connection's sessions fail with it).
//! A message that never went out on the MSRP connection (held until the
//! phone connected, or refused by the driver) is not lost with the session:
//! it goes as a SIP MESSAGE (RFC 7572), as page mode sends it.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info};

use parley_mapping::address::Jid;
use parley_mapping::chat::{self, MsrpContent, ToXmpp};
use parley_msrp::endpoint::{DriverError, SessionEvent, SessionHandle};
use parley_msrp::session::{Delivered, Event, NewMessage};
use parley_msrp::wire::{MessageId, SuccessReport};
use parley_xmpp::stanza::{Message, Stanza};

use super::{End, Shared};
use crate::metrics::{Direction, Fallback};

/// SENDs held until the phone's connection binds the session (RFC 4975
/// §5.4: the passive side cannot send before), and receipts awaited, at most.
const MAX_HELD: usize = 32;

/// The phone's messages awaiting the XMPP user's receipt, at most (the
/// MSRP session's own bound, `SessionOptions::max_awaiting_reports`).
const MAX_AWAITING: usize = 64;

/// What the router asks of a session's task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send `message`; with `receipt`, a success REPORT for it becomes
    /// `<received id=stanza_id/>` to `to` (RFC 7573 §7, Example 26).
    Send {
        message: NewMessage,
        receipt: Option<Receipt>,
        /// The XMPP message it carries, for page mode if it cannot go out.
        stanza: Option<Box<Message>>,
    },
    /// RFC 7573 §7: the XMPP user's `<received id=stanza_id/>` for a
    /// message the phone sent with `Success-Report: yes` → its REPORT.
    Report { stanza_id: String },
    /// The session is over: close the MSRP session.
    Close,
}

/// A `<request/>` awaiting its REPORT.
#[derive(Debug)]
pub(crate) struct Receipt {
    /// The stanza id the XMPP sender gave its message.
    pub(crate) stanza_id: String,
    /// The sender (full JID), who gets the `<received/>`.
    pub(crate) to: Jid,
}

/// The task's own state.
pub(crate) struct Relay {
    pub(crate) shared: Arc<Shared>,
    pub(crate) call_id: String,
    pub(crate) sip_jid: Jid,
    pub(crate) xmpp_jid: Jid,
    /// The `<thread/>` of what the phone sends.
    pub(crate) thread: String,
    pub(crate) handle: SessionHandle,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) held: VecDeque<(NewMessage, Option<Box<Message>>)>,
    pub(crate) receipts: VecDeque<(MessageId, Receipt)>,
    /// The phone's messages that asked for a success REPORT, by the stanza
    /// id Parley gave them, awaiting the XMPP user's `<received/>`.
    pub(crate) awaiting: VecDeque<(String, MessageId)>,
}

impl Relay {
    /// Runs until the session ends from either side.
    pub(crate) async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Send { message, receipt, stanza }) => {
                        self.send(message, receipt, stanza);
                    }
                    Some(Command::Report { stanza_id }) => self.report(&stanza_id),
                    Some(Command::Close) | None => {
                        self.handle.close();
                        self.fall_back_held();
                        return;
                    }
                },
                event = self.handle.next_event() => match event {
                    Some(SessionEvent::Bound) => {
                        while let Some((m, stanza)) = self.held.pop_front() {
                            self.send(m, None, stanza);
                        }
                    }
                    Some(SessionEvent::Msrp(event)) => self.msrp(event),
                    Some(SessionEvent::Closed(reason)) => {
                        info!(call_id = %self.call_id, ?reason, "MSRP session failed");
                        self.shared.end(&self.call_id, End::ConnectionLost);
                        self.fall_back_held();
                        return;
                    }
                    None => {
                        self.shared.end(&self.call_id, End::ConnectionLost);
                        self.fall_back_held();
                        return;
                    }
                    Some(_) => {}
                },
            }
        }
    }

    /// F26–F28: a SEND in the session.
    fn send(
        &mut self,
        message: NewMessage,
        receipt: Option<Receipt>,
        stanza: Option<Box<Message>>,
    ) {
        let id = message.message_id.clone();
        match self.handle.send(message.clone()) {
            Ok(()) => {
                if let Some(r) = receipt {
                    if self.receipts.len() >= MAX_HELD {
                        self.receipts.pop_front();
                    }
                    self.receipts.push_back((id, r));
                }
            }
            Err(DriverError::NotBound) if self.held.len() < MAX_HELD => {
                self.held.push_back((message, stanza));
            }
            Err(e) => {
                debug!(call_id = %self.call_id, error = %e, "SEND not queued");
                self.shared.links.metrics.error("msrp_send_refused");
                if let Some(stanza) = stanza {
                    self.shared.fall_back(*stanza, Fallback::SessionFailed);
                }
            }
        }
    }

    /// §7: the `<received/>` for `stanza_id` becomes the success REPORT of
    /// the MSRP message it carried (Example 25).
    fn report(&mut self, stanza_id: &str) {
        let Some(i) = self.awaiting.iter().position(|(s, _)| s == stanza_id) else {
            debug!(call_id = %self.call_id, stanza_id, "receipt for no message awaiting one");
            return;
        };
        let Some((_, message_id)) = self.awaiting.remove(i) else {
            return;
        };
        match self.handle.report_success(&message_id) {
            Ok(true) => self.shared.links.metrics.msrp_report(Direction::XmppToSip),
            Ok(false) => {}
            Err(e) => {
                debug!(call_id = %self.call_id, error = %e, "REPORT not sent");
                self.shared.links.metrics.error("msrp_report_refused");
            }
        }
    }

    /// Messages that never went out in the session go as SIP MESSAGE.
    fn fall_back_held(&mut self) {
        for (_, stanza) in self.held.drain(..) {
            if let Some(stanza) = stanza {
                self.shared.fall_back(*stanza, Fallback::SessionFailed);
            }
        }
    }

    /// What the session core raised.
    fn msrp(&mut self, event: Event) {
        match event {
            Event::Message(delivered) => self.delivered(delivered),
            Event::Report {
                message_id, status, ..
            } if status.code.is_success() => {
                let Some(i) = self.receipts.iter().position(|(m, _)| *m == message_id) else {
                    return;
                };
                let Some((_, receipt)) = self.receipts.remove(i) else {
                    return;
                };
                // RFC 7573 §7, Example 26.
                self.shared.links.metrics.msrp_report(Direction::SipToXmpp);
                let received = chat::report_to_xmpp(&self.sip_jid, &receipt.to, &receipt.stanza_id);
                self.shared.links.send(Stanza::Message(received));
            }
            Event::Refused(e) => {
                debug!(call_id = %self.call_id, error = %e, "MSRP request refused");
                self.shared.links.metrics.error(e.kind());
            }
            _ => {}
        }
    }

    /// F23 → F24: a whole message from the phone as a `<message type='chat'/>`.
    fn delivered(&mut self, delivered: Delivered) {
        let message = delivered.message;
        let Some(content_type) = message.content_type else {
            return;
        };
        self.shared.touch(&self.call_id, Instant::now());
        let content = MsrpContent {
            content_type,
            body: message.body.to_vec(),
            success_report: delivered.success_report == SuccessReport::Yes,
        };
        let stanza = match chat::to_xmpp(&content, &self.sip_jid, &self.xmpp_jid, &self.thread) {
            Ok(ToXmpp::Message(m)) => {
                self.shared
                    .links
                    .metrics
                    .msrp_message(Direction::SipToXmpp, message.body.len());
                m
            }
            Ok(ToXmpp::ChatState(m)) => m,
            Err(e) => {
                // The session answered 200 before the body was read; what
                // cannot be carried is counted, not silently dropped.
                info!(call_id = %self.call_id, error = %e, "MSRP message not carried");
                self.shared.links.metrics.error(e.kind());
                return;
            }
        };
        let mut stanza = stanza;
        let stanza_id = self.shared.stanza_id();
        if delivered.success_report == SuccessReport::Yes
            && let Some(message_id) = message.message_id
        {
            // §7: the REPORT waits for the XMPP user's `<received/>`.
            if self.awaiting.len() >= MAX_AWAITING {
                self.awaiting.pop_front();
            }
            self.awaiting.push_back((stanza_id.clone(), message_id));
        }
        stanza.id = Some(stanza_id);
        self.shared.links.send(Stanza::Message(stanza));
    }
}
