//! An MSRP peer for end-to-end tests, written from RFC 4975's grammar (§9)
//! and its examples, not from Parley's own `msrp` crate: what Parley sends is
//! read by an implementation that shares none of its code, so a mistake in
//! Parley's parser or writer cannot hide behind the same mistake here.
//!
//! It is deliberately small: one TCP connection, frames read by their
//! end-line (`-------` transaction id, a continuation flag, CRLF), headers
//! kept as written, bodies as bytes. It answers nothing by itself; the test
//! decides (`respond`), so it can also misbehave on purpose (`send_raw`).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One MSRP request or response as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsrpFrame {
    /// The transaction id of the start line and end-line.
    pub transaction_id: String,
    /// A request's method (`SEND`, `REPORT`, …), or `None` for a response.
    pub method: Option<String>,
    /// A response's status code, or `None` for a request.
    pub status: Option<u16>,
    /// Header fields in order, names as written.
    pub headers: Vec<(String, String)>,
    /// The body (after the blank line, before the CRLF of the end-line).
    pub body: Vec<u8>,
    /// The end-line's continuation flag: `$` (complete), `+` (more), `#` (aborted).
    pub flag: char,
}

impl MsrpFrame {
    /// The first header field called `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One MSRP connection, from either end.
pub struct MsrpPeer {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// This peer's MSRP URI (its From-Path).
    pub local_uri: String,
    /// Where its requests go (its To-Path), set from the other side's SDP.
    pub to_path: String,
    next_id: u64,
}

impl MsrpPeer {
    /// Connect to `addr` (the active side, RFC 4975 §5.4).
    pub async fn connect(addr: SocketAddr, local_uri: &str, to_path: &str) -> MsrpPeer {
        let stream = TcpStream::connect(addr).await.expect("connect to MSRP");
        MsrpPeer::with(stream, local_uri, to_path)
    }

    /// Accept one connection on `listener` within `within` (the passive side).
    pub async fn accept(
        listener: &TcpListener,
        local_uri: &str,
        to_path: &str,
        within: Duration,
    ) -> Option<MsrpPeer> {
        let (stream, _) = tokio::time::timeout(within, listener.accept())
            .await
            .ok()?
            .ok()?;
        Some(MsrpPeer::with(stream, local_uri, to_path))
    }

    fn with(stream: TcpStream, local_uri: &str, to_path: &str) -> MsrpPeer {
        MsrpPeer {
            stream,
            buffer: Vec::new(),
            local_uri: local_uri.to_owned(),
            to_path: to_path.to_owned(),
            next_id: 0,
        }
    }

    /// A fresh transaction id (RFC 4975 §9 `ident`: 4–32 characters).
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("peer{:08}", self.next_id)
    }

