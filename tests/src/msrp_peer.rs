//! An MSRP peer for end-to-end tests, written from RFC 4975's grammar (§9)
//! and its examples, not from Parley's own `msrp` crate: what Parley sends is
//! read by an implementation that shares none of its code, so a mistake in
//! Parley's parser or writer cannot hide behind the same mistake here.
//!
//! It is deliberately small: one TCP connection, frames read by their
//! end-line (`-------` transaction id, a continuation flag, CRLF), headers
//! kept as written, bodies as bytes. It answers nothing by itself; the test
//! decides (`respond`), so it can also misbehave on purpose (`send_raw`).
//!
//! Through a relay (RFC 4976): [`MsrpPeer::auth`] sends AUTH to the relay at
//! the other end of its connection and answers the Digest challenge (§5.1,
//! §9.1); the [`RelayGrant`] it returns forms the `a=path` to offer and the
//! To-Path to send with (§5.1).

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
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

    /// This end's address of the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("a connected socket")
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

    /// Answer `request` with `status`, From-Path this peer. RFC 4975 §7.2:
    /// "If the request triggering the response was a SEND request, the
    /// To-Path header field is formed by copying the first (leftmost) URI in
    /// the From-Path header field of the request. (Responses to SEND
    /// requests are returned only to the previous hop.) For responses to all
    /// other request methods, the To-Path header field contains the full
    /// path back to the original sender."
    pub async fn respond(&mut self, request: &MsrpFrame, status: u16, comment: &str) {
        let from = request.header("From-Path").unwrap_or_default();
        let to = if request.method.as_deref() == Some("SEND") {
            from.split(' ').next().unwrap_or_default()
        } else {
            from
        };
        let out = format!(
            "MSRP {} {status} {comment}\r\nTo-Path: {to}\r\nFrom-Path: {}\r\n-------{}$\r\n",
            request.transaction_id, self.local_uri, request.transaction_id
        );
        self.send_raw(out.as_bytes()).await;
    }

    /// RFC 4976 §5.1: AUTH to the relay `relay_uri` at the other end of this
    /// connection (To-Path the relay, From-Path this peer), and once more
    /// with an `Authorization` answering its "401 Unauthorized" (HTTP Digest
    /// as §9.1 restricts it: `qop=auth`, a cnonce and nonce-count, H(A2)
    /// over "the rightmost URI in the To-Path header"). The grant of its 200,
    /// or the final response that refused it; panics if the relay answers
    /// nothing within `within` or the challenge is not one §9.1 allows.
    pub async fn auth(
        &mut self,
        relay_uri: &str,
        user: &str,
        password: &str,
        within: Duration,
    ) -> Result<RelayGrant, MsrpFrame> {
        let first = self.auth_request(relay_uri, None).await;
        let challenge = self.response_to(&first, within).await;
        if challenge.status != Some(401) {
            return Err(challenge);
        }
        let www = challenge
            .header("WWW-Authenticate")
            .expect("RFC 4976 §5.1: a 401 to AUTH has WWW-Authenticate");
        let credentials = digest_credentials(www, user, password, relay_uri);
        let second = self.auth_request(relay_uri, Some(&credentials)).await;
        let answer = self.response_to(&second, within).await;
        if answer.status != Some(200) {
            return Err(answer);
        }
        let use_path = answer
            .header("Use-Path")
            .expect("RFC 4976 §4.2: a 200 to AUTH has Use-Path")
            .split(' ')
            .map(str::to_owned)
            .collect();
        let expires = answer.header("Expires").and_then(|e| e.parse().ok());
        Ok(RelayGrant { use_path, expires })
    }

    async fn auth_request(&mut self, relay_uri: &str, authorization: Option<&str>) -> String {
        let id = self.new_id();
        let mut out = format!(
            "MSRP {id} AUTH\r\nTo-Path: {relay_uri}\r\nFrom-Path: {}\r\n",
            self.local_uri
        );
        if let Some(credentials) = authorization {
            out.push_str(&format!("Authorization: {credentials}\r\n"));
        }
        out.push_str(&format!("-------{id}$\r\n"));
        self.send_raw(out.as_bytes()).await;
        id
    }

    /// The response to transaction `id`; panics on anything else first.
    async fn response_to(&mut self, id: &str, within: Duration) -> MsrpFrame {
        let frame = self
            .next_frame(within)
            .await
            .unwrap_or_else(|| panic!("no response to AUTH {id} within {within:?}"));
        assert!(
            frame.status.is_some() && frame.transaction_id == id,
            "expected the response to AUTH {id}, got {frame:?}"
        );
        frame
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

/// What a relay granted to AUTH (RFC 4976 §5.1, §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayGrant {
    /// The `Use-Path` URIs, "in the same order that the authenticating
    /// client uses them in a To-Path header" (§4.2).
    pub use_path: Vec<String>,
    /// How long they are valid, seconds (`Expires`, §4.6).
    pub expires: Option<u32>,
}

impl RelayGrant {
    /// The `a=path` to offer. §5.1: "To form the SDP path attribute to
    /// provide to the peer, the client reverses the list of URIs in the
    /// Use-Path header (after the outermost authentication), and appends
    /// the client's own URI."
    pub fn sdp_path(&self, own_uri: &str) -> String {
        let mut uris: Vec<&str> = self.use_path.iter().rev().map(String::as_str).collect();
        uris.push(own_uri);
        uris.join(" ")
    }

