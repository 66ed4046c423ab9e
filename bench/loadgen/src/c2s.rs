//! The XMPP side through a real server: one c2s user (the harness's
//! tokio-xmpp client) receives Parley's messages and sends to SIP users.
//! It parses every stanza, which caps it at a few thousand messages a second
//! through Prosody; `c2s_scan.rs` is the cheap alternative.

use std::sync::Arc;
use std::time::Duration;

use parley_harness::xmpp_client::XmppClient;
use tokio::sync::mpsc;

use crate::tracker::Phases;

/// Logs in and starts a task that marks every arriving load-tagged
/// `<message/>` delivered; stanzas to send go through the returned sender.
pub(crate) async fn start(
    addr: &str,
    jid: &str,
    password: &str,
    phases: Arc<Phases>,
) -> Result<mpsc::Sender<String>, String> {
    let mut client = XmppClient::connect_to(addr, jid, password).await?;
    let (tx, mut rx) = mpsc::channel::<String>(8192);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                el = client.recv(Duration::from_secs(3600)) => {
                    let Some(el) = el else { continue };
                    if el.name() != "message" {
                        continue;
                    }
                    if el.attr("type") == Some("error") {
                        // The sender is told: type `wait` means retry later.
                        if let Some((tracker, seq)) = el.attr("id").and_then(|id| phases.find(id)) {
                            let error = el.children().find(|c| c.name() == "error");
                            let kind = error.and_then(|e| e.attr("type")).unwrap_or("?");
                            let condition = error
                                .and_then(|e| e.children().next())
                                .map_or("?", |c| c.name());
                            tracker.mark_stanza_error(seq, kind, condition);
                        }
                    } else if let Some(body) = el.children().find(|c| c.name() == "body")
                        && let Some((tracker, seq)) = phases.find(&body.text())
                    {
                        tracker.mark_delivered(seq);
                    }
                }
                xml = rx.recv() => match xml {
                    Some(xml) => client.send_xml(&xml).await,
                    None => return,
                },
            }
        }
    });
    Ok(tx)
}
