//! The XMPP side through a real server, cheaply: one c2s user whose stream
//! is written by hand and cut into stanzas by scanning (`stream.rs`), so the
//! receiver costs a fraction of what the server spends on each stanza. The
//! tokio-xmpp client (`c2s.rs`) parses every stanza into a DOM and tops out
//! at a few thousand messages a second, below Prosody's own ceiling.
//!
//! Login is the plain-TCP path a loopback Prosody with
//! `allow_unencrypted_plain_auth` offers: RFC 6120 §4 stream, §6 SASL PLAIN
//! (RFC 4616), stream restart, §7 resource binding, then initial presence
//! (RFC 6121 §4.2) so that messages to the bare JID reach this resource.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::stream::{attr, find, read_elements, read_until, writer};
use crate::tracker::Phases;

/// How long login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Logs in as `jid` at `addr` and starts the reader (every load-tagged
/// `<message/>` marked delivered, every error marked against its sender) and
/// the writer; stanzas to send go through the returned sender.
pub(crate) async fn start(
    addr: &str,
    jid: &str,
    password: &str,
    phases: Arc<Phases>,
) -> io::Result<mpsc::Sender<Vec<u8>>> {
    let (stream, buf) = tokio::time::timeout(LOGIN_TIMEOUT, login(addr, jid, password))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "c2s login timed out"))??;
    let (read, write) = stream.into_split();
    let (out, rx) = mpsc::channel(8192);
    tokio::spawn(writer(write, rx));
    let replies = out.clone();
    tokio::spawn(read_elements(read, buf, move |el| {
        let text = String::from_utf8_lossy(el);
        if text.starts_with("<message") {
            phases.track_message(&text);
        } else if text.starts_with("<iq")
            && let Some(reply) = iq_result(&text)
        {
            let _ = replies.try_send(reply.into_bytes());
        }
    }));
    Ok(out)
}

/// The stream and what was read past the bind result.
async fn login(addr: &str, jid: &str, password: &str) -> io::Result<(TcpStream, Vec<u8>)> {
    let (user, domain) = jid
        .split_once('@')
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "JID without @"))?;
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let header = format!(
        "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' \
         xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    );
    let mut buf = Vec::with_capacity(64 * 1024);
    stream.write_all(header.as_bytes()).await?;
    let mut at = read_until(&mut stream, &mut buf, 0, b"</stream:features>").await?;

    // RFC 4616 §2: authzid NUL authcid NUL passwd, empty authzid.
    let plain = base64(format!("\0{user}\0{password}").as_bytes());
    let auth =
        format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>");
    stream.write_all(auth.as_bytes()).await?;
    at = loop {
        if let Some(i) = find(&buf[at..], b"<success") {
            break read_until(&mut stream, &mut buf, at + i, b">").await?;
        }
        if find(&buf[at..], b"</failure>").is_some() {
            let text = String::from_utf8_lossy(&buf[at..]).into_owned();
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("SASL PLAIN refused: {text}"),
            ));
        }
        read_more(&mut stream, &mut buf).await?;
    };

    // RFC 6120 §6.4.6: a new stream after SASL success.
    stream.write_all(header.as_bytes()).await?;
    at = read_until(&mut stream, &mut buf, at, b"</stream:features>").await?;
    stream
        .write_all(
            b"<iq type='set' id='lg-bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
              <resource>loadgen</resource></bind></iq>",
        )
        .await?;
    let bind = read_until(&mut stream, &mut buf, at, b"lg-bind").await?;
    let end = read_until(&mut stream, &mut buf, bind, b"</iq>").await?;
    let result = String::from_utf8_lossy(&buf[at..end]).into_owned();
    if !result.contains("type='result'") && !result.contains("type=\"result\"") {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("resource binding refused: {result}"),
        ));
    }
    buf.drain(..end);
    stream.write_all(b"<presence/>").await?;
    Ok((stream, buf))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if stream.read_buf(buf).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// RFC 6120 §8.2.3: an IQ get or set is answered; an empty result will do
/// for the pings a server may send.
fn iq_result(text: &str) -> Option<String> {
    let head = text.split('>').next()?;
    let kind = attr(head, "type")?;
    if kind != "get" && kind != "set" {
        return None;
    }
    let id = attr(head, "id")?;
    Some(match attr(head, "from") {
        Some(from) => format!("<iq type='result' id='{id}' to='{from}'/>"),
        None => format!("<iq type='result' id='{id}'/>"),
    })
}

/// RFC 4648 §4 base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10's test vectors.
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }

    #[test]
    fn a_server_ping_is_answered() {
        assert_eq!(
            iq_result("<iq type='get' id='p1' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
                .as_deref(),
            Some("<iq type='result' id='p1' to='localhost'/>")
        );
        assert_eq!(iq_result("<iq type='result' id='p1'/>"), None);
    }
}
