//! The hot paths (issue 11): SIP MESSAGE fields → XMPP `<message/>`, and a
//! PIDF NOTIFY body → `<presence/>`; and a conference-info NOTIFY body with
//! the largest roster accepted by default (issue 23: 1000 users) → typed
//! data. Numbers are reported, never asserted.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use parley_mapping::groupchat::ConferenceInfo;
use parley_mapping::iscomposing::IsComposing;
use parley_mapping::message::{self, MessageOptions, SipMessage};
use parley_mapping::{AddressMapper, ForeignDomainPolicy, Jid, SipAddress, presence};
use parley_mapping::{ContentType, e2e, imdn};

fn mapper() -> AddressMapper {
    AddressMapper {
        component_domain: "sip.example.net".into(),
        sip_domain: "sip.example.net".into(),
        foreign_domains: ForeignDomainPolicy::Allow,
    }
}

fn plain_message() -> SipMessage {
    SipMessage {
        request_uri: SipAddress::parse("sip:juliet@xmpp.example").unwrap(),
        from: SipAddress::parse("sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c").unwrap(),
        to: SipAddress::parse("sip:juliet@xmpp.example").unwrap(),
        from_display: None,
        call_id: Some("9E97FB43-85F4-4A00-8751-1124FD4C7B2E".into()),
        subject: None,
        content_type: Some("text/plain;charset=UTF-8".into()),
        content_encoding: None,
        content_language: Some("cs".into()),
        body: "Nic z obého, má děvo spanilá, nenavidíš-li jedno nebo druhé."
            .as_bytes()
            .to_vec(),
    }
}

fn bench_message(c: &mut Criterion) {
    let m = mapper();
    let opts = MessageOptions::default();
    let plain = plain_message();
    c.bench_function("sip_message_to_xmpp/text_plain", |b| {
        b.iter(|| message::to_xmpp(black_box(&plain), &m, &opts).unwrap())
    });
    let mut cpim = plain_message();
    cpim.content_type = Some("message/cpim".into());
    cpim.body =
        include_bytes!("../tests/fixtures/cpim/linphone-5.1-message-cpim-imdn.cpim").to_vec();
    c.bench_function("sip_message_to_xmpp/cpim", |b| {
        b.iter(|| message::to_xmpp(black_box(&cpim), &m, &opts).unwrap())
    });
    // What the gateway asks of each MESSAGE (issue 24): the Content-Type
    // parsed once, then the IMDN, RFC 3923, text and isComposing readers.
    c.bench_function("sip_message_to_xmpp/every_reader", |b| {
        b.iter(|| {
            let msg = black_box(&plain);
            let ct = ContentType::parse(msg.content_type.as_deref());
            let ce = msg.content_encoding.as_deref();
            let inbound = imdn::inspect_typed(&ct, ce, &msg.body).unwrap();
            let smime = e2e::message_to_xmpp_typed(msg, &ct, |_| None, &m, &opts);
            assert!(smime.is_none());
            let stanza = message::to_xmpp_typed(msg, &ct, &m, &opts).unwrap();
            let composing = IsComposing::from_sip_body_typed(&ct, ce, &msg.body);
            (inbound, stanza, composing)
        })
    });
    // Including the URI parsing the router does on each request.
    c.bench_function("sip_message_to_xmpp/with_uri_parsing", |b| {
        b.iter(|| {
            let msg = SipMessage {
                request_uri: SipAddress::parse(black_box("sip:juliet@xmpp.example")).unwrap(),
                from: SipAddress::parse(black_box("sip:romeo@sip.example.net")).unwrap(),
                to: SipAddress::parse(black_box("sip:juliet@xmpp.example")).unwrap(),
                ..plain.clone()
            };
            message::to_xmpp(&msg, &m, &opts).unwrap()
        })
    });
}

fn bench_presence(c: &mut Criterion) {
    let body = include_bytes!("../tests/fixtures/pidf/linphone-5.1-publish-pidf-rpid-note.xml");
    let from = Jid::parse("alice@sip.example.net").unwrap();
    let to = Jid::parse("juliet@xmpp.example").unwrap();
    c.bench_function("pidf_to_presence/linphone_rpid_note", |b| {
        b.iter(|| presence::pidf_body_to_xmpp(black_box(body), &from, &to).unwrap())
    });
    let rfc4480 = include_bytes!("../tests/fixtures/pidf/rfc4480-4-example.xml");
    c.bench_function("pidf_to_presence/rfc4480_example", |b| {
        b.iter(|| presence::pidf_body_to_xmpp(black_box(rfc4480), &from, &to).unwrap())
    });
}

fn bench_conference_info(c: &mut Criterion) {
    let example9 = include_bytes!("../tests/fixtures/conference-info/rfc7702-5.4-example9.xml");
    c.bench_function("conference_info_parse/rfc7702_example9", |b| {
        b.iter(|| ConferenceInfo::parse(black_box(example9)).unwrap())
    });
    // 1000 users shaped like Example 9's, the default `max_users`.
    let users: String = (0..1000)
        .map(|i| {
            format!(
                "<user entity=\"sip:room@chat.example.org;gr=u{i}\" state=\"full\">\
                 <display-text>u{i}</display-text><roles><entry>participant</entry></roles>\
                 <endpoint entity=\"sip:room@chat.example.org;gr=u{i}\" state=\"full\">\
                 <status>connected</status><media id=\"1\"><type>message</type></media>\
                 </endpoint></user>"
            )
        })
        .collect();
    let big = format!(
        "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" \
         entity=\"sip:room@chat.example.org\" state=\"full\" version=\"1\">\
         <conference-description/><users>{users}</users></conference-info>"
    );
    c.bench_function("conference_info_parse/1000_users", |b| {
        b.iter(|| ConferenceInfo::parse(black_box(big.as_bytes())).unwrap())
    });
}

criterion_group!(
    benches,
    bench_message,
    bench_presence,
    bench_conference_info
);
criterion_main!(benches);
