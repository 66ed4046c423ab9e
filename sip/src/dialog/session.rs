//! RFC 3261 §12–§15 and RFC 4028: the dialog of an INVITE session, sans-IO.
//!
//! A [`Session`](crate::dialog::session::Session) is built from the INVITE and the 2xx that created it —
//! as UAS ([`Session::uas`](crate::dialog::session::Session::uas)) or UAC ([`Session::uac`](crate::dialog::session::Session::uac)) — and then builds our
//! in-dialog requests (ACK, BYE, re-INVITE, UPDATE) and checks the peer's
//! ([`Session::handle_request`](crate::dialog::session::Session::handle_request)): out-of-order CSeq (§12.2.2), an INVITE
//! overlapping another (§14.2), and, once the TU has answered, the remote
//! target refresh. [`Sessions`](crate::dialog::session::Sessions) finds a request's session, or answers 481.
//! The session timer (RFC 4028) is data here: [`Session::poll_timeout`](crate::dialog::session::Session::poll_timeout)
//! says when a refresh is due or the session has expired, and the TU acts.
//!
//! What it does not do: look at SDP (the TU decides whether an offer is
//! acceptable and answers 488, §14.2, through [`Session::answered`](crate::dialog::session::Session::answered)), PRACK
//! or early dialogs, or the 491/500 rules for UPDATE (RFC 3311, not
//! applied). §12.2.2 makes a request's state changes atomic: the remote
//! target of a re-INVITE or UPDATE and its session interval take effect
//! only when the TU answers it 2xx, so a refused one leaves the session as
//! it was.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::dialog::{Dialog, DialogError, DialogId, DialogRequest, contact_uri, cseq_number};
use crate::wire::header::parameters;
use crate::wire::message::{Message, StartLine};
use crate::wire::status::StatusCode;

/// How a request is refused: the status, its reason, and for a 500 to an
/// overlapping INVITE the Retry-After (§14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Retry-After seconds, when the response carries one.
    pub retry_after: Option<u32>,
}

impl Refusal {
    const fn of(status: u16, reason: &'static str) -> Refusal {
        Refusal {
            status,
            reason,
            retry_after: None,
        }
    }

    /// The headers the refusal adds to its response.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.retry_after
            .map(|s| vec![("Retry-After".to_owned(), s.to_string())])
            .unwrap_or_default()
    }

    /// Status, reason phrase and headers of the response that carries the
    /// refusal (every refusal's status is a valid code; 500 otherwise).
    pub fn response_parts(&self) -> (StatusCode, Option<&'static str>, Vec<(String, String)>) {
        let status = StatusCode::new(self.status).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        (status, Some(self.reason), self.headers())
    }
}

/// RFC 4028 §4: who refreshes, named by the roles in the refresh transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The client of the session refresh request.
    Uac,
    /// Its server.
    Uas,
}

/// RFC 4028 §4: the `Session-Expires` header field (compact `x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    /// The session interval, in seconds.
    pub interval: u32,
    /// The `refresher` parameter, when present.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// The header field of `msg`, when present and well-formed.
    pub fn of(msg: &Message) -> Option<SessionExpires> {
        let value = msg.header("Session-Expires").or_else(|| msg.header("x"))?;
        let (delta, params) = value.split_at(value.find(';').unwrap_or(value.len()));
        let interval = delta.trim().parse().ok()?;
        let mut refresher = None;
        parameters(None, params)
            .ok()?
            .into_iter()
            .filter(|(name, _)| name == "refresher")
            .for_each(|(_, value)| {
                refresher = match value.map(|v| v.to_ascii_lowercase()).as_deref() {
                    Some("uac") => Some(Refresher::Uac),
                    Some("uas") => Some(Refresher::Uas),
                    _ => None,
                };
            });
        Some(SessionExpires {
            interval,
            refresher,
        })
    }

    /// The header value, `1800;refresher=uac`.
    pub fn value(&self) -> String {
        match self.refresher {
            Some(Refresher::Uac) => format!("{};refresher=uac", self.interval),
            Some(Refresher::Uas) => format!("{};refresher=uas", self.interval),
            None => self.interval.to_string(),
        }
    }
}

