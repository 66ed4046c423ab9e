//! The router: each event from either side goes to the handler whose concern
//! it is, and the reaper's tick to each handler's timers. It decides nothing
//! about translation: `message/` (RFC 7572 page mode, receipts, chat states),
//! `session/` (RFC 7573 chat sessions), `groupchat/` (RFC 7702 §6 rooms), `presence/` (RFC 8048) and `disco` do, through the mapping crate, and
//! they talk to the outside through the [`Links`] they share.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::{debug, warn};

use parley_mapping::error::{ALLOW, ALLOW_WITH_SESSIONS, SipAnswer, SipStatus};
use parley_sip::IncomingRequest;
use parley_sip::StatusCode;
use parley_xmpp::stanza::Stanza;

use crate::conference::Conferences;
use crate::disco::Disco;
use crate::groupchat::Groupchat;
use crate::links::Links;
use crate::message::Messages;
use crate::ownership;
use crate::ping;
use crate::presence::Presence;
use crate::registrar::Registrar;
use crate::session::Sessions;
use crate::store::Loaded;

/// The handlers, and the links they share.
pub(crate) struct Router {
    pub(crate) links: Arc<Links>,
    /// RFC 7573 chat sessions, when `[sessions]` is enabled.
    sessions: Option<Sessions>,
    messages: Arc<Messages>,
    presence: Presence,
    disco: Disco,
    /// The registrar of `[registrar]` (RFC 3261 §10.3), when set.
    registrar: Option<Arc<Registrar>>,
    /// RFC 7702 §6: SIP users in XMPP rooms, when `[groupchat]` is enabled.
    groupchat: Option<Groupchat>,
    /// RFC 7702 §5: XMPP users in SIP conferences, when `[conference]` is enabled.
    conference: Option<Conferences>,
}

impl Router {
    pub(crate) fn new(
        links: Arc<Links>,
        sessions: Option<Sessions>,
        messages: Arc<Messages>,
        presence: Presence,
        disco: Disco,
    ) -> Self {
        Self {
            links,
            sessions,
            messages,
            presence,
            disco,
            registrar: None,
            groupchat: None,
            conference: None,
        }
    }

    /// Lets SIP users join XMPP rooms (RFC 7702 §6).
    pub(crate) fn with_groupchat(mut self, groupchat: Option<Groupchat>) -> Self {
        self.groupchat = groupchat;
        self
    }

    /// Lets XMPP users join SIP conferences (RFC 7702 §5).
    pub(crate) fn with_conference(mut self, conference: Option<Conferences>) -> Self {
        self.conference = conference;
        self
    }

    /// Sends REGISTER to `registrar` (issue 22 item 4).
    pub(crate) fn with_registrar(mut self, registrar: Option<Arc<Registrar>>) -> Self {
        self.registrar = registrar;
        self
    }

    /// A SIP request arrived.
    pub(crate) fn handle_sip(&self, request: IncomingRequest) {
        // RFC 7702 §5: the focus's requests in a conference's dialogs.
        let request = match &self.conference {
            Some(conference) => match conference.sip(request) {
                Some(r) => r,
                None => return,
            },
            None => request,
        };
        // RFC 7702 §6.1: an INVITE to a room, or a request in a room's dialog.
        let request = match &self.groupchat {
            Some(groupchat) => match groupchat.sip(request) {
                Some(r) => r,
                None => return,
            },
            None => request,
        };
        // Decided on the borrowed method before the request moves (issue
        // 24: a copy of it per request before).
        let (invite, in_dialog) = match request.method() {
            "INVITE" => (true, false),
            "BYE" | "UPDATE" => (false, true),
            _ => (false, false),
        };
        match &self.sessions {
            Some(sessions) if invite => sessions.sip_invite(request),
            // ACK and CANCEL are the endpoint's (RFC 3261 §17.2.1, §9.2);
            // BYE for no session gets 481 (§15.1.2).
            Some(sessions) if in_dialog => sessions.in_dialog(request),
            _ => self.handle_sip_page_mode(request),
        }
    }

    /// A SIP request that is not part of a chat session.
    fn handle_sip_page_mode(&self, request: IncomingRequest) {
        let method = PageMethod::of(request.method());
        match method {
            PageMethod::Register if self.registrar.is_some() => {
                if let Some(registrar) = &self.registrar {
                    registrar.register(request);
                }
            }
            PageMethod::Message => self.messages.sip_message(request),
            PageMethod::Notify => self.presence.sip_notify(request),
            PageMethod::Subscribe => self.presence.sip_subscribe(request),
            PageMethod::Options => {
                let (_, responder) = request.into_responder();
                responder.respond(
                    StatusCode::OK,
                    None,
                    vec![("Allow".into(), self.allow())],
                    None,
                );
            }
            PageMethod::Register | PageMethod::Other => {
                // RFC 3261 §8.2.1: 405, whose Allow (§21.4.6) the answer carries.
                debug!(method = request.method(), "method not handled");
                let (_, responder) = request.into_responder();
                if self.sessions.is_some() || self.registrar.is_some() {
                    responder.respond(
                        StatusCode::METHOD_NOT_ALLOWED,
                        None,
                        vec![("Allow".into(), self.allow())],
                        None,
                    );
                } else {
                    self.links
                        .answer_sip(responder, &SipAnswer::new(SipStatus::new(405)));
                }
            }
        }
    }

