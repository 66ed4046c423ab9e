//! RFC 7573 §4, Figure 1 (F3–F9): Parley starts a chat session for an XMPP
//! user (`sessions.start = always`). The INVITE carries an MSRP offer
//! (`offer.rs`); the XMPP messages for the pair wait in the table
//! (`table.rs`, `Starting`) until the session opens, and then go into it as
//! SENDs (F9). "There is no reliable way for the gateway to determine
//! whether Romeo's client supports MSRP" (§4): when the phone refuses (415,
//! 488, 606, any final answer but 2xx), answers with SDP Parley cannot use,
//! does not answer within `sessions.answer_secs`, or the MSRP connection
//! cannot be made, the held messages go as SIP MESSAGE (RFC 7572) and the
//! SIP user gets page mode for `sessions.fallback_secs`: no message is lost
//! to a failed attempt.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info};

use parley_mapping::address::Jid;
use parley_mapping::chat::{self, ToMsrp};
use parley_mapping::error::ALLOW_WITH_SESSIONS;
use parley_mapping::message as im;
use parley_msrp::endpoint::SessionHandle;
use parley_sip::dialog::session::{Session as Dialog, SessionExpires};
use parley_sip::{InviteClient, OutgoingRequest, Response, TransactionError};
use parley_xmpp::stanza::{Message, MessageType};

use super::relay::Command;
use super::relay::Relay;
use super::table::{Entry, Pair};
use super::{COMMAND_CAPACITY, End, Routed, Shared};
use crate::metrics::{Fallback, SessionStart};
use crate::msrp_offer::{self as offer, Offered};

/// How long a cancelled INVITE may take to end (its 487, RFC 3261 §9.1)
/// before the held messages go as SIP MESSAGE anyway.
const CANCEL_GRACE: Duration = Duration::from_secs(4);

/// How long an abandoned INVITE is still watched for a late 2xx, which is
/// then ACKed and ended with a BYE (RFC 3261 §13.2.2.4 asks every 2xx to be
/// ACKed). Timer B, 64·T1 with the default T1 (§17.1.1.2).
const LATE_ANSWER: Duration = Duration::from_secs(32);

/// Whether `message` opens a session under `always`: a chat message with
/// text (RFC 7573 §4: "an XMPP <message/> of type "chat""). Chat states,
/// receipts and other types keep going as page mode does them.
pub(super) fn worth_a_session(message: &Message) -> bool {
    message.message_type == Some(MessageType::Chat)
        && matches!(chat::to_msrp(message), Ok(ToMsrp::Send { .. }))
}

/// An INVITE about to go out.
pub(super) struct Invite {
    pub(super) call_id: String,
    request: OutgoingRequest,
    offered: Offered,
    /// The SIP user as XMPP sees it (the component-domain JID).
    sip_jid: Jid,
    /// The XMPP user, full JID: replies go to the resource that wrote.
    xmpp_jid: Jid,
    thread: String,
}

/// The INVITE for `message` from `from` to `to` (F3), addressed as page
/// mode addresses its MESSAGE (RFC 7572: From, To and Request-URI by RFC
/// 7247 §6); `None` when page mode would refuse it (it will say why).
pub(super) fn prepare(shared: &Shared, message: &Message, from: Jid, to: Jid) -> Option<Invite> {
    let sip = im::to_sip(message, &shared.links.mapper).ok()?;
    // A fresh Call-ID: the XMPP thread is the sender's and may repeat.
    let call_id = format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let (session_id, origin) = offer::fresh_ids();
    let offered = offer::offer(&shared.local(), &session_id, origin)?;
    let request = OutgoingRequest {
        method: "INVITE".into(),
        request_uri: sip.request_uri.to_string(),
        from: sip.from.to_string(),
        to: sip.to.to_string(),
        call_id: Some(call_id.clone()),
        // RFC 3261 §20.5: what Parley takes inside the dialog; RFC 4028
        // §7.1: a UAC that supports session timers "MUST include" this.
        headers: vec![
            ("Allow".into(), ALLOW_WITH_SESSIONS.into()),
            ("Supported".into(), "timer".into()),
        ],
        body: Some((
            "application/sdp".into(),
            offered.sdp.clone().into_bytes().into(),
        )),
    };
    let thread = message.thread.clone().unwrap_or_else(|| call_id.clone());
    Some(Invite {
        call_id,
        request,
        offered,
        sip_jid: to,
        xmpp_jid: from,
        thread,
    })
}

