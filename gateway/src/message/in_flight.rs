//! XMPP → SIP messages waiting for their final response, without a task
//! each (issue 24).
//!
//! A `<message/>` whose SIP MESSAGE could be sent at once
//! (`Endpoint::start_request`) leaves only a wait behind: for the final
//! response, then for what the sender hears (RFC 7247 §7). Spawning a task
//! for each such wait cost more than the rest of the translation (the
//! future moved into its task cell, the scheduler, a wake-up per 200); here
//! every wait is a future in one set, polled by one long-lived task that
//! wakes once for a burst of answers.
//!
//! Shutdown still waits for them: each carries a token of the router's
//! task tracker, so `drain.rs` counts it as it counted the task.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;

/// One message's wait.
type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The set of waits and the task that polls them, started with the first.
#[derive(Default)]
pub(crate) struct InFlight {
    queue: OnceLock<mpsc::UnboundedSender<Wait>>,
}

impl InFlight {
    /// Adds `wait`; it is polled from the next turn of the serving task on.
    pub(crate) fn push(&self, wait: impl Future<Output = ()> + Send + 'static) {
        let queue = self.queue.get_or_init(|| {
            let (queue, waits) = mpsc::unbounded_channel();
            tokio::spawn(serve(waits));
            queue
        });
        if let Err(mpsc::error::SendError(wait)) = queue.send(Box::pin(wait)) {
            // The serving task is gone (the runtime is stopping): the
            // wait still runs, on its own.
            tokio::spawn(wait);
        }
    }
}

/// Polls every wait to its end; ends when the set is dropped and empty.
async fn serve(mut waits: mpsc::UnboundedReceiver<Wait>) {
    let mut set = FuturesUnordered::new();
    loop {
        tokio::select! {
            wait = waits.recv() => match wait {
                Some(wait) => {
                    set.push(wait);
                    // A burst of stanzas comes as a burst of waits.
                    while let Ok(wait) = waits.try_recv() {
                        set.push(wait);
                    }
                }
                None => break,
            },
            Some(()) = set.next(), if !set.is_empty() => {}
        }
    }
    while set.next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn every_wait_runs_to_its_end_in_the_order_its_answer_comes() {
        let in_flight = InFlight::default();
        let done = Arc::new(AtomicUsize::new(0));
        let (first_tx, first_rx) = oneshot::channel::<()>();
        let (second_tx, second_rx) = oneshot::channel::<()>();
        let (order_tx, mut order_rx) = mpsc::unbounded_channel();
        for (name, rx) in [("first", first_rx), ("second", second_rx)] {
            let done = Arc::clone(&done);
            let order = order_tx.clone();
            in_flight.push(async move {
                let _ = rx.await;
                done.fetch_add(1, Ordering::SeqCst);
                let _ = order.send(name);
            });
        }
        second_tx.send(()).expect("waiting");
        let deadline = std::time::Duration::from_secs(5);
        let got = tokio::time::timeout(deadline, order_rx.recv()).await;
        assert_eq!(got.expect("in time"), Some("second"));
        first_tx.send(()).expect("waiting");
        let got = tokio::time::timeout(deadline, order_rx.recv()).await;
        assert_eq!(got.expect("in time"), Some("first"));
        assert_eq!(done.load(Ordering::SeqCst), 2);
    }
}
