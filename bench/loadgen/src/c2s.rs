//! The XMPP side through a real server: one c2s user (the harness's
//! tokio-xmpp client) receives Parley's messages and sends to SIP users.

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
                    if el.name() == "message"
                        && el.attr("type") != Some("error")
                        && let Some(body) = el.children().find(|c| c.name() == "body")
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
