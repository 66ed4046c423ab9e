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
/// Transaction keys hashed once, when they are made (issue 24).
pub(crate) mod hashed;
/// RFC 3261 §17.1.1: INVITE client transaction.
pub(crate) mod invite_client;
/// RFC 3261 §17.2.1: INVITE server transaction (minimal).
pub(crate) mod invite_server;
/// RFC 3261 §17.2.2: non-INVITE server transaction.
pub(crate) mod server;

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;

pub(crate) use client::{ClientEvent, ClientState, ClientTimeout, ClientTransaction};
pub(crate) use hashed::{KeyHash, PassThrough};
pub(crate) use invite_client::{
    AckTemplate, InviteClientEvent, InviteClientState, InviteClientTimeout, InviteClientTransaction,
};
pub(crate) use invite_server::{InviteServerState, InviteServerTimeout, InviteServerTransaction};
pub(crate) use server::ServerTransaction;

use crate::config::Transport;
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
///
/// Both parts are shared (`Arc<str>`): the key is held by the transaction
/// table, its timer entries and the endpoint's waiter at once, and a clone
/// is a count, not two allocations (issue 24); the usual methods' names are
/// shared from one copy each ([`ClientKey::method`]). Its keyed hash is
/// computed once, when it is made, and the maps holding it use that
/// ([`hashed`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ClientKey {
    /// The branch of the Via we added.
    pub branch: Arc<str>,
    /// The CSeq method.
    pub method: Arc<str>,
    /// The keyed hash of both (last, so keys order by their text).
    hash: KeyHash,
}

impl Hash for ClientKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash.hash(state);
    }
}

impl ClientKey {
    /// The key of the transaction with `branch` whose CSeq method is `method`.
    pub(crate) fn new(branch: &str, method: &str) -> ClientKey {
        ClientKey::of_parts(Arc::from(branch), ClientKey::method(method))
    }

    /// The key with shared `branch` and `method`.
    pub(crate) fn of_parts(branch: Arc<str>, method: Arc<str>) -> ClientKey {
        let hash = KeyHash::of(&[&branch, &method, ""]);
        ClientKey {
            branch,
            method,
            hash,
        }
    }

    /// Its keyed hash.
    pub(crate) fn key_hash(&self) -> KeyHash {
        self.hash
    }

    /// `method` as a key part: one shared copy for the methods a client
    /// transaction usually has, a new one for any other.
    pub(crate) fn method(method: &str) -> Arc<str> {
        static USUAL: OnceLock<[Arc<str>; 7]> = OnceLock::new();
        let usual = USUAL.get_or_init(|| {
            [
                "MESSAGE",
                "INVITE",
                "CANCEL",
                "SUBSCRIBE",
                "NOTIFY",
                "BYE",
                "REGISTER",
            ]
            .map(Arc::from)
        });
        usual
            .iter()
            .find(|m| ***m == *method)
            .cloned()
            .unwrap_or_else(|| Arc::from(method))
    }

    /// Its parts, as a completed transaction keeps them.
    fn parts(&self) -> [&str; 3] {
        [&self.branch, &self.method, ""]
    }
}

/// A [`ClientKey`] borrowed from a received response, so it is looked up
/// without being built (no allocation; hashed once, as a `ClientKey` is).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientKeyRef<'a> {
    /// The top Via branch.
    pub branch: &'a str,
    /// The CSeq method.
    pub method: &'a str,
    hash: KeyHash,
}

impl<'a> ClientKeyRef<'a> {
    /// The key of the transaction with `branch` whose CSeq method is `method`.
    pub(crate) fn new(branch: &'a str, method: &'a str) -> ClientKeyRef<'a> {
        ClientKeyRef {
            branch,
            method,
            hash: KeyHash::of(&[branch, method, ""]),
        }
    }

    /// The key, owned.
    pub(crate) fn owned(self) -> ClientKey {
        ClientKey {
            branch: Arc::from(self.branch),
            method: ClientKey::method(self.method),
            hash: self.hash,
        }
    }

    /// Its keyed hash (a `ClientKey`'s with the same parts).
    pub(crate) fn key_hash(self) -> KeyHash {
        self.hash
    }

    /// Its parts, as a completed transaction keeps them.
    fn parts(self) -> [&'a str; 3] {
        [self.branch, self.method, ""]
    }
}

impl<'a> From<&'a ClientKey> for ClientKeyRef<'a> {
    fn from(key: &'a ClientKey) -> ClientKeyRef<'a> {
        ClientKeyRef {
            branch: &key.branch,
            method: &key.method,
            hash: key.hash,
        }
    }
}

impl Hash for ClientKeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash.hash(state);
    }
}

impl hashbrown::Equivalent<ClientKey> for ClientKeyRef<'_> {
    fn equivalent(&self, key: &ClientKey) -> bool {
        self.hash == key.hash && *self.branch == *key.branch && *self.method == *key.method
    }
}

