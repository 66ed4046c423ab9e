//! RFC 3261 §9.2: a CANCEL received by the UAS. It is answered here, never
//! handed to the gateway: 200 when it matches an INVITE server transaction
//! (which, still unanswered, gets 487 at once, and its TU learns of it
//! through [`Responder::cancelled`]), 481 when it matches none.
//!
//! What it does not do: match a CANCEL to a pending non-INVITE request
//! (§9.2 allows it, with no effect but a 200); such a CANCEL gets 481.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::request::{Responder, ResponderParts};
use super::{Inner, now};
use crate::transaction::ServerKey;
use crate::wire::message::Salvage;
use crate::wire::status::StatusCode;
use crate::wire::write::{self, reason_phrase};

/// What the endpoint keeps of an INVITE whose TU has not sent a final
/// response: enough to answer it 487 itself, and the TU's signal.
pub(super) struct Cancellable {
    /// The INVITE's lines a response copies (top Via stamped; the To tag
    /// when its To had none, §8.2.6.2).
    pub(super) copied: write::Copied,
    /// The To tag its responses carry.
    pub(super) to_tag: String,
    /// Cancelled when a CANCEL ends the INVITE.
    pub(super) token: CancellationToken,
}

/// Answers the CANCEL of server transaction `key`; `salvage` is the
/// CANCEL's own (top Via stamped), `tag_to` whether its To has no tag.
pub(super) fn handle_cancel(inner: &Arc<Inner>, key: ServerKey, salvage: Salvage, tag_to: bool) {
    // §9.2: the INVITE to cancel is found by the §17.2.3 rules with the
    // CANCEL's method taken for the original's.
    let invite = key.with_method("INVITE");
    let (pending, to_tag) = inner.with_core(|core| {
        let pending = core.cancellable.remove(&invite);
        let to_tag = core.transactions.invite_to_tag(&invite).map(str::to_owned);
        (pending, to_tag)
    });
    let exists = to_tag.is_some();
    let to_tag = to_tag.unwrap_or_default();
    if let Some(pending) = pending {
        // §9.2: "If the original request was an INVITE, the UAS SHOULD
        // immediately respond to the INVITE with a 487 (Request Terminated)."
        let bytes = write::response_from(
            &pending.copied,
            true,
            &write::ResponseParts {
                status: 487,
                reason: reason_phrase(487),
                server: &inner.config.user_agent,
                headers: &[],
                body: None,
            },
        );
        let transmit =
            inner.with_core(|core| core.transactions.respond(&invite, 487, bytes, now()));
        if let Some(transmit) = transmit {
            inner.counters.response_out(487);
            inner.transmit(transmit);
        }
        pending.token.cancel();
    }
    let status = if exists {
        // "as long as the CANCEL matched an existing transaction, the UAS
        // answers the CANCEL request itself with a 200 (OK) response" — also
        // after a final response, when it "has no effect".
        StatusCode::OK
    } else {
        // "If the UAS did not find a matching transaction for the CANCEL
        // … it SHOULD respond to the CANCEL with a 481".
        StatusCode::CALL_DOES_NOT_EXIST
    };
    // §9.2: "the To tag of the response to the CANCEL and the To tag in
    // the response to the original request SHOULD be the same".
    let to_tag = if to_tag.is_empty() {
        crate::dialog::new_tag()
    } else {
        to_tag
    };
    let responder = Responder {
        inner: inner.clone(),
        parts: Box::new(ResponderParts {
            key,
            copied: write::Copied::of(&salvage, tag_to.then_some(to_tag.as_str())),
            to_tag,
            ack: None,
            record_route: Vec::new(),
            answered: false,
            cancelled: None,
        }),
    };
    responder.respond(status, None, vec![], None);
}