/// RFC 4028 §4: "The absolute minimum for the Session-Expires header field
/// is 90 seconds"; §9: a Min-SE we send "MUST NOT be lower than 90 seconds".
pub const MIN_SESSION_INTERVAL: u32 = 90;

/// RFC 4028 §9: how a UAS answers a session refresh request's timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAnswer {
    /// No session timer (none asked for; we ask for none).
    None,
    /// Accept: the 2xx carries this Session-Expires, and `Require: timer`
    /// when `require` is set.
    Accept {
        /// The value for the 2xx.
        session_expires: SessionExpires,
        /// Whether the 2xx carries `Require: timer`.
        require: bool,
    },
    /// 422 (Session Interval Too Small) with this Min-SE.
    TooSmall {
        /// Our minimum, in seconds.
        min_se: u32,
    },
}

impl TimerAnswer {
    /// The headers the answer adds to its response (2xx or 422).
    pub fn headers(&self) -> Vec<(String, String)> {
        match self {
            TimerAnswer::None => Vec::new(),
            TimerAnswer::Accept {
                session_expires,
                require,
            } => {
                let mut h = vec![("Session-Expires".to_owned(), session_expires.value())];
                if *require {
                    h.push(("Require".to_owned(), "timer".to_owned()));
                }
                h
            }
            TimerAnswer::TooSmall { min_se } => vec![("Min-SE".to_owned(), min_se.to_string())],
        }
    }
}

/// Whether `msg`'s Supported header names the `timer` option tag.
fn supports_timer(msg: &Message) -> bool {
    msg.header("Supported").is_some_and(|v| {
        v.split(',')
            .any(|tag| tag.trim().eq_ignore_ascii_case("timer"))
    })
}

/// RFC 4028 §9: the UAS's answer to an INVITE or UPDATE's session timer,
/// with `min_se` our minimum (raised to 90 s). Where Table 2 leaves the
/// refresher to us, the UAC refreshes.
pub fn decide_timer(request: &Message, min_se: u32) -> TimerAnswer {
    let min_se = min_se.max(MIN_SESSION_INTERVAL);
    let supported = supports_timer(request);
    // §9: without Session-Expires the UAS "may request a session timer";
    // we do not.
    let Some(asked) = SessionExpires::of(request) else {
        return TimerAnswer::None;
    };
    // §9: the UAS "MAY reject the INVITE request with a 422 … if the
    // session interval … is smaller than the minimum interval defined by the
    // UAS' local policy" — when the request has Supported: timer.
    if supported && asked.interval < min_se {
        return TimerAnswer::TooSmall { min_se };
    }
    // §9 Table 2, row by row.
    let refresher = match (supported, asked.refresher) {
        (false, _) => Refresher::Uas,
        (true, None) => Refresher::Uac,
        (true, Some(r)) => r,
    };
    TimerAnswer::Accept {
        // "copies the value of the Session-Expires header field from the
        // request into the 2xx response"; never raised.
        session_expires: SessionExpires {
            interval: asked.interval,
            refresher: Some(refresher),
        },
        // "If the refresher parameter … has a value of 'uac', the UAS MUST
        // place a Require header field …"; for 'uas' with Supported: timer
        // it SHOULD.
        require: refresher == Refresher::Uac || supported,
    }
}

/// What the session timer asks of the TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// We refresh, and half the interval has passed (RFC 4028 §9: "It is
    /// RECOMMENDED that this refresh be sent once half the session interval
    /// has elapsed"): send a re-INVITE or UPDATE.
    RefreshDue,
    /// The peer refreshes and none came: RFC 4028 §10, "it SHOULD send a
    /// BYE … slightly before the session expiration" (the minimum of 32 s
    /// and a third of the interval); or our refresh never succeeded.
    Expired,
}

/// RFC 4028 §7.2, §9: the session interval, the expiration and who refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timer {
    we_refresh: bool,
    refresh_at: Option<Instant>,
    end_at: Instant,
}

