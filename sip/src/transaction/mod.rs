//! RFC 3261 §17: the transaction layer, sans-IO.
//!
//! [`Transactions`](crate::transaction::Transactions) holds every client and server transaction, matches
//! messages to them (§17.1.3, §17.2.3) and drives their timers: pending ones
//! from one heap, completed non-INVITE ones (which wait for nothing but
//! retransmissions) from two rings (`completed.rs`).
//! It is fed `now` by its driver and returns [`Transmit`](crate::transaction::Transmit)s; it never touches a
//! socket or a clock.

/// RFC 3261 §17.1.2: non-INVITE client transaction.
pub(crate) mod client;
/// RFC 3261 §17.2.2, §17.1.2.2: completed transactions, kept until Timer J or K.
pub(crate) mod completed;
/// RFC 3261 §17.2.1: INVITE server transaction (minimal).
pub(crate) mod invite_server;
/// RFC 3261 §17.2.2: non-INVITE server transaction.
pub(crate) mod server;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

pub(crate) use client::{ClientEvent, ClientState, ClientTimeout, ClientTransaction};
use completed::{Completed, Resend};
pub(crate) use invite_server::{InviteServerState, InviteServerTimeout, InviteServerTransaction};
pub(crate) use server::ServerTransaction;

use crate::config::{Limits, Timers, Transport};
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

impl ClientKey {
    /// Its parts, as a completed transaction keeps them.
    fn parts(&self) -> [&str; 3] {
        [&self.branch, &self.method, ""]
    }
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
    /// Its parts, as a completed transaction keeps them.
    fn parts(&self) -> [&str; 3] {
        [&self.branch, &self.sent_by, &self.method]
    }

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
    /// The deadline for the timer heap. A pending non-INVITE server
    /// transaction has none there: its only timer is the TU's deadline,
    /// which [`Transactions::sweep`] keeps, and once Completed it leaves
    /// for [`completed`].
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Server::NonInvite(_) => None,
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

/// Every transaction of an endpoint: pending work under one timer heap, and
/// completed non-INVITE transactions in two rings (`completed.rs`).
///
/// Two bounds, counted apart:
/// - pending (`max_pending`): client transactions before their final
///   response, non-INVITE server transactions before the TU's final
///   response, and INVITE server transactions in every state. Beyond it a
///   new request is [`RequestOutcome::Overloaded`] and a new client
///   transaction is refused.
/// - completed (`max_completed`): non-INVITE transactions that wait for
///   nothing but retransmissions (Timer J, Timer K). A completed server
///   transaction is never dropped before Timer J: RFC 3261 §17.2.2 keeps it
///   "until Timer J fires", and without it a retransmitted request would
///   reach the TU as a new one (a MESSAGE delivered twice). So every
///   admitted non-INVITE request holds a place among the completed from
///   the start: a new request is `Overloaded` while completed transactions
///   and pending server transactions together reach the bound. A completed
///   client transaction only absorbs retransmitted responses (§17.1.2.2);
///   without it they are stray, counted and dropped (§17.1.3), so at the
///   bound the oldest one makes room, or the new one is not kept.
#[derive(Debug)]
pub struct Transactions {
    timers: Timers,
    max_pending: usize,
    max_completed: usize,
    clients: HashMap<ClientKey, Slot<ClientTransaction>>,
    servers: HashMap<ServerKey, Slot<Server>>,
    /// Non-INVITE server transactions in Completed, until Timer J.
    completed_servers: Completed<Resend>,
    /// Non-INVITE client transactions in Completed, until Timer K.
    completed_clients: Completed<()>,
    /// How many server transactions, pending or completed, hold each top-Via
    /// branch, by a keyed hash of the branch: lets a datagram be recognised
    /// as a possible retransmission before it is parsed. Two branches with
    /// one hash only cost that datagram a parse.
    branches: HashMap<u64, u32>,
    branch_hasher: RandomState,
    /// INVITEs answered 2xx, awaiting their ACK (§13.3.1.4).
    accepted: HashMap<AckKey, ServerKey>,
    heap: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    /// When unanswered non-INVITE server transactions are next looked at
    /// (they need no timer of their own: see [`Transactions::sweep`]).
    sweep_at: Option<Instant>,
    /// New requests refused because of `max_completed`.
    refused_for_completed: u64,
}

impl Transactions {
    /// An empty table holding at most `max_pending` pending transactions
    /// (and the default bound of completed ones,
    /// [`Transactions::with_max_completed`]).
    pub fn new(timers: Timers, max_pending: usize) -> Self {
        Transactions {
            timers,
            max_pending,
            max_completed: Limits::default().max_completed_transactions,
            clients: HashMap::new(),
            servers: HashMap::new(),
            completed_servers: Completed::new(),
            completed_clients: Completed::new(),
            branches: HashMap::new(),
            branch_hasher: RandomState::new(),
            accepted: HashMap::new(),
            heap: BinaryHeap::new(),
            sweep_at: None,
            refused_for_completed: 0,
        }
    }

