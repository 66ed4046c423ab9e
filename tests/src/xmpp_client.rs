//! A real XMPP client (tokio-xmpp 6) for the c2s side of a test.
//!
//! Connection, stream negotiation, SASL (SCRAM/PLAIN), XML parsing and
//! serialization are tokio-xmpp's: `TcpServerConnector` with
//! `DnsConfig::Addr` connects over plain TCP to a fixed `127.0.0.1:port`
//! (feature `insecure-tcp`, no TLS backend, no DNS), `client_login` runs SASL,
//! then we bind a resource (RFC 6120 §7) and drive the `XmppStream` ourselves.
//!
//! Why not `tokio_xmpp::Client`: in 6.0.0 its stanza-stream worker stalls the
//! inbound side when the application alternates `send_stanza()` and `next()`:
//! in a loop of ping/pong round trips through Prosody, every pong after the
//! first few never reached the application although Prosody logged sending
//! it (and all arrived when the pings were sent in one batch first). Driving
//! the stream directly, reads are polled all the time and nothing is lost.

use std::borrow::Cow;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sasl::common::Credentials;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::connect::{DnsConfig, ServerConnector, TcpServerConnector};
use tokio_xmpp::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::bind::{BindQuery, BindResponse};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::presence::Presence;
use tokio_xmpp::xmlstream::{
    FallibleStreamElement, ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement,
};
use tokio_xmpp::{Stanza, client_login};

use crate::prosody::Prosody;

/// The namespace of stanzas on a c2s stream.
pub const NS_CLIENT: &str = "jabber:client";

type Stream = XmppStream<tokio::io::BufStream<TcpStream>>;

/// A logged-in c2s client.
#[derive(Debug)]
pub struct XmppClient {
    outbox: Option<mpsc::Sender<(Stanza, oneshot::Sender<bool>)>>,
    inbox: mpsc::UnboundedReceiver<Element>,
    session: tokio::task::JoinHandle<()>,
    jid: String,
}

impl Drop for XmppClient {
    fn drop(&mut self) {
        self.session.abort();
    }
}

/// How long login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);

impl XmppClient {
    /// Log in as `user@<prosody domain>`, bind a resource and send initial
    /// presence.
    pub async fn connect(prosody: &Prosody, user: &str, password: &str) -> XmppClient {
        let jid: BareJid = format!("{user}@{}", prosody.domain())
            .parse()
            .expect("a valid bare JID");
        let (bound, stream) =
            tokio::time::timeout(LOGIN_TIMEOUT, login(prosody.c2s_addr(), jid, password))
                .await
                .unwrap_or_else(|_| panic!("login as {user} timed out:\n{}", prosody.log()))
                .unwrap_or_else(|e| panic!("login as {user} failed: {e}\n{}", prosody.log()));
        Self::start(bound, stream).await
    }

    /// Log in as `jid` at the c2s port `addr` (`host:port`) of any server, bind a
    /// resource and send initial presence (used by the quick-start demo).
    pub async fn connect_to(addr: &str, jid: &str, password: &str) -> Result<XmppClient, String> {
        let jid: BareJid = jid.parse().map_err(|e| format!("{jid}: {e}"))?;
        let (bound, stream) =
            tokio::time::timeout(LOGIN_TIMEOUT, login(addr.to_owned(), jid, password))
                .await
                .map_err(|_| format!("login at {addr} timed out"))?
                .map_err(|e| format!("login at {addr} failed: {e}"))?;
        Ok(Self::start(bound, stream).await)
    }

    async fn start(bound: FullJid, stream: Stream) -> XmppClient {
        let (outbox, outbox_rx) = mpsc::channel(16);
        let (inbox_tx, inbox) = mpsc::unbounded_channel();
        let session = tokio::spawn(run(stream, outbox_rx, inbox_tx));
        let mut c = XmppClient {
            outbox: Some(outbox),
            inbox,
            session,
            jid: bound.to_string(),
        };
        c.send_stanza(Presence::available().into()).await;
        c
    }

    /// The full JID the server bound.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// Send one stanza given as XML. A missing `xmlns` on the top element is
    /// taken as `jabber:client`. tokio-xmpp re-serializes it, so the bytes on
    /// the wire are equivalent, not identical.
    pub async fn send_xml(&mut self, xml: &str) {
        let el = parse_client_xml(xml);
        let stanza = Stanza::try_from(el).unwrap_or_else(|e| panic!("not a stanza: {xml}: {e}"));
        self.send_stanza(stanza).await;
    }