impl Timer {
    fn start(interval: u32, we_refresh: bool, now: Instant) -> Timer {
        let interval = Duration::from_secs(u64::from(interval));
        let expiration = now + interval;
        if we_refresh {
            Timer {
                we_refresh,
                refresh_at: Some(now + interval / 2),
                end_at: expiration,
            }
        } else {
            let early = (interval / 3).min(Duration::from_secs(32));
            Timer {
                we_refresh,
                refresh_at: None,
                end_at: expiration - early,
            }
        }
    }
}

/// Our role in the INVITE that created the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent it.
    Uac,
    /// We answered it.
    Uas,
}

/// A request of the peer, accepted into the session, for the TU to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDialog {
    /// A re-INVITE: answer it, then tell [`Session::answered`].
    Reinvite,
    /// An UPDATE: likewise.
    Update,
    /// The ACK of our 2xx.
    Ack,
    /// A BYE: answer 200; the session is over (§15.1.2).
    Bye,
    /// Any other request (§12.2.2: processed as outside the dialog).
    Other,
}

/// The dialog of an INVITE session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The dialog (id, targets, route set, CSeq numbers).
    pub dialog: Dialog,
    /// Our role in the initial INVITE.
    pub role: Role,
    /// The CSeq of the re-INVITE we sent and is awaiting its final response.
    outgoing_invite: Option<u32>,
    /// The peer's re-INVITE or UPDATE the TU has not answered: its CSeq,
    /// method, new remote target and session timer ask.
    incoming: Option<Pending>,
    timer: Option<Timer>,
    ended: bool,
}

#[derive(Debug, Clone)]
struct Pending {
    cseq: u32,
    invite: bool,
    contact: Option<String>,
}

impl Session {
    /// RFC 3261 §12.1.1: the session our 2xx to `invite` creates, with our
    /// tag `local_tag`; `timer` is what our 2xx said of the session timer
    /// ([`decide_timer`]), in force from `now`.
    pub fn uas(
        invite: &Message,
        local_tag: &str,
        timer: TimerAnswer,
        now: Instant,
    ) -> Result<Session, DialogError> {
        let dialog = Dialog::from_request(invite, local_tag)?;
        let mut session = Session::new(dialog, Role::Uas);
        session.apply_answer(timer, now);
        Ok(session)
    }

    /// RFC 3261 §12.1.2: the session the 2xx `ok` to our INVITE creates
    /// (route set reversed, remote target from its Contact); its
    /// Session-Expires (RFC 4028 §7.2) starts the timer at `now`.
    pub fn uac(ok: &Message, now: Instant) -> Result<Session, DialogError> {
        let dialog = Dialog::from_response(ok)?;
        let mut session = Session::new(dialog, Role::Uac);
        session.apply_2xx_timer(ok, now);
        Ok(session)
    }

    fn new(dialog: Dialog, role: Role) -> Session {
        Session {
            dialog,
            role,
            outgoing_invite: None,
            incoming: None,
            timer: None,
            ended: false,
        }
    }

    /// Whether a BYE ended it.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// RFC 3261 §13.2.2.4: the ACK of the 2xx to our INVITE with CSeq
    /// `invite_cseq` (the same number, method ACK).
    pub fn ack(&self, invite_cseq: u32) -> DialogRequest {
        let mut request = self.request("ACK");
        request.cseq = invite_cseq;
        request
    }

    /// RFC 3261 §15.1.1: a BYE; the session is over for us.
    pub fn bye(&mut self) -> DialogRequest {
        self.ended = true;
        self.dialog.next_request("BYE")
    }

    /// RFC 3261 §14.1: a re-INVITE, or the 491 its peer's pending INVITE
    /// would earn it: "a UAC MUST NOT initiate a new INVITE transaction
    /// within a dialog while another INVITE transaction is in progress in
    /// either direction". Answer with [`Session::handle_response`].
    pub fn reinvite(&mut self) -> Option<DialogRequest> {
        if self.outgoing_invite.is_some() || self.incoming.as_ref().is_some_and(|p| p.invite) {
            return None;
        }
        let request = self.dialog.next_request("INVITE");
        self.outgoing_invite = Some(request.cseq);
        Some(request)
    }

