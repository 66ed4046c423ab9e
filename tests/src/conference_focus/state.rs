//! What the focus knows: participants (SIP-dialled and simulated), their
//! MSRP sessions, the conference event subscriptions with the NOTIFYs
//! each still has to deliver, and a log of what arrived. The SIP side
//! (`uas`) and the MSRP side (`msrp_switch`) change it under one lock; the
//! driver (`mod.rs`) sends what they leave in `udp_out`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::FocusOptions;
use super::conference_info::{self, RosterChange, RosterEntry};
use super::sdp::MsrpOffer;
use super::sip::{SipMessage, aor_of};

/// A received SIP message, as the focus saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipEvent {
    /// Where it came from.
    pub from: SocketAddr,
    /// The message, headers in their long form.
    pub message: SipMessage,
}

/// What the switch delivered to a simulated participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The CPIM From: the sender's URI.
    pub from: String,
    /// The CPIM To: the conference URI (to all) or this participant's (private).
    pub to: String,
    /// Whether it was addressed to this participant alone (RFC 7701 §6.2).
    pub private: bool,
    /// The wrapped Content-Type.
    pub content_type: Option<String>,
    /// The wrapped content as text (lossy).
    pub text: String,
}

/// An MSRP connection the switch can write to.
pub(crate) type ConnId = u64;

/// A participant that dialled in.
#[derive(Debug)]
pub(crate) struct Remote {
    pub(crate) offer: MsrpOffer,
    pub(crate) session_id: String,
    pub(crate) conn: Option<ConnId>,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    /// The INVITE's From, tag included: the To of the focus's BYE.
    pub(crate) peer: String,
    /// The remote target (its Contact) and where that is.
    pub(crate) target_uri: String,
    pub(crate) target: SocketAddr,
    /// Whether the INVITE's 2xx has been ACKed (then it is in the roster).
    pub(crate) confirmed: bool,
}

/// One participant.
#[derive(Debug)]
pub(crate) struct Participant {
    pub(crate) entry: RosterEntry,
    /// `None` for a simulated participant.
    pub(crate) remote: Option<Remote>,
    pub(crate) inbox: Vec<Delivered>,
}

/// A request the focus sends until it is answered (RFC 3261 §17.1.2.2,
/// Timer E doubling from T1 to T2, Timer F at 64·T1), or a 2xx to INVITE
/// it resends until the ACK (§13.3.1.4, Timer G and H).
#[derive(Debug)]
pub(crate) struct Resend {
    pub(crate) to: SocketAddr,
    pub(crate) bytes: Vec<u8>,
    pub(crate) next: Instant,
    pub(crate) interval: Duration,
    pub(crate) deadline: Instant,
}

impl Resend {
    pub(crate) fn new(to: SocketAddr, bytes: Vec<u8>, now: Instant, t1: Duration) -> Resend {
        Resend {
            to,
            bytes,
            next: now + t1,
            interval: t1,
            deadline: now + t1 * 64,
        }
    }

    /// Whether to send again now (then the next time is set), per Timer E.
    pub(crate) fn due(&mut self, now: Instant, t2: Duration) -> bool {
        if now < self.next {
            return false;
        }
        self.interval = (self.interval * 2).min(t2);
        self.next = now + self.interval;
        true
    }
}

/// A NOTIFY waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct PendingNotify {
    pub(crate) subscription_state: String,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
    /// The subscription ends once this one is answered.
    pub(crate) last: bool,
}

/// A subscription to the conference event package (RFC 4575 §3).
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    /// The SUBSCRIBE's From, tag included: the To of each NOTIFY.
    pub(crate) remote: String,
    pub(crate) subscriber: String,
    pub(crate) target_uri: String,
    pub(crate) target: SocketAddr,
    pub(crate) event: String,
    pub(crate) expires_at: Instant,
    /// RFC 6665 §4.2.2 sends a NOTIFY per change; one at a time, in order.
    pub(crate) outbox: VecDeque<PendingNotify>,
    pub(crate) in_flight: Option<(u32, Resend, bool)>,
    pub(crate) ending: bool,
}

