//! XEP-0114 §2 component streams, both ends of them.
//!
//! `accept`: a fast fake XMPP server for Parley's component connection: it
//! accepts Parley's stream, takes any handshake, answers IQ gets/sets with an
//! empty result, counts what arrives and timestamps every `<message/>` whose
//! body carries a load tag.
//!
//! `connect`: a raw component of the load tool's own on a real XMPP server,
//! which sends stanzas as fast as the server takes them (the server's own
//! ceiling, no Parley involved).
//!
//! Stanzas are cut out of the byte stream by scanning, not parsed, so this
//! end stays far cheaper than the peer being measured.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::stream::{attr, find, read_elements, read_until, writer};
use crate::tracker::Phases;

/// What arrived from Parley on the component stream.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) messages: AtomicUsize,
    pub(crate) message_errors: AtomicUsize,
    pub(crate) presences: AtomicUsize,
    pub(crate) iqs: AtomicUsize,
}

/// The accepted component connection; stanzas to Parley go through `send`.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    out: mpsc::Sender<Vec<u8>>,
    pub(crate) counters: Arc<Counters>,
}

impl Component {
    /// Queue one stanza for Parley.
    pub(crate) async fn send(&self, xml: Vec<u8>) -> bool {
        self.out.send(xml).await.is_ok()
    }
}

/// Waits up to `wait` for Parley to connect, runs the handshake and starts
/// the reader and writer tasks.
pub(crate) async fn accept(
    listener: &TcpListener,
    domain: &str,
    phases: Arc<Phases>,
    wait: Duration,
) -> io::Result<Component> {
    let (mut stream, _) = tokio::time::timeout(wait, listener.accept())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "parley did not connect"))??;
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(64 * 1024);
    // XEP-0114 §2: the component opens the stream ...
    let open = read_until(&mut stream, &mut buf, 0, b"<stream:stream").await?;
    read_until(&mut stream, &mut buf, open, b">").await?;
    let header = format!(
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns='jabber:component:accept' id='loadgen' from='{domain}'>"
    );
    stream.write_all(header.as_bytes()).await?;
    // ... sends its handshake, which this fake server does not check.
    let end = read_until(&mut stream, &mut buf, open, b"</handshake>").await?;
    buf.drain(..end);
    stream.write_all(b"<handshake/>").await?;

    Ok(start(stream, buf, phases))
}

/// Connects to a real XMPP server's component port as `domain` (XEP-0114
/// §2: open the stream, answer its id with SHA-1(id + secret), wait for
/// `<handshake/>`) and starts the reader and writer tasks.
pub(crate) async fn connect(
    addr: &str,
    domain: &str,
    secret: &str,
    phases: Arc<Phases>,
) -> io::Result<Component> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let header = format!(
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns='jabber:component:accept' to='{domain}'>"
    );
    stream.write_all(header.as_bytes()).await?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let open = read_until(&mut stream, &mut buf, 0, b"<stream:stream").await?;
    let end = read_until(&mut stream, &mut buf, open, b">").await?;
    let head = String::from_utf8_lossy(&buf[open..end]).into_owned();
    let id = attr(&head, "id")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "stream header has no id"))?;
    let handshake = format!("<handshake>{}</handshake>", handshake_hash(id, secret));
    stream.write_all(handshake.as_bytes()).await?;
    // Success is an empty <handshake/>; failure a stream error (XEP-0114 §2).
    let done = loop {
        if let Some(i) = find(&buf[end..], b"<handshake/>") {
            break end + i + b"<handshake/>".len();
        }
        if find(&buf[end..], b"</stream:error>").is_some() {
            let text = String::from_utf8_lossy(&buf[end..]).into_owned();
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("component handshake refused: {text}"),
            ));
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    buf.drain(..done);
    Ok(start(stream, buf, phases))
}

/// XEP-0114 §2: lowercase hex SHA-1 of the stream id followed by the secret.
fn handshake_hash(stream_id: &str, secret: &str) -> String {
    let mut h = Sha1::new();
    h.update(stream_id.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn start(stream: TcpStream, buf: Vec<u8>, phases: Arc<Phases>) -> Component {
    let (read, write) = stream.into_split();
    let (out, rx) = mpsc::channel(8192);
    let counters = Arc::new(Counters::default());
    tokio::spawn(writer(write, rx));
    let replies = out.clone();
    let seen = counters.clone();
    tokio::spawn(read_elements(read, buf, move |el| {
        if let Some(reply) = handle(el, &seen, &phases) {
            let _ = replies.try_send(reply);
        }
    }));
    Component { out, counters }
}

fn handle(el: &[u8], counters: &Counters, phases: &Phases) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(el);
    let head_end = text.find('>').unwrap_or(text.len());
    let head = &text[..head_end];
    if text.starts_with("<message") {
        let counter = if phases.track_message(&text) {
            &counters.message_errors
        } else {
            &counters.messages
        };
        counter.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    if text.starts_with("<presence") {
        counters.presences.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    if text.starts_with("<iq") {
        counters.iqs.fetch_add(1, Ordering::Relaxed);
        let kind = attr(head, "type")?;
        if kind != "get" && kind != "set" {
            return None;
        }
        let id = attr(head, "id")?;
        let from = attr(head, "from").unwrap_or_default();
        let to = attr(head, "to").unwrap_or_default();
        return Some(format!("<iq type='result' id='{id}' from='{to}' to='{from}'/>").into_bytes());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same vector as parley-xmpp's handshake test (XEP-0114 §2 with
    /// Prosody 0.12's stream id; Prosody accepted this value).
    #[test]
    fn handshake_is_lowercase_hex_sha1_of_id_and_secret() {
        assert_eq!(
            handshake_hash("0bf70a50-6b6d-4c70-98a3-693f73a456cb", "s3cret"),
            "1bb893855c39027d6e8d9917a7db8314d6814c58"
        );
    }

    #[test]
    fn iq_get_is_answered_with_a_result() {
        let phases = Phases::default();
        let reply = handle(
            b"<iq type='get' id='x1' from='sip.localhost' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
            &Counters::default(),
            &phases,
        )
        .expect("reply");
        assert_eq!(
            reply,
            b"<iq type='result' id='x1' from='localhost' to='sip.localhost'/>"
        );
    }
}