    /// RFC 3261 §20.5: the methods Parley answers, as OPTIONS and a 405 list
    /// them; REGISTER among them when Parley is the registrar (§10.3).
    fn allow(&self) -> String {
        let base = if self.sessions.is_some() {
            ALLOW_WITH_SESSIONS
        } else {
            ALLOW
        };
        if self.registrar.is_none() {
            return base.to_owned();
        }
        let mut methods: Vec<&str> = base.split(", ").collect();
        methods.push("REGISTER");
        methods.sort_unstable();
        methods.join(", ")
    }

    /// A stanza arrived from the XMPP server.
    pub(crate) fn handle_stanza(&self, stanza: Stanza) {
        // RFC 7702 §6: what a room sends to a SIP user's occupant client.
        let stanza = match &self.groupchat {
            Some(groupchat) => match groupchat.xmpp(stanza) {
                Some(s) => s,
                None => return,
            },
            None => stanza,
        };
        // RFC 7702 §5: a MUC join to a conference, and what its user sends there.
        let stanza = match &self.conference {
            Some(conference) => match conference.xmpp(stanza) {
                Some(s) => s,
                None => return,
            },
            None => stanza,
        };
        match stanza {
            Stanza::Message(m) => {
                // RFC 7573 §5: a pair with an open session talks in it.
                let m = match &self.sessions {
                    Some(sessions) => sessions.xmpp_message(m),
                    None => Some(m),
                };
                if let Some(m) = m {
                    self.messages.xmpp_message(m);
                }
            }
            Stanza::Iq(iq) => {
                if !ping::answer_elsewhere(&self.links, &iq) {
                    self.disco.iq(iq);
                }
            }
            Stanza::Presence(p) => self.presence.xmpp_presence(p),
        }
    }

    /// The reaper's tick: deadlines that have passed, and the gauges.
    pub(crate) fn reap(&self, now: Instant) {
        self.messages.reap(now);
        self.presence.reap(now);
        if let Some(sessions) = &self.sessions {
            sessions.reap(now);
        }
        self.presence.gauges();
        if let Some(registrar) = &self.registrar {
            registrar.reap(now);
        }
    }

    /// The component stream is up: stored subscriptions are taken up again
    /// (probes and presence go out on it). Also those taken over from an
    /// instance whose lease ran out (design §4a, `ownership.rs`).
    pub(crate) fn restore(&self, loaded: Loaded) {
        self.presence.restore(loaded);
    }

    /// What the lease task says (design §4a, `ownership.rs`).
    pub(crate) fn ownership(&self, event: ownership::Event) {
        match event {
            ownership::Event::Claimed(claimed) => self.presence.restore(claimed),
            ownership::Event::HandedOver(work) => {
                for xml in &work {
                    self.handed_over(xml);
                }
            }
            ownership::Event::Lost(call_id) => self.presence.release(&call_id),
            ownership::Event::Lapsed => self.presence.release_all(),
        }
    }

    /// Work another instance handed to this one as XML: a presence stanza
    /// for a subscription it owns, an error or receipt for its message, or
    /// the answer to its keepalive ping.
    fn handed_over(&self, xml: &[u8]) {
        match Stanza::from_xml(xml) {
            Some(Stanza::Presence(p)) => self.presence.handed_over(p),
            Some(Stanza::Message(m)) => self.messages.handed_over(m),
            Some(Stanza::Iq(iq)) => ping::handed_over(&self.links, &iq),
            _ => {
                // Only presence, messages and ping answers are handed over; anything else
                // is a bug or a newer instance's work: said, counted, not
                // acted on.
                warn!(
                    bytes = xml.len(),
                    "handed-over work that is not a presence or message stanza dropped"
                );
                self.links.metrics.error("store_handoff_unreadable");
            }
        }
    }

    /// Shutdown, step 2 of `drain.rs`: accepted SIP requests get their
    /// answer, the subscriptions' timers stop, and chat sessions end.
    pub(crate) fn stop(&self) {
        self.messages.flush_pending();
        self.presence.stop();
        // RFC 7702 §6.6: every SIP user leaves its rooms and gets a BYE.
        if let Some(groupchat) = &self.groupchat {
            groupchat.stop();
        }
        // RFC 7702 §5.8: every XMPP user leaves its conferences (BYE).
        if let Some(conference) = &self.conference {
            conference.stop();
        }
        // Issue 21 item 6: every chat session gets BYE and `gone`.
        if let Some(sessions) = &self.sessions {
            sessions.stop();
        }
    }
}

/// The methods a request outside a chat session is dispatched on, read
/// from the borrowed method so that the request can move (issue 24).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PageMethod {
    Register,
    Message,
    Notify,
    Subscribe,
    Options,
    Other,
}

impl PageMethod {
    fn of(method: &str) -> PageMethod {
        match method {
            "REGISTER" => PageMethod::Register,
            "MESSAGE" => PageMethod::Message,
            "NOTIFY" => PageMethod::Notify,
            "SUBSCRIBE" => PageMethod::Subscribe,
            "OPTIONS" => PageMethod::Options,
            _ => PageMethod::Other,
        }
    }
}
