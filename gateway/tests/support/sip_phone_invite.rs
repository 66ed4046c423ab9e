//! The INVITE side of the test phone (RFC 3261 §13): as UAC it calls
//! (`Phone::invite`: INVITE with an SDP offer, ACK of the 2xx, then the
//! dialog for BYE), as UAS it answers as its `InvitePolicy` says.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parley_sip::wire::Message;
use parley_sip::wire::header::Address;
use parley_sip::wire::validate::{self, RequestHead};
use tokio::time::Instant;

use super::{Dialog, Phone, RESEND, Received, route_addr, status, tag_of, uri_of, values};
use crate::COMPONENT;

/// How a phone answers an INVITE (RFC 3261 §13.3.1). Every retransmission
/// of the INVITE gets the same answer again (§17.2.1).
#[derive(Clone)]
pub(crate) enum InvitePolicy {
    /// 200 OK with the SDP answer this function makes from the offer.
    Accept(Arc<dyn Fn(&str) -> String + Send + Sync>),
    /// A final refusal with this status (488, 415, 606 …).
    Refuse(u16),
    /// 180 Ringing and nothing more; a CANCEL gets 200 and the INVITE 487
    /// (§9.2), as a phone nobody picks up.
    Ring,
    /// Nothing at all, as a phone that is gone.
    Silent,
}

impl Phone {
    /// From now on, answer INVITEs as `policy` says.
    pub(crate) fn on_invite(&self, policy: InvitePolicy) {
        *self.policy.lock().expect("lock") = policy;
    }
}

/// The To tag a phone puts on its answers to an INVITE.
fn invite_tag(user: &str) -> String {
    format!("{user}-inv")
}

/// What a phone sends for an INVITE or a CANCEL under `policy` (RFC 3261
/// §13.3.1): nothing for any other request or a response.
pub(crate) fn answer_invite(
    msg: &Message,
    user: &str,
    addr: SocketAddr,
    policy: &InvitePolicy,
) -> Vec<String> {
    let Some(method) = msg.method() else {
        return Vec::new();
    };
    let tag = invite_tag(user);
    match (method, policy) {
        ("INVITE", InvitePolicy::Accept(make_answer)) => {
            let offer = String::from_utf8_lossy(&msg.body);
            let sdp = make_answer(&offer);
            // RFC 3261 §12.1.1: Contact, and the Record-Route copied.
            let mut extra = format!("Contact: <sip:{user}@{addr}>\r\n");
            if let Some(rr) = msg.header("Record-Route") {
                extra.push_str(&format!("Record-Route: {rr}\r\n"));
            }
            extra.push_str("Content-Type: application/sdp\r\n");
            response(msg, "200 OK", &tag, &extra, &sdp)
                .into_iter()
                .collect()
        }
        ("INVITE", InvitePolicy::Refuse(code)) => {
            response(msg, &format!("{code} Refused"), &tag, "", "")
                .into_iter()
                .collect()
        }
        ("INVITE", InvitePolicy::Ring) => response(msg, "180 Ringing", &tag, "", "")
            .into_iter()
            .collect(),
        // RFC 3261 §9.2: 200 to the CANCEL, then 487 to the INVITE, whose
        // Via, From, To, Call-ID and CSeq number the CANCEL repeats.
        ("CANCEL", InvitePolicy::Ring) => {
            let ok = response(msg, "200 OK", &tag, "", "");
            let terminated = msg.header("CSeq").and_then(|cseq| {
                let number = cseq.split_whitespace().next()?.to_owned();
                let text = response(msg, "487 Request Terminated", &tag, "", "")?;
                Some(text.replace(
                    &format!("CSeq: {cseq}\r\n"),
                    &format!("CSeq: {number} INVITE\r\n"),
                ))
            });
            ok.into_iter().chain(terminated).collect()
        }
        _ => Vec::new(),
    }
}