    /// The same table holding at most `max_completed` completed transactions.
    pub fn with_max_completed(mut self, max_completed: usize) -> Self {
        self.max_completed = max_completed;
        self
    }

    /// How many transactions wait for the TU or for a response.
    pub(crate) fn pending_len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// How many completed transactions wait out Timer J or Timer K.
    pub(crate) fn completed_len(&self) -> usize {
        self.completed_servers.len() + self.completed_clients.len()
    }

    /// How many new requests were refused because of the completed bound
    /// (they are among the [`RequestOutcome::Overloaded`] ones).
    pub(crate) fn refused_for_completed(&self) -> u64 {
        self.refused_for_completed
    }

    /// Whether none are held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pending_len() + self.completed_len() == 0
    }

    /// Whether a server transaction for `key` exists (a request with this key
    /// is a retransmission, not a new request).
    pub(crate) fn has_server(&self, key: &ServerKey) -> bool {
        self.servers.contains_key(key) || self.completed_servers.get(key.parts()).is_some()
    }

    /// Whether a server transaction with this top-Via branch may be held (a
    /// request carrying it may be a retransmission). Never wrong when it
    /// says no; rarely, two branches share a hash and it says yes.
    pub(crate) fn has_server_branch(&self, branch: &str) -> bool {
        self.branches
            .contains_key(&self.branch_hasher.hash_one(branch))
    }

    fn hold_branch(&mut self, branch: &str) {
        *self
            .branches
            .entry(self.branch_hasher.hash_one(branch))
            .or_insert(0) += 1;
    }

