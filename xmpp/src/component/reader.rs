//! The reader task: quick-xml's async `Reader` over the socket's read half,
//! feeding `StreamParser`, sending finished items to the driver.
//!
//! crates.md §5.4: `read_event_into_async` is not cancel-safe, so it
//! is only ever awaited here, never raced; the driver stops this task by
//! aborting it together with the connection. crates.md §5.3: quick-xml buffers
//! an event until it is complete, so `Cap` refuses to hand it more than the
//! stanza limit (plus one read buffer) past the last first-level boundary.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use quick_xml::events::Event;
use quick_xml::reader::Reader;
use tokio::io::{AsyncRead, BufReader, ReadBuf};
use tokio::sync::mpsc;

use crate::error::StreamError;
use crate::stream::{self, Limits, StreamItem, StreamParser};

/// What the reader task reports.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // items are moved once, boxing buys nothing
pub(super) enum Inbound {
    /// A complete item.
    Item(StreamItem),
    /// The server broke a stream rule; the task has stopped.
    Violation(StreamError),
    /// The socket failed; the task has stopped.
    Io(io::Error),
    /// The server closed the TCP connection.
    Eof,
}

/// `BufReader`'s capacity; bytes it may hold beyond what quick-xml consumed.
const READ_BUFFER: usize = 8 * 1024;

/// Reads from the socket, refusing to go past `allowed_until` total bytes.
struct Cap<R> {
    inner: R,
    /// Shared with the driver: any byte is a sign of life.
    received: Arc<AtomicU64>,
    total: u64,
    allowed_until: u64,
    tripped: bool,
}

impl<R: AsyncRead + Unpin> AsyncRead for Cap<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.total >= self.allowed_until {
            self.tripped = true;
            return Poll::Ready(Err(io::Error::other("stanza size limit")));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let n = (buf.filled().len() - before) as u64;
            this.total += n;
            this.received.fetch_add(n, Ordering::Relaxed);
        }
        r
    }
}

pub(super) async fn read_stream(
    socket: super::ReadHalf,
    limits: Limits,
    received: Arc<AtomicU64>,
    tx: mpsc::Sender<Inbound>,
) {
    let slack = (limits.max_stanza_bytes + READ_BUFFER) as u64;
    let cap = Cap {
        inner: socket,
        received,
        total: 0,
        allowed_until: slack,
        tripped: false,
    };
    let mut reader = Reader::from_reader(BufReader::with_capacity(READ_BUFFER, cap));
    stream::configure(reader.config_mut());
    let mut parser = StreamParser::new(limits);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let position = reader.buffer_position();
        let result = reader.read_event_into_async(&mut buf).await;
        let outcome = match result {
            Ok(Event::Eof) => Err(Inbound::Eof),
            Ok(event) => match parser.handle_event(event, position) {
                Ok(item) => Ok(item),
                Err(v) => Err(Inbound::Violation(v)),
            },
            Err(e) => {
                if reader.get_ref().get_ref().tripped {
                    Err(Inbound::Violation(StreamError::StanzaTooLarge {
                        limit: limits.max_stanza_bytes,
                    }))
                } else {
                    match e {
                        quick_xml::Error::Io(io) if io.kind() != io::ErrorKind::InvalidData => {
                            Err(Inbound::Io(io::Error::new(io.kind(), io.to_string())))
                        }
                        other => Err(Inbound::Violation(stream::xml_error(&other))),
                    }
                }
            }
        };
        match outcome {
            Ok(item) => {
                if !parser.in_stanza() {
                    let boundary = reader.buffer_position();
                    reader.get_mut().get_mut().allowed_until = boundary + slack;
                }
                if let Some(item) = item
                    && tx.send(Inbound::Item(item)).await.is_err()
                {
                    return;
                }
            }
            Err(end) => {
                let _ = tx.send(end).await;
                return;
            }
        }
    }
}
