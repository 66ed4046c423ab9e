//! PostgreSQL's notifications to this instance, turned into [`StoreEvent`]s.
//!
//! One `LISTEN` connection on this instance's channel and on the broadcast
//! one. Notifications sent while it was disconnected are gone, so after every
//! reconnection it reports [`StoreEvent::Handoff`] and [`StoreEvent::Released`]
//! once: the gateway then looks at the store instead of waiting for the next
//! poll. (A `lost` missed that way shows up at the row's next write, which is
//! fenced.)

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::StoreEvent;
use super::lease::{BROADCAST, channel};
use super::rows::RowKind;

/// The wait before connecting again, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub(super) async fn listen(
    pool: PgPool,
    me: String,
    events: mpsc::Sender<StoreEvent>,
    stop: CancellationToken,
) {
    let mine = channel(&me);
    let mut backoff = FIRST_BACKOFF;
    let mut first = true;
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all([mine.as_str(), BROADCAST]).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = stop.cancelled() => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(e) => {
                    warn!(error = %e, retry_in_ms = backoff.as_millis(), "store notifications: cannot listen");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
        };
        backoff = FIRST_BACKOFF;
        // Work may have waited while nobody listened (a stable instance id
        // restarting, or a reconnection).
        let _ = events.send(StoreEvent::Handoff).await;
        if !first {
            let _ = events.send(StoreEvent::Released).await;
        }
        first = false;
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(n)) => {
                    for event in parse(n.channel(), n.payload(), &me) {
                        if events.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    warn!("store notifications: connection lost; reconnected");
                    let _ = events.send(StoreEvent::Handoff).await;
                    let _ = events.send(StoreEvent::Released).await;
                }
                Err(e) => {
                    warn!(error = %e, "store notifications: connection lost");
                    break;
                }
            }
        }
    }
}

/// The events one notification carries (see `lease.rs` for the payloads).
fn parse(channel: &str, payload: &str, me: &str) -> Vec<StoreEvent> {
    let mut events = Vec::new();
    for line in payload.lines() {
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("handoff"), None, None) => events.push(StoreEvent::Handoff),
            (Some("released"), Some(who), None) if who != me => events.push(StoreEvent::Released),
            (Some("released"), Some(_), None) => {}
            (Some("lost"), Some(kind), Some(call_id)) => match RowKind::parse(kind) {
                Some(kind) => events.push(StoreEvent::Lost {
                    kind,
                    call_id: call_id.to_owned(),
                }),
                None => debug!(channel, line, "unknown row kind in a store notification"),
            },
            _ => debug!(channel, line, "unknown store notification"),
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_lines_become_one_event_each_and_own_releases_are_ignored() {
        let events = parse("parley:a", "lost watch c1\nlost watcher c 2\nhandoff", "a");
        assert_eq!(
            events,
            vec![
                StoreEvent::Lost {
                    kind: RowKind::Watch,
                    call_id: "c1".into()
                },
                StoreEvent::Lost {
                    kind: RowKind::Watcher,
                    call_id: "c 2".into()
                },
                StoreEvent::Handoff,
            ]
        );
        assert_eq!(parse("parley", "released a", "a"), vec![]);
        assert_eq!(
            parse("parley", "released b", "a"),
            vec![StoreEvent::Released]
        );
        assert_eq!(parse("parley", "nonsense", "a"), vec![]);
    }
}