    fn release_branch(&mut self, branch: &str) {
        let hash = self.branch_hasher.hash_one(branch);
        if let Some(n) = self.branches.get_mut(&hash) {
            *n -= 1;
            if *n == 0 {
                self.branches.remove(&hash);
            }
        }
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
        // §17.2.2: in Completed, "the final response" goes out again.
        if let Some(resend) = self.completed_servers.get(key.parts()) {
            return RequestOutcome::Retransmission(Some(resend.transmit()));
        }
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
        if self.pending_len() >= self.max_pending {
            return RequestOutcome::Overloaded;
        }
        if self.completed_len() + self.servers.len() >= self.max_completed {
            self.refused_for_completed += 1;
            return RequestOutcome::Overloaded;
        }
        let slot = if key.method == "INVITE" {
            let mut slot = Slot {
                tx: Server::Invite(InviteServerTransaction::new(target, self.timers)),
                scheduled: None,
            };
            let next = slot.tx.poll_timeout();
            Self::schedule(
                &mut self.heap,
                &mut slot.scheduled,
                next,
                TimerRef::Server(key.clone()),
            );
            slot
        } else {
            let mut tx = ServerTransaction::new(target, self.timers);
            // Twice Timer F: the client gave up long before.
            tx.abandon_at(now + self.timers.t1 * 128);
            self.sweep_at.get_or_insert(now + self.timers.t1 * 64);
            Slot {
                tx: Server::NonInvite(tx),
                scheduled: None,
            }
        };
        if self.servers.insert(key.clone(), slot).is_none() {
            self.hold_branch(&key.branch);
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
        if let Server::NonInvite(tx) = &slot.tx
            && let Some((timer_j, resend)) = tx.completed()
        {
            // Completed: keep the key and the response, nothing else.
            self.servers.remove(key);
            if timer_j > now {
                self.completed_servers.insert(key.parts(), timer_j, resend);
            } else {
                // §17.2.2: Timer J is zero on reliable transports.
                self.release_branch(&key.branch);
            }
            return transmit;
        }
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
        if self.pending_len() >= self.max_pending
            || self.clients.contains_key(&key)
            || self.completed_clients.get(key.parts()).is_some()
        {
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
            // §17.1.2.2: Completed absorbs the final response's retransmissions.
            if self.completed_clients.get(key.parts()).is_some() {
                return ResponseOutcome::Absorbed;
            }
            return ResponseOutcome::Stray;
        };
        let outcome = match slot.tx.handle_response(status, now) {
            ClientEvent::Provisional => ResponseOutcome::Provisional,
            ClientEvent::Final => ResponseOutcome::Final,
            ClientEvent::Absorbed => ResponseOutcome::Absorbed,
        };
        if slot.tx.state() == ClientState::Completed {
            // Completed: keep the key until Timer K, nothing else. Its heap
            // entry, if any, finds no transaction when it fires.
            let timer_k = slot.tx.poll_timeout();
            self.clients.remove(key);
            if let Some(timer_k) = timer_k.filter(|k| *k > now) {
                self.keep_completed_client(key, timer_k);
            }
            return outcome;
        }
        let next = slot.tx.poll_timeout();
        Self::schedule(
            &mut self.heap,
            &mut slot.scheduled,
            next,
            TimerRef::Client(key.clone()),
        );
        outcome
    }

    /// Keeps a completed client transaction within the completed bound (see
    /// [`Transactions`]): at the bound the oldest one goes first, and if
    /// there is none the new one is not kept.
    fn keep_completed_client(&mut self, key: &ClientKey, timer_k: Instant) {
        while self.completed_len() + self.servers.len() >= self.max_completed {
            if self.completed_clients.pop_oldest().is_none() {
                return;
            }
        }
        self.completed_clients.insert(key.parts(), timer_k, ());
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
        [
            self.heap.peek().map(|Reverse((at, _))| *at),
            self.sweep_at,
            self.completed_servers.poll_timeout(),
            self.completed_clients.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
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
                TimerRef::Client(key) => self.fire_client(key, at, now, &mut out),
                TimerRef::Server(key) => self.fire_server(key, at, now, &mut out),
            }
        }
        if self.sweep_at.is_some_and(|at| at <= now) {
            self.sweep(now);
        }
        // Timer J: "the server transaction MUST be destroyed" (§17.2.2).
        while let Some(entry) = self.completed_servers.pop_expired(now) {
            let [branch, _, _] = entry.key.parts();
            self.release_branch(branch);
        }
        // Timer K (§17.1.2.2).
        while self.completed_clients.pop_expired(now).is_some() {}
        out
    }

