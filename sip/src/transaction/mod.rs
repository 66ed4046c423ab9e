//! RFC 3261 §17: the transaction layer, sans-IO.
//!
//! [`Transactions`](crate::transaction::Transactions) holds every client and server transaction, matches
//! messages to them (§17.1.3, §17.2.3) and drives their timers from one heap.
//! It is fed `now` by its driver and returns [`Transmit`](crate::transaction::Transmit)s; it never touches a
//! socket or a clock.

/// RFC 3261 §17.1.2: non-INVITE client transaction.
pub(crate) mod client;
/// RFC 3261 §17.2.1: INVITE server transaction (minimal).
pub(crate) mod invite_server;
/// RFC 3261 §17.2.2: non-INVITE server transaction.
pub(crate) mod server;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

pub(crate) use client::{ClientEvent, ClientState, ClientTimeout, ClientTransaction};
pub(crate) use invite_server::{InviteServerState, InviteServerTimeout, InviteServerTransaction};
pub(crate) use server::ServerTransaction;

use crate::config::{Timers, Transport};
use crate::wire::validate::{RequestHead, ViaHead};

/// Where a message goes: transport and peer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The transport.
    pub transport: Transport,
    /// The peer.
    pub addr: SocketAddr,
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub target: Target,
    /// The message.
    pub bytes: Bytes,
    /// Whether this repeats an earlier transmission.
    pub retransmission: bool,
}

/// RFC 3261 §17.1.3: a client transaction is named by its branch and CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientKey {
    /// The branch of the Via we added.
    pub branch: String,
    /// The CSeq method.
    pub method: String,
}

/// RFC 3261 §17.2.3: a server transaction is named by branch, sent-by and
/// method (ACK matches its INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerKey {
    /// The top Via branch (or, for an RFC 2543 peer without the magic cookie,
    /// a key built from the request's identifying fields).
    pub branch: String,
    /// The top Via sent-by.
    pub sent_by: String,
    /// The method, with ACK counted as INVITE.
    pub method: String,
}

/// RFC 3261 §8.1.1.7: the magic cookie that marks an RFC 3261 branch.
pub(crate) const MAGIC_COOKIE: &str = "z9hG4bK";

impl ServerKey {
    /// The key of a request.
    pub fn of(head: &RequestHead) -> ServerKey {
        let method = if head.method == "ACK" {
            "INVITE".to_owned()
        } else {
            head.method.clone()
        };
        let ViaHead {
            sent_by, branch, ..
        } = &head.via;
        let branch = match branch {
            Some(b) if b.starts_with(MAGIC_COOKIE) => b.clone(),
            // §17.2.3: an RFC 2543 request is matched by Request-URI, tags,
            // Call-ID, CSeq and top Via; fold them into one key.
            other => format!(
                "2543|{}|{}|{}|{}|{}|{}",
                head.request_uri,
                head.from.param("tag").unwrap_or_default(),
                head.to.param("tag").unwrap_or_default(),
                head.call_id,
                head.cseq,
                other.as_deref().unwrap_or_default(),
            ),
        };
        ServerKey {
            branch,
            sent_by: sent_by.to_ascii_lowercase(),
            method,
        }
    }
}

/// RFC 3261 §13.3.1.4, §12: what ties the ACK of a 2xx (a transaction of its
/// own, with a new branch) to the INVITE it acknowledges: the dialog (Call-ID,
/// the From tag, our To tag) and the CSeq number, which §13.2.2.4 says the
/// ACK repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AckKey {
    /// Call-ID.
    pub call_id: String,
    /// CSeq number of the INVITE.
    pub cseq: u32,
    /// The From tag (the caller's).
    pub from_tag: String,
    /// The To tag (ours, from the 2xx).
    pub to_tag: String,
}

impl AckKey {
    /// The key an ACK carries.
    pub(crate) fn of_ack(head: &RequestHead) -> AckKey {
        AckKey {
            call_id: head.call_id.clone(),
            cseq: head.cseq,
            from_tag: head.from.param("tag").unwrap_or_default().to_owned(),
            to_tag: head.to.param("tag").unwrap_or_default().to_owned(),
        }
    }
}