/// A request already answered: (Call-ID, CSeq number, method), where the
/// answer went, and its bytes.
pub(crate) type Answered = ((String, String, String), SocketAddr, Vec<u8>);

impl Subscription {
    /// Whether it is to the conference event package (RFC 4575 §3.1), not
    /// the implicit one of a REFER.
    pub(crate) fn is_conference(&self) -> bool {
        let package = self.event.split(';').next().unwrap_or_default().trim();
        package.eq_ignore_ascii_case("conference")
    }

    /// Ended, with nothing left to send: to be swept.
    fn finished(&self) -> bool {
        self.ending && self.in_flight.is_none() && self.outbox.is_empty()
    }
}

/// Limits that keep hostile input bounded.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 64;
/// NOTIFYs queued per subscription before the subscription is dropped.
pub(crate) const MAX_OUTBOX: usize = 256;
/// Entries kept in the SIP event log.
pub(crate) const MAX_LOG: usize = 4096;

/// The focus's state.
#[derive(Debug)]
pub(crate) struct FocusState {
    pub(crate) conference_user: String,
    /// The conference's identity: conference-info `entity`, the From of
    /// its requests.
    pub(crate) conference_uri: String,
    /// Where the focus is reached: its Contact (with `isfocus`).
    pub(crate) contact_uri: String,
    /// Requests the focus sent (BYE), resent until answered.
    pub(crate) requests: Vec<(String, u32, Resend)>,
    pub(crate) subject: Option<String>,
    pub(crate) sip_addr: SocketAddr,
    pub(crate) msrp_addr: SocketAddr,
    pub(crate) t1: Duration,
    pub(crate) t2: Duration,
    pub(crate) nicknames_allowed: bool,
    pub(crate) private_messages_allowed: bool,
    pub(crate) version: u32,
    pub(crate) participants: Vec<Participant>,
    pub(crate) subscriptions: Vec<Subscription>,
    /// Our CSeq per dialog (Call-ID, our tag), shared by its usages.
    pub(crate) local_cseq: HashMap<(String, String), u32>,
    /// 2xx to INVITEs not yet ACKed, by Call-ID.
    pub(crate) unacked: HashMap<String, Resend>,
    /// Answers to recent requests, for their retransmissions (§17.2).
    pub(crate) answered: VecDeque<Answered>,
    pub(crate) log: Vec<SipEvent>,
    pub(crate) conns: HashMap<ConnId, mpsc::Sender<Vec<u8>>>,
    /// Chunks of messages still arriving, by (connection, Message-ID).
    pub(crate) chunks: HashMap<(ConnId, String), Vec<u8>>,
    pub(crate) udp_out: Vec<(SocketAddr, Vec<u8>)>,
    /// Sessions the focus connects to (it answered `a=setup:active`).
    pub(crate) connect_out: Vec<(String, SocketAddr)>,
    pub(crate) next_id: u64,
}

impl FocusState {
    /// A focus with no participants, on these addresses.
    pub(crate) fn new(
        options: FocusOptions,
        sip_addr: SocketAddr,
        msrp_addr: SocketAddr,
    ) -> FocusState {
        let contact_uri = format!("sip:{}@{sip_addr}", options.conference_user);
        let conference_uri = match &options.domain {
            Some(domain) => format!("sip:{}@{domain}", options.conference_user),
            None => contact_uri.clone(),
        };
        FocusState {
            conference_user: options.conference_user,
            conference_uri,
            contact_uri,
            requests: Vec::new(),
            subject: options.subject,
            sip_addr,
            msrp_addr,
            t1: options.t1,
            t2: options.t1 * 8,
            nicknames_allowed: options.nicknames,
            private_messages_allowed: options.private_messages,
            version: 0,
            participants: Vec::new(),
            subscriptions: Vec::new(),
            local_cseq: Default::default(),
            unacked: Default::default(),
            answered: Default::default(),
            log: Vec::new(),
            conns: Default::default(),
            chunks: Default::default(),
            udp_out: Vec::new(),
            connect_out: Vec::new(),
            next_id: 0,
        }
    }

