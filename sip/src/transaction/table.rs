//! The table of every transaction of an endpoint: pending ones under one
//! timer heap, completed non-INVITE ones in two rings (`completed.rs`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

use bytes::Bytes;

use super::completed::{Completed, PackedKey, Resend};
use super::*;
use crate::config::{Limits, Timers};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Client(ClientKey),
    InviteClient(ClientKey),
    Server(PackedKey),
}

#[derive(Debug)]
struct Slot<T> {
    tx: T,
    scheduled: Option<Instant>,
}

/// A transaction whose next deadline the table keeps in its heap.
trait Timed {
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Timed for ClientTransaction {
    fn poll_timeout(&self) -> Option<Instant> {
        ClientTransaction::poll_timeout(self)
    }
}

impl Timed for InviteClientTransaction {
    fn poll_timeout(&self) -> Option<Instant> {
        InviteClientTransaction::poll_timeout(self)
    }
}

impl Timed for Server {
    fn poll_timeout(&self) -> Option<Instant> {
        Server::poll_timeout(self)
    }
}

/// A server transaction, and the keyed hash of its branch (counted in
/// [`Transactions`]'s `branches` while it is held).
#[derive(Debug)]
struct ServerSlot {
    slot: Slot<Server>,
    branch_hash: KeyHash,
}

/// The pending server transactions: each in a slot of `slots`, which stays
/// where it is while the transaction lives, and an index from its key to the
/// slot. The index's entries are a key and a number (40 bytes, where a
/// key and a [`ServerSlot`] were 264), so that its growth and its rehashes
/// (inserts and removes, one of each per request, leave tombstones that a
/// rehash clears) move and touch a sixth of the memory (issue 24). Freed
/// slots are reused last-freed first, so the slots in use stay few and warm;
/// neither part shrinks, as the map alone did not.
#[derive(Debug, Default)]
struct Servers {
    index: hashbrown::HashMap<PackedKey, usize, PassThrough>,
    slots: Vec<Option<ServerSlot>>,
    free: Vec<usize>,
}

impl Servers {
    fn len(&self) -> usize {
        self.index.len()
    }

    fn contains_key<Q: Hash + hashbrown::Equivalent<PackedKey> + ?Sized>(&self, key: &Q) -> bool {
        self.index.contains_key(key)
    }

    fn get<Q: Hash + hashbrown::Equivalent<PackedKey> + ?Sized>(
        &self,
        key: &Q,
    ) -> Option<&ServerSlot> {
        let &at = self.index.get(key)?;
        self.slots.get(at)?.as_ref()
    }

    fn get_mut<Q: Hash + hashbrown::Equivalent<PackedKey> + ?Sized>(
        &mut self,
        key: &Q,
    ) -> Option<&mut ServerSlot> {
        let &at = self.index.get(key)?;
        self.slots.get_mut(at)?.as_mut()
    }

    fn get_key_value_mut<Q: Hash + hashbrown::Equivalent<PackedKey> + ?Sized>(
        &mut self,
        key: &Q,
    ) -> Option<(&PackedKey, &mut ServerSlot)> {
        let (packed, &at) = self.index.get_key_value(key)?;
        Some((packed, self.slots.get_mut(at)?.as_mut()?))
    }

    /// Holds `slot` under `key`; as `HashMap::insert`, a slot already held
    /// under `key` is replaced (and returned) and the key kept.
    fn insert(&mut self, key: PackedKey, slot: ServerSlot) -> Option<ServerSlot> {
        if let Some(&at) = self.index.get(&key)
            && let Some(held) = self.slots.get_mut(at)
        {
            return held.replace(slot);
        }
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at] = Some(slot);
                at
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, at);
        None
    }

    fn remove_entry<Q: Hash + hashbrown::Equivalent<PackedKey> + ?Sized>(
        &mut self,
        key: &Q,
    ) -> Option<(PackedKey, ServerSlot)> {
        let (packed, at) = self.index.remove_entry(key)?;
        let slot = self.slots.get_mut(at)?.take()?;
        self.free.push(at);
        Some((packed, slot))
    }

    fn remove<Q: Hash + hashbrown::Equivalent<PackedKey> + ?Sized>(
        &mut self,
        key: &Q,
    ) -> Option<ServerSlot> {
        self.remove_entry(key).map(|(_, slot)| slot)
    }

    fn iter(&self) -> impl Iterator<Item = (&PackedKey, &ServerSlot)> {
        self.index
            .iter()
            .filter_map(|(key, &at)| Some((key, self.slots.get(at)?.as_ref()?)))
    }

    fn values(&self) -> impl Iterator<Item = &ServerSlot> {
        self.slots.iter().flatten()
    }
}

