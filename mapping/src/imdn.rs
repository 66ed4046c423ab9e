//! RFC 5438: Instant Message Disposition Notification (IMDN), the SIP side of
//! XEP-0184 delivery receipts and XEP-0333 displayed markers.
//!
//! An IM that wants a notification carries, in its `message/cpim` wrapper, the
//! §6 headers `imdn.Message-ID` and `imdn.Disposition-Notification` (plus the
//! §7.1.1.2 `DateTime`); the notification that comes back is another CPIM
//! message whose content is a `message/imdn+xml` document (§11) naming that
//! Message-ID. This module reads and writes both; it keeps no state and draws
//! no random numbers: the gateway supplies Message-IDs' randomness and the
//! time.
//!
//! Real phones differ from the RFC: linphone 5.1 sends its IMDNs deflated and
//! without the `imdn.Message-ID` header §7.2.1 requires
//! (real-clients/linphone-5.1-imdn-delivered.sip), so neither is required here.

use parley_xmpp::stanza::Element;

use crate::content_coding;
use crate::cpim::{CpimAddress, CpimHeader, CpimMessage};
use crate::failure::MappingError;
use crate::media_type::{ContentType, MediaType};
use crate::xml::{self, Limits, escape_text};

/// RFC 5438 §6.1: the namespace of the IMDN CPIM headers.
pub(crate) const NS_IMDN_HEADERS: &str = "urn:ietf:params:imdn";
/// RFC 5438 §11.1: the namespace of the IMDN document.
pub(crate) const NS_IMDN: &str = "urn:ietf:params:xml:ns:imdn";
/// RFC 5438 §11.1.8: the media type of the IMDN document.
pub(crate) const CONTENT_TYPE: &str = "message/imdn+xml";
/// RFC 5438 §6.1: the prefix this module binds to [`NS_IMDN_HEADERS`].
pub(crate) const PREFIX: &str = "imdn";
/// XEP-0184 §8: the receipts namespace (`<request/>`, `<received id/>`).
pub const NS_RECEIPTS: &str = "urn:xmpp:receipts";
/// XEP-0333: the chat markers namespace (`<markable/>`, `<displayed id/>`).
pub const NS_CHAT_MARKERS: &str = "urn:xmpp:chat-markers:0";

/// An XMPP acknowledgement of a message Parley forwarded: XEP-0184
/// `<received id/>` ↔ a `delivered` delivery notification, XEP-0333
/// `<displayed id/>` ↔ a `displayed` display notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmppAck {
    /// Which notification it stands for.
    pub kind: NotificationKind,
    /// The `id` of the acknowledged `<message/>`.
    pub id: String,
}

/// RFC 5438 §7.1.1.3: which notifications an IM asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct DispositionRequest {
    /// `positive-delivery`: tell me when it was delivered.
    pub positive_delivery: bool,
    /// `negative-delivery`: tell me when it failed.
    pub negative_delivery: bool,
    /// `processing`: intermediaries may say they processed or stored it.
    pub processing: bool,
    /// `display`: tell me when it was shown to the user.
    pub display: bool,
}

/// RFC 5438 §5: the three disposition types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// §5.1 `<delivery-notification>`.
    Delivery,
    /// §5.2 `<processing-notification>`.
    Processing,
    /// §5.3 `<display-notification>`.
    Display,
}

/// RFC 5438 §11.1.7: the `<status>` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// §5.1 `delivered`.
    Delivered,
    /// §5.1 `failed`.
    Failed,
    /// §5.3 `displayed`.
    Displayed,
    /// §5.2 `processed`.
    Processed,
    /// §5.2 `stored`.
    Stored,
    /// `forbidden`: the disposition was denied (any type).
    Forbidden,
    /// `error`: internal error (any type).
    Error,
}

/// A `message/imdn+xml` document (RFC 5438 §11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imdn {
    /// §11.1.1 `<message-id>`: the Message-ID of the IM it reports on.
    pub message_id: String,
    /// §11.1.2 `<datetime>`: when the IM was sent (mandatory in the schema;
    /// kept optional on input to be tolerant).
    pub date_time: Option<String>,
    /// §11.1.3 `<recipient-uri>`.
    pub recipient_uri: Option<String>,
    /// §11.1.4 `<original-recipient-uri>`.
    pub original_recipient_uri: Option<String>,
    /// §11.1.5 `<subject>`.
    pub subject: Option<String>,
    /// §11.1.6: which notification element it carries.
    pub kind: NotificationKind,
    /// §11.1.7: the status inside it.
    pub status: Status,
}