    fn fire_client(&mut self, key: ClientKey, at: Instant, now: Instant, out: &mut Vec<Output>) {
        let Some(slot) = self.clients.get_mut(&key) else {
            return;
        };
        if slot.scheduled != Some(at) {
            return;
        }
        slot.scheduled = None;
        let mut terminated = false;
        while let Some(t) = slot.tx.handle_timeout(now) {
            match t {
                ClientTimeout::Retransmit(transmit) => out.push(Output::Transmit(transmit)),
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

    fn fire_server(&mut self, key: ServerKey, at: Instant, now: Instant, out: &mut Vec<Output>) {
        let Some(slot) = self.servers.get_mut(&key) else {
            return;
        };
        if slot.scheduled != Some(at) {
            return;
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
            self.remove_server(&key);
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

    fn remove_server(&mut self, key: &ServerKey) {
        let Some(removed) = self.servers.remove(key) else {
            return;
        };
        self.release_branch(&key.branch);
        if let Server::Invite(_) = removed.tx
            && !self.accepted.is_empty()
        {
            self.accepted.retain(|_, k| k != key);
        }
    }

    /// Ends the non-INVITE server transactions whose TU has not answered by
    /// their deadline ([`ServerTransaction::abandon_at`]). They are looked at
    /// every 64·T1 instead of each holding a timer: an answered one would
    /// leave its timer behind, a key's worth of memory, for as long again
    /// as Timer J. So one is ended between 128·T1 and 192·T1 after its request.
    fn sweep(&mut self, now: Instant) {
        let abandoned: Vec<ServerKey> = self
            .servers
            .iter()
            .filter(|(_, slot)| {
                matches!(&slot.tx, Server::NonInvite(tx)
                    if tx.poll_timeout().is_some_and(|at| at <= now))
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &abandoned {
            if let Some(Slot {
                tx: Server::NonInvite(tx),
                ..
            }) = self.servers.get_mut(key)
                && tx.handle_timeout(now)
            {
                self.remove_server(key);
            }
        }
        let unanswered = self
            .servers
            .values()
            .any(|slot| matches!(slot.tx, Server::NonInvite(_)));
        self.sweep_at = unanswered.then(|| now + self.timers.t1 * 64);
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

    fn tcp() -> Target {
        Target {
            transport: Transport::Tcp,
            addr: "127.0.0.1:5060".parse().expect("addr"),
        }
    }

    fn client_key(branch: &str) -> ClientKey {
        ClientKey {
            branch: branch.into(),
            method: "MESSAGE".into(),
        }
    }

    /// A request answered `ok` at `now`.
    fn answered(t: &mut Transactions, k: &ServerKey, now: Instant) {
        assert_eq!(t.handle_request(k, false, udp(), now), RequestOutcome::New);
        t.respond(k, 200, Bytes::from_static(b"200"), now)
            .expect("sent");
    }

    /// RFC 3261 §17.2.2: "While in the "Completed" state, the server
    /// transaction MUST pass the final response to the transport layer for
    /// retransmission whenever a retransmission of the request is
    /// received", until Timer J (64·T1 over UDP) destroys it.
    #[test]
    fn retransmission_during_timer_j_gets_the_stored_response_bytes() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 10);
        let k = key("z9hG4bKj");
        t.handle_request(&k, false, udp(), t0);
        let response = Bytes::from(b"SIP/2.0 200 OK\r\n\r\n".to_vec());
        let first = t.respond(&k, 200, response.clone(), t0).expect("sent");
        assert!(!first.retransmission);
        assert_eq!((t.pending_len(), t.completed_len()), (0, 1));
        let j = t0 + Duration::from_millis(32_000);
        assert_eq!(t.poll_timeout(), Some(j), "Timer J is the only timer");
        t.handle_timeout(j - Duration::from_millis(1));
        let RequestOutcome::Retransmission(Some(again)) =
            t.handle_request(&k, false, udp(), j - Duration::from_millis(1))
        else {
            panic!("expected the final response again");
        };
        assert_eq!(again.bytes, response);
        assert_eq!(
            again.bytes.as_ptr(),
            response.as_ptr(),
            "the bytes sent, shared, not a copy"
        );
        assert_eq!(again.target, udp());
        assert!(again.retransmission);
        assert!(t.has_server(&k) && t.has_server_branch("z9hG4bKj"));
        t.handle_timeout(j);
        assert!(t.is_empty(), "Timer J destroyed it");
        assert!(!t.has_server(&k) && !t.has_server_branch("z9hG4bKj"));
        assert_eq!(t.poll_timeout(), None);
    }

    /// An answered non-INVITE request leaves no timer behind in the heap:
    /// Timer J is its ring's, and the TU's deadline is swept.
    #[test]
    fn answered_request_holds_no_heap_timer() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 10);
        answered(&mut t, &key("z9hG4bK1"), t0);
        assert!(t.heap.is_empty());
    }

    /// Only pending work meets `max_pending`: a table for one pending
    /// transaction takes a new request while a thousand completed ones
    /// wait out Timer J.
    #[test]
    fn completed_transactions_do_not_count_toward_the_pending_limit() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 1);
        for n in 0..1000 {
            answered(&mut t, &key(&format!("z9hG4bK{n}")), t0);
        }
        assert_eq!((t.pending_len(), t.completed_len()), (0, 1000));
        assert_eq!(
            t.handle_request(&key("z9hG4bKnew"), false, udp(), t0),
            RequestOutcome::New
        );
        assert_eq!(
            t.handle_request(&key("z9hG4bKmore"), false, udp(), t0),
            RequestOutcome::Overloaded,
            "one pending is the limit"
        );
        assert_eq!(t.refused_for_completed(), 0);
        assert!(
            t.start_client(client_key("z9hG4bKc"), Bytes::new(), udp(), t0)
                .is_none(),
            "a client transaction is pending work too"
        );
    }

    /// At the completed bound no completed server transaction is dropped
    /// early (its retransmitted request would reach the TU again): new
    /// requests are refused until Timer J makes room.
    #[test]
    fn at_the_completed_bound_new_requests_are_refused_and_none_is_dropped() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 100).with_max_completed(3);
        for n in 0..3 {
            answered(&mut t, &key(&format!("z9hG4bK{n}")), t0);
        }
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            t.handle_request(&key("z9hG4bKnew"), false, udp(), later),
            RequestOutcome::Overloaded
        );
        assert_eq!(t.refused_for_completed(), 1);
        for n in 0..3 {
            assert!(matches!(
                t.handle_request(&key(&format!("z9hG4bK{n}")), false, udp(), later),
                RequestOutcome::Retransmission(Some(_))
            ));
        }
        t.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(
            t.handle_request(
                &key("z9hG4bKnew"),
                false,
                udp(),
                t0 + Duration::from_secs(32)
            ),
            RequestOutcome::New
        );
    }

    /// Each admitted request holds its place among the completed from the
    /// start, so the bound holds however many answers come at once.
    #[test]
    fn pending_requests_hold_their_place_among_the_completed() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 100).with_max_completed(2);
        for n in 0..2 {
            let k = key(&format!("z9hG4bK{n}"));
            assert_eq!(t.handle_request(&k, false, udp(), t0), RequestOutcome::New);
        }
        assert_eq!(
            t.handle_request(&key("z9hG4bK2"), false, udp(), t0),
            RequestOutcome::Overloaded
        );
        for n in 0..2 {
            t.respond(&key(&format!("z9hG4bK{n}")), 200, Bytes::new(), t0);
        }
        assert_eq!(t.completed_len(), 2);
    }

    /// RFC 3261 §17.1.2.2: a completed client transaction absorbs the final
    /// response's retransmissions until Timer K (T4 over UDP); then a late
    /// one matches nothing (§17.1.3).
    #[test]
    fn timer_k_removes_a_completed_client_transaction() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 1);
        let k = client_key("z9hG4bKc");
        t.start_client(k.clone(), Bytes::from_static(b"M"), udp(), t0)
            .expect("started");
        assert_eq!(t.handle_response(&k, 200, t0), ResponseOutcome::Final);
        assert_eq!((t.pending_len(), t.completed_len()), (0, 1));
        assert!(
            t.start_client(client_key("z9hG4bKd"), Bytes::new(), udp(), t0)
                .is_some(),
            "a completed client transaction is not pending work"
        );
        let k_fires = t0 + Duration::from_secs(5);
        t.handle_timeout(k_fires - Duration::from_millis(1));
        assert_eq!(
            t.handle_response(&k, 200, k_fires - Duration::from_millis(1)),
            ResponseOutcome::Absorbed
        );
        t.handle_timeout(k_fires);
        assert_eq!(t.completed_len(), 0);
        assert_eq!(t.handle_response(&k, 200, k_fires), ResponseOutcome::Stray);
    }

    /// At the completed bound a completed client transaction makes room
    /// oldest first: all it costs is a late retransmitted response counted
    /// as stray instead of absorbed.
    #[test]
    fn at_the_completed_bound_the_oldest_client_transaction_makes_room() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 10).with_max_completed(2);
        for n in 0..3 {
            let k = client_key(&format!("z9hG4bK{n}"));
            t.start_client(k.clone(), Bytes::new(), udp(), t0)
                .expect("started");
            assert_eq!(t.handle_response(&k, 200, t0), ResponseOutcome::Final);
        }
        assert_eq!(t.completed_len(), 2);
        assert_eq!(
            t.handle_response(&client_key("z9hG4bK0"), 200, t0),
            ResponseOutcome::Stray
        );
        for n in 1..3 {
            assert_eq!(
                t.handle_response(&client_key(&format!("z9hG4bK{n}")), 200, t0),
                ResponseOutcome::Absorbed
            );
        }
        // A completed server transaction is never the one to make room.
        let mut t = Transactions::new(Timers::default(), 10).with_max_completed(1);
        answered(&mut t, &key("z9hG4bKs"), t0);
        let k = client_key("z9hG4bKc");
        t.start_client(k.clone(), Bytes::new(), udp(), t0)
            .expect("started");
        assert_eq!(t.handle_response(&k, 200, t0), ResponseOutcome::Final);
        assert_eq!(t.completed_len(), 1, "the client's was not kept");
        assert!(t.has_server(&key("z9hG4bKs")));
    }

    /// RFC 3261 §17.2.2, §17.1.2.2: Timers J and K are zero on reliable
    /// transports, so nothing is kept.
    #[test]
    fn nothing_completed_is_kept_over_tcp() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 10);
        let k = key("z9hG4bKt");
        assert_eq!(t.handle_request(&k, false, tcp(), t0), RequestOutcome::New);
        t.respond(&k, 200, Bytes::new(), t0).expect("sent");
        let ck = client_key("z9hG4bKc");
        t.start_client(ck.clone(), Bytes::new(), tcp(), t0)
            .expect("started");
        assert_eq!(t.handle_response(&ck, 200, t0), ResponseOutcome::Final);
        assert_eq!((t.pending_len(), t.completed_len()), (0, 0));
        assert!(!t.has_server_branch("z9hG4bKt"));
    }

    /// A request the TU never answers is ended by the sweep once its
    /// deadline (128·T1) has passed, and not before.
    #[test]
    fn unanswered_request_is_abandoned_by_the_sweep() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Timers::default(), 10);
        let k = key("z9hG4bKu");
        t.handle_request(&k, false, udp(), t0);
        let mut looked = Vec::new();
        while let Some(at) = t.poll_timeout() {
            assert!(t.handle_timeout(at).is_empty());
            looked.push(((at - t0).as_millis(), t.has_server(&k)));
        }
        assert_eq!(looked, [(32_000, true), (64_000, false)]);
        assert!(t.is_empty() && !t.has_server_branch("z9hG4bKu"));
        assert!(t.respond(&k, 200, Bytes::new(), t0).is_none());
    }

    /// Two tables over a link that loses the first two responses, on a
    /// virtual clock: the client's Timer E retransmissions meet the stored
    /// final response, the server's TU sees the request once, and both
    /// sides end empty.
    #[test]
    fn lost_responses_are_recovered_from_the_completed_transaction() {
        let t0 = Instant::now();
        let mut uac = Transactions::new(Timers::default(), 10);
        let mut uas = Transactions::new(Timers::default(), 10);
        let ck = client_key("z9hG4bKl");
        let sk = key("z9hG4bKl");
        let mut to_uas = vec![
            uac.start_client(ck.clone(), Bytes::from_static(b"MESSAGE"), udp(), t0)
                .expect("started"),
        ];
        let mut delivered_to_tu = 0;
        let mut responses_sent = 0;
        let mut final_at = None;
        let mut now = t0;
        loop {
            for _request in to_uas.drain(..) {
                let answer = match uas.handle_request(&sk, false, udp(), now) {
                    RequestOutcome::New => {
                        delivered_to_tu += 1;
                        uas.respond(&sk, 200, Bytes::from_static(b"200"), now)
                    }
                    RequestOutcome::Retransmission(again) => again,
                    other => panic!("unexpected {other:?}"),
                };
                if let Some(answer) = answer {
                    responses_sent += 1;
                    // The link loses the first two responses.
                    if responses_sent > 2 {
                        assert_eq!(&answer.bytes[..], b"200");
                        if uac.handle_response(&ck, 200, now) == ResponseOutcome::Final {
                            final_at = Some((now - t0).as_millis());
                        }
                    }
                }
            }
            let Some(next) = [uac.poll_timeout(), uas.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            else {
                break;
            };
            now = next;
            for output in uac.handle_timeout(now) {
                match output {
                    Output::Transmit(t) => to_uas.push(t),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(uas.handle_timeout(now).is_empty());
        }
        assert_eq!(delivered_to_tu, 1);
        assert_eq!(responses_sent, 3);
        assert_eq!(final_at, Some(1_500), "Timer E at 500 ms and 1 500 ms");
        assert!(uac.is_empty() && uas.is_empty());
        assert_eq!(
            (now - t0).as_millis(),
            32_000,
            "Timer J, 64·T1 after the first answer, is the last timer"
        );
    }
}
