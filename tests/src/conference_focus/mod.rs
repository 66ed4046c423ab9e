//! A minimal SIP conference focus and MSRP switch for tests (issue 23,
//! RFC 7702 §5: an XMPP user joins a SIP conference through Parley, which
//! needs a focus on the other side; none is packaged for Debian).
//!
//! Written from RFC 4575 (conference event package), RFC 4579 (what a
//! focus does for a UA), RFC 4975 and RFC 6135 (MSRP, connection setup)
//! and RFC 7701 (multi-party chat: the switch, `a=chatroom`, NICKNAME),
//! with none of Parley's code: what Parley sends is read by an
//! implementation that shares nothing with it.
//!
//! One loopback UDP socket for SIP (`uas`), one loopback TCP listener for
//! MSRP (`msrp_switch`), one state under one lock (`state`), roster
//! documents in `conference_info`. Participants are either dialled in
//! (INVITE with an MSRP offer) or simulated: added by the test, living in
//! the focus, their messages routed by the same switch code.
//!
//! A REFER to the conference (RFC 4579 §5.5, RFC 7702 §5.7) "dials out"
//! by adding the referred URI as a simulated participant.
//!
//! What it does not do: TCP/TLS for SIP, authentication, dialling out for
//! real, more than one conference per focus, RFC 4575 §3.9's
//! rate limit (a harness wants every change at once), fast forwarding of
//! chunks (RFC 7701 §6.1 SHOULD; messages are reassembled first).

/// RFC 4575 conference-info documents: the roster, full and partial.
pub mod conference_info;
mod cpim;
mod driver;
mod msrp_switch;
mod sdp;
/// Just enough SIP (RFC 3261 §7) to read and write what the focus exchanges.
pub mod sip;
mod state;
mod uas;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use conference_info::{RosterChange, RosterEntry};
pub use msrp_switch::MAX_MESSAGE;
pub use sip::{SipMessage, SipParseError, StartLine};
pub use state::{Delivered, SipEvent};

use driver::{Shared, accept_loop, flush, sip_loop, tick_loop};
use state::{FocusState, Participant};

/// The largest NOTIFY body [`ConferenceFocus::notify_raw`] sends: a UDP
/// datagram (RFC 3261 §18.1.1 puts its limit at 65,535 bytes "including IP
/// and UDP headers") less room for the SIP headers.
pub const MAX_NOTIFY_BODY: usize = 64_000;

/// How a focus is set up.
#[derive(Debug, Clone)]
pub struct FocusOptions {
    /// The conference's user part: its URI is `sip:<user>@<domain>`.
    pub conference_user: String,
    /// The conference URI's host (e.g. the SIP domain Parley maps rooms
    /// to); `None` for the focus's own `127.0.0.1:<port>`. The Contact is
    /// always the socket address.
    pub domain: Option<String>,
    /// `<subject>` of the conference description (RFC 4575 §5.3).
    pub subject: Option<String>,
    /// RFC 3261 T1 (500 ms there) for NOTIFY and 2xx retransmissions; T2 is 8·T1.
    pub t1: Duration,
    /// Whether the room allows nicknames (RFC 7701 §4.1, `a=chatroom:nickname`).
    pub nicknames: bool,
    /// Whether it allows private messages (`a=chatroom:private-messages`).
    pub private_messages: bool,
}

impl FocusOptions {
    /// RFC defaults: T1 500 ms, nicknames and private messages allowed.
    pub fn new(conference_user: &str) -> FocusOptions {
        FocusOptions {
            conference_user: conference_user.to_owned(),
            domain: None,
            subject: None,
            t1: Duration::from_millis(500),
            nicknames: true,
            private_messages: true,
        }
    }
}

/// What the switch refused a simulated participant's message with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The MSRP status a dialled-in sender would have got (RFC 7701 §6).
    pub status: u16,
}