/// What an IM asks for: read from its CPIM headers (RFC 5438 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdnRequest {
    /// §6.3 `imdn.Message-ID`.
    pub message_id: String,
    /// §7.1.1.2 `DateTime`, returned in the IMDN's `<datetime>`.
    pub date_time: Option<String>,
    /// §6.2 `imdn.Disposition-Notification`.
    pub request: DispositionRequest,
    /// The CPIM `From`: where the IMDN goes (§7.2.1: without
    /// IMDN-Record-Route, "send the IMDN to the URI in the From header field").
    pub from: Option<CpimAddress>,
    /// The CPIM `To`: the recipient, `<recipient-uri>` (§11.1.3).
    pub to: Option<CpimAddress>,
    /// §6.4 `imdn.Original-To`, copied to `<original-recipient-uri>` (§11.1.4 MUST).
    pub original_to: Option<String>,
}

/// What a SIP body is, as far as IMDN goes (RFC 5438 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A disposition notification (delivery, processing or display).
    Notification(Imdn),
    /// An IM that asks for notifications.
    Request(ImdnRequest),
    /// Anything else (no CPIM, or CPIM without a request).
    Neither,
}

impl DispositionRequest {
    /// Parse the header value (RFC 5438 §10): comma-separated `notify-req`s,
    /// each maybe with `;` parameters. §7.2.1: "If the IM Recipient does not
    /// understand a value …, the IM Recipient ignores that value"; an empty
    /// value asks for nothing (§7.1.1.3).
    pub fn parse(value: &str) -> Self {
        let mut r = Self::default();
        for item in value.split(',') {
            let token = item.split(';').next().unwrap_or_default().trim();
            // §10: header field text is case sensitive.
            match token {
                "positive-delivery" => r.positive_delivery = true,
                "negative-delivery" => r.negative_delivery = true,
                "processing" => r.processing = true,
                "display" => r.display = true,
                _ => {}
            }
        }
        r
    }

    /// Whether nothing is asked for.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The header value, in the §10 order.
    pub(crate) fn to_header_value(self) -> String {
        let names = [
            (self.positive_delivery, "positive-delivery"),
            (self.negative_delivery, "negative-delivery"),
            (self.processing, "processing"),
            (self.display, "display"),
        ];
        names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl NotificationKind {
    fn element(self) -> &'static str {
        match self {
            Self::Delivery => "delivery-notification",
            Self::Processing => "processing-notification",
            Self::Display => "display-notification",
        }
    }
}

impl Status {
    fn element(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Displayed => "displayed",
            Self::Processed => "processed",
            Self::Stored => "stored",
            Self::Forbidden => "forbidden",
            Self::Error => "error",
        }
    }

    /// §11.1.7: the statuses each notification type can carry.
    fn allowed_in(self, kind: NotificationKind) -> bool {
        match self {
            Self::Forbidden | Self::Error => true,
            Self::Delivered | Self::Failed => kind == NotificationKind::Delivery,
            Self::Displayed => kind == NotificationKind::Display,
            Self::Processed | Self::Stored => kind == NotificationKind::Processing,
        }
    }
}

impl Imdn {
    /// The notification answering `request` (§7.2.1.1, §7.2.1.2): its
    /// Message-ID and DateTime, and the CPIM To as `<recipient-uri>`.
    pub fn answering(request: &ImdnRequest, kind: NotificationKind, status: Status) -> Self {
        Self {
            message_id: request.message_id.clone(),
            date_time: request.date_time.clone(),
            recipient_uri: request.to.as_ref().map(|a| a.uri.clone()),
            original_recipient_uri: request.original_to.clone(),
            subject: None,
            kind,
            status,
        }
    }