/// A server transaction of either kind.
#[derive(Debug, Clone)]
pub(crate) enum Server {
    /// Non-INVITE.
    NonInvite(ServerTransaction),
    /// INVITE.
    Invite(InviteServerTransaction),
}

impl Server {
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Server::NonInvite(tx) => tx.poll_timeout(),
            Server::Invite(tx) => tx.poll_timeout(),
        }
    }
}

/// What an incoming request means to the transaction layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A new server transaction was created: hand the request to the TU.
    New,
    /// A retransmission: absorbed, maybe with the last response to send again.
    Retransmission(Option<Transmit>),
    /// An ACK for a non-2xx final response, absorbed.
    AckAbsorbed,
    /// An ACK matching no transaction (a 2xx ACK, or late): nothing to answer.
    StrayAck,
    /// Too many transactions: answer 503 statelessly.
    Overloaded,
}

/// What an incoming response means to the transaction layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseOutcome {
    /// A provisional response.
    Provisional,
    /// The final response of the transaction.
    Final,
    /// A retransmitted final response, absorbed.
    Absorbed,
    /// No transaction matches (§17.1.3): drop and count.
    Stray,
}

/// What a timer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Send this.
    Transmit(Transmit),
    /// Timer F: the client transaction got no final response.
    TimedOut(ClientKey),
    /// Timer H: no ACK for our final response to an INVITE.
    AckTimedOut(ServerKey),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Client(ClientKey),
    Server(ServerKey),
}

#[derive(Debug)]
struct Slot<T> {
    tx: T,
    scheduled: Option<Instant>,
}

/// Every transaction of an endpoint, with one timer heap.
#[derive(Debug)]
pub struct Transactions {
    timers: Timers,
    max: usize,
    clients: HashMap<ClientKey, Slot<ClientTransaction>>,
    servers: HashMap<ServerKey, Slot<Server>>,
    /// How many server transactions hold each branch: lets a datagram be
    /// recognised as a possible retransmission before it is parsed.
    server_branches: HashMap<String, u32>,
    /// INVITEs answered 2xx, awaiting their ACK (§13.3.1.4).
    accepted: HashMap<AckKey, ServerKey>,
    heap: BinaryHeap<Reverse<(Instant, TimerRef)>>,
}

