#![allow(clippy::unwrap_used)]

use parley_xmpp::stanza::MessageType;

use super::*;
use crate::address::{ForeignDomainPolicy, SipAddress};

fn mapper() -> AddressMapper {
    AddressMapper {
        component_domain: "example.net".into(),
        sip_domain: "example.net".into(),
        foreign_domains: ForeignDomainPolicy::Allow,
    }
}

/// RFC 3923 §3.2 Example 3, the CDATA section's content as the XML parser
/// hands it over (from the line after `<![CDATA[` to before `]]>`).
const RFC3923_3_2_EXAMPLE3: &str = "\nContent-Type: multipart/signed; boundary=next;\n              micalg=sha1;\n              protocol=application/pkcs7-signature\n\n--next\nContent-type: Message/CPIM\n\nFrom: Juliet Capulet <im:juliet@example.com>\nTo: Romeo Montague <im:romeo@example.net>\nDateTime: 2003-12-09T23:45:36.66Z\nSubject: Imploring\n\nContent-type: text/plain; charset=utf-8\nContent-ID: <1234567890@example.com>\n\nWherefore art thou, Romeo?\n--next\nContent-Type: application/pkcs7-signature\nContent-Disposition: attachment;handling=required;filename=smime.p7s\n\n[signed body part]\n\n--next--\n";

/// The body of Example 3's object: everything after its header block.
fn example3_body() -> &'static str {
    let at = RFC3923_3_2_EXAMPLE3.find("\n\n--next").unwrap();
    &RFC3923_3_2_EXAMPLE3[at + 2..]
}

/// RFC 8551 §3.2.2's enveloped-data object as `openssl cms -encrypt` writes it.
const ENVELOPED: &str = "MIME-Version: 1.0\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBsQYJKoZIhvcNAQcDoIIBojCCAZ4CAQAx\r\n";

fn stanza(e2e_text: &str) -> Message {
    let mut e2e = Element::new("e2e", NS_E2E);
    e2e.children.push(Node::Text(e2e_text.to_owned()));
    Message {
        from: Some("juliet@example.com/balcony".into()),
        to: Some("romeo@example.net".into()),
        id: Some("e2e1".into()),
        message_type: Some(MessageType::Chat),
        lang: None,
        body: Some("This message is signed (RFC 3923).".into()),
        subject: None,
        thread: Some("thread-1".into()),
        error: None,
        payloads: vec![e2e],
    }
}

fn refused(text: &str) -> MappingError {
    message_to_sip(&stanza(text), &mapper())
        .unwrap()
        .unwrap_err()
}

/// §8: the object's body is the SIP body byte for byte, its Content-Type the
/// SIP Content-Type (unfolded, parameters as sent); the outer addresses are
/// RFC 7572 Table 1's; the fallback `<body/>` is not sent.
#[test]
fn example3_object_becomes_the_sip_body_and_content_type() {
    let (sip, fields) = message_to_sip(&stanza(RFC3923_3_2_EXAMPLE3), &mapper())
        .unwrap()
        .unwrap();
    assert_eq!(sip.body, example3_body().as_bytes());
    let ct = MediaType::parse(sip.content_type.as_deref().unwrap()).unwrap();
    assert!(ct.is("multipart", "signed"));
    assert_eq!(ct.param("boundary"), Some("next"));
    assert_eq!(ct.param("micalg"), Some("sha1"));
    assert_eq!(ct.param("protocol"), Some("application/pkcs7-signature"));
    assert!(!sip.content_type.unwrap().contains('\n'));
    assert!(fields.is_empty());
    assert_eq!(sip.from.to_string(), "sip:juliet@example.com;gr=balcony");
    assert_eq!(sip.request_uri.to_string(), "sip:romeo@example.net");
    assert_eq!(sip.call_id.as_deref(), Some("thread-1"));
}

/// RFC 5322 §2.2.3: a field folded with a tab is unfolded, the tab kept;
/// a CR inside a line (which would end the SIP field) is refused.
#[test]
fn folded_fields_unfold_and_inner_cr_is_refused() {
    let folded =
        "Content-Type: application/pkcs7-mime;\r\n\tsmime-type=enveloped-data\r\n\r\nMIIB\r\n";
    let object = SmimeObject::from_e2e_text(folded).unwrap();
    assert_eq!(
        object.content_type,
        "application/pkcs7-mime;\tsmime-type=enveloped-data"
    );
    let injected = "Content-Type: application/pkcs7-mime\rVia: SIP/2.0/UDP evil\n\nMIIB\n";
    assert_eq!(
        SmimeObject::from_e2e_text(injected),
        Err(MappingError::NotCarried(NotCarried::Rfc3923E2e))
    );
}