/// How an attempt ended short of a session of its own.
enum Failed {
    /// Failed: counted as this outcome; page mode for the held messages.
    As(SessionStart),
    /// Opened, but the phone had opened one for the pair meanwhile, which
    /// took the held messages.
    Superseded,
}

/// F3–F9: sends the INVITE, opens the session on a 2xx and relays until
/// it ends; on any failure the held messages go as SIP MESSAGE.
pub(super) async fn run(shared: Arc<Shared>, pair: Pair, invite: Invite) {
    let call_id = invite.call_id.clone();
    match open(&shared, &pair, invite).await {
        Ok(relay) => relay.run().await,
        Err(Failed::As(outcome)) => fail(&shared, &pair, &call_id, outcome),
        Err(Failed::Superseded) => {}
    }
}

/// The session's relay, ready to run, or why there is none.
async fn open(shared: &Arc<Shared>, pair: &Pair, invite: Invite) -> Result<Relay, Failed> {
    let Invite {
        call_id,
        request,
        offered,
        sip_jid,
        xmpp_jid,
        thread,
    } = invite;
    let client = match shared.links.sip.send_invite(request).await {
        Ok(c) => c,
        Err(e) => {
            info!(%call_id, error = %e, "INVITE for a chat session not sent");
            shared.links.metrics.error(e.kind());
            return Err(Failed::As(SessionStart::Failed));
        }
    };
    let (ok, client) = final_answer(shared, client, &call_id).await?;
    // F7: the 2xx is ACKed whatever follows (RFC 3261 §13.2.2.4).
    if let Err(e) = client.send_ack(&ok, vec![], None).await {
        info!(%call_id, error = %e, "ACK not sent");
        return Err(Failed::As(SessionStart::Failed));
    }
    let dialog = match Dialog::uac(ok.message(), std::time::Instant::now()) {
        Ok(d) => d,
        Err(e) => {
            info!(%call_id, error = %e, "2xx without a usable dialog");
            return Err(Failed::As(SessionStart::BadAnswer));
        }
    };
    let opened = match offer::read_answer(&offered, ok.header("Content-Type").as_deref(), &ok.body)
    {
        Ok(o) => o,
        Err(why) => {
            info!(%call_id, why, "SDP answer not usable; the session is ended");
            bye(shared, dialog, &call_id);
            return Err(Failed::As(SessionStart::BadAnswer));
        }
    };
    let remote_path = opened.spec.remote_path.clone();
    // What a refresh repeats: the offer, with the role Parley ended up in
    // rather than `actpass` (RFC 4145 §4.1: never among the answers).
    let local_sdp = offered.sdp.replace(
        "a=setup:actpass",
        match opened.spec.role {
            parley_msrp::endpoint::Role::Active => "a=setup:active",
            parley_msrp::endpoint::Role::Passive => "a=setup:passive",
        },
    );
    let peer_allows_update = super::invite::allows_update(ok.header("Allow").as_deref());
    let interval = SessionExpires::of(ok.message()).map(|se| se.interval);
    let handle = match tokio::time::timeout(
        shared.settings.answer,
        shared.settings.msrp.open(opened.spec),
    )
    .await
    {
        Ok(Ok(h)) => h,
        other => {
            info!(%call_id, outcome = ?other.map(|r| r.err()), "MSRP session not opened");
            bye(shared, dialog, &call_id);
            return Err(Failed::As(SessionStart::Failed));
        }
    };
    promote(
        shared,
        pair,
        Promoted {
            call_id,
            sip_jid,
            xmpp_jid,
            thread,
            dialog,
            handle,
            peer_takes_composing: opened.peer_takes_composing,
            local_sdp,
            remote_path,
            peer_allows_update,
            interval,
        },
    )
}