    /// An UPDATE (a session refresh without an offer, RFC 4028 §7.4).
    pub fn update(&mut self) -> DialogRequest {
        self.dialog.next_request("UPDATE")
    }

    fn request(&self, method: &str) -> DialogRequest {
        DialogRequest {
            method: method.to_owned(),
            request_uri: self.dialog.remote_target.clone(),
            from: format!(
                "<{}>;tag={}",
                self.dialog.local_uri, self.dialog.id.local_tag
            ),
            to: format!(
                "<{}>;tag={}",
                self.dialog.remote_uri, self.dialog.id.remote_tag
            ),
            call_id: self.dialog.id.call_id.clone(),
            cseq: self.dialog.local_seq,
            route: self.dialog.route_set.clone(),
        }
    }

    /// The final response to our re-INVITE or UPDATE, at `now`. A 2xx
    /// refreshes the remote target from its Contact (§12.2.1.2) and the
    /// session timer from its Session-Expires (RFC 4028 §7.2).
    pub fn handle_response(&mut self, response: &Message, now: Instant) {
        let StartLine::Response { status, .. } = response.start else {
            return;
        };
        if status < 200 {
            return;
        }
        let cseq = cseq_number(response).ok();
        if response
            .header("CSeq")
            .is_some_and(|c| c.contains("INVITE"))
            && cseq == self.outgoing_invite
        {
            self.outgoing_invite = None;
        }
        if (200..300).contains(&status) {
            if let Ok(target) = contact_uri(response) {
                self.dialog.remote_target = target;
            }
            self.apply_2xx_timer(response, now);
        }
    }

    /// RFC 4028 §7.2 for the UAC: the 2xx's Session-Expires sets the timer
    /// ("refresher … 'uac', the UAC will perform them"); none turns it off.
    fn apply_2xx_timer(&mut self, ok: &Message, now: Instant) {
        self.timer = SessionExpires::of(ok).map(|se| {
            // The parameter "will be present"; without it we refresh, so the
            // session does not lapse for want of one.
            let we_refresh = se.refresher != Some(Refresher::Uas);
            Timer::start(se.interval, we_refresh, now)
        });
    }

    fn apply_answer(&mut self, answer: TimerAnswer, now: Instant) {
        self.timer = match answer {
            TimerAnswer::Accept {
                session_expires, ..
            } => Some(Timer::start(
                session_expires.interval,
                session_expires.refresher == Some(Refresher::Uas),
                now,
            )),
            // §9: "If the most recent 2xx response had no Session-Expires
            // header field, there is no session expiration".
            TimerAnswer::None | TimerAnswer::TooSmall { .. } => None,
        };
    }

    /// RFC 3261 §12.2.2, §14.2: a request of the peer in this session (see
    /// [`Sessions::handle_request`] for finding it). `retry_after` picks the
    /// "randomly chosen value of between 0 and 10 seconds" of a 500.
    pub fn handle_request(
        &mut self,
        request: &Message,
        retry_after: impl FnOnce() -> u32,
    ) -> Result<InDialog, Refusal> {
        let method = request.method().unwrap_or_default();
        let cseq = cseq_number(request).map_err(|_| Refusal::of(400, "Malformed CSeq"))?;
        if method == "ACK" {
            // The ACK repeats its INVITE's CSeq number (§13.2.2.4).
            return Ok(InDialog::Ack);
        }
        // §12.2.2: "the sequence number of the request is lower than the
        // remote sequence number, the request is out of order and MUST be
        // rejected with a 500".
        if self.dialog.remote_seq.is_some_and(|last| cseq <= last) {
            return Err(Refusal::of(500, "CSeq Out Of Order"));
        }
        if method == "INVITE" {
            // §14.2: "A UAS that receives a second INVITE before it sends the
            // final response to a first INVITE with a lower CSeq sequence
            // number on the same dialog MUST return a 500 … and MUST include a
            // Retry-After header field".
            if self.incoming.as_ref().is_some_and(|p| p.invite) {
                return Err(Refusal {
                    retry_after: Some(retry_after().min(10)),
                    ..Refusal::of(500, "Server Internal Error")
                });
            }
            // "A UAS that receives an INVITE on a dialog while an INVITE it
            // had sent on that dialog is in progress MUST return a 491".
            if self.outgoing_invite.is_some() {
                return Err(Refusal::of(491, "Request Pending"));
            }
        }
        self.dialog.remote_seq = Some(cseq);
        Ok(match method {
            "INVITE" | "UPDATE" => {
                self.incoming = Some(Pending {
                    cseq,
                    invite: method == "INVITE",
                    contact: contact_uri(request).ok(),
                });
                if method == "INVITE" {
                    InDialog::Reinvite
                } else {
                    InDialog::Update
                }
            }
            "BYE" => {
                self.ended = true;
                InDialog::Bye
            }
            _ => InDialog::Other,
        })
    }

