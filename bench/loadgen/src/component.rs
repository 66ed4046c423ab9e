//! A fast fake XMPP server for Parley's component connection (XEP-0114 §2):
//! it accepts Parley's stream, takes any handshake, answers IQ gets/sets with
//! an empty result, counts what arrives and timestamps every `<message/>`
//! whose body carries a load tag. Stanzas are cut out of the byte stream by
//! scanning, not parsed, so the peer stays far cheaper than Parley.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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
    read_until(&mut stream, &mut buf, b"<stream:stream").await?;
    read_until(&mut stream, &mut buf, b">").await?;
    let header = format!(
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns='jabber:component:accept' id='loadgen' from='{domain}'>"
    );
    stream.write_all(header.as_bytes()).await?;
    // ... sends its handshake, which this fake server does not check.
    let end = read_until(&mut stream, &mut buf, b"</handshake>").await?;
    buf.drain(..end);
    stream.write_all(b"<handshake/>").await?;

    let (read, write) = stream.into_split();
    let (out, rx) = mpsc::channel(8192);
    let counters = Arc::new(Counters::default());
    tokio::spawn(writer(write, rx));
    tokio::spawn(reader(read, buf, out.clone(), counters.clone(), phases));
    Ok(Component { out, counters })
}

/// Reads until `needle` is in `buf`; returns the index just past it.
async fn read_until(stream: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) -> io::Result<usize> {
    loop {
        if let Some(i) = find(buf, needle) {
            return Ok(i + needle.len());
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

async fn writer(write: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut w = BufWriter::with_capacity(64 * 1024, write);
    while let Some(first) = rx.recv().await {
        if w.write_all(&first).await.is_err() {
            return;
        }
        // Batch whatever else is queued, then flush once.
        while let Ok(more) = rx.try_recv() {
            if w.write_all(&more).await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
}

async fn reader(
    mut read: tokio::net::tcp::OwnedReadHalf,
    mut buf: Vec<u8>,
    out: mpsc::Sender<Vec<u8>>,
    counters: Arc<Counters>,
    phases: Arc<Phases>,
) {
    loop {
        let mut consumed = 0;
        while let Some((len, element)) = next_element(&buf[consumed..]) {
            if let Some(el) = element {
                let el = &buf[consumed..consumed + el];
                if let Some(reply) = handle(el, &counters, &phases) {
                    let _ = out.try_send(reply);
                }
            }
            consumed += len;
        }
        buf.drain(..consumed);
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The next first-level element: `(bytes to consume, Some(element length))`,
/// `(n, None)` for whitespace or the closing tag, `None` if more is needed.
fn next_element(buf: &[u8]) -> Option<(usize, Option<usize>)> {
    let ws = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
    if ws > 0 {
        return Some((ws, None));
    }
    if buf.starts_with(b"</") {
        let gt = find(buf, b">")?;
        return Some((gt + 1, None));
    }
    if buf.first() != Some(&b'<') {
        // Not XML we expect from Parley: skip to the next '<'.
        let lt = buf.iter().position(|&b| b == b'<')?;
        return Some((lt, None));
    }
    let name_len = buf[1..]
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')?;
    let name = &buf[1..1 + name_len];
    // Parley escapes '>' in attribute values, so the first '>' ends the tag.
    let gt = find(buf, b">")?;
    if buf[gt - 1] == b'/' {
        return Some((gt + 1, Some(gt + 1)));
    }
    let mut close = b"</".to_vec();
    close.extend_from_slice(name);
    close.push(b'>');
    let end = find(&buf[gt..], &close)? + gt + close.len();
    Some((end, Some(end)))
}

fn handle(el: &[u8], counters: &Counters, phases: &Phases) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(el);
    let head_end = text.find('>').unwrap_or(text.len());
    let head = &text[..head_end];
    if text.starts_with("<message") {
        if attr(head, "type") == Some("error") {
            counters.message_errors.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        counters.messages.fetch_add(1, Ordering::Relaxed);
        if let Some(body) = between(&text, "<body", "</body>")
            && let Some((tracker, seq)) = phases.find(body)
        {
            tracker.mark_delivered(seq);
        }
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

/// The value of attribute `name` in a start tag (either quote style).
fn attr<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = head;
    loop {
        let at = rest.find(name)?;
        let before = rest[..at].chars().last();
        let after = &rest[at + name.len()..];
        if before.is_some_and(char::is_whitespace) && after.starts_with('=') {
            let quote = after[1..].chars().next()?;
            let value = &after[2..];
            return value.find(quote).map(|end| &value[..end]);
        }
        rest = &rest[at + name.len()..];
    }
}

/// The text after the tag opened by `open` (past its `>`) up to `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)?;
    let gt = text[start..].find('>')? + start + 1;
    let end = text[gt..].find(close)? + gt;
    Some(&text[gt..end])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_cut_from_a_stream() {
        let buf = b" <message to='a'><body>lg 1 2</body></message><iq type='get' id='p'/><presence";
        let (n, el) = next_element(buf).expect("whitespace");
        assert_eq!((n, el), (1, None));
        let (n2, el) = next_element(&buf[n..]).expect("message");
        assert_eq!(
            &buf[n..n + el.expect("element")],
            b"<message to='a'><body>lg 1 2</body></message>"
        );
        let (n3, el) = next_element(&buf[n + n2..]).expect("iq");
        assert_eq!(el, Some(n3));
        assert_eq!(next_element(&buf[n + n2 + n3..]), None, "incomplete");
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

    #[test]
    fn attributes_are_found_in_either_quote_style() {
        assert_eq!(attr("<message id=\"a\" type='chat'", "type"), Some("chat"));
        assert_eq!(
            attr("<message xtype='no' type=\"error\"", "type"),
            Some("error")
        );
    }
}