impl<T: Timed> Slot<T> {
    /// Puts the transaction's next deadline in `heap`, unless an earlier one
    /// is there already (a later entry then finds `scheduled` changed and is
    /// skipped). `name` is only built when an entry is pushed.
    fn rearm(
        &mut self,
        heap: &mut BinaryHeap<Reverse<(Instant, TimerRef)>>,
        name: impl FnOnce() -> TimerRef,
    ) {
        if let Some(next) = self.tx.poll_timeout()
            && self.scheduled.is_none_or(|s| next < s)
        {
            self.scheduled = Some(next);
            heap.push(Reverse((next, name())));
        }
    }
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
    clients: hashbrown::HashMap<ClientKey, Slot<ClientTransaction>, PassThrough>,
    /// INVITE client transactions, until Timer B, Timer D or the end of
    /// `Accepted` (§13.2.2.4).
    invite_clients: HashMap<ClientKey, Slot<InviteClientTransaction>, PassThrough>,
    /// Server transactions by their key, packed ([`PackedKey`]: one
    /// allocation, which moves to `completed_servers` when the transaction
    /// completes), with their branch's hash.
    servers: Servers,
    /// Non-INVITE server transactions in Completed, until Timer J, with
    /// their branch's hash (counted in `branches` until then).
    completed_servers: Completed<(Resend, KeyHash)>,
    /// Non-INVITE client transactions in Completed, until Timer K.
    completed_clients: Completed<()>,
    /// How many server transactions, pending or completed, hold each top-Via
    /// branch, by a keyed hash of the branch ([`ServerKey::branch_hash`]):
    /// lets a datagram be recognised as a possible retransmission before it
    /// is parsed. Two branches with one hash only cost that datagram a parse.
    branches: HashMap<KeyHash, u32, PassThrough>,
    /// INVITEs answered 2xx, awaiting their ACK (§13.3.1.4).
    accepted: HashMap<AckKey, ServerKey>,
    heap: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    /// Client transactions' first deadlines (§17.1.2.2: Timer E, T1 after
    /// the start over UDP; Timer F, 64·T1 after it, over a reliable
    /// transport), one ring for each, in the order the transactions
    /// started: so in deadline order, with no heap sift to add or remove
    /// one. Nearly all are stale when they come due (the final response
    /// came first), and the heap paid a sift on cold memory twice for each
    /// (issue 24). A deadline earlier than its ring's last (a `now` from
    /// before the last start) goes to the heap instead.
    first_client_deadlines: [VecDeque<(Instant, ClientKey)>; 2],
    /// When unanswered non-INVITE server transactions are next looked at
    /// (they need no timer of their own: see [`Transactions::sweep`]).
    sweep_at: Option<Instant>,
    /// New requests refused because of `max_completed`.
    refused_for_completed: u64,
}