/// A response to `msg` (RFC 3261 §8.2.6.2): its Vias, From, Call-ID and
/// CSeq copied, `tag` added to its To, then `extra` header lines and `body`.
fn response(msg: &Message, status: &str, tag: &str, extra: &str, body: &str) -> Option<String> {
    let mut to = msg.header("To")?;
    if Address::parse(&to).ok()?.param("tag").is_none() {
        to.push_str(&format!(";tag={tag}"));
    }
    Some(format!(
        "SIP/2.0 {status}\r\n\
         Via: {via}\r\n\
         From: {from}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq}\r\n\
         {extra}Content-Length: {len}\r\n\r\n{body}",
        via = msg.header("Via")?,
        from = msg.header("From")?,
        call_id = msg.header("Call-ID")?,
        cseq = msg.header("CSeq")?,
        len = body.len(),
    ))
}

/// An INVITE a phone sent and what came of it.
pub(crate) struct Call {
    /// The final response.
    pub(crate) answer: Received,
    /// The responses before it (100, 18x).
    pub(crate) provisional: Vec<Received>,
    /// The dialog a 2xx made, ACKed (RFC 3261 §13.2.2.4); `None` otherwise.
    pub(crate) dialog: Option<Dialog>,
}

impl Phone {
    /// Call `to_uri` through `via`: an INVITE with `sdp` as its offer and
    /// `call_id`, resent as Timer A would (RFC 3261 §17.1.1.2) until a
    /// provisional response, then awaited until the final one within
    /// `within`. A 2xx is ACKed to its Contact with the INVITE's CSeq
    /// number (§13.2.2.4) and gives the dialog; a non-2xx is ACKed by
    /// Parley's transaction rules (§17.1.1.3), sent here too.
    pub(crate) async fn invite(
        &self,
        to_uri: &str,
        via: SocketAddr,
        call_id: &str,
        sdp: &str,
        within: Duration,
    ) -> Result<Call, String> {
        let branch = format!("z9hG4bK-inv-{}", token(call_id));
        let local_uri = format!("sip:{}@{COMPONENT}", self.user);
        let local_tag = format!("{}-call", self.user);
        let head = format!(
            "Via: SIP/2.0/UDP {addr};branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <{local_uri}>;tag={local_tag}\r\n\
             To: <{to_uri}>\r\n\
             Call-ID: {call_id}\r\n",
            addr = self.addr,
        );
        let request = format!(
            "INVITE {to_uri} SIP/2.0\r\n{head}CSeq: 1 INVITE\r\n\
             Contact: <{contact}>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{sdp}",
            contact = self.contact(),
            len = sdp.len(),
        );
        let deadline = Instant::now() + within;
        let mut resend = Instant::now();
        let answer = loop {
            if let Some(r) = self.final_response(&branch) {
                break r;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no final answer to\n{request}\nwithin {within:?}; {} got:\n{:#?}",
                    self.user,
                    self.received.lock().expect("lock")
                ));
            }
            if Instant::now() >= resend && self.responses(&branch).is_empty() {
                self.socket
                    .send_to(request.as_bytes(), via)
                    .await
                    .map_err(|e| e.to_string())?;
                resend = Instant::now() + RESEND;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let provisional = self
            .responses(&branch)
            .into_iter()
            .filter(|r| status(r) < 200)
            .collect();
        let code = status(&answer);
        if code >= 300 {
            // RFC 3261 §17.1.1.3: the ACK of a non-2xx has the INVITE's
            // branch, Request-URI and From, the response's To.
            let ack =
                format!("ACK {to_uri} SIP/2.0\r\n{head}CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
                    .replace(
                        &format!("To: <{to_uri}>\r\n"),
                        &format!("To: {}\r\n", answer.header("To")),
                    );
            self.socket
                .send_to(ack.as_bytes(), via)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Call {
                answer,
                provisional,
                dialog: None,
            });
        }
        // RFC 3261 §12.1.2: the route set is the Record-Route reversed,
        // the remote target the Contact, the remote tag the To's.
        let mut route = values(&answer.header("Record-Route"));
        route.reverse();
        let mut dialog = Dialog {
            call_id: call_id.to_owned(),
            local_uri,
            local_tag,
            remote_uri: to_uri.to_owned(),
            remote_tag: tag_of(&answer.header("To")),
            remote_target: uri_of(&answer.header("Contact")),
            route,
            // The ACK takes the INVITE's CSeq number (§13.2.2.4).
            local_seq: 0,
        };
        let (ack, _) = dialog.request(self, "ACK", "", "");
        self.socket
            .send_to(ack.as_bytes(), dialog.destination())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Call {
            answer,
            provisional,
            dialog: Some(dialog),
        })
    }

