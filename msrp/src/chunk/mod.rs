//! RFC 4975 §5.1, §7.1.1, §7.3.1: messages in chunks.
//!
//! A message too big for one SEND goes as several, each with the same
//! Message-ID, its own transaction id and a Byte-Range saying where its
//! bytes sit; the end-line flag is `+` until the last chunk (`$`), or `#`
//! when the sender gives up. [`split()`](crate::chunk::split) makes the chunks of one message;
//! [`Reassembler`](crate::chunk::Reassembler) puts received chunks back together in any order, within
//! a maximum message size and a maximum number of messages in progress.
//!
//! What it does not do: interrupt a chunk while it is being written (§7.1.1;
//! the driver writes whole frames), or remember completed Message-IDs to
//! flag duplicates (§5.4's SHOULD is left to the layer that delivers).

mod reassembly;
mod split;

pub use reassembly::{Message, Reassembled, Reassembler, ReassemblyLimits};
pub use split::{OutgoingMessage, TransactionIds, split};
