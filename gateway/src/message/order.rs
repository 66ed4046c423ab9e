//! One conversation's messages leave in the order they came (issue 26 §2).
//!
//! Each XMPP message becomes a SIP MESSAGE sent from its own task, so that a
//! peer slow to answer one does not hold up the others. Tasks started back to
//! back race to the socket, though: measured with 300 messages from one
//! sender, 34 of them reached the SIP peer after a later one. RFC 3428
//! MESSAGEs carry no sequence number, so the order on the wire is the order
//! the recipient reads.
//!
//! A [`Lanes`] entry per (sender, recipient) chains the tasks: each waits
//! until its predecessor's request has first been handed to the transport
//! (`Endpoint::send_request_in_order`), not until it is answered, so a lost
//! response delays nobody by more than the time to transmit. The chain is
//! made synchronously, in hand-over order, before the task is spawned.
//!
//! Most messages need no task (issue 24): when the conversation has nothing
//! still to leave ([`Lanes::is_free`]) and the endpoint can send at once
//! (`Endpoint::start_request`), the MESSAGE leaves in the hand-over pass
//! itself, after all its predecessors, and takes no turn.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// The conversation a message belongs to: the XMPP sender's bare JID and the
/// SIP Request-URI.
pub(crate) type Conversation = (String, String);

/// The last request of each conversation whose transmission is still awaited.
#[derive(Default)]
pub(crate) struct Lanes {
    /// One lock, not a sharded map: every use is a moment's look-up, and an
    /// empty table is then seen without hashing the conversation or
    /// building its key (issue 24).
    last: Mutex<HashMap<Conversation, oneshot::Receiver<()>>>,
}

/// A message's place in its conversation: what to wait for, and the signal
/// the next message waits for.
pub(crate) struct Turn {
    /// Fires (or is dropped) when the previous message has been transmitted.
    pub(crate) after: Option<oneshot::Receiver<()>>,
    /// Fire once this message has been transmitted.
    pub(crate) transmitted: oneshot::Sender<()>,
}

impl Turn {
    /// Waits for the previous message of the conversation to leave.
    pub(crate) async fn wait(&mut self) {
        if let Some(after) = self.after.take() {
            // Dropped unfired means that request ended before it was sent:
            // nothing left to keep order with.
            let _ = after.await;
        }
    }
}

impl Lanes {
    fn last(&self) -> MutexGuard<'_, HashMap<Conversation, oneshot::Receiver<()>>> {
        // Each use is one map call: a panic leaves the map consistent.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next turn in `conversation`. Called in hand-over order.
    pub(crate) fn next(&self, conversation: Conversation) -> Turn {
        let (transmitted, mine) = oneshot::channel();
        let after = self.last().insert(conversation, mine);
        Turn { after, transmitted }
    }

    /// Whether nothing of the conversation of `sender` (a bare JID) and
    /// `request_uri` is still to leave: a message sent now, without taking
    /// a turn, would leave after all its predecessors. Called in hand-over
    /// order, like [`Lanes::next`].
    pub(crate) fn is_free(&self, sender: &str, request_uri: &str) -> bool {
        let mut last = self.last();
        // The usual case: the table holds only conversations with a
        // message on its way out, and there are none.
        if last.is_empty() {
            return true;
        }
        let conversation = (sender.to_owned(), request_uri.to_owned());
        let Some(rx) = last.get_mut(&conversation) else {
            return true;
        };
        // A signal that has fired (or whose sender is gone) is spent: it
        // leaves the table here, since the next turn awaiting a receiver
        // already read would panic ("called after complete").
        if matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
            return false;
        }
        last.remove(&conversation);
        true
    }

    /// Forgets conversations whose last message has been transmitted (or has
    /// ended), so the table holds only conversations with a message on its
    /// way out.
    pub(crate) fn reap(&self) {
        self.last()
            .retain(|_, rx| matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
    }

    /// Conversations with a message on its way out.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(to: &str) -> Conversation {
        ("juliet@example.com".to_owned(), to.to_owned())
    }

    #[tokio::test]
    async fn each_turn_waits_for_the_previous_transmission_of_its_conversation_only() {
        let lanes = Lanes::default();
        let mut first = lanes.next(conversation("sip:bob@example.net"));
        let mut second = lanes.next(conversation("sip:bob@example.net"));
        let mut other = lanes.next(conversation("sip:carol@example.net"));
        first.wait().await;
        other.wait().await;
        let waiting = tokio::spawn(async move {
            second.wait().await;
            second
        });
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "the second went before the first was sent"
        );
        first.transmitted.send(()).expect("second waits");
        let second = waiting.await.expect("task");
        drop(second.transmitted);
        drop(other.transmitted);
        lanes.reap();
        assert_eq!(lanes.len(), 0);
    }

    #[tokio::test]
    async fn a_request_that_ends_unsent_releases_the_next() {
        let lanes = Lanes::default();
        let first = lanes.next(conversation("sip:bob@example.net"));
        let mut second = lanes.next(conversation("sip:bob@example.net"));
        drop(first);
        second.wait().await;
        // The second's own signal is still awaited by whoever comes next.
        lanes.reap();
        assert_eq!(lanes.len(), 1);
    }

    #[tokio::test]
    async fn a_conversation_is_free_once_its_last_message_has_left() {
        let lanes = Lanes::default();
        let bob = conversation("sip:bob@example.net");
        assert!(lanes.is_free(&bob.0, &bob.1), "nothing sent yet");
        let first = lanes.next(bob.clone());
        assert!(
            !lanes.is_free(&bob.0, &bob.1),
            "the first is still to leave"
        );
        assert!(lanes.is_free("juliet@example.com", "sip:carol@example.net"));
        first.transmitted.send(()).expect("the entry waits");
        assert!(lanes.is_free(&bob.0, &bob.1), "the first has left");
        let second = lanes.next(bob.clone());
        drop(second);
        assert!(lanes.is_free(&bob.0, &bob.1), "the second ended unsent");
    }

    #[tokio::test]
    async fn a_turn_taken_after_the_conversation_was_found_free_does_not_wait_on_a_spent_signal() {
        // A MESSAGE that finds its conversation free but cannot leave at
        // once (DNS, a TCP connection) takes a turn after all.
        let lanes = Lanes::default();
        let bob = conversation("sip:bob@example.net");
        let first = lanes.next(bob.clone());
        first.transmitted.send(()).expect("the entry waits");
        assert!(lanes.is_free(&bob.0, &bob.1));
        let mut second = lanes.next(bob.clone());
        tokio::time::timeout(std::time::Duration::from_secs(5), second.wait())
            .await
            .expect("nothing to wait for");
    }
}