    /// The To-Path toward a peer whose `a=path` is `peer_path`. §5.1: "the
    /// client takes the list of URIs in the Use-Path header after the
    /// outermost authentication and appends the list of URIs provided in
    /// the path attribute in the peer's session description."
    pub fn to_path(&self, peer_path: &str) -> String {
        let mut uris: Vec<&str> = self.use_path.iter().map(String::as_str).collect();
        uris.extend(peer_path.split(' '));
        uris.join(" ")
    }
}

/// The `Authorization` value answering the Digest challenge `www` (an
/// AUTH's `WWW-Authenticate`) for an AUTH to `uri`, as RFC 2617 §3.2.2
/// computes it with RFC 4976 §9.1's restrictions: "Clients and relays MUST
/// include a qop parameter", "Clients MUST send cnonce and nonce-count
/// parameters", "The request-URI to be used in calculating H(A2) is the
/// rightmost URI in the To-Path header", "the value of the uri parameter
/// MUST be in quotes".
pub fn digest_credentials(www: &str, user: &str, password: &str, uri: &str) -> String {
    digest_for("AUTH", www, user, password, uri)
}

/// [`digest_credentials`] for a request with this `method`.
fn digest_for(method: &str, www: &str, user: &str, password: &str, uri: &str) -> String {
    let params = www
        .strip_prefix("Digest ")
        .unwrap_or_else(|| panic!("RFC 4976 §9.1: Digest only, got {www:?}"));
    let param = |name: &str| digest_param(params, name);
    let realm = param("realm").expect("a realm in the challenge");
    let nonce = param("nonce").expect("a nonce in the challenge");
    let qop = param("qop").expect("RFC 4976 §9.1: a qop in every challenge");
    assert!(
        qop.split(',').any(|q| q.trim() == "auth"),
        "RFC 4976 §9.1: qop auth offered, got {qop:?}"
    );
    assert!(
        param("algorithm").is_none_or(|a| a.eq_ignore_ascii_case("MD5")),
        "RFC 4976 §9.1: no MD5-sess"
    );
    let (nc, cnonce) = ("00000001", "0a4f113b");
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    let mut out = format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
    );
    if let Some(opaque) = param("opaque") {
        out.push_str(&format!(", opaque=\"{opaque}\""));
    }
    out
}

/// One `name=value` or `name="value"` of a comma-separated list.
fn digest_param(params: &str, name: &str) -> Option<String> {
    let mut rest = params;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value.trim().to_owned());
        }
        rest = next;
    }
    None
}

/// MD5 in lowercase hex (RFC 2617 §3.1.3), by coreutils' `md5sum`: no
/// hash of our own, and none from Parley's code.
fn md5_hex(text: &str) -> String {
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run md5sum (coreutils)");
    child
        .stdin
        .take()
        .expect("md5sum's stdin")
        .write_all(text.as_bytes())
        .expect("write to md5sum");
    let out = child.wait_with_output().expect("md5sum's output");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest from md5sum")
        .to_owned()
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
    // Headers run to a blank line (then the body) or to the end-line; a
    // frame with no header at all has its end-line right after the start
    // line (not MSRP that §7.1 allows, but no reason to panic either).
    let inner = buf.get(line_end + 2..at).unwrap_or_default();
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
    fn a_frame_without_headers_is_read_not_panicked_on() {
        let bytes = b"MSRP x1 SEND\r\n-------x1$\r\n";
        let (frame, used) = split_frame(bytes).expect("MSRP grammar").expect("whole");
        assert_eq!(frame.method.as_deref(), Some("SEND"));
        assert!(frame.headers.is_empty() && frame.body.is_empty());
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn what_is_not_msrp_is_said() {
        assert!(split_frame(b"GET / HTTP/1.1\r\n").is_err());
    }

    /// RFC 2617 §3.5's example, challenge and Authorization as printed
    /// there (the GET of /dir/index.html by Mufasa, "Circle Of Life").
    #[test]
    fn rfc2617_3_5_example_authorization() {
        let www = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
                   nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
                   opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
        assert_eq!(
            digest_for("GET", www, "Mufasa", "Circle Of Life", "/dir/index.html"),
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, \
             nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
        );
    }

    #[test]
    fn digest_credentials_quote_the_uri_and_carry_cnonce_and_nc() {
        let www = "Digest realm=\"relay\", nonce=\"n0nce\", qop=\"auth\"";
        let got = digest_credentials(www, "u", "p", "msrp://r:1;tcp");
        let ha1 = md5_hex("u:relay:p");
        let ha2 = md5_hex("AUTH:msrp://r:1;tcp");
        let response = md5_hex(&format!("{ha1}:n0nce:00000001:0a4f113b:auth:{ha2}"));
        assert_eq!(
            got,
            format!(
                "Digest username=\"u\", realm=\"relay\", nonce=\"n0nce\", uri=\"msrp://r:1;tcp\", \
                 qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{response}\""
            )
        );
    }

    /// RFC 4976 §5.1's example: Use-Path "B C" gives a=path "C B A" and,
    /// with F's a=path "D E F", the To-Path "B C D E F".
    #[test]
    fn rfc4976_5_1_paths_from_use_path() {
        let grant = RelayGrant {
            use_path: vec!["B".into(), "C".into()],
            expires: None,
        };
        assert_eq!(grant.sdp_path("A"), "C B A");
        assert_eq!(grant.to_path("D E F"), "B C D E F");
    }
}