    /// Write these bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to MSRP");
    }

    /// A SEND carrying `body` whole, with `extra` header lines (each
    /// `Name: value`) after To-Path, From-Path and Message-ID; returns its
    /// transaction id.
    pub async fn send(
        &mut self,
        message_id: &str,
        content_type: &str,
        body: &[u8],
        extra: &[&str],
    ) -> String {
        let total = body.len();
        let range = if total == 0 {
            "1-0/0".to_owned()
        } else {
            format!("1-{total}/{total}")
        };
        self.send_chunk(message_id, content_type, body, &range, '$', extra)
            .await
    }

    /// One chunk of a SEND (RFC 4975 §5.1): `range` is the Byte-Range value,
    /// `flag` the continuation flag; returns its transaction id.
    pub async fn send_chunk(
        &mut self,
        message_id: &str,
        content_type: &str,
        chunk: &[u8],
        range: &str,
        flag: char,
        extra: &[&str],
    ) -> String {
        let id = self.new_id();
        let mut out = format!(
            "MSRP {id} SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: {message_id}\r\nByte-Range: {range}\r\n",
            self.to_path, self.local_uri
        )
        .into_bytes();
        for line in extra {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !chunk.is_empty() {
            out.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("-------{id}{flag}\r\n").as_bytes());
        self.send_raw(&out).await;
        id
    }

    /// Answer `request` with `status` (RFC 4975 §7.2: To-Path is the
    /// request's From-Path's last hop, From-Path this peer).
    pub async fn respond(&mut self, request: &MsrpFrame, status: u16, comment: &str) {
        let to = request
            .header("From-Path")
            .and_then(|p| p.split(' ').next_back())
            .unwrap_or_default()
            .to_owned();
        let out = format!(
            "MSRP {} {status} {comment}\r\nTo-Path: {to}\r\nFrom-Path: {}\r\n-------{}$\r\n",
            request.transaction_id, self.local_uri, request.transaction_id
        );
        self.send_raw(out.as_bytes()).await;
    }

    /// The next frame within `within`, or `None` (timeout or closed).
    pub async fn next_frame(&mut self, within: Duration) -> Option<MsrpFrame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match split_frame(&self.buffer) {
                Ok(Some((frame, used))) => {
                    self.buffer.drain(..used);
                    return Some(frame);
                }
                Ok(None) => {}
                Err(e) => panic!("the peer sent what RFC 4975 §9 does not allow: {e}"),
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether the other side closed the connection within `within`
    /// (frames still arriving are read and dropped).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        let mut chunk = [0u8; 8192];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// The first complete frame in `buf` and the bytes it took, `None` if it is
/// not all there yet, or why it is not MSRP.
pub fn split_frame(buf: &[u8]) -> Result<Option<(MsrpFrame, usize)>, String> {
    let Some(line_end) = find(buf, b"\r\n") else {
        return Ok(None);
    };
    let start = std::str::from_utf8(&buf[..line_end]).map_err(|e| e.to_string())?;
    let mut words = start.splitn(3, ' ');
    if words.next() != Some("MSRP") {
        return Err(format!("start line {start:?}"));
    }
    let id = words.next().ok_or("no transaction id")?.to_owned();
    let third = words.next().ok_or("no method or status")?;
    // §9: the end-line is "-------" transact-id continuation-flag CRLF, at
    // the start of a line.
    let marker = format!("\r\n-------{id}");
    let Some(at) = find(&buf[line_end..], marker.as_bytes()).map(|i| i + line_end) else {
        return Ok(None);
    };
    let flag_at = at + marker.len();
    if buf.len() < flag_at + 3 {
        return Ok(None);
    }
    let flag = buf[flag_at] as char;
    if !matches!(flag, '$' | '+' | '#') || &buf[flag_at + 1..flag_at + 3] != b"\r\n" {
        return Err(format!("end-line flag {flag:?}"));
    }
    // Headers run to a blank line (then the body) or to the end-line.
    let inner = &buf[line_end + 2..at];
    let (head, body) = match find(inner, b"\r\n\r\n") {
        Some(blank) => (&inner[..blank], inner[blank + 4..].to_vec()),
        None => (inner, Vec::new()),
    };
    let head = std::str::from_utf8(head).map_err(|e| e.to_string())?;
    let mut headers = Vec::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(": ")
            .ok_or_else(|| format!("header line {line:?}"))?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    let (method, status) = match third
        .split_once(' ')
        .map_or(third, |(code, _)| code)
        .parse()
    {
        Ok(code) if third.len() >= 3 && third.as_bytes()[..3].iter().all(u8::is_ascii_digit) => {
            (None, Some(code))
        }
        _ => (Some(third.to_owned()), None),
    };
    let frame = MsrpFrame {
        transaction_id: id,
        method,
        status,
        headers,
        body,
        flag,
    };
    Ok(Some((frame, flag_at + 3)))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4975 §4, Figure 2's SEND and its 200, as printed there.
    const SEND: &[u8] = b"MSRP a786hjs2 SEND\r\n\
        To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
        From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
        Message-ID: 87652491\r\n\
        Byte-Range: 1-25/25\r\n\
        Content-Type: text/plain\r\n\
        \r\n\
        Hey Bob, are you there?\r\n\
        -------a786hjs2$\r\n";
    const OK: &[u8] = b"MSRP a786hjs2 200 OK\r\n\
        To-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
        From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
        -------a786hjs2$\r\n";

    #[test]
    fn rfc4975_4_send_and_its_200_are_read_back_to_back() {
        let mut stream = SEND.to_vec();
        stream.extend_from_slice(OK);
        let (send, used) = split_frame(&stream).expect("MSRP").expect("whole");
        assert_eq!(send.method.as_deref(), Some("SEND"));
        assert_eq!(send.header("byte-range"), Some("1-25/25"));
        assert_eq!(send.text(), "Hey Bob, are you there?");
        assert_eq!(send.flag, '$');
        let (ok, rest) = split_frame(&stream[used..]).expect("MSRP").expect("whole");
        assert_eq!(ok.status, Some(200));
        assert_eq!(ok.body, b"");
        assert_eq!(used + rest, stream.len());
    }

    #[test]
    fn a_frame_cut_short_waits_for_the_rest() {
        for cut in 0..SEND.len() {
            assert_eq!(split_frame(&SEND[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn what_is_not_msrp_is_said() {
        assert!(split_frame(b"GET / HTTP/1.1\r\n").is_err());
    }
}