    /// A fresh token for tags, branches, session ids and transaction ids.
    pub(crate) fn token(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{prefix}{:x}{:06x}", self.next_id, nanos & 0xff_ffff)
    }

    /// The focus's MSRP URI for `session`.
    pub(crate) fn msrp_uri(&self, session: &str) -> String {
        format!("msrp://{}/{session};tcp", self.msrp_addr)
    }

    /// The participant with this URI (compared as `scheme:user@host`).
    pub(crate) fn participant(&self, uri: &str) -> Option<usize> {
        let key = aor_of(uri);
        self.participants
            .iter()
            .position(|p| aor_of(&p.entry.uri) == key)
    }

    /// The roster: simulated participants and confirmed dialled ones.
    pub(crate) fn roster(&self) -> Vec<RosterEntry> {
        self.participants
            .iter()
            .filter(|p| p.remote.as_ref().is_none_or(|r| r.confirmed))
            .map(|p| p.entry.clone())
            .collect()
    }

    /// The full conference-info document at the current version.
    pub(crate) fn full_document(&self) -> String {
        conference_info::full(
            &self.conference_uri,
            self.subject.as_deref(),
            self.version,
            &self.roster(),
        )
    }

    /// RFC 4575 §3.6: a roster change is notified to every subscriber as
    /// a partial document, one version higher.
    pub(crate) fn roster_changed(&mut self, change: RosterChange) {
        self.version += 1;
        let body = conference_info::partial(
            &self.conference_uri,
            self.version,
            self.roster().len(),
            &change,
        );
        for i in 0..self.subscriptions.len() {
            if self.subscriptions[i].is_conference() {
                let body = body.clone().into_bytes();
                self.enqueue(i, body, "application/conference-info+xml", false);
            }
        }
    }

    /// Queue a NOTIFY on subscription `i`; `last` ends the subscription
    /// (RFC 6665 §4.2.2 "terminated") with `reason`.
    pub(crate) fn enqueue(&mut self, i: usize, body: Vec<u8>, content_type: &str, last: bool) {
        self.enqueue_with(i, body, content_type, last, "noresource");
    }

    pub(crate) fn enqueue_with(
        &mut self,
        i: usize,
        body: Vec<u8>,
        content_type: &str,
        last: bool,
        reason: &str,
    ) {
        let now = Instant::now();
        let sub = &mut self.subscriptions[i];
        if sub.ending {
            return;
        }
        let remaining = sub.expires_at.saturating_duration_since(now).as_secs();
        let subscription_state = if last {
            format!("terminated;reason={reason}")
        } else {
            format!("active;expires={remaining}")
        };
        sub.ending = last;
        sub.outbox.push_back(PendingNotify {
            subscription_state,
            content_type: content_type.to_owned(),
            body,
            last,
        });
        if sub.outbox.len() > MAX_OUTBOX {
            // A subscriber that answers nothing while the roster churns
            // is dropped rather than held without bound (swept on the
            // next tick, so indices stay valid for the caller).
            sub.outbox.clear();
            sub.in_flight = None;
            sub.ending = true;
            return;
        }
        self.send_next(i, now);
    }