    /// Parse a `message/imdn+xml` document (§11.1).
    pub fn parse(bytes: &[u8]) -> Result<Self, MappingError> {
        let bad = |reason| MappingError::InvalidBody { reason };
        let root = xml::parse(bytes, Limits::default()).map_err(bad)?;
        if root.name != "imdn" || root.ns != NS_IMDN {
            return Err(bad("root is not an RFC 5438 <imdn>"));
        }
        let field = |name| {
            root.child(name, NS_IMDN)
                .map(|e| e.text().trim().to_owned())
                .filter(|t| !t.is_empty())
        };
        let message_id = field("message-id").ok_or(bad("IMDN without <message-id>"))?;
        // §11.1: exactly one of the three notification elements.
        let (kind, notification) = [
            NotificationKind::Delivery,
            NotificationKind::Processing,
            NotificationKind::Display,
        ]
        .into_iter()
        .find_map(|k| root.child(k.element(), NS_IMDN).map(|e| (k, e)))
        .ok_or(bad("IMDN without a notification element"))?;
        let status_el = notification
            .child("status", NS_IMDN)
            .ok_or(bad("IMDN notification without <status>"))?;
        let status = [
            Status::Delivered,
            Status::Failed,
            Status::Displayed,
            Status::Processed,
            Status::Stored,
            Status::Forbidden,
            Status::Error,
        ]
        .into_iter()
        .find(|s| status_el.child(s.element(), NS_IMDN).is_some())
        .filter(|s| s.allowed_in(kind))
        .ok_or(bad("IMDN status not defined for its notification type"))?;
        Ok(Self {
            message_id,
            date_time: field("datetime"),
            recipient_uri: field("recipient-uri"),
            original_recipient_uri: field("original-recipient-uri"),
            subject: field("subject"),
            kind,
            status,
        })
    }

    /// Serialize (UTF-8, XML 1.0, §11.1), elements in the schema's order.
    pub fn to_xml(&self) -> String {
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">",
        );
        let mut text_el = |name: &str, value: Option<&str>| {
            if let Some(v) = value {
                out.push('<');
                out.push_str(name);
                out.push('>');
                escape_text(v, &mut out);
                out.push_str("</");
                out.push_str(name);
                out.push('>');
            }
        };
        text_el("message-id", Some(&self.message_id));
        text_el("datetime", self.date_time.as_deref());
        text_el("recipient-uri", self.recipient_uri.as_deref());
        text_el(
            "original-recipient-uri",
            self.original_recipient_uri.as_deref(),
        );
        text_el("subject", self.subject.as_deref());
        let kind = self.kind.element();
        out.push_str(&format!(
            "<{kind}><status><{}/></status></{kind}></imdn>\n",
            self.status.element()
        ));
        out
    }
}

impl ImdnRequest {
    /// The request an IM's CPIM headers make, if any. `None` when there is
    /// no Message-ID (§6.3: MUST be present to get an IMDN), nothing is
    /// requested, or the message is itself an IMDN (§7.2.1: "An IM Sender
    /// MUST ignore a delivery notification request in an IMDN").
    pub(crate) fn from_cpim(cpim: &CpimMessage) -> Option<Self> {
        if is_notification(cpim) {
            return None;
        }
        let one = |name| {
            cpim.headers_in(NS_IMDN_HEADERS, name)
                .first()
                .map(|h| h.value().trim().to_owned())
        };
        let request = cpim
            .headers_in(NS_IMDN_HEADERS, "Disposition-Notification")
            .iter()
            .fold(DispositionRequest::default(), |acc, h| {
                let more = DispositionRequest::parse(&h.value());
                DispositionRequest {
                    positive_delivery: acc.positive_delivery || more.positive_delivery,
                    negative_delivery: acc.negative_delivery || more.negative_delivery,
                    processing: acc.processing || more.processing,
                    display: acc.display || more.display,
                }
            });
        let message_id = one("Message-ID").filter(|id| !id.is_empty())?;
        if request.is_empty() {
            return None;
        }
        Some(Self {
            message_id,
            date_time: cpim.date_time(),
            request,
            from: cpim.from(),
            to: cpim.to().into_iter().next(),
            original_to: one("Original-To")
                .and_then(|raw| CpimAddress::parse(&raw))
                .map(|a| a.uri),
        })
    }
}