    /// The TU answered the peer's re-INVITE or UPDATE with CSeq `cseq`:
    /// with a 2xx carrying `timer` (from [`decide_timer`]) at `now`, the new
    /// remote target and timer take effect; with anything else (488 for an
    /// offer it cannot take, §14.2) the session stays as it was.
    pub fn answered(&mut self, cseq: u32, status: u16, timer: TimerAnswer, now: Instant) {
        if status < 200 {
            return;
        }
        let Some(pending) = self.incoming.take_if(|p| p.cseq == cseq) else {
            return;
        };
        if (200..300).contains(&status) {
            // §12.2.2: the target refresh request's Contact "MUST replace the
            // dialog's remote target URI".
            if let Some(contact) = pending.contact {
                self.dialog.remote_target = contact;
            }
            self.apply_answer(timer, now);
        }
    }

    /// When [`Session::handle_timeout`] next has something to say.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timer.as_ref()?;
        if self.ended {
            return None;
        }
        Some(timer.refresh_at.unwrap_or(timer.end_at))
    }

    /// RFC 4028 §9, §10: what the session timer asks for at `now`. A due
    /// refresh is reported once; the TU's successful refresh restarts the
    /// timer (through [`Session::handle_response`] or [`Session::answered`]).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<SessionEvent> {
        let timer = self.timer.as_mut()?;
        if self.ended {
            return None;
        }
        if let Some(at) = timer.refresh_at
            && at <= now
        {
            timer.refresh_at = None;
            return Some(SessionEvent::RefreshDue);
        }
        (timer.end_at <= now).then(|| {
            self.timer = None;
            SessionEvent::Expired
        })
    }

    /// Whether we are the refresher of the current session timer.
    pub fn we_refresh(&self) -> Option<bool> {
        self.timer.map(|t| t.we_refresh)
    }
}

/// The sessions of a UA, by dialog id; a request naming none gets 481.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<DialogId, Session>,
}

impl Sessions {
    /// Keeps `session`.
    pub fn insert(&mut self, session: Session) {
        self.by_id.insert(session.dialog.id.clone(), session);
    }

    /// The session with `id`.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Session> {
        self.by_id.get_mut(id)
    }

    /// Forgets the session with `id`.
    pub fn remove(&mut self, id: &DialogId) -> Option<Session> {
        self.by_id.remove(id)
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none are kept.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// RFC 3261 §12.2.2: a request with a To tag goes to its session; "If
    /// the UAS wishes to reject the request because it does not wish to
    /// recreate the dialog, it MUST respond to the request with a 481".
    /// A BYE that is accepted ends and removes the session.
    pub fn handle_request(
        &mut self,
        request: &Message,
        retry_after: impl FnOnce() -> u32,
    ) -> Result<(DialogId, InDialog), Refusal> {
        let unknown = Refusal::of(481, "Call/Transaction Does Not Exist");
        let id = DialogId::of_request(request).ok_or(unknown)?;
        let session = self.by_id.get_mut(&id).ok_or(unknown)?;
        let what = session.handle_request(request, retry_after)?;
        if what == InDialog::Bye {
            self.by_id.remove(&id);
        }
        Ok((id, what))
    }
}

#[cfg(test)]
mod tests;