    /// Send the next queued NOTIFY of subscription `i` if none is in flight.
    pub(crate) fn send_next(&mut self, i: usize, now: Instant) {
        if self.subscriptions[i].in_flight.is_some() {
            return;
        }
        let Some(pending) = self.subscriptions[i].outbox.pop_front() else {
            return;
        };
        let branch = self.token("z9hG4bKfocus");
        let key = (
            self.subscriptions[i].call_id.clone(),
            self.subscriptions[i].local_tag.clone(),
        );
        let cseq = {
            let c = self.local_cseq.entry(key).or_insert(0);
            *c += 1;
            *c
        };
        let sub = &self.subscriptions[i];
        let notify = SipMessage {
            start: super::sip::StartLine::Request {
                method: "NOTIFY".into(),
                uri: sub.target_uri.clone(),
            },
            headers: vec![
                (
                    "Via".into(),
                    format!("SIP/2.0/UDP {};branch={branch};rport", self.sip_addr),
                ),
                ("Max-Forwards".into(), "70".into()),
                (
                    "From".into(),
                    format!("<{}>;tag={}", self.conference_uri, sub.local_tag),
                ),
                ("To".into(), sub.remote.clone()),
                ("Call-ID".into(), sub.call_id.clone()),
                ("CSeq".into(), format!("{cseq} NOTIFY")),
                ("Contact".into(), format!("<{}>;isfocus", self.contact_uri)),
                ("Event".into(), sub.event.clone()),
                (
                    "Subscription-State".into(),
                    pending.subscription_state.clone(),
                ),
                ("Content-Type".into(), pending.content_type.clone()),
            ],
            body: pending.body,
        };
        let bytes = notify.to_bytes();
        let target = sub.target;
        let resend = Resend::new(target, bytes.clone(), now, self.t1);
        self.subscriptions[i].in_flight = Some((cseq, resend, pending.last));
        self.udp_out.push((target, bytes));
    }

    /// A response to one of our NOTIFYs (RFC 6665 §4.2.2).
    pub(crate) fn notify_answered(&mut self, call_id: &str, cseq: u32, status: u16) {
        let now = Instant::now();
        let Some(i) = self.subscriptions.iter().position(|s| {
            s.call_id == call_id && s.in_flight.as_ref().is_some_and(|(c, _, _)| *c == cseq)
        }) else {
            return;
        };
        if status < 200 {
            return;
        }
        let last = self.subscriptions[i]
            .in_flight
            .take()
            .is_some_and(|(_, _, last)| last);
        // "If the NOTIFY transaction fails due to the receipt of a 404, 405,
        // 410, 416, 480-485, 489, 501, or 604 response to the NOTIFY
        // request, the notifier MUST remove the corresponding subscription."
        let fatal = matches!(status, 404 | 405 | 410 | 416 | 480..=485 | 489 | 501 | 604);
        if last || fatal {
            self.subscriptions.remove(i);
        } else {
            self.send_next(i, now);
        }
    }

    /// Timers: NOTIFY and 2xx retransmissions, their give-up, and
    /// subscriptions that were not refreshed.
    pub(crate) fn on_tick(&mut self, now: Instant) {
        self.subscriptions.retain(|s| !s.finished());
        let t2 = self.t2;
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (i, sub) in self.subscriptions.iter_mut().enumerate() {
            if let Some((_, resend, _)) = sub.in_flight.as_mut() {
                if now >= resend.deadline {
                    // RFC 6665 §4.2.2: "If the NOTIFY request fails due to
                    // expiration of SIP Timer F (transaction timeout), the
                    // notifier SHOULD remove the subscription."
                    gone.push(i);
                } else if resend.due(now, t2) {
                    out.push((resend.to, resend.bytes.clone()));
                }
            }
        }
        for i in gone.into_iter().rev() {
            self.subscriptions.remove(i);
        }
        let expired: Vec<usize> = (0..self.subscriptions.len())
            .filter(|i| self.subscriptions[*i].expires_at <= now && !self.subscriptions[*i].ending)
            .collect();
        for i in expired.into_iter().rev() {
            // RFC 6665 §4.2.2: "timeout" for a subscription not refreshed.
            let body = self.full_document().into_bytes();
            self.enqueue_with(i, body, "application/conference-info+xml", true, "timeout");
        }
        let mut never_acked = Vec::new();
        self.unacked.retain(|call_id, resend| {
            if now >= resend.deadline {
                never_acked.push(call_id.clone());
                return false;
            }
            if resend.due(now, t2) {
                out.push((resend.to, resend.bytes.clone()));
            }
            true
        });
        self.requests.retain_mut(|(_, _, resend)| {
            if now >= resend.deadline {
                return false;
            }
            if resend.due(now, t2) {
                out.push((resend.to, resend.bytes.clone()));
            }
            true
        });
        self.udp_out.extend(out);
        // RFC 3261 §13.3.1.4: "If the server retransmits the 2xx response
        // for 64*T1 seconds without receiving an ACK, the dialog is
        // confirmed, but the session SHOULD be terminated. This is
        // accomplished with a BYE".
        for call_id in never_acked {
            let i = self
                .participants
                .iter()
                .position(|p| p.remote.as_ref().is_some_and(|r| r.call_id == call_id));
            if let Some(i) = i {
                self.send_bye(i, now);
            }
        }
    }