/// Look at a SIP MESSAGE body (Content-Type, Content-Encoding, bytes) for
/// IMDN content (RFC 5438 §9): a notification is `message/imdn+xml`, inside
/// `message/cpim` (§12.1.1 MUST) or bare (linphone accepts both, so it is
/// accepted both ways here too); an IM with a request is CPIM with the §6
/// headers. Errors only for a body that claims to be an IMDN and is not one.
pub fn inspect(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    raw: &[u8],
) -> Result<Inbound, MappingError> {
    inspect_typed(&ContentType::parse(content_type), content_encoding, raw)
}

/// [`inspect`] with the Content-Type parsed already.
pub fn inspect_typed(
    content_type: &ContentType,
    content_encoding: Option<&str>,
    raw: &[u8],
) -> Result<Inbound, MappingError> {
    let Some(media) = content_type.media() else {
        return Ok(Inbound::Neither);
    };
    let is_cpim = media.is("message", "cpim");
    if !is_cpim && !media.is("message", "imdn+xml") {
        return Ok(Inbound::Neither);
    }
    let bytes = content_coding::decode_content_coding(content_encoding, raw)?;
    if !is_cpim {
        return Imdn::parse(&bytes).map(Inbound::Notification);
    }
    let Ok(cpim) = CpimMessage::parse(&bytes) else {
        // Not ours to judge: the message path reports a malformed CPIM body.
        return Ok(Inbound::Neither);
    };
    if is_notification(&cpim) {
        return Imdn::parse(&cpim.content).map(Inbound::Notification);
    }
    Ok(ImdnRequest::from_cpim(&cpim).map_or(Inbound::Neither, Inbound::Request))
}

/// The CPIM wrapper of an IM that asks for `request` (§7.1.1): From, To,
/// DateTime (§7.1.1.2 MUST), `NS: imdn <urn:ietf:params:imdn>` (§6.1),
/// `imdn.Message-ID` (§7.1.1.1 MUST) and `imdn.Disposition-Notification`
/// (§7.1.1.3), around `content` of `content_type`.
pub fn request_cpim(
    from: &CpimAddress,
    to: &CpimAddress,
    date_time: &str,
    message_id: &str,
    request: DispositionRequest,
    content_type: &str,
    content: Vec<u8>,
) -> CpimMessage {
    let mut m = CpimMessage::new(from, to, Some(date_time), content_type, content);
    push_imdn_headers(&mut m, message_id);
    m.headers.push(CpimHeader::new(
        &format!("{PREFIX}.Disposition-Notification"),
        &request.to_header_value(),
    ));
    m.content_headers
        .push(("Content-Length".into(), m.content.len().to_string()));
    m
}

/// The CPIM wrapper of a notification (§7.2.1): From the recipient, To the
/// IM's sender, its own fresh `imdn.Message-ID` (§7.2.1 MUST, unrelated to
/// the IM's), `Content-Disposition: notification` (§7.2.1 MUST) and the
/// `message/imdn+xml` document. No Disposition-Notification (§7.2.1 MUST NOT).
pub fn notification_cpim(
    from: &CpimAddress,
    to: &CpimAddress,
    date_time: &str,
    message_id: &str,
    imdn: &Imdn,
) -> CpimMessage {
    let mut m = CpimMessage::new(
        from,
        to,
        Some(date_time),
        CONTENT_TYPE,
        imdn.to_xml().into_bytes(),
    );
    push_imdn_headers(&mut m, message_id);
    m.content_headers
        .push(("Content-Disposition".into(), "notification".into()));
    m.content_headers
        .push(("Content-Length".into(), m.content.len().to_string()));
    m
}

/// What an XMPP content message asks for, in IMDN terms: XEP-0184
/// `<request/>` is `positive-delivery`, XEP-0333 `<markable/>` is `display`.
/// XEP-0184 §5.1 and XEP-0333 §4.1: without an `id` there is nothing to
/// acknowledge, so nothing is asked; an ack message itself never asks
/// (XEP-0184 §5.1: no `<request/>` in an ack, "to prevent looping").
pub fn xmpp_request(id: Option<&str>, payloads: &[Element]) -> DispositionRequest {
    if id.is_none_or(str::is_empty) || !xmpp_acks(payloads).is_empty() {
        return DispositionRequest::default();
    }
    DispositionRequest {
        positive_delivery: payloads
            .iter()
            .any(|p| p.name == "request" && p.ns == NS_RECEIPTS),
        display: payloads
            .iter()
            .any(|p| p.name == "markable" && p.ns == NS_CHAT_MARKERS),
        ..DispositionRequest::default()
    }
}