impl Transactions {
    /// Timers in the heap (tests: what an answered request leaves behind).
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// An empty table holding at most `max_pending` pending transactions
    /// (and the default bound of completed ones,
    /// [`Transactions::with_max_completed`]).
    pub fn new(timers: Timers, max_pending: usize) -> Self {
        Transactions {
            timers,
            max_pending,
            max_completed: Limits::default().max_completed_transactions,
            clients: hashbrown::HashMap::default(),
            invite_clients: HashMap::default(),
            servers: Servers::default(),
            completed_servers: Completed::new(),
            completed_clients: Completed::new(),
            branches: HashMap::default(),
            accepted: HashMap::new(),
            heap: BinaryHeap::new(),
            first_client_deadlines: [VecDeque::new(), VecDeque::new()],
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
        self.clients.len() + self.invite_clients.len() + self.servers.len()
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
        self.servers.contains_key(key)
            || self
                .completed_servers
                .get(key.parts(), key.key_hash())
                .is_some()
    }

    /// Whether a server transaction with this top-Via branch may be held (a
    /// request carrying it may be a retransmission). Never wrong when it
    /// says no; rarely, two branches share a hash and it says yes.
    pub(crate) fn has_server_branch(&self, branch: &str) -> bool {
        self.branches.contains_key(&KeyHash::of(&[branch]))
    }

    fn hold_branch(&mut self, hash: KeyHash) {
        *self.branches.entry(hash).or_insert(0) += 1;
    }

    fn release_branch(&mut self, hash: KeyHash) {
        if let Some(n) = self.branches.get_mut(&hash) {
            *n -= 1;
            if *n == 0 {
                self.branches.remove(&hash);
            }
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
        if let Some(resend) = self.completed_servers.get(key.parts(), key.key_hash()) {
            return RequestOutcome::Retransmission(Some(resend.0.transmit()));
        }
        if let Some((packed, ServerSlot { slot, .. })) = self.servers.get_key_value_mut(key) {
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
            slot.rearm(&mut self.heap, || TimerRef::Server(packed.clone()));
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
        let packed = key.packed();
        let slot = if key.method() == "INVITE" {
            let mut slot = Slot {
                tx: Server::Invite(InviteServerTransaction::new(target, self.timers)),
                scheduled: None,
            };
            slot.rearm(&mut self.heap, || TimerRef::Server(packed.clone()));
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
        let branch_hash = key.branch_hash();
        if self
            .servers
            .insert(packed, ServerSlot { slot, branch_hash })
            .is_none()
        {
            self.hold_branch(branch_hash);
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
        let (packed, ServerSlot { slot, .. }) = self.servers.get_key_value_mut(key)?;
        let transmit = match &mut slot.tx {
            Server::NonInvite(tx) => tx.respond(status, bytes, now),
            Server::Invite(tx) => tx.respond(status, bytes, now),
        };
        let completed = match &slot.tx {
            Server::NonInvite(tx) => tx.completed(),
            Server::Invite(_) => None,
        };
        let Some((timer_j, resend)) = completed else {
            slot.rearm(&mut self.heap, || TimerRef::Server(packed.clone()));
            return transmit;
        };
        // Completed: keep the key (moved, not copied) and the response,
        // nothing else.
        if let Some((packed, removed)) = self.servers.remove_entry(key) {
            if timer_j > now {
                self.completed_servers.insert_packed(
                    packed,
                    timer_j,
                    (resend, removed.branch_hash),
                );
            } else {
                // §17.2.2: Timer J is zero on reliable transports.
                self.release_branch(removed.branch_hash);
            }
        }
        transmit
    }

    /// RFC 3261 §9.2: the To tag of INVITE server transaction `key`'s
    /// responses, for the 200 to its CANCEL; `None` when there is no such
    /// transaction, `Some("")` when no tag was recorded.
    pub(crate) fn invite_to_tag(&self, key: &ServerKey) -> Option<&str> {
        match &self.servers.get(key)?.slot.tx {
            Server::Invite(tx) => Some(tx.to_tag().unwrap_or_default()),
            Server::NonInvite(_) => None,
        }
    }

    /// Records the To tag of INVITE server transaction `key`'s responses.
    pub(crate) fn set_invite_to_tag(&mut self, key: &ServerKey, tag: &str) {
        if let Some(ServerSlot {
            slot: Slot {
                tx: Server::Invite(tx),
                ..
            },
            ..
        }) = self.servers.get_mut(key)
        {
            tx.set_to_tag(tag);
        }
    }

    /// The INVITE of server transaction `key` was answered 2xx: its ACK will
    /// carry `ack` (RFC 3261 §13.3.1.4).
    pub(crate) fn expect_ack(&mut self, key: &ServerKey, ack: AckKey) {
        if let Some(ServerSlot {
            slot: Slot {
                tx: Server::Invite(tx),
                ..
            },
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
        let Some((packed, ServerSlot { slot, .. })) = self.servers.get_key_value_mut(&key) else {
            return false;
        };
        if let Server::Invite(tx) = &mut slot.tx {
            tx.handle_ack(now);
        }
        slot.rearm(&mut self.heap, || TimerRef::Server(packed.clone()));
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
            || self
                .completed_clients
                .get(key.parts(), key.key_hash())
                .is_some()
        {
            return None;
        }
        let (tx, transmit) = ClientTransaction::new(request, target, self.timers, now);
        let mut slot = Slot {
            tx,
            scheduled: None,
        };
        if let Some(first) = slot.tx.poll_timeout() {
            slot.scheduled = Some(first);
            let ring =
                &mut self.first_client_deadlines[usize::from(target.transport.is_reliable())];
            if ring.back().is_none_or(|(last, _)| *last <= first) {
                ring.push_back((first, key.clone()));
            } else {
                self.heap
                    .push(Reverse((first, TimerRef::Client(key.clone()))));
            }
        }
        self.clients.insert(key, slot);
        Some(transmit)
    }

    /// Starts an INVITE client transaction (§17.1.1); returns the first
    /// transmission, or `None` if the table is full or the key is taken.
    pub(crate) fn start_invite_client(
        &mut self,
        key: ClientKey,
        request: Bytes,
        ack: AckTemplate,
        target: Target,
        now: Instant,
    ) -> Option<Transmit> {
        if self.pending_len() >= self.max_pending || self.invite_clients.contains_key(&key) {
            return None;
        }
        let (tx, transmit) = InviteClientTransaction::new(request, ack, target, self.timers, now);
        let mut slot = Slot {
            tx,
            scheduled: None,
        };
        slot.rearm(&mut self.heap, || TimerRef::InviteClient(key.clone()));
        self.invite_clients.insert(key, slot);
        Some(transmit)
    }

    /// A response arrived for INVITE client transaction `key` (§17.1.3
    /// matching: branch and CSeq method); `to` is its To header value and
    /// `to_tag` that header's tag. `None`: no transaction matches (stray).
    pub(crate) fn handle_invite_response(
        &mut self,
        key: &ClientKey,
        status: u16,
        to: &str,
        to_tag: &str,
        now: Instant,
    ) -> Option<InviteClientEvent> {
        let slot = self.invite_clients.get_mut(key)?;
        let event = slot.tx.handle_response(status, to, to_tag, now);
        slot.rearm(&mut self.heap, || TimerRef::InviteClient(key.clone()));
        Some(event)
    }

    /// Whether INVITE client transaction `key` has heard a provisional
    /// response (RFC 3261 §9.1: a CANCEL may go) and is still waiting for
    /// a final one; `None` when there is no such transaction or it has its
    /// final response.
    pub(crate) fn invite_cancellable(&self, key: &ClientKey) -> Option<bool> {
        let slot = self.invite_clients.get(key)?;
        match slot.tx.state() {
            InviteClientState::Calling => Some(false),
            InviteClientState::Proceeding => Some(true),
            _ => None,
        }
    }

    /// A CANCEL for INVITE client transaction `key` was sent (§9.1).
    pub(crate) fn invite_cancel_sent(&mut self, key: &ClientKey, now: Instant) {
        if let Some(slot) = self.invite_clients.get_mut(key) {
            slot.tx.cancel_sent(now);
            slot.rearm(&mut self.heap, || TimerRef::InviteClient(key.clone()));
        }
    }

    /// The TU acknowledged the 2xx with To tag `to_tag` of INVITE `key`
    /// with `ack` (§13.2.2.4): kept to answer that 2xx's retransmissions.
    pub(crate) fn set_invite_ack(&mut self, key: &ClientKey, to_tag: &str, ack: Transmit) {
        if let Some(slot) = self.invite_clients.get_mut(key) {
            slot.tx.set_ack(to_tag, ack);
        }
    }

    /// Drops INVITE client transaction `key` (its request could not be sent).
    pub(crate) fn remove_invite_client(&mut self, key: &ClientKey) {
        self.invite_clients.remove(key);
    }

    /// A response arrived for client transaction `key` (§17.1.3 matching).
    pub(crate) fn handle_response<'k>(
        &mut self,
        key: impl Into<ClientKeyRef<'k>>,
        status: u16,
        now: Instant,
    ) -> ResponseOutcome {
        let key = key.into();
        let Some((stored, slot)) = self.clients.get_key_value_mut(&key) else {
            // §17.1.2.2: Completed absorbs the final response's retransmissions.
            if self
                .completed_clients
                .get(key.parts(), key.key_hash())
                .is_some()
            {
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
            self.clients.remove(&key);
            if let Some(timer_k) = timer_k.filter(|k| *k > now) {
                self.keep_completed_client(key, timer_k);
            }
            return outcome;
        }
        slot.rearm(&mut self.heap, || TimerRef::Client(stored.clone()));
        outcome
    }

    /// Keeps a completed client transaction within the completed bound (see
    /// [`Transactions`]): at the bound the oldest one goes first, and if
    /// there is none the new one is not kept.
    fn keep_completed_client(&mut self, key: ClientKeyRef<'_>, timer_k: Instant) {
        while self.completed_len() + self.servers.len() >= self.max_completed {
            if self.completed_clients.pop_oldest().is_none() {
                return;
            }
        }
        self.completed_clients
            .insert(key.parts(), key.key_hash(), timer_k, ());
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
        let mut failed = failed;
        let invites: Vec<ClientKey> = self
            .invite_clients
            .iter()
            .filter(|(_, slot)| {
                slot.tx.target() == target
                    && matches!(
                        slot.tx.state(),
                        InviteClientState::Calling | InviteClientState::Proceeding
                    )
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &invites {
            self.invite_clients.remove(key);
        }
        failed.extend(invites);
        failed
    }

    /// The earliest timer deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.heap.peek().map(|Reverse((at, _))| *at),
            self.first_client_deadlines[0].front().map(|(at, _)| *at),
            self.first_client_deadlines[1].front().map(|(at, _)| *at),
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
                TimerRef::InviteClient(key) => self.fire_invite_client(key, at, now, &mut out),
                TimerRef::Server(key) => self.fire_server(key, at, now, &mut out),
            }
        }
        for ring in 0..self.first_client_deadlines.len() {
            while self.first_client_deadlines[ring]
                .front()
                .is_some_and(|(at, _)| *at <= now)
            {
                let Some((at, key)) = self.first_client_deadlines[ring].pop_front() else {
                    break;
                };
                self.fire_client(key, at, now, &mut out);
            }
        }
        if self.sweep_at.is_some_and(|at| at <= now) {
            self.sweep(now);
        }
        // Timer J: "the server transaction MUST be destroyed" (§17.2.2).
        while let Some(entry) = self.completed_servers.pop_expired(now) {
            self.release_branch(entry.value.1);
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
            slot.rearm(&mut self.heap, || TimerRef::Client(key));
        }
    }

    fn fire_invite_client(
        &mut self,
        key: ClientKey,
        at: Instant,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let Some(slot) = self.invite_clients.get_mut(&key) else {
            return;
        };
        if slot.scheduled != Some(at) {
            return;
        }
        slot.scheduled = None;
        let mut terminated = false;
        while let Some(t) = slot.tx.handle_timeout(now) {
            match t {
                InviteClientTimeout::Retransmit(transmit) => out.push(Output::Transmit(transmit)),
                InviteClientTimeout::TimedOut => {
                    out.push(Output::TimedOut(key.clone()));
                    terminated = true;
                    break;
                }
                InviteClientTimeout::Terminated => {
                    out.push(Output::InviteEnded(key.clone()));
                    terminated = true;
                    break;
                }
            }
            if slot.tx.poll_timeout().is_none_or(|next| next > now) {
                break;
            }
        }
        if terminated {
            self.invite_clients.remove(&key);
        } else {
            slot.rearm(&mut self.heap, || TimerRef::InviteClient(key));
        }
    }

    fn fire_server(&mut self, key: PackedKey, at: Instant, now: Instant, out: &mut Vec<Output>) {
        let Some(ServerSlot { slot, .. }) = self.servers.get_mut(&key) else {
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
                    out.push(Output::AckTimedOut(ServerKey::unpacked(&key)));
                    true
                }
                Some(InviteServerTimeout::Terminated) => true,
                None => tx.state() == InviteServerState::Terminated,
            },
        };
        if terminated {
            self.remove_server(&key);
        } else {
            slot.rearm(&mut self.heap, || TimerRef::Server(key));
        }
    }

    fn remove_server(&mut self, key: &PackedKey) {
        let Some(removed) = self.servers.remove(key) else {
            return;
        };
        self.release_branch(removed.branch_hash);
        if let Server::Invite(_) = removed.slot.tx
            && !self.accepted.is_empty()
        {
            self.accepted
                .retain(|_, k| !hashbrown::Equivalent::equivalent(k, key));
        }
    }

    /// Ends the non-INVITE server transactions whose TU has not answered by
    /// their deadline ([`ServerTransaction::abandon_at`]). They are looked at
    /// every 64·T1 instead of each holding a timer: an answered one would
    /// leave its timer behind, a key's worth of memory, for as long again
    /// as Timer J. So one is ended between 128·T1 and 192·T1 after its request.
    fn sweep(&mut self, now: Instant) {
        let abandoned: Vec<PackedKey> = self
            .servers
            .iter()
            .filter(|(_, s)| {
                matches!(&s.slot.tx, Server::NonInvite(tx)
                    if tx.poll_timeout().is_some_and(|at| at <= now))
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &abandoned {
            if let Some(ServerSlot {
                slot:
                    Slot {
                        tx: Server::NonInvite(tx),
                        ..
                    },
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
            .any(|s| matches!(s.slot.tx, Server::NonInvite(_)));
        self.sweep_at = unanswered.then(|| now + self.timers.t1 * 64);
    }
}

#[cfg(test)]
mod servers_tests {
    use std::collections::HashMap;

    use super::*;

    fn slot(marker: u64) -> ServerSlot {
        let target = Target {
            transport: Transport::Udp,
            addr: "127.0.0.1:5060".parse().expect("addr"),
        };
        ServerSlot {
            slot: Slot {
                tx: Server::NonInvite(ServerTransaction::new(target, Timers::default())),
                scheduled: None,
            },
            branch_hash: KeyHash(marker),
        }
    }

    fn key(n: u64) -> ServerKey {
        ServerKey::new(&format!("z9hG4bK{n}"), "h", "MESSAGE")
    }

    /// What the table moves when its index grows or rehashes: a key and a
    /// slot number, not a whole transaction (issue 24). A regression here
    /// (a transaction back in the index) fails.
    #[test]
    fn the_index_entry_is_a_key_and_a_number() {
        assert!(size_of::<(PackedKey, usize)>() <= 40);
        let _: &hashbrown::HashMap<PackedKey, usize, PassThrough> = &Servers::default().index;
    }

    /// The slab and its index answer as the map of whole transactions they
    /// replace did, over a long run of inserts, replacements, lookups and
    /// removals of a few keys (so that slots are freed and reused).
    #[test]
    fn servers_answer_as_a_map_of_whole_slots() {
        let mut servers = Servers::default();
        let mut model: HashMap<u64, u64> = HashMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for step in 0..20_000u64 {
            let n = next() % 64;
            let k = key(n);
            match next() % 5 {
                0 | 1 => {
                    let old = servers.insert(k.packed(), slot(step));
                    let model_old = model.insert(n, step);
                    assert_eq!(old.map(|s| s.branch_hash.0), model_old);
                }
                2 => {
                    let removed = servers.remove_entry(&k);
                    let model_removed = model.remove(&n);
                    assert_eq!(
                        removed.as_ref().map(|(_, s)| s.branch_hash.0),
                        model_removed
                    );
                    if let Some((packed, _)) = removed {
                        assert_eq!(packed, k.packed());
                    }
                }
                3 => {
                    let got = servers
                        .get_key_value_mut(&k)
                        .map(|(p, s)| (p.clone(), s.branch_hash.0));
                    assert_eq!(got, model.get(&n).map(|&m| (k.packed(), m)));
                    assert_eq!(
                        servers.get(&k).map(|s| s.branch_hash.0),
                        model.get(&n).copied()
                    );
                    assert_eq!(servers.contains_key(&k), model.contains_key(&n));
                }
                _ => {
                    if let Some(s) = servers.get_mut(&k) {
                        s.branch_hash = KeyHash(step);
                        model.insert(n, step);
                    } else {
                        assert!(!model.contains_key(&n));
                    }
                }
            }
            assert_eq!(servers.len(), model.len());
            // Every slot in use is indexed once; none is held twice.
            assert_eq!(servers.values().count(), model.len());
            assert_eq!(servers.slots.len(), servers.len() + servers.free.len());
        }
        let mut listed: Vec<u64> = servers.iter().map(|(_, s)| s.branch_hash.0).collect();
        let mut expected: Vec<u64> = model.values().copied().collect();
        listed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(listed, expected);
        // No more slots than keys were ever held at once.
        assert!(servers.slots.len() <= 64);
    }
}