    /// Every response received to the request with Via branch `branch`.
    pub(crate) fn responses(&self, branch: &str) -> Vec<Received> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| {
                validate::response(&r.msg).is_ok_and(|head| head.branch.as_deref() == Some(branch))
            })
            .cloned()
            .collect()
    }

    /// Send the next `method` of `dialog` (BYE, say) and wait for its final
    /// response.
    pub(crate) async fn in_dialog(
        &self,
        dialog: &mut Dialog,
        method: &str,
        within: Duration,
    ) -> Result<Received, String> {
        let (request, branch) = dialog.request(self, method, "", "");
        self.request(&request, &branch, dialog.destination(), within)
            .await
    }

    /// Send the next `method` of `dialog` to `addr` (when its remote
    /// target is a name, not an address) and wait for its final response.
    pub(crate) async fn in_dialog_via(
        &self,
        dialog: &mut Dialog,
        method: &str,
        addr: SocketAddr,
        within: Duration,
    ) -> Result<Received, String> {
        let (request, branch) = dialog.request(self, method, "", "");
        self.request(&request, &branch, addr, within).await
    }

    /// The `n`th (from 0) request `method` received, each transaction once,
    /// waiting for it until `within` has passed.
    pub(crate) async fn nth_request(
        &self,
        method: &str,
        n: usize,
        within: Duration,
    ) -> Option<(RequestHead, Received)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(r) = self.requests(method).into_iter().nth(n) {
                return Some(r);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The ACK for the INVITE dialog `call_id`, if one arrives within `within`.
    pub(crate) async fn ack(&self, call_id: &str, within: Duration) -> Option<Received> {
        let deadline = Instant::now() + within;
        loop {
            let ack = self
                .requests("ACK")
                .into_iter()
                .find(|(_, r)| r.header("Call-ID") == call_id);
            if let Some((_, ack)) = ack {
                return Some(ack);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Only the alphanumerics of `text`: a Via branch is a token (RFC 3261 §25.1).
fn token(text: &str) -> String {
    text.chars().filter(char::is_ascii_alphanumeric).collect()
}

impl Dialog {
    /// The phone's side of the dialog an INVITE to it made when it answered
    /// 2xx (RFC 3261 §12.1.1): the remote target is the INVITE's Contact,
    /// the route set its Record-Route as it came, the local tag the phone's.
    pub(crate) fn called(phone: &Phone, invite: &Received) -> Dialog {
        Dialog {
            call_id: invite.header("Call-ID"),
            local_uri: uri_of(&invite.header("To")),
            local_tag: invite_tag(phone.user),
            remote_uri: uri_of(&invite.header("From")),
            remote_tag: tag_of(&invite.header("From")),
            remote_target: uri_of(&invite.header("Contact")),
            route: values(&invite.header("Record-Route")),
            local_seq: 0,
        }
    }

    /// Where the dialog's next request goes: the first Route, else the
    /// remote target (RFC 3261 §12.2.1.1).
    pub(crate) fn destination(&self) -> SocketAddr {
        match self.route.first() {
            Some(route) => route_addr(route),
            None => route_addr(&format!("<{}>", self.remote_target)),
        }
    }
}