/// The XEP-0184 `<received/>` and XEP-0333 `<displayed/>` acks in a message.
pub fn xmpp_acks(payloads: &[Element]) -> Vec<XmppAck> {
    payloads
        .iter()
        .filter_map(|p| {
            let kind = match (p.name.as_str(), p.ns.as_str()) {
                ("received", NS_RECEIPTS) => NotificationKind::Delivery,
                ("displayed", NS_CHAT_MARKERS) => NotificationKind::Display,
                _ => return None,
            };
            let id = p.attr("id").filter(|id| !id.is_empty())?;
            Some(XmppAck {
                kind,
                id: id.to_owned(),
            })
        })
        .collect()
}

/// The payloads that ask an XMPP recipient for what `request` asks of a SIP
/// one: `<request xmlns='urn:xmpp:receipts'/>` for positive delivery,
/// `<markable xmlns='urn:xmpp:chat-markers:0'/>` for display.
pub fn xmpp_request_payloads(request: DispositionRequest) -> Vec<Element> {
    let mut out = Vec::new();
    if request.positive_delivery {
        out.push(Element::new("request", NS_RECEIPTS));
    }
    if request.display {
        out.push(Element::new("markable", NS_CHAT_MARKERS));
    }
    out
}

/// The XMPP ack for a notification about the message `id`: `delivered` →
/// XEP-0184 `<received id/>`, `displayed` → XEP-0333 `<displayed id/>`;
/// every other status has no XMPP counterpart (`None`).
pub fn xmpp_ack_payload(imdn: &Imdn, id: &str) -> Option<Element> {
    let (name, ns) = match (imdn.kind, imdn.status) {
        (NotificationKind::Delivery, Status::Delivered) => ("received", NS_RECEIPTS),
        (NotificationKind::Display, Status::Displayed) => ("displayed", NS_CHAT_MARKERS),
        _ => return None,
    };
    let mut e = Element::new(name, ns);
    e.attrs.push(("id".into(), id.to_owned()));
    Some(e)
}

/// A Message-ID from 128 random bits (§6.3: "RECOMMENDED … a
/// cryptographically secure, pseudo-random number generator and contain at
/// least 64 bits of randomness"), as 32 hex digits (a §10 Token).
pub fn message_id(random: u128) -> String {
    format!("{random:032x}")
}