/// RFC 3261 §17.2.3: a server transaction is named by branch, sent-by and
/// method (ACK matches its INVITE).
///
/// Made by [`ServerKey::of`] or [`ServerKey::new`], which hash it once
/// (keyed, [`hashed`]): the maps holding it use that hash. Its parts are
/// to be read; a key with other parts is a new key. They are kept packed
/// in one allocation, as the table keeps them (issue 24: a key of three
/// `String`s was three allocations a request, and a fourth to pack it).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerKey {
    /// Branch, sent-by and method, with the keyed hash of the three (so
    /// keys order by their text).
    packed: completed::PackedKey,
    /// The keyed hash of the branch alone: what the table counts to
    /// recognise a datagram before it is parsed.
    branch_hash: KeyHash,
}

impl Hash for ServerKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.packed.key_hash().hash(state);
    }
}

/// Its parts by name, as when they were fields (the packed text runs them
/// together).
impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("branch", &self.branch())
            .field("sent_by", &self.sent_by())
            .field("method", &self.method())
            .finish_non_exhaustive()
    }
}

/// The table holds a pending server transaction's key packed
/// ([`completed::PackedKey`]) and finds it by the `ServerKey` of a request.
impl hashbrown::Equivalent<completed::PackedKey> for ServerKey {
    fn equivalent(&self, key: &completed::PackedKey) -> bool {
        self.packed.key_hash() == key.key_hash() && self.parts() == key.parts()
    }
}

/// RFC 3261 §8.1.1.7: the magic cookie that marks an RFC 3261 branch.
pub(crate) const MAGIC_COOKIE: &str = "z9hG4bK";

impl ServerKey {
    /// The key with these parts (`sent_by` as it is, not lowercased),
    /// packed once.
    pub fn new(branch: &str, sent_by: &str, method: &str) -> ServerKey {
        let parts = [branch, sent_by, method];
        ServerKey {
            packed: completed::PackedKey::new(parts, KeyHash::of(&parts)),
            branch_hash: KeyHash::of(&[branch]),
        }
    }

    /// The top Via branch (or, for an RFC 2543 peer without the magic
    /// cookie, a key built from the request's identifying fields).
    pub fn branch(&self) -> &str {
        self.parts()[0]
    }

    /// The top Via sent-by.
    pub fn sent_by(&self) -> &str {
        self.parts()[1]
    }

    /// The method, with ACK counted as INVITE.
    pub fn method(&self) -> &str {
        self.parts()[2]
    }

    /// The same key for another method (RFC 3261 §9.2: the INVITE a
    /// CANCEL names).
    pub(crate) fn with_method(&self, method: &str) -> ServerKey {
        ServerKey::new(self.branch(), self.sent_by(), method)
    }

    /// Its keyed hash.
    pub(crate) fn key_hash(&self) -> KeyHash {
        self.packed.key_hash()
    }

    /// The keyed hash of its branch alone.
    pub(crate) fn branch_hash(&self) -> KeyHash {
        self.branch_hash
    }

    /// Its parts, as a completed transaction keeps them.
    fn parts(&self) -> [&str; 3] {
        self.packed.parts()
    }

    /// The key a packed key packs (its branch hashed again: for the rare
    /// paths that hand a key out, Timer H).
    fn unpacked(key: &completed::PackedKey) -> ServerKey {
        let [branch, ..] = key.parts();
        ServerKey {
            packed: key.clone(),
            branch_hash: KeyHash::of(&[branch]),
        }
    }

    /// The key packed in one allocation, with the same hash.
    fn packed(&self) -> completed::PackedKey {
        self.packed.clone()
    }

    /// The key of a request.
    pub fn of(head: &RequestHead) -> ServerKey {
        let method = if head.method == "ACK" {
            "INVITE"
        } else {
            head.method.as_str()
        };
        let ViaHead {
            sent_by, branch, ..
        } = &head.via;
        // Sent-by compares without case (RFC 3261 §17.2.3 compares it as
        // a host and port); lower-cased only when it has capitals.
        let lowered;
        let sent_by = if sent_by.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = sent_by.to_ascii_lowercase();
            lowered.as_str()
        } else {
            sent_by.as_str()
        };
        match branch {
            Some(b) if b.starts_with(MAGIC_COOKIE) => ServerKey::new(b, sent_by, method),
            // §17.2.3: an RFC 2543 request is matched by Request-URI, tags,
            // Call-ID, CSeq and top Via; fold them into one key.
            other => ServerKey::new(
                &format!(
                    "2543|{}|{}|{}|{}|{}|{}",
                    head.request_uri,
                    head.from.param("tag").unwrap_or_default(),
                    head.to.param("tag").unwrap_or_default(),
                    head.call_id,
                    head.cseq,
                    other.as_deref().unwrap_or_default(),
                ),
                sent_by,
                method,
            ),
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
            call_id: head.call_id.to_string(),
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
    /// Timer F (Timer B for an INVITE): the client transaction got no final response.
    TimedOut(ClientKey),
    /// Timer H: no ACK for our final response to an INVITE.
    AckTimedOut(ServerKey),
    /// An INVITE client transaction ended after its final response (Timer
    /// D, or 64·T1 after a 2xx, §13.2.2.4): nothing more will match it.
    InviteEnded(ClientKey),
}

/// The table itself.
mod table;
pub use table::Transactions;

#[cfg(test)]
mod tests;