    /// Send a typed stanza and wait until it is written.
    pub async fn send_stanza(&mut self, stanza: Stanza) {
        let (done, written) = oneshot::channel();
        self.outbox
            .as_ref()
            .expect("client not disconnected")
            .send((stanza, done))
            .await
            .expect("client session is running");
        assert!(
            written.await.unwrap_or(false),
            "client stanza could not be written"
        );
    }

    /// The next stanza (message, presence or iq) within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Option<Element> {
        tokio::time::timeout(timeout, self.inbox.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next stanza for which `pred` holds, skipping others, within `timeout`.
    pub async fn recv_matching(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Element) -> bool,
    ) -> Option<Element> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let el = tokio::time::timeout_at(deadline, self.inbox.recv())
                .await
                .ok()??;
            if pred(&el) {
                return Some(el);
            }
        }
    }

    /// Close the stream (`</stream:stream>`) and end the session.
    pub async fn disconnect(mut self) {
        self.outbox = None;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.session).await;
    }
}

/// RFC 6120 §6 and §7: SASL, stream restart, resource binding.
async fn login(addr: String, jid: BareJid, password: &str) -> Result<(FullJid, Stream), String> {
    let connector = TcpServerConnector::from(DnsConfig::Addr { addr });
    let any: Jid = jid.clone().into();
    let (pending, binding) = connector
        .connect(
            &any,
            tokio_xmpp::parsers::ns::JABBER_CLIENT,
            Timeouts::tight(),
        )
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (features, stream) = pending
        .recv_features::<FallibleStreamElement>()
        .await
        .map_err(|e| format!("features: {e}"))?;
    let creds = Credentials::default()
        .with_username(jid.node().map(|n| n.as_str()).unwrap_or_default())
        .with_password(password)
        .with_channel_binding(binding);
    let initiating = client_login(stream, features.sasl_mechanisms, creds)
        .await
        .map_err(|e| format!("SASL: {e}"))?;
    let pending = initiating
        .send_header(StreamHeader {
            to: Some(Cow::Borrowed(jid.domain().as_str())),
            from: None,
            id: None,
        })
        .await
        .map_err(|e| format!("stream restart: {e}"))?;
    let (_, mut stream) = pending
        .recv_features::<FallibleStreamElement>()
        .await
        .map_err(|e| format!("features after SASL: {e}"))?;
    let bind: Stanza = Iq::from_set("bind", BindQuery::new(None)).into();
    stream
        .send(&XmppStreamElement::Stanza(bind))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    loop {
        match stream.next().await {
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(Stanza::Iq(iq)))))
                if iq.id() == "bind" =>
            {
                let Iq::Result {
                    payload: Some(p), ..
                } = iq
                else {
                    return Err(format!("bind refused: {iq:?}"));
                };
                let bound = BindResponse::try_from(p).map_err(|e| format!("bind: {e}"))?;
                return Ok((bound.into(), stream));
            }
            Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(e)) => return Err(format!("bind: {e}")),
            None => return Err("stream closed during bind".into()),
        }
    }
}

/// The session: reads are polled continuously; writes are served in between.
async fn run(
    mut stream: Stream,
    mut outbox: mpsc::Receiver<(Stanza, oneshot::Sender<bool>)>,
    inbox: mpsc::UnboundedSender<Element>,
) {
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(s)))) => {
                    if inbox.send(Element::from(s)).is_err() {
                        break;
                    }
                }
                Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
                Some(Err(_)) | None => break,
            },
            out = outbox.recv() => match out {
                Some((stanza, done)) => {
                    let ok = stream.send(&XmppStreamElement::Stanza(stanza)).await.is_ok();
                    let _ = done.send(ok);
                }
                None => {
                    let _ = stream.shutdown().await;
                    // RFC 6120 §4.4: the server closes its stream in turn
                    // once it has ended the session. Waiting for that (the
                    // caller bounds the wait) means a stanza sent to this
                    // client afterwards finds it offline, not on a session
                    // still being torn down.
                    while let Some(Ok(_) | Err(ReadError::SoftTimeout)) = stream.next().await {}
                    break;
                }
            },
        }
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