/// A running focus; dropping it stops its tasks and closes its sockets.
pub struct ConferenceFocus {
    shared: Arc<Shared>,
    sip_addr: SocketAddr,
    msrp_addr: SocketAddr,
    uri: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ConferenceFocus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl ConferenceFocus {
    /// Start a focus for `conference_user` on free loopback ports.
    pub async fn start(conference_user: &str) -> ConferenceFocus {
        ConferenceFocus::start_with(FocusOptions::new(conference_user)).await
    }

    /// Start a focus with these options.
    pub async fn start_with(options: FocusOptions) -> ConferenceFocus {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the focus's SIP socket");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the MSRP switch");
        let sip_addr = socket.local_addr().expect("a bound socket");
        let msrp_addr = listener.local_addr().expect("a bound listener");
        let state = FocusState::new(options, sip_addr, msrp_addr);
        let uri = state.conference_uri.clone();
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: Notify::new(),
            socket,
            next_conn: AtomicU64::new(1),
        });
        let tasks = vec![
            tokio::spawn(sip_loop(shared.clone())),
            tokio::spawn(accept_loop(shared.clone(), listener)),
            tokio::spawn(tick_loop(shared.clone())),
        ];
        ConferenceFocus {
            shared,
            sip_addr,
            msrp_addr,
            uri,
            tasks,
        }
    }

    /// Where the focus takes SIP over UDP.
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// The conference URI, `sip:<user>@<domain or 127.0.0.1:port>`: the
    /// conference-info entity and the CPIM To of messages to the room.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Where the MSRP switch listens.
    pub fn msrp_addr(&self) -> SocketAddr {
        self.msrp_addr
    }

    /// Add a simulated participant `uri` with `nickname`; subscribers get
    /// the join (RFC 4575 §3.6). Panics if `uri` is already in.
    pub async fn add_participant(&self, uri: &str, nickname: &str) {
        self.with_state(|state| {
            assert!(
                state.participant(uri).is_none(),
                "{uri} is already in the conference"
            );
            let entry = RosterEntry {
                uri: uri.to_owned(),
                nickname: (!nickname.is_empty()).then(|| nickname.to_owned()),
                display_name: None,
                simulated: true,
            };
            state.participants.push(Participant {
                entry: entry.clone(),
                remote: None,
                inbox: Vec::new(),
            });
            state.roster_changed(RosterChange::Joined(entry));
        })
        .await
    }

    /// A simulated participant leaves; subscribers get `state="deleted"`.
    pub async fn remove_participant(&self, uri: &str) {
        self.with_state(|state| {
            if let Some(i) = state.participant(uri) {
                state.remove_participant(i);
            }
        })
        .await
    }

    /// The focus ends `uri`'s session (RFC 4579 §5.11's removal, done by
    /// the focus itself): a BYE to a dialled-in participant, resent until
    /// answered; the roster and its subscriptions change as for its own
    /// BYE. Whether `uri` was in the conference.
    pub async fn bye(&self, uri: &str) -> bool {
        self.with_state(|state| {
            let Some(i) = state.participant(uri) else {
                return false;
            };
            state.send_bye(i, Instant::now());
            true
        })
        .await
    }

    /// A simulated participant's nickname changes (as an accepted NICKNAME would).
    pub async fn set_nickname(&self, uri: &str, nickname: &str) {
        self.with_state(|state| {
            let i = state.participant(uri).expect("a participant");
            state.participants[i].entry.nickname = Some(nickname.to_owned());
            let entry = state.participants[i].entry.clone();
            state.roster_changed(RosterChange::Renamed(entry));
        })
        .await
    }

    /// A simulated participant `uri` says `text` to the room (RFC 7701
    /// §6.1): CPIM From its URI, To the conference URI. How many got it.
    pub async fn participant_send(&self, uri: &str, text: &str) -> Result<usize, Refused> {
        let room = self.uri.clone();
        self.participant_send_cpim(uri, cpim::write(uri, &room, text))
            .await
    }

    /// A simulated participant `uri` says `text` to `to_uri` alone (RFC 7701 §6.2).
    pub async fn participant_send_private(
        &self,
        uri: &str,
        to_uri: &str,
        text: &str,
    ) -> Result<usize, Refused> {
        self.participant_send_cpim(uri, cpim::write(uri, to_uri, text))
            .await
    }

    /// A simulated participant sends this Message/CPIM body as it is.
    pub async fn participant_send_cpim(&self, uri: &str, body: Vec<u8>) -> Result<usize, Refused> {
        self.with_state(|state| {
            let sender = state.participant(uri).expect("a participant");
            let head = cpim::parse(&body);
            match msrp_switch::route(state, sender, head.as_ref()) {
                msrp_switch::Route::Refuse(status, _) => Err(Refused { status }),
                route => Ok(msrp_switch::deliver(state, sender, &route, &body)),
            }
        })
        .await
    }

    /// What the switch delivered to simulated participant `uri` so far.
    pub async fn participant_received(&self, uri: &str) -> Vec<Delivered> {
        self.with_state(|state| {
            state
                .participant(uri)
                .map(|i| state.participants[i].inbox.clone())
                .unwrap_or_default()
        })
        .await
    }

    /// Wait until simulated participant `uri` has received `count`
    /// messages; what it has then, or `None` after `within`.
    pub async fn wait_received(
        &self,
        uri: &str,
        count: usize,
        within: Duration,
    ) -> Option<Vec<Delivered>> {
        self.wait_for(within, |state| {
            let inbox = &state.participants[state.participant(uri)?].inbox;
            (inbox.len() >= count).then(|| inbox.clone())
        })
        .await
    }

    /// The roster: simulated participants and dialled-in ones whose
    /// INVITE was ACKed, in joining order.
    pub async fn roster(&self) -> Vec<RosterEntry> {
        self.with_state(|state| state.roster()).await
    }

    /// Wait until `check` holds for the roster, or `None` after `within`.
    pub async fn wait_roster(
        &self,
        within: Duration,
        check: impl Fn(&[RosterEntry]) -> bool,
    ) -> Option<Vec<RosterEntry>> {
        self.wait_for(within, |state| {
            let roster = state.roster();
            check(&roster).then_some(roster)
        })
        .await
    }

    /// Send a NOTIFY with this body and Content-Type on every subscription
    /// of `subscriber` (a URI, compared as `scheme:user@host`), in order
    /// with the others and retransmitted like them; how many subscriptions.
    /// For hostile tests: a body that is not XML, a huge user list. SIP
    /// here is UDP only, so the body must fit a datagram: panics beyond
    /// [`MAX_NOTIFY_BODY`] rather than send nothing.
    pub async fn notify_raw(&self, subscriber: &str, content_type: &str, body: &[u8]) -> usize {
        assert!(
            body.len() <= MAX_NOTIFY_BODY,
            "a NOTIFY body of {} bytes does not fit a UDP datagram (at most {MAX_NOTIFY_BODY})",
            body.len()
        );
        self.with_state(|state| {
            let key = sip::aor_of(subscriber);
            let targets: Vec<usize> = (0..state.subscriptions.len())
                .filter(|i| {
                    let s = &state.subscriptions[*i];
                    s.is_conference() && sip::aor_of(&s.subscriber) == key
                })
                .collect();
            for i in &targets {
                state.enqueue(*i, body.to_vec(), content_type, false);
            }
            targets.len()
        })
        .await
    }

    /// Write `bytes` as they are on the MSRP connection of dialled-in
    /// participant `uri`; whether it had one.
    pub async fn send_raw_msrp(&self, uri: &str, bytes: &[u8]) -> bool {
        self.with_state(|state| {
            let conn = state
                .participant(uri)
                .and_then(|i| state.participants[i].remote.as_ref())
                .and_then(|r| r.conn);
            conn.is_some_and(|c| msrp_switch::write(state, c, bytes.to_vec()))
        })
        .await
    }

    /// Every SIP message the focus received, in order (requests and the
    /// responses to its NOTIFYs).
    pub async fn sip_log(&self) -> Vec<SipEvent> {
        self.with_state(|state| state.log.clone()).await
    }

    /// Wait for the `n`th (from 1) received request with `method`.
    pub async fn wait_request(&self, method: &str, n: usize, within: Duration) -> Option<SipEvent> {
        self.wait_for(within, |state| {
            state
                .log
                .iter()
                .filter(|e| matches!(&e.message.start, StartLine::Request { method: m, .. } if m == method))
                .nth(n.saturating_sub(1))
                .cloned()
        })
        .await
    }

    /// Wait for a received SIP message for which `check` holds.
    pub async fn wait_sip(
        &self,
        within: Duration,
        check: impl Fn(&SipEvent) -> bool,
    ) -> Option<SipEvent> {
        self.wait_for(within, |state| state.log.iter().find(|e| check(e)).cloned())
            .await
    }

    /// How many conference subscriptions are active.
    pub async fn subscription_count(&self) -> usize {
        self.with_state(|state| state.subscriptions.len()).await
    }

    /// Wait until `count` subscriptions are active; whether that happened within `within`.
    pub async fn wait_for_subscriptions(&self, count: usize, within: Duration) -> bool {
        self.wait_for(within, |state| {
            (state.subscriptions.len() == count).then_some(())
        })
        .await
        .is_some()
    }

    async fn with_state<T>(&self, f: impl FnOnce(&mut FocusState) -> T) -> T {
        let (out, udp, connects) = {
            let mut state = self.shared.lock();
            let out = f(&mut state);
            (
                out,
                std::mem::take(&mut state.udp_out),
                std::mem::take(&mut state.connect_out),
            )
        };
        flush(&self.shared, udp).await;
        debug_assert!(connects.is_empty());
        self.shared.changed.notify_waiters();
        out
    }

    async fn wait_for<T>(
        &self,
        within: Duration,
        check: impl Fn(&FocusState) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.shared.changed.notified();
            if let Some(found) = check(&self.shared.lock()) {
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            // Woken by a change, or every 25 ms for changes made by timers.
            let _ = tokio::time::timeout((deadline - now).min(Duration::from_millis(25)), notified)
                .await;
        }
    }
}