impl Transactions {
    /// An empty table holding at most `max` transactions.
    pub fn new(timers: Timers, max: usize) -> Self {
        Transactions {
            timers,
            max,
            clients: HashMap::new(),
            servers: HashMap::new(),
            server_branches: HashMap::new(),
            accepted: HashMap::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// How many transactions are held.
    pub(crate) fn len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// Whether none are held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a server transaction for `key` exists (a request with this key
    /// is a retransmission, not a new request).
    pub(crate) fn has_server(&self, key: &ServerKey) -> bool {
        self.servers.contains_key(key)
    }

    /// Whether a server transaction with this top-Via branch is held (a
    /// request carrying it may be a retransmission).
    pub(crate) fn has_server_branch(&self, branch: &str) -> bool {
        self.server_branches.contains_key(branch)
    }

    fn schedule(
        heap: &mut BinaryHeap<Reverse<(Instant, TimerRef)>>,
        scheduled: &mut Option<Instant>,
        next: Option<Instant>,
        r: TimerRef,
    ) {
        if let Some(next) = next
            && scheduled.is_none_or(|s| next < s)
        {
            *scheduled = Some(next);
            heap.push(Reverse((next, r)));
        }
    }

    /// A request arrived from `target` (§17.2.3 matching).
    pub fn handle_request(
        &mut self,
        key: &ServerKey,
        is_ack: bool,
        target: Target,
        now: Instant,
    ) -> RequestOutcome {
        if let Some(slot) = self.servers.get_mut(key) {
            let outcome = match (&mut slot.tx, is_ack) {
                (Server::Invite(tx), true) => {
                    tx.handle_ack(now);
                    RequestOutcome::AckAbsorbed
                }
                (Server::Invite(tx), false) => {
                    RequestOutcome::Retransmission(tx.handle_retransmission())
                }
                (Server::NonInvite(tx), _) => {
                    RequestOutcome::Retransmission(tx.handle_retransmission())
                }
            };
            let next = slot.tx.poll_timeout();
            Self::schedule(
                &mut self.heap,
                &mut slot.scheduled,
                next,
                TimerRef::Server(key.clone()),
            );
            return outcome;
        }
        if is_ack {
            return RequestOutcome::StrayAck;
        }
        if self.len() >= self.max {
            return RequestOutcome::Overloaded;
        }
        let tx = if key.method == "INVITE" {
            Server::Invite(InviteServerTransaction::new(target, self.timers))
        } else {
            let mut tx = ServerTransaction::new(target, self.timers);
            // Twice Timer F: the client gave up long before.
            tx.abandon_at(now + self.timers.t1 * 128);
            Server::NonInvite(tx)
        };
        let mut slot = Slot {
            tx,
            scheduled: None,
        };
        let next = slot.tx.poll_timeout();
        Self::schedule(
            &mut self.heap,
            &mut slot.scheduled,
            next,
            TimerRef::Server(key.clone()),
        );
        if self.servers.insert(key.clone(), slot).is_none() {
            *self.server_branches.entry(key.branch.clone()).or_insert(0) += 1;
        }
        RequestOutcome::New
    }

    /// The TU answers the request of server transaction `key`.
    pub fn respond(
        &mut self,
        key: &ServerKey,
        status: u16,
        bytes: Bytes,
        now: Instant,
    ) -> Option<Transmit> {
        let slot = self.servers.get_mut(key)?;
        let transmit = match &mut slot.tx {
            Server::NonInvite(tx) => tx.respond(status, bytes, now),
            Server::Invite(tx) => tx.respond(status, bytes, now),
        };
        let next = slot.tx.poll_timeout();
        Self::schedule(
            &mut self.heap,
            &mut slot.scheduled,
            next,
            TimerRef::Server(key.clone()),
        );
        transmit
    }

    /// The INVITE of server transaction `key` was answered 2xx: its ACK will
    /// carry `ack` (RFC 3261 §13.3.1.4).
    pub(crate) fn expect_ack(&mut self, key: &ServerKey, ack: AckKey) {
        if let Some(Slot {
            tx: Server::Invite(tx),
            ..
        }) = self.servers.get(key)
            && tx.state() == InviteServerState::Accepted
        {
            self.accepted.insert(ack, key.clone());
        }
    }

    /// An ACK that matched no transaction: if it acknowledges a 2xx we are
    /// retransmitting, that stops (§13.3.1.4) and `true` is returned.
    pub(crate) fn handle_ack_of_2xx(&mut self, ack: &AckKey, now: Instant) -> bool {
        let Some(key) = self.accepted.remove(ack) else {
            return false;
        };
        let Some(slot) = self.servers.get_mut(&key) else {
            return false;
        };
        if let Server::Invite(tx) = &mut slot.tx {
            tx.handle_ack(now);
        }
        let next = slot.tx.poll_timeout();
        Self::schedule(
            &mut self.heap,
            &mut slot.scheduled,
            next,
            TimerRef::Server(key),
        );
        true
    }

    /// Drops client transaction `key` (its request could not be sent).
    pub(crate) fn remove_client(&mut self, key: &ClientKey) {
        self.clients.remove(key);
    }

    /// Starts a client transaction; returns the first transmission, or `None`
    /// if the table is full or the key is taken.
    pub(crate) fn start_client(
        &mut self,
        key: ClientKey,
        request: Bytes,
        target: Target,
        now: Instant,
    ) -> Option<Transmit> {
        if self.len() >= self.max || self.clients.contains_key(&key) {
            return None;
        }
        let (tx, transmit) = ClientTransaction::new(request, target, self.timers, now);
        let mut slot = Slot {
            tx,
            scheduled: None,
        };
        let next = slot.tx.poll_timeout();
        Self::schedule(
            &mut self.heap,
            &mut slot.scheduled,
            next,
            TimerRef::Client(key.clone()),
        );
        self.clients.insert(key, slot);
        Some(transmit)
    }

    /// A response arrived for client transaction `key` (§17.1.3 matching).
    pub(crate) fn handle_response(
        &mut self,
        key: &ClientKey,
        status: u16,
        now: Instant,
    ) -> ResponseOutcome {
        let Some(slot) = self.clients.get_mut(key) else {
            return ResponseOutcome::Stray;
        };
        let outcome = match slot.tx.handle_response(status, now) {
            ClientEvent::Provisional => ResponseOutcome::Provisional,
            ClientEvent::Final => ResponseOutcome::Final,
            ClientEvent::Absorbed => ResponseOutcome::Absorbed,
        };
        let next = slot.tx.poll_timeout();
        Self::schedule(
            &mut self.heap,
            &mut slot.scheduled,
            next,
            TimerRef::Client(key.clone()),
        );
        outcome
    }

    /// RFC 3261 §17.1.4: the transport to `target` failed. Client
    /// transactions still waiting for a final response there end; their keys
    /// are returned so the TU can be told.
    pub(crate) fn fail_target(&mut self, target: Target) -> Vec<ClientKey> {
        let failed: Vec<ClientKey> = self
            .clients
            .iter()
            .filter(|(_, slot)| {
                slot.tx.target() == target
                    && matches!(
                        slot.tx.state(),
                        ClientState::Trying | ClientState::Proceeding
                    )
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &failed {
            self.clients.remove(key);
        }
        failed
    }

    /// The earliest timer deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Fires every timer due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, r))) = self.heap.pop() else {
                break;
            };
            match r {
                TimerRef::Client(key) => {
                    let Some(slot) = self.clients.get_mut(&key) else {
                        continue;
                    };
                    if slot.scheduled != Some(at) {
                        continue;
                    }
                    slot.scheduled = None;
                    let mut terminated = false;
                    while let Some(t) = slot.tx.handle_timeout(now) {
                        match t {
                            ClientTimeout::Retransmit(transmit) => {
                                out.push(Output::Transmit(transmit))
                            }
                            ClientTimeout::TimedOut => {
                                out.push(Output::TimedOut(key.clone()));
                                terminated = true;
                                break;
                            }
                            ClientTimeout::Terminated => {
                                terminated = true;
                                break;
                            }
                        }
                        if slot.tx.poll_timeout().is_none_or(|next| next > now) {
                            break;
                        }
                    }
                    if terminated {
                        self.clients.remove(&key);
                    } else {
                        let next = slot.tx.poll_timeout();
                        Self::schedule(
                            &mut self.heap,
                            &mut slot.scheduled,
                            next,
                            TimerRef::Client(key),
                        );
                    }
                }
                TimerRef::Server(key) => {
                    let Some(slot) = self.servers.get_mut(&key) else {
                        continue;
                    };
                    if slot.scheduled != Some(at) {
                        continue;
                    }
                    slot.scheduled = None;
                    let terminated = match &mut slot.tx {
                        Server::NonInvite(tx) => tx.handle_timeout(now),
                        Server::Invite(tx) => match tx.handle_timeout(now) {
                            Some(InviteServerTimeout::Retransmit(transmit)) => {
                                out.push(Output::Transmit(transmit));
                                false
                            }
                            Some(InviteServerTimeout::AckTimedOut) => {
                                out.push(Output::AckTimedOut(key.clone()));
                                true
                            }
                            Some(InviteServerTimeout::Terminated) => true,
                            None => tx.state() == InviteServerState::Terminated,
                        },
                    };
                    if terminated {
                        let removed = self.servers.remove(&key);
                        if removed.is_some()
                            && let Some(n) = self.server_branches.get_mut(&key.branch)
                        {
                            *n -= 1;
                            if *n == 0 {
                                self.server_branches.remove(&key.branch);
                            }
                        }
                        if let Some(Slot {
                            tx: Server::Invite(_),
                            ..
                        }) = removed
                            && !self.accepted.is_empty()
                        {
                            self.accepted.retain(|_, k| *k != key);
                        }
                    } else {
                        let next = slot.tx.poll_timeout();
                        Self::schedule(
                            &mut self.heap,
                            &mut slot.scheduled,
                            next,
                            TimerRef::Server(key),
                        );
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn udp() -> Target {
        Target {
            transport: Transport::Udp,
            addr: "127.0.0.1:5060".parse().expect("addr"),
        }
    }

    fn key(branch: &str) -> ServerKey {
        ServerKey {
            branch: branch.into(),
            sent_by: "h".into(),
            method: "MESSAGE".into(),
        }
    }

    /// RFC 3261 §17.2.3: the same branch is the same transaction.
    #[test]
    fn retransmitted_request_matches_its_server_transaction() {
        let now = Instant::now();
        let mut t = Transactions::new(Timers::default(), 10);
        assert_eq!(
            t.handle_request(&key("z9hG4bK1"), false, udp(), now),
            RequestOutcome::New
        );
        assert_eq!(
            t.handle_request(&key("z9hG4bK1"), false, udp(), now),
            RequestOutcome::Retransmission(None)
        );
        t.respond(&key("z9hG4bK1"), 200, Bytes::from_static(b"200"), now)
            .expect("sent");
        let RequestOutcome::Retransmission(Some(again)) =
            t.handle_request(&key("z9hG4bK1"), false, udp(), now)
        else {
            panic!("expected the response again");
        };
        assert_eq!(&again.bytes[..], b"200");
        assert_eq!(
            t.handle_request(&key("z9hG4bK2"), false, udp(), now),
            RequestOutcome::New
        );
    }

    #[test]
    fn full_table_is_overloaded() {
        let now = Instant::now();
        let mut t = Transactions::new(Timers::default(), 1);
        assert_eq!(
            t.handle_request(&key("z9hG4bK1"), false, udp(), now),
            RequestOutcome::New
        );
        assert_eq!(
            t.handle_request(&key("z9hG4bK2"), false, udp(), now),
            RequestOutcome::Overloaded
        );
    }

    /// RFC 3261 §17.1.3: a response matching no transaction is stray.
    #[test]
    fn unmatched_response_is_stray() {
        let mut t = Transactions::new(Timers::default(), 10);
        let k = ClientKey {
            branch: "z9hG4bKx".into(),
            method: "MESSAGE".into(),
        };
        assert_eq!(
            t.handle_response(&k, 200, Instant::now()),
            ResponseOutcome::Stray
        );
    }

    /// Timers of many transactions run from one heap on a virtual clock.
    #[test]
    fn client_times_out_and_server_is_reaped_on_a_virtual_clock() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 10);
        let ck = ClientKey {
            branch: "z9hG4bKc".into(),
            method: "MESSAGE".into(),
        };
        t.start_client(ck.clone(), Bytes::from_static(b"M"), udp(), t0)
            .expect("started");
        t.handle_request(&key("z9hG4bKs"), false, udp(), t0);
        assert!(t.has_server_branch("z9hG4bKs"));
        assert!(
            !t.has_server_branch("z9hG4bKc"),
            "a client branch is not a server's"
        );
        t.respond(
            &key("z9hG4bKs"),
            200,
            Bytes::from_static(b"200"),
            t0 + Duration::from_millis(100),
        );
        let mut retransmits = Vec::new();
        let mut timed_out = None;
        while let Some(at) = t.poll_timeout() {
            for o in t.handle_timeout(at) {
                match o {
                    Output::Transmit(_) => retransmits.push((at - t0).as_millis()),
                    Output::TimedOut(k) => timed_out = Some(((at - t0).as_millis(), k)),
                    Output::AckTimedOut(_) => panic!("no INVITE here"),
                }
            }
        }
        assert_eq!(retransmits.len(), 10, "{retransmits:?}");
        assert_eq!(timed_out, Some((32_000, ck)));
        assert!(t.is_empty(), "Timer J reaped the server transaction");
        assert!(!t.has_server_branch("z9hG4bKs"), "and forgot its branch");
    }
}
