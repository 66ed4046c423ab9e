//! An XML stream cut into stanzas by scanning, not parsing: enough for the
//! bytes Parley and Prosody write (both escape `>` in attribute values), and
//! far cheaper than the peers being measured. Shared by the fake component
//! server, the raw component client and the scanning c2s client.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Reads until `needle` is in `buf` at or after `from`; returns the index
/// just past it.
pub(crate) async fn read_until<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    from: usize,
    needle: &[u8],
) -> io::Result<usize> {
    loop {
        if let Some(i) = buf.get(from..).and_then(|b| find(b, needle)) {
            return Ok(from + i + needle.len());
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Writes what arrives on `rx`, batching whatever is queued into one flush.
pub(crate) async fn writer<W: AsyncWrite + Unpin>(write: W, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut w = BufWriter::with_capacity(64 * 1024, write);
    while let Some(first) = rx.recv().await {
        if w.write_all(&first).await.is_err() {
            return;
        }
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

/// Reads first-level elements from `read` (after whatever `buf` already
/// holds) and hands each to `handle` until the stream ends.
pub(crate) async fn read_elements<R: AsyncRead + Unpin>(
    mut read: R,
    mut buf: Vec<u8>,
    mut handle: impl FnMut(&[u8]),
) {
    loop {
        let mut consumed = 0;
        while let Some((len, element)) = next_element(&buf[consumed..]) {
            if let Some(el) = element {
                handle(&buf[consumed..consumed + el]);
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
pub(crate) fn next_element(buf: &[u8]) -> Option<(usize, Option<usize>)> {
    let ws = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
    if ws > 0 {
        return Some((ws, None));
    }
    if buf.starts_with(b"</") {
        let gt = find(buf, b">")?;
        return Some((gt + 1, None));
    }
    if buf.first() != Some(&b'<') {
        // Not XML we expect: skip to the next '<'.
        let lt = buf.iter().position(|&b| b == b'<')?;
        return Some((lt, None));
    }
    let name_len = buf[1..]
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')?;
    let name = &buf[1..1 + name_len];
    // '>' is escaped in attribute values, so the first '>' ends the tag.
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

/// The value of attribute `name` in a start tag (either quote style).
pub(crate) fn attr<'a>(head: &'a str, name: &str) -> Option<&'a str> {
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
pub(crate) fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)?;
    let gt = text[start..].find('>')? + start + 1;
    let end = text[gt..].find(close)? + gt;
    Some(&text[gt..end])
}

/// The start tag (up to, not including, its `>`) of the first `<name`
/// element in `text`.
pub(crate) fn start_tag<'a>(text: &'a str, open: &str) -> Option<&'a str> {
    let start = text.find(open)?;
    let gt = text[start..].find('>')? + start;
    Some(&text[start..gt])
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
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
    fn attributes_are_found_in_either_quote_style() {
        assert_eq!(attr("<message id=\"a\" type='chat'", "type"), Some("chat"));
        assert_eq!(
            attr("<message xtype='no' type=\"error\"", "type"),
            Some("error")
        );
    }

    #[test]
    fn the_start_tag_of_a_child_is_found() {
        let text = "<message type='error'><body>x</body><error type='wait'><x/></error></message>";
        assert_eq!(start_tag(text, "<error"), Some("<error type='wait'"));
        assert_eq!(between(text, "<body", "</body>"), Some("x"));
    }
}