/// RFC 8551 §3.2: an enveloped object's Content-Transfer-Encoding,
/// Content-Disposition and MIME-Version go as SIP header fields, in order.
#[test]
fn enveloped_object_keeps_its_mime_fields() {
    let (sip, fields) = message_to_sip(&stanza(ENVELOPED), &mapper())
        .unwrap()
        .unwrap();
    assert_eq!(
        sip.content_type.as_deref(),
        Some("application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"")
    );
    assert_eq!(sip.body, b"MIIBsQYJKoZIhvcNAQcDoIIBojCCAZ4CAQAx\r\n");
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "MIME-Version",
            "Content-Disposition",
            "Content-Transfer-Encoding"
        ]
    );
}

/// §8 both ways: SIP → XMPP → SIP gives back the same body octets,
/// Content-Type and fields; the stanza has `<e2e/>` and no `<body/>`.
#[test]
fn sip_smime_round_trips_through_e2e() {
    let (sip, fields) = message_to_sip(&stanza(ENVELOPED), &mapper())
        .unwrap()
        .unwrap();
    let incoming = SipMessage {
        request_uri: SipAddress::parse("sip:juliet@example.com").unwrap(),
        from: SipAddress::parse("sip:romeo@example.net").unwrap(),
        to: SipAddress::parse("sip:juliet@example.com").unwrap(),
        ..sip.clone()
    };
    let lookup = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let m = message_to_xmpp(&incoming, lookup, &mapper(), &MessageOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(m.body, None);
    assert_eq!(m.from.as_deref(), Some("romeo@example.net"));
    assert_eq!(m.to.as_deref(), Some("juliet@example.com"));
    let mut back = m.clone();
    back.from = Some("juliet@example.com/balcony".into());
    back.to = Some("romeo@example.net".into());
    let (again, again_fields) = message_to_sip(&back, &mapper()).unwrap().unwrap();
    assert_eq!(again.body, sip.body);
    assert_eq!(again.content_type, sip.content_type);
    let sorted = |mut f: Vec<(String, String)>| {
        f.sort();
        f
    };
    assert_eq!(sorted(again_fields), sorted(fields));
}

/// RFC 8591 §5: a binary (DER) pkcs7-mime body from SIP is given the base64
/// transfer encoding XML needs; the octets decode back to the same CMS.
#[test]
fn binary_enveloped_body_from_sip_is_base64_with_its_field() {
    let der = [0x30, 0x82, 0x00, 0xff, 0x06];
    let object = SmimeObject::from_sip(
        "application/pkcs7-mime; smime-type=enveloped-data",
        |n| (n == "Content-Transfer-Encoding").then(|| "binary".to_owned()),
        &der,
    )
    .unwrap();
    assert_eq!(object.body, b"MIIA/wY=\r\n");
    assert_eq!(object.field("content-transfer-encoding"), Some("base64"));
    assert_eq!(object.fields.len(), 1);
    // A binary multipart/signed cannot be wrapped whole: 400.
    let e = SmimeObject::from_sip(
        "multipart/signed; boundary=b; protocol=\"application/pkcs7-signature\"",
        |_| None,
        b"--b\r\n\xff\r\n--b--\r\n",
    )
    .unwrap_err();
    assert_eq!(e.sip_status().code, 400);
}

/// RFC 2045 §6.8's padding cases.
#[test]
fn base64_pads_and_wraps() {
    assert_eq!(base64_lines(b"f"), "Zg==\r\n");
    assert_eq!(base64_lines(b"fo"), "Zm8=\r\n");
    assert_eq!(base64_lines(b"foo"), "Zm9v\r\n");
    let long = base64_lines(&[0u8; 60]);
    assert_eq!(long.lines().next().unwrap().len(), 76);
}

/// What is not a signed or encrypted MIME object gets `bad-request` with a
/// text saying so: §3.3 Example 5 (bare `openssl enc` output), a text/plain
/// entity, a multipart/signed whose boundary does not delimit the body or
/// that lacks `protocol`, a header block that would inject SIP fields.
#[test]
fn what_is_not_an_smime_object_is_refused() {
    let example5 = "\nU2FsdGVkX19okeKTlLxa/1n1FE/upwn1D20GhPWqhDWlexKMUKYJInTWzERP+vcQ\n\
                    i08lEHzyll6htuEr59ZDAw==\n";
    for (case, text) in [
        ("example 5", example5),
        ("text/plain", "Content-Type: text/plain\n\nhello\n"),
        (
            "no delimiter",
            "Content-Type: multipart/signed; boundary=next; protocol=application/pkcs7-signature\n\nno parts\n",
        ),
        (
            "no protocol",
            "Content-Type: multipart/signed; boundary=next\n\n--next\nx\n--next--\n",
        ),
        (
            "injection",
            "Content-Type: application/pkcs7-mime\nVia: SIP/2.0/UDP evil\n\nMIIB\n",
        ),
        ("empty body", "Content-Type: application/pkcs7-mime\n\n \n"),
        ("nothing", ""),
    ] {
        let e = refused(text);
        assert_eq!(
            e,
            MappingError::NotCarried(NotCarried::Rfc3923E2e),
            "{case}"
        );
        let stanza_error = e.stanza_error();
        assert_eq!(
            stanza_error.condition,
            parley_xmpp::stanza::DefinedCondition::BadRequest,
            "{case}"
        );
        assert!(
            stanza_error
                .text
                .unwrap()
                .contains("not a signed or encrypted MIME object"),
            "{case}"
        );
    }
}

/// An object over the body bound is refused as too large (policy-violation).
#[test]
fn oversize_object_is_refused() {
    let big = format!(
        "Content-Type: application/pkcs7-mime\n\n{}",
        "A".repeat(MAX_BODY_BYTES)
    );
    assert_eq!(
        refused(&big),
        MappingError::BodyTooLarge {
            limit: MAX_BODY_BYTES
        }
    );
}

/// A SIP body that is not S/MIME is not this module's; a content-coded one is 415.
#[test]
fn only_smime_sip_bodies_are_taken_and_content_coding_is_415() {
    let mut sip = message_to_sip(&stanza(ENVELOPED), &mapper())
        .unwrap()
        .unwrap()
        .0;
    sip.from = SipAddress::parse("sip:romeo@example.net").unwrap();
    sip.request_uri = SipAddress::parse("sip:juliet@example.com").unwrap();
    sip.content_encoding = Some("gzip".into());
    let e = message_to_xmpp(&sip, |_| None, &mapper(), &MessageOptions::default())
        .unwrap()
        .unwrap_err();
    assert_eq!(e.sip_status().code, 415);
    sip.content_type = Some("text/plain".into());
    assert!(message_to_xmpp(&sip, |_| None, &mapper(), &MessageOptions::default()).is_none());
    assert!(is_smime(
        "application/x-pkcs7-mime; smime-type=enveloped-data"
    ));
    assert!(is_smime(
        "Multipart/Signed; boundary=x; protocol=\"application/pkcs7-signature\""
    ));
    assert!(!is_smime("multipart/mixed; boundary=x"));
}

/// A message without `<e2e/>` is not this module's.
#[test]
fn message_without_e2e_is_not_taken() {
    let mut m = stanza("");
    m.payloads.clear();
    assert!(message_to_sip(&m, &mapper()).is_none());
}

/// RFC 3923 §8 in a chat session (RFC 7573, RFC 8591 §5): the object is the
/// SEND's content, a base64 transfer encoding undone so the CMS octets go
/// binary; Example 3's multipart/signed goes as it is.
#[test]
fn e2e_in_a_session_is_the_send_content() {
    use crate::chat::{ToMsrp, to_msrp};
    let Ok(ToMsrp::Send {
        content_type, body, ..
    }) = to_msrp(&stanza(ENVELOPED))
    else {
        panic!("not a SEND");
    };
    assert!(content_type.starts_with("application/pkcs7-mime; smime-type=enveloped-data"));
    assert_eq!(
        body,
        base64_decode(b"MIIBsQYJKoZIhvcNAQcDoIIBojCCAZ4CAQAx").unwrap()
    );
    assert_eq!(&body[..2], [0x30, 0x82]);
    let Ok(ToMsrp::Send { body, .. }) = to_msrp(&stanza(RFC3923_3_2_EXAMPLE3)) else {
        panic!("not a SEND");
    };
    assert_eq!(body, example3_body().as_bytes());
    // OMEMO beside it: refused as page mode refuses it.
    let mut both = stanza(ENVELOPED);
    both.payloads
        .push(Element::new("encrypted", crate::encryption::NS_OMEMO));
    assert!(matches!(
        to_msrp(&both),
        Err(MappingError::NotCarried(NotCarried::Encrypted(_)))
    ));
}

/// An S/MIME SEND from the phone becomes `<e2e/>` in the session's chat
/// message; a binary one gets base64 (XML cannot hold it).
#[test]
fn smime_send_in_a_session_becomes_e2e() {
    use crate::chat::{MsrpContent, ToXmpp, to_xmpp};
    let from = crate::address::Jid::parse("romeo@example.net").unwrap();
    let to = crate::address::Jid::parse("juliet@example.com").unwrap();
    let content = MsrpContent {
        content_type: "application/pkcs7-mime; smime-type=enveloped-data".into(),
        body: vec![0x30, 0x82, 0x00, 0xff, 0x06],
        success_report: false,
    };
    let Ok(ToXmpp::Message(m)) = to_xmpp(&content, &from, &to, "thread") else {
        panic!("not a message");
    };
    assert_eq!(m.body, None);
    let text = e2e_payload(&m.payloads).unwrap().text();
    let object = SmimeObject::from_e2e_text(&text).unwrap();
    assert_eq!(object.for_binary_channel().unwrap().1, content.body);
}

/// RFC 2045 §6.8 decoding undoes encoding, and refuses what is not base64.
#[test]
fn base64_decodes_what_it_encodes() {
    for bytes in [&b""[..], b"f", b"fo", b"foo", &[0xffu8; 100]] {
        assert_eq!(
            base64_decode(base64_lines(bytes).as_bytes()).unwrap(),
            bytes
        );
    }
    assert_eq!(base64_decode(b"Zm9v!"), None);
    assert_eq!(base64_decode(b"Zg==Zg=="), None);
}

/// RFC 3923 §4.2 Example 8's object, as the CDATA of Example 9.
const RFC3923_4_2_EXAMPLE9: &str = "\nContent-Type: multipart/signed; boundary=next;\n              micalg=sha1;\n              protocol=application/pkcs7-signature\n\n--next\nContent-type: application/pidf+xml\nContent-ID: <2345678901@example.com>\n\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:juliet@example.com\"/>\n--next\nContent-Type: application/pkcs7-signature\n\n[signed body part]\n--next--\n";

/// §4.1 step 3: directed available presence with `<e2e/>` gives its object;
/// broadcast (no 'to'), other types and plain presence give nothing.
#[test]
fn example9_presence_object_is_taken_from_directed_presence() {
    let mut e2e = Element::new("e2e", NS_E2E);
    e2e.children.push(Node::Text(RFC3923_4_2_EXAMPLE9.into()));
    let mut p = Presence {
        from: Some("juliet@example.com/balcony".into()),
        to: Some("romeo@example.net".into()),
        payloads: vec![e2e],
        ..Presence::default()
    };
    let object = presence_object(&p).unwrap().unwrap();
    assert!(object.content_type.starts_with("multipart/signed"));
    assert!(
        object
            .body
            .starts_with(b"--next\nContent-type: application/pidf+xml")
    );
    p.presence_type = Some(parley_xmpp::stanza::PresenceType::Unavailable);
    assert!(presence_object(&p).is_none());
    p.presence_type = None;
    p.to = None;
    assert!(presence_object(&p).is_none());
    let plain = Presence {
        to: Some("romeo@example.net".into()),
        ..Presence::default()
    };
    assert!(presence_object(&plain).is_none());
}

/// §8 for presence, SIP → XMPP: an S/MIME NOTIFY body becomes directed
/// presence holding it, and nothing else; PIDF is not this module's.
#[test]
fn smime_notify_body_becomes_e2e_presence() {
    let from = Jid::parse("romeo@example.net").unwrap();
    let to = Jid::parse("juliet@example.com").unwrap();
    let body = &RFC3923_4_2_EXAMPLE9[RFC3923_4_2_EXAMPLE9.find("--next").unwrap()..];
    let ct = "multipart/signed; boundary=next; micalg=sha1; protocol=application/pkcs7-signature";
    let p = presence_to_xmpp(Some(ct), |_| None, body.as_bytes(), &from, &to)
        .unwrap()
        .unwrap();
    assert_eq!(p.presence_type, None);
    assert_eq!((p.show, p.status.as_deref()), (None, None));
    let text = e2e_payload(&p.payloads).unwrap().text();
    assert!(text.ends_with(body));
    assert!(
        presence_to_xmpp(Some("application/pidf+xml"), |_| None, b"<x/>", &from, &to).is_none()
    );
}