/// `unix_seconds` as an RFC 3339 UTC date-time (`2026-11-25T07:44:57Z`), the
/// form of the CPIM `DateTime` header (RFC 3862 §4.4).
pub fn date_time(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn push_imdn_headers(m: &mut CpimMessage, message_id: &str) {
    m.headers.push(CpimHeader {
        name: "NS".into(),
        params: String::new(),
        raw_value: format!("{PREFIX} <{NS_IMDN_HEADERS}>"),
    });
    m.headers
        .push(CpimHeader::new(&format!("{PREFIX}.Message-ID"), message_id));
}

/// §9: a CPIM message whose content is `message/imdn+xml` is a notification
/// (Content-Disposition `notification` is required of senders, §7.2.1, but
/// the content type alone decides here: the document is checked anyway).
fn is_notification(cpim: &CpimMessage) -> bool {
    cpim.content_type()
        .and_then(|ct| MediaType::parse(ct).ok())
        .is_some_and(|m| m.is("message", "imdn+xml"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const RFC5438_IM: &[u8] = include_bytes!("../tests/fixtures/cpim/rfc5438-7.1.1.3-im.cpim");
    const RFC5438_DELIVERY: &[u8] =
        include_bytes!("../tests/fixtures/cpim/rfc5438-7.2.1.1-delivery.cpim");
    const RFC5438_DISPLAY: &[u8] =
        include_bytes!("../tests/fixtures/cpim/rfc5438-7.2.1.2-display.cpim");
    const LINPHONE_IM: &[u8] =
        include_bytes!("../tests/fixtures/cpim/linphone-5.1-message-cpim-imdn.cpim");
    const LINPHONE_DELIVERED: &[u8] =
        include_bytes!("../tests/fixtures/cpim/linphone-5.1-imdn-delivered.cpim");
    const LINPHONE_DELIVERED_SIP: &[u8] =
        include_bytes!("../tests/fixtures/sip/linphone-5.1-imdn-delivered.sip");

    fn cpim(bytes: &[u8]) -> CpimMessage {
        CpimMessage::parse(bytes).unwrap()
    }

    /// RFC 5438 §7.1.1.3 example: positive and negative delivery, no display.
    #[test]
    fn rfc5438_im_example_asks_for_positive_and_negative_delivery() {
        let r = ImdnRequest::from_cpim(&cpim(RFC5438_IM)).unwrap();
        assert_eq!(r.message_id, "34jk324j");
        assert_eq!(r.date_time.as_deref(), Some("2006-04-04T12:16:49-05:00"));
        assert!(r.request.positive_delivery && r.request.negative_delivery);
        assert!(!r.request.display && !r.request.processing);
        assert_eq!(r.from.unwrap().uri, "im:alice@example.com");
        assert_eq!(r.to.unwrap().uri, "im:bob@example.com");
    }

    /// real-clients: linphone asks for "positive-delivery, negative-delivery, display".
    #[test]
    fn linphone_im_asks_for_delivery_and_display() {
        let r = ImdnRequest::from_cpim(&cpim(LINPHONE_IM)).unwrap();
        assert_eq!(r.message_id, "zy0y5CadA~Lb");
        assert_eq!(
            r.request,
            DispositionRequest {
                positive_delivery: true,
                negative_delivery: true,
                processing: false,
                display: true,
            }
        );
        assert_eq!(
            r.request.to_header_value(),
            "positive-delivery, negative-delivery, display"
        );
        assert_eq!(r.from.unwrap().uri, "sip:alice@sip.localhost");
    }

    /// RFC 5438 §10: parameters after ';' and unknown tokens are ignored
    /// (§7.2.1); an empty value asks for nothing (§7.1.1.3); names are case sensitive.
    #[test]
    fn disposition_notification_list_ignores_params_and_unknown_values() {
        let r = DispositionRequest::parse("display ; x=1,future-thing , positive-delivery;y");
        assert!(r.display && r.positive_delivery && !r.negative_delivery);
        assert!(DispositionRequest::parse("").is_empty());
        assert!(DispositionRequest::parse("Display").is_empty());
    }

    /// RFC 5438 §7.2.1.1 example: a delivery notification "delivered".
    #[test]
    fn rfc5438_delivery_notification_example_parses() {
        let Inbound::Notification(n) =
            inspect(Some("message/cpim"), None, RFC5438_DELIVERY).unwrap()
        else {
            panic!("not a notification");
        };
        assert_eq!(n.message_id, "34jk324j");
        assert_eq!(n.kind, NotificationKind::Delivery);
        assert_eq!(n.status, Status::Delivered);
        assert_eq!(n.date_time.as_deref(), Some("2008-04-04T12:16:49-05:00"));
        assert_eq!(n.recipient_uri.as_deref(), Some("im:bob@example.com"));
        assert_eq!(
            n.original_recipient_uri.as_deref(),
            Some("im:bob@example.com")
        );
        assert_eq!(Imdn::parse(n.to_xml().as_bytes()).unwrap(), n);
    }

    /// RFC 5438 §7.2.1.2 example: a display notification "displayed".
    #[test]
    fn rfc5438_display_notification_example_parses() {
        let Inbound::Notification(n) =
            inspect(Some("message/cpim"), None, RFC5438_DISPLAY).unwrap()
        else {
            panic!("not a notification");
        };
        assert_eq!(
            (n.kind, n.status),
            (NotificationKind::Display, Status::Displayed)
        );
        assert_eq!(n.message_id, "34jk324j");
    }

    /// real-clients: linphone's IMDN is deflated CPIM without imdn.Message-ID
    /// and without <recipient-uri>; it is still a delivery notification.
    #[test]
    fn linphone_deflated_delivery_notification_is_recognised() {
        let split = LINPHONE_DELIVERED_SIP
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap();
        let body = &LINPHONE_DELIVERED_SIP[split + 4..];
        let Inbound::Notification(n) =
            inspect(Some("message/cpim"), Some("deflate"), body).unwrap()
        else {
            panic!("not a notification");
        };
        assert_eq!(n.message_id, "bb5gs4a7e1cf");
        assert_eq!(
            (n.kind, n.status),
            (NotificationKind::Delivery, Status::Delivered)
        );
        assert_eq!(n.recipient_uri, None);
        // The same document, inflated, read directly.
        assert_eq!(
            inspect(Some("message/cpim"), None, LINPHONE_DELIVERED).unwrap(),
            Inbound::Notification(n.clone())
        );
        // And bare message/imdn+xml, which linphone also accepts.
        let doc = cpim(LINPHONE_DELIVERED).content;
        assert_eq!(
            inspect(Some("message/imdn+xml"), None, &doc).unwrap(),
            Inbound::Notification(n)
        );
    }

    /// RFC 5438 §7.2.1: "An IM Sender MUST ignore a delivery notification
    /// request in an IMDN" — a notification never reads as a request.
    #[test]
    fn request_headers_inside_a_notification_are_ignored() {
        let mut m = cpim(RFC5438_DELIVERY);
        m.headers.push(CpimHeader::new(
            "imdn.Disposition-Notification",
            "positive-delivery",
        ));
        assert_eq!(ImdnRequest::from_cpim(&m), None);
    }

    #[test]
    fn im_without_message_id_or_request_is_not_a_request() {
        let mut m = cpim(RFC5438_IM);
        m.headers.retain(|h| h.name != "imdn.Message-ID");
        assert_eq!(ImdnRequest::from_cpim(&m), None);
        let mut m = cpim(RFC5438_IM);
        m.headers
            .retain(|h| h.name != "imdn.Disposition-Notification");
        assert_eq!(ImdnRequest::from_cpim(&m), None);
        // An unbound prefix is not the IMDN namespace (RFC 3862 §3.4).
        let mut m = cpim(RFC5438_IM);
        m.headers.retain(|h| h.name != "NS");
        assert_eq!(ImdnRequest::from_cpim(&m), None);
    }

    #[test]
    fn plain_and_other_bodies_are_neither() {
        assert_eq!(
            inspect(Some("text/plain"), None, b"hi").unwrap(),
            Inbound::Neither
        );
        assert_eq!(inspect(None, None, b"hi").unwrap(), Inbound::Neither);
        let plain_cpim = b"From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n\r\nhi";
        assert_eq!(
            inspect(Some("message/cpim"), None, plain_cpim).unwrap(),
            Inbound::Neither
        );
    }

    /// §11.1.7: a status must belong to its notification type; garbage is an error.
    #[test]
    fn bad_imdn_documents_are_refused() {
        let wrong = br#"<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>x</message-id><display-notification><status><delivered/></status></display-notification></imdn>"#;
        assert!(Imdn::parse(wrong).is_err());
        let no_id = br#"<imdn xmlns="urn:ietf:params:xml:ns:imdn"><delivery-notification><status><delivered/></status></delivery-notification></imdn>"#;
        assert!(Imdn::parse(no_id).is_err());
        assert!(inspect(Some("message/imdn+xml"), None, b"<nope/>").is_err());
    }

    /// What Parley sends: the §7.1.1 request headers, parsed back as a request.
    #[test]
    fn built_request_parses_back() {
        let from = CpimAddress {
            name: None,
            uri: "sip:juliet@xmpp.example".into(),
        };
        let to = CpimAddress {
            name: None,
            uri: "sip:bob@sip.example.net".into(),
        };
        let want = DispositionRequest {
            positive_delivery: true,
            display: true,
            ..Default::default()
        };
        let m = request_cpim(
            &from,
            &to,
            "2026-11-25T07:44:55Z",
            &message_id(0xfeed),
            want,
            "text/plain;charset=UTF-8",
            "héllo".as_bytes().to_vec(),
        );
        let bytes = m.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\r\nNS: imdn <urn:ietf:params:imdn>\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nimdn.Disposition-Notification: positive-delivery, display\r\n"));
        assert!(text.ends_with("Content-Length: 6\r\n\r\nhéllo"), "{text}");
        let Inbound::Request(r) = inspect(Some("message/cpim"), None, &bytes).unwrap() else {
            panic!("not a request");
        };
        assert_eq!(r.message_id, "0000000000000000000000000000feed");
        assert_eq!(r.request, want);
        assert_eq!(r.date_time.as_deref(), Some("2026-11-25T07:44:55Z"));
    }

    /// What Parley sends back: a §7.2.1.1 delivery notification for a request.
    #[test]
    fn built_notification_answers_the_request() {
        let r = ImdnRequest::from_cpim(&cpim(LINPHONE_IM)).unwrap();
        let n = Imdn::answering(&r, NotificationKind::Delivery, Status::Delivered);
        let me = r.to.clone().unwrap();
        let them = r.from.clone().unwrap();
        let m = notification_cpim(&me, &them, "2026-11-25T07:45:00Z", "abc", &n);
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(
            text.contains("Content-Disposition: notification\r\n"),
            "{text}"
        );
        assert!(
            !text.contains("Disposition-Notification:"),
            "§7.2.1 MUST NOT: {text}"
        );
        let Inbound::Notification(back) =
            inspect(Some("message/cpim"), None, &m.to_bytes()).unwrap()
        else {
            panic!("not a notification");
        };
        assert_eq!(back.message_id, "zy0y5CadA~Lb");
        assert_eq!(back.date_time.as_deref(), Some("2026-11-25T07:44:55Z"));
        assert_eq!(back.recipient_uri.as_deref(), Some("sip:juliet@localhost"));
        assert_eq!(back, n);
    }

    /// XEP-0184 §5.1 / XEP-0333 §4.1 ↔ RFC 5438 §7.1.1.3.
    #[test]
    fn xmpp_request_and_markable_map_to_delivery_and_display() {
        let request = Element::new("request", NS_RECEIPTS);
        let markable = Element::new("markable", NS_CHAT_MARKERS);
        let r = xmpp_request(Some("m1"), &[request.clone(), markable.clone()]);
        assert!(r.positive_delivery && r.display && !r.negative_delivery);
        assert_eq!(xmpp_request_payloads(r), vec![request.clone(), markable]);
        // No id, nothing to acknowledge.
        assert!(xmpp_request(None, std::slice::from_ref(&request)).is_empty());
        // An ack never asks for an ack.
        let mut received = Element::new("received", NS_RECEIPTS);
        received.attrs.push(("id".into(), "x".into()));
        assert!(xmpp_request(Some("a"), &[request, received]).is_empty());
    }

    /// XEP-0184 §5.2 `<received id/>`, XEP-0333 §4.2 `<displayed id/>`.
    #[test]
    fn xmpp_acks_map_to_notifications_and_back() {
        let r = ImdnRequest::from_cpim(&cpim(LINPHONE_IM)).unwrap();
        let delivered = Imdn::answering(&r, NotificationKind::Delivery, Status::Delivered);
        let displayed = Imdn::answering(&r, NotificationKind::Display, Status::Displayed);
        let failed = Imdn::answering(&r, NotificationKind::Delivery, Status::Failed);
        let acks: Vec<Element> = [&delivered, &displayed]
            .iter()
            .map(|n| xmpp_ack_payload(n, "m1").unwrap())
            .collect();
        assert_eq!(
            xmpp_acks(&acks),
            vec![
                XmppAck {
                    kind: NotificationKind::Delivery,
                    id: "m1".into()
                },
                XmppAck {
                    kind: NotificationKind::Display,
                    id: "m1".into()
                },
            ]
        );
        assert_eq!(xmpp_ack_payload(&failed, "m1"), None);
        // An ack without id acknowledges nothing.
        assert!(xmpp_acks(&[Element::new("received", NS_RECEIPTS)]).is_empty());
    }

    #[test]
    fn date_time_is_rfc3339_utc() {
        assert_eq!(date_time(0), "1970-01-01T00:00:00Z");
        // 2026-11-25T07:44:57Z, the time in linphone's capture.
        assert_eq!(date_time(1_795_592_697), "2026-11-25T07:44:57Z");
        assert_eq!(date_time(951_782_400), "2000-02-29T00:00:00Z");
    }
}
