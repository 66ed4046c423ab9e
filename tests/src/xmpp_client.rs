//! A real XMPP client (tokio-xmpp 6) for the c2s side of a test.
//!
//! tokio-xmpp's `Client::new_plaintext` with `DnsConfig::Addr` connects over
//! plain TCP to a fixed `127.0.0.1:port` (feature `insecure-tcp`, no TLS
//! backend, no DNS), authenticates with SASL and binds a resource. Stanzas are
//! handed back as `minidom::Element`s.

use std::time::Duration;

use futures::StreamExt;
use tokio_xmpp::connect::DnsConfig;
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::presence::Presence;
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::{Client, Event, Stanza};

use crate::prosody::Prosody;

/// The namespace of stanzas on a c2s stream.
pub const NS_CLIENT: &str = "jabber:client";

/// A logged-in c2s client.
#[derive(Debug)]
pub struct XmppClient {
    client: Client,
    jid: String,
}

/// How long login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);

impl XmppClient {
    /// Log in as `user@<prosody domain>` and send initial presence.
    pub async fn connect(prosody: &Prosody, user: &str, password: &str) -> XmppClient {
        let jid: BareJid = format!("{user}@{}", prosody.domain())
            .parse()
            .expect("a valid bare JID");
        let mut client = Client::new_plaintext(
            jid,
            password.to_owned(),
            DnsConfig::Addr {
                addr: prosody.c2s_addr(),
            },
            Timeouts::tight(),
        );
        let bound = tokio::time::timeout(LOGIN_TIMEOUT, async {
            loop {
                match client.next().await {
                    Some(Event::Online { bound_jid, .. }) => return bound_jid.to_string(),
                    Some(Event::Disconnected(e)) => panic!("login as {user} failed: {e}"),
                    Some(Event::Stanza(_)) => {}
                    None => panic!("client stream for {user} ended before login"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("login as {user} timed out:\n{}", prosody.log()));
        let mut c = XmppClient { client, jid: bound };
        c.send_stanza(Presence::available().into()).await;
        c
    }

    /// The full JID the server bound.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// Send one stanza given as XML. A missing `xmlns` on the top element is
    /// taken as `jabber:client`. tokio-xmpp re-serializes it, so the bytes on
    /// the wire are equivalent, not identical (and it adds an `id` when absent).
    pub async fn send_xml(&mut self, xml: &str) {
        let el = parse_client_xml(xml);
        let stanza = Stanza::try_from(el).unwrap_or_else(|e| panic!("not a stanza: {xml}: {e}"));
        self.send_stanza(stanza).await;
    }

    /// Send a typed stanza.
    pub async fn send_stanza(&mut self, stanza: Stanza) {
        self.client
            .send_stanza(stanza)
            .await
            .expect("client stanza sent");
    }

    /// The next stanza (message, presence or iq) within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Option<Element> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.client.next())
                .await
                .ok()??;
            match ev {
                Event::Stanza(s) => return Some(Element::from(s)),
                Event::Disconnected(_) => return None,
                Event::Online { .. } => {}
            }
        }
    }

    /// The next stanza for which `pred` holds, skipping others, within `timeout`.
    pub async fn recv_matching(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Element) -> bool,
    ) -> Option<Element> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let el = self.recv(left).await?;
            if pred(&el) {
                return Some(el);
            }
        }
    }

    /// Close the stream politely.
    pub async fn disconnect(self) {
        let _ = self.client.send_end().await;
    }
}

/// Parse `xml` as one element, defaulting its namespace to `jabber:client`.
fn parse_client_xml(xml: &str) -> Element {
    let trimmed = xml.trim();
    let with_ns = if has_root_xmlns(trimmed) {
        trimmed.to_owned()
    } else {
        let name_end = trimmed[1..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .map_or(trimmed.len(), |i| i + 1);
        format!(
            "{} xmlns='{NS_CLIENT}'{}",
            &trimmed[..name_end],
            &trimmed[name_end..]
        )
    };
    with_ns
        .parse()
        .unwrap_or_else(|e| panic!("not well-formed XML: {xml}: {e}"))
}

fn has_root_xmlns(xml: &str) -> bool {
    let end = xml.find('>').unwrap_or(xml.len());
    let tag = &xml[..end];
    tag.contains(" xmlns=") || tag.contains("\txmlns=") || tag.contains("\nxmlns=")
}