    /// Remove participant `i`, close its MSRP connection when no other
    /// participant uses it, and tell the subscribers.
    pub(crate) fn remove_participant(&mut self, i: usize) -> Participant {
        let gone = self.participants.remove(i);
        if let Some(conn) = gone.remote.as_ref().and_then(|r| r.conn) {
            let shared = self
                .participants
                .iter()
                .any(|p| p.remote.as_ref().is_some_and(|r| r.conn == Some(conn)));
            if !shared {
                self.conns.remove(&conn);
            }
        }
        if gone.remote.as_ref().is_none_or(|r| r.confirmed) {
            self.roster_changed(RosterChange::Left(gone.entry.uri.clone()));
        }
        // RFC 4579 §3: "A termination of the INVITE dialog with a BYE does
        // not necessarily terminate the SUBSCRIBE dialog." This focus does
        // end the subscriptions of whoever left: RFC 4575 §3.5 recommends
        // that "all users in the conference be allowed to subscribe", and
        // the leaver no longer is one (RFC 6665 §4.2.2 "rejected": "The
        // subscription has been terminated due to change in authorization
        // policy").
        let leaver = aor_of(&gone.entry.uri);
        let call_id = gone.remote.as_ref().map(|r| r.call_id.clone());
        let ending: Vec<usize> = (0..self.subscriptions.len())
            .filter(|i| {
                let s = &self.subscriptions[*i];
                Some(&s.call_id) == call_id.as_ref() || aor_of(&s.subscriber) == leaver
            })
            .collect();
        for i in ending {
            let body = self.full_document().into_bytes();
            self.enqueue_with(i, body, "application/conference-info+xml", true, "rejected");
        }
        gone
    }

    /// The focus ends participant `i`'s session: a BYE in its INVITE
    /// dialog (resent until answered), then it leaves like one that sent
    /// BYE itself.
    pub(crate) fn send_bye(&mut self, i: usize, now: Instant) {
        let Some(remote) = self.participants[i].remote.as_ref() else {
            self.remove_participant(i);
            return;
        };
        let (call_id, local_tag) = (remote.call_id.clone(), remote.local_tag.clone());
        let (peer, target_uri, target) = (
            remote.peer.clone(),
            remote.target_uri.clone(),
            remote.target,
        );
        let branch = self.token("z9hG4bKbye");
        let cseq = {
            let c = self
                .local_cseq
                .entry((call_id.clone(), local_tag.clone()))
                .or_insert(0);
            *c += 1;
            *c
        };
        let bye = SipMessage {
            start: super::sip::StartLine::Request {
                method: "BYE".into(),
                uri: target_uri,
            },
            headers: vec![
                (
                    "Via".into(),
                    format!("SIP/2.0/UDP {};branch={branch};rport", self.sip_addr),
                ),
                ("Max-Forwards".into(), "70".into()),
                (
                    "From".into(),
                    format!("<{}>;tag={local_tag}", self.conference_uri),
                ),
                ("To".into(), peer),
                ("Call-ID".into(), call_id.clone()),
                ("CSeq".into(), format!("{cseq} BYE")),
            ],
            body: Vec::new(),
        };
        let bytes = bye.to_bytes();
        self.requests.push((
            call_id,
            cseq,
            Resend::new(target, bytes.clone(), now, self.t1),
        ));
        self.udp_out.push((target, bytes));
        self.remove_participant(i);
    }

    /// A response to a request the focus sent (BYE): stop resending it.
    pub(crate) fn request_answered(&mut self, call_id: &str, cseq: u32, status: u16) {
        if status >= 200 {
            self.requests
                .retain(|(c, n, _)| !(c == call_id && *n == cseq));
        }
    }
}