/// F4–F6: the INVITE's final answer, a 2xx; anything else is a failure. An
/// INVITE unanswered after `sessions.answer_secs`, or out when Parley
/// stops, is cancelled (RFC 3261 §9.1).
async fn final_answer(
    shared: &Arc<Shared>,
    mut client: InviteClient,
    call_id: &str,
) -> Result<(Response, InviteClient), Failed> {
    // Made and matched once per turn of the loop below: boxing buys nothing.
    #[allow(clippy::large_enum_variant)]
    enum Step {
        Heard(Option<Result<Response, TransactionError>>),
        Cancel,
        GiveUp,
    }
    let give_up = tokio::time::sleep(shared.settings.answer);
    tokio::pin!(give_up);
    let mut cancelled: Option<Instant> = None;
    loop {
        let hard_stop = async {
            match cancelled {
                Some(at) => tokio::time::sleep_until(at + CANCEL_GRACE).await,
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            response = client.next_response() => Step::Heard(response),
            () = &mut give_up, if cancelled.is_none() => Step::Cancel,
            () = shared.stopping.cancelled(), if cancelled.is_none() => Step::Cancel,
            () = hard_stop => Step::GiveUp,
        };
        match step {
            Step::Heard(Some(Ok(r))) if r.status < 200 => {}
            Step::Heard(Some(Ok(r))) if r.is_success() => {
                if cancelled.is_none() {
                    return Ok((r, client));
                }
                // The 2xx crossed the CANCEL: still ACKed, then ended.
                late_2xx(shared, &client, &r, call_id).await;
                return Err(Failed::As(SessionStart::Timeout));
            }
            Step::Heard(Some(Ok(r))) => {
                info!(call_id, status = r.status, "chat session refused");
                return Err(Failed::As(if cancelled.is_some() {
                    SessionStart::Timeout
                } else {
                    SessionStart::Refused
                }));
            }
            Step::Heard(Some(Err(TransactionError::Timeout)) | None) => {
                return Err(Failed::As(SessionStart::Timeout));
            }
            Step::Heard(Some(Err(e))) => {
                info!(call_id, error = %e, "INVITE failed");
                shared.links.metrics.error(e.kind());
                return Err(Failed::As(SessionStart::Failed));
            }
            Step::Cancel => {
                debug!(call_id, "INVITE unanswered; cancelling it");
                cancelled = Some(Instant::now());
                // §9.1: the CANCEL waits for a provisional response, so it
                // goes from its own task; its outcome shows in the INVITE's
                // final response.
                let canceller = client.canceller();
                shared.links.tasks.spawn(async move {
                    let _ = tokio::time::timeout(LATE_ANSWER, canceller.cancel()).await;
                });
            }
            Step::GiveUp => {
                // Neither the INVITE nor its CANCEL answered in time: the
                // messages go now; a late 2xx is still ACKed and ended.
                watch_late(shared, client, call_id);
                return Err(Failed::As(SessionStart::Timeout));
            }
        }
    }
}

/// A 2xx after Parley gave up: ACKed (RFC 3261 §13.2.2.4), then BYE.
async fn late_2xx(shared: &Arc<Shared>, client: &InviteClient, ok: &Response, call_id: &str) {
    if client.send_ack(ok, vec![], None).await.is_ok()
        && let Ok(dialog) = Dialog::uac(ok.message(), std::time::Instant::now())
    {
        bye(shared, dialog, call_id);
    }
}

/// Keeps reading an abandoned INVITE's responses for a while, for a late 2xx.
fn watch_late(shared: &Arc<Shared>, mut client: InviteClient, call_id: &str) {
    let shared2 = Arc::clone(shared);
    let call_id = call_id.to_owned();
    shared.links.tasks.spawn(async move {
        let watch = async {
            while let Some(response) = client.next_response().await {
                if let Ok(r) = response
                    && r.is_success()
                {
                    late_2xx(&shared2, &client, &r, &call_id).await;
                }
            }
        };
        let _ = tokio::time::timeout(LATE_ANSWER, watch).await;
    });
}

/// BYE in the session's dialog (RFC 3261 §15.1.1); its answer changes nothing.
fn bye(shared: &Arc<Shared>, mut dialog: Dialog, call_id: &str) {
    let bye = OutgoingRequest::in_dialog(dialog.bye(), vec![], None);
    let sip = shared.links.sip.clone();
    let call_id = call_id.to_owned();
    shared.links.tasks.spawn(async move {
        let answered = sip.send_request(bye).await.map(|r| r.status);
        debug!(call_id, ?answered, "BYE of a session not kept");
    });
}

/// What an opened session brings to the table.
struct Promoted {
    call_id: String,
    sip_jid: Jid,
    xmpp_jid: Jid,
    thread: String,
    dialog: Dialog,
    handle: SessionHandle,
    peer_takes_composing: bool,
    local_sdp: String,
    remote_path: Vec<parley_msrp::uri::Uri>,
    peer_allows_update: bool,
    interval: Option<u32>,
}

/// F9: the session is open; what waited for it goes into it, in order,
/// before anything that comes after (the table stays locked meanwhile).
fn promote(shared: &Arc<Shared>, pair: &Pair, p: Promoted) -> Result<Relay, Failed> {
    let (commands, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
    let mut table = shared.table();
    let Some(starting) = table.take_starting(pair, &p.call_id) else {
        // Parley is stopping: what was held went as SIP MESSAGE already.
        drop(table);
        p.handle.close();
        bye(shared, p.dialog, &p.call_id);
        return Err(Failed::As(SessionStart::Failed));
    };
    shared.links.metrics.msrp_start(SessionStart::Opened);
    if table.by_pair_mut(pair).is_some() {
        // The phone opened a session of its own meanwhile (§5): that one
        // carries the conversation, this one ends.
        drop(table);
        p.handle.close();
        bye(shared, p.dialog, &p.call_id);
        for message in starting.held {
            if let Some(m) = shared.route(message) {
                shared.fall_back(m, Fallback::SessionFailed);
            }
        }
        return Err(Failed::Superseded);
    }
    let mut later = Vec::new();
    let mut gone = false;
    for message in starting.held {
        let from = p.xmpp_jid.clone();
        match shared.command_for(message, from, p.peer_takes_composing) {
            // At most MAX_HELD, below the channel's capacity.
            Routed::Command(c) => {
                if let Err(full) = commands.try_send(c)
                    && let Command::Send {
                        stanza: Some(m), ..
                    } = full.into_inner()
                {
                    later.push(*m);
                }
            }
            Routed::Gone => gone = true,
            Routed::Dropped => {}
            Routed::Refused(m, e) => {
                shared.links.metrics.error(e.kind());
                shared.links.bounce(&m, e.stanza_error());
            }
        }
    }
    table.insert(
        p.call_id.clone(),
        Entry {
            pair: pair.clone(),
            sip_jid: p.sip_jid.clone(),
            xmpp_jid: p.xmpp_jid.clone(),
            thread: p.thread.clone(),
            dialog: p.dialog,
            commands,
            last_activity: Instant::now(),
            peer_takes_composing: p.peer_takes_composing,
            local_sdp: p.local_sdp,
            remote_path: p.remote_path,
            peer_allows_update: p.peer_allows_update,
            interval: p.interval,
        },
    );
    drop(table);
    info!(call_id = %p.call_id, from = %p.xmpp_jid, to = %p.sip_jid, "chat session started");
    shared.gauges();
    for m in later {
        shared.fall_back(m, Fallback::SessionFailed);
    }
    if gone {
        shared.end(&p.call_id, End::Gone);
    }
    Ok(Relay {
        shared: Arc::clone(shared),
        call_id: p.call_id,
        sip_jid: p.sip_jid,
        xmpp_jid: p.xmpp_jid,
        thread: p.thread,
        handle: p.handle,
        commands: commands_rx,
        held: VecDeque::new(),
        receipts: VecDeque::new(),
        awaiting: VecDeque::new(),
    })
}

/// The attempt failed: the held messages go as SIP MESSAGE, and the SIP
/// user gets page mode for `sessions.fallback_secs`.
fn fail(shared: &Arc<Shared>, pair: &Pair, call_id: &str, outcome: SessionStart) {
    shared.links.metrics.msrp_start(outcome);
    let now = Instant::now();
    let held = {
        let mut table = shared.table();
        table.decline(&pair.sip_user, now, now + shared.settings.fallback);
        table.take_starting(pair, call_id)
    };
    let Some(starting) = held else {
        return;
    };
    info!(
        call_id,
        ?outcome,
        held = starting.held.len(),
        "no chat session; page mode"
    );
    for message in starting.held {
        shared.fall_back(message, Fallback::SessionFailed);
    }
}
