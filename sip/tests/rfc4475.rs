//! RFC 4475: the SIP torture test messages against the wire layer.
//!
//! One test per message of RFC 4475 §3, named after its section. The bytes
//! are the RFC's own (Appendix A.1), kept in `tests/fixtures/rfc4475/`; the
//! README there lists each file's verdict. Valid messages (§3.1.1) must parse
//! and their key headers must read right; invalid ones (§3.1.2) must be
//! refused with the status the RFC names, or dropped when they are responses;
//! §3.2–§3.4 check what the RFC asks of the parser and of the layer above.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::Name;
use parley_sip::framing::{self, FramingError};
use parley_sip::transaction::ServerKey;
use parley_sip::wire::header::Address;
use parley_sip::wire::validate::{self, RequestHead, ResponseHead};
use parley_sip::wire::{Message, ParseError, ParseErrorKind, ParseLimits, StartLine};

/// The bytes of `tests/fixtures/rfc4475/rfc4475-<name>.sip`, compiled in.
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/rfc4475/rfc4475-", $name, ".sip")).as_slice()
    };
}

/// A stream limit far above every fixture, so only framing itself decides.
const STREAM_LIMIT: usize = 65_536;

fn parse(bytes: &'static [u8]) -> Result<Message, ParseError> {
    Message::parse(Bytes::from_static(bytes), ParseLimits::default())
}

/// A message the RFC calls a valid request: it parses and validates.
fn valid_request(bytes: &'static [u8]) -> (Message, RequestHead) {
    let msg = parse(bytes).unwrap_or_else(|e| panic!("valid request failed to parse: {e:?}"));
    let head = validate::request(&msg).unwrap_or_else(|r| panic!("valid request refused: {r}"));
    (msg, head)
}

/// A validated response's head, owned (`ResponseHead` borrows its message).
struct OwnedResponseHead {
    status: u16,
    branch: Option<String>,
    cseq: u32,
    cseq_method: String,
}

/// A message the RFC calls a valid response: it parses and validates.
fn valid_response(bytes: &'static [u8]) -> (Message, OwnedResponseHead) {
    let msg = parse(bytes).unwrap_or_else(|e| panic!("valid response failed to parse: {e:?}"));
    let ResponseHead {
        status,
        branch,
        cseq,
        cseq_method,
    } = validate::response(&msg).unwrap_or_else(|r| panic!("valid response refused: {r}"));
    let head = OwnedResponseHead {
        status,
        branch: branch.map(|b| b.as_str().to_owned()),
        cseq,
        cseq_method: cseq_method.to_owned(),
    };
    (msg, head)
}

/// The status a UAS answers a bad request with, from whichever layer refuses
/// it. A parse failure must keep enough headers to address that answer
/// (RFC 3261 §8.2.6.2).
fn refusal(bytes: &'static [u8]) -> u16 {
    match parse(bytes) {
        Err(e) => {
            assert!(e.salvage.can_respond(), "cannot address a response: {e:?}");
            e.status().0
        }
        Ok(msg) => match validate::request(&msg) {
            Err(r) => r.status,
            Ok(head) => panic!("invalid request accepted: {head:?}"),
        },
    }
}

/// Whether a response is dropped before it reaches a client transaction.
fn response_dropped(bytes: &'static [u8]) -> bool {
    match parse(bytes) {
        Err(_) => true,
        Ok(msg) => validate::response(&msg).is_err(),
    }
}

fn vias(msg: &Message) -> Vec<String> {
    msg.header_values(&Name::VIA)
        .iter()
        .flat_map(|v| {
            v.split(',')
                .map(|e| e.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn request_uri(msg: &Message) -> &str {
    match &msg.start {
        StartLine::Request { uri, .. } => uri,
        StartLine::Response { .. } => panic!("not a request"),
    }
}

fn contacts(msg: &Message) -> Vec<Address> {
    msg.header_values(&Name::CONTACT)
        .iter()
        .map(|v| Address::parse(v).unwrap())
        .collect()
}

// ---------------------------------------------------------------- §3.1.1

/// RFC 4475 §3.1.1.1: odd case, LWS everywhere, folding, escapes, compact
/// names, a Via with spaces around its slashes.
#[test]
fn rfc4475_3_1_1_1_wsinv_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.1-wsinv"));
    assert_eq!(head.method, "INVITE");
    assert_eq!(
        head.request_uri,
        "sip:vivekg@chair-dnrc.example.com;unknownparam"
    );
    assert_eq!(head.to.uri_text, "sip:vivekg@chair-dnrc.example.com");
    assert_eq!(head.to.param("tag"), Some("1918181833n"));
    assert_eq!(head.from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(head.from.uri_text, "sip:jdrosen@example.com");
    assert_eq!(head.from.param("tag"), Some("98asjd8"));
    assert_eq!(head.max_forwards, Some(68));
    assert_eq!(head.call_id, "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(head.cseq, 9);
    assert_eq!(head.via.transport, "UDP");
    assert_eq!(head.via.sent_by, "192.0.2.2");
    assert_eq!(head.via.branch.as_deref(), Some("390skdjuw"));
    assert_eq!(vias(&msg).len(), 3, "one Via plus two in the folded `v:`");
    assert_eq!(
        msg.header("NewFangledHeader").as_deref(),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        msg.header("UnknownHeaderWithUnusualValue").as_deref(),
        Some(";;,,;;,;")
    );
    let contact = &contacts(&msg)[0];
    assert_eq!(contact.display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(contact.param("q"), Some("0.33"));
    assert_eq!(contact.param("newparam"), Some("newvalue"));
    assert_eq!(msg.body.len(), 150);
}

/// RFC 4475 §3.1.1.2: every token character in the method, odd URI user
/// part, escaped control characters in a quoted display name, UTF-8 values.
#[test]
fn rfc4475_3_1_1_2_intmeth_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.2-intmeth"));
    assert_eq!(head.method, "!interesting-Method0123456789_*+`.%indeed'~");
    assert_eq!(
        head.request_uri,
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
    );
    assert_eq!(
        head.to.display.as_deref(),
        Some("BEL:\u{7} NUL:\u{0} DEL:\u{7f}")
    );
    assert_eq!(
        head.from.display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(head.from.param("fromparam''~+*_!.-%"), Some("работающий"));
    assert_eq!(head.from.param("tag"), Some("_token~1'+`*%!-."));
    assert_eq!(head.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(head.cseq, 139_122_385);
    assert_eq!(head.max_forwards, Some(255));
    assert_eq!(head.via.branch.as_deref(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(
        msg.header("extensionHeader-!.%*+_`'~").as_deref(),
        Some("\u{feff}大停電")
    );
    assert!(msg.body.is_empty());
}

/// RFC 4475 §3.1.1.3: valid % escapes stay as sent; compact `i:` and `c:`.
#[test]
fn rfc4475_3_1_1_3_esc01_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.3-esc01"));
    assert_eq!(
        head.request_uri,
        "sip:sips%3Auser%40example.com@example.net"
    );
    assert_eq!(head.to.uri_text, "sip:%75se%72@example.com");
    assert_eq!(head.from.uri_text, "sip:I%20have%20spaces@example.net");
    assert_eq!(head.from.param("tag"), Some("938"));
    assert_eq!(head.call_id, "esc01.239409asdfakjkn23onasd0-3234");
    assert_eq!(
        msg.header("Content-Type").as_deref(),
        Some("application/sdp")
    );
    assert_eq!(
        contacts(&msg)[0].uri_text,
        "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"
    );
    assert_eq!(msg.body.len(), 150);
}

/// RFC 4475 §3.1.1.4: `%00` in URIs is legal; two Contact header fields.
#[test]
fn rfc4475_3_1_1_4_escnull_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.4-escnull"));
    assert_eq!(head.method, "REGISTER");
    assert_eq!(head.to.uri_text, "sip:null-%00-null@example.com");
    assert_eq!(head.from.param("tag"), Some("839923423"));
    let contacts = contacts(&msg);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].uri_text, "sip:%00@host5.example.com");
    assert_eq!(contacts[1].uri_text, "sip:%00%00@host5.example.com");
    assert!(msg.body.is_empty(), "`L:0` is Content-Length 0");
}

/// RFC 4475 §3.1.1.5: `%` in a method or header name is not an escape:
/// `RE%47IST%45R` is not REGISTER, `C%6Fntact` is not Contact.
#[test]
fn rfc4475_3_1_1_5_esc02_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.5-esc02"));
    assert_eq!(head.method, "RE%47IST%45R");
    assert_eq!(head.to.display.as_deref(), Some("%Z%45"));
    assert_eq!(head.via.transport, "TCP");
    assert_eq!(head.via.branch.as_deref(), Some("z9hG4bK209%fzsnel234"));
    let contacts = contacts(&msg);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].uri_text, "sip:alias1@host1.example.com");
    assert_eq!(contacts[1].uri_text, "sip:alias3@host3.example.com");
    assert_eq!(
        msg.header("C%6Fntact").as_deref(),
        Some("<sip:alias2@host2.example.com>")
    );
}

/// RFC 4475 §3.1.1.6: no LWS between the display name and `<`.
#[test]
fn rfc4475_3_1_1_6_lwsdisp_parses() {
    let (_, head) = valid_request(fixture!("3.1.1.6-lwsdisp"));
    assert_eq!(head.from.display.as_deref(), Some("caller"));
    assert_eq!(head.from.uri_text, "sip:caller@example.com");
    assert_eq!(head.from.param("tag"), Some("323"));
}

/// RFC 4475 §3.1.1.7: long values, 34 Vias under every spelling of the name.
#[test]
fn rfc4475_3_1_1_7_longreq_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.7-longreq"));
    let vias = vias(&msg);
    assert_eq!(vias.len(), 34);
    assert_eq!(head.via.sent_by, "sip33.example.com");
    assert!(vias[33].contains("received=192.0.2.5"));
    assert!(
        head.to
            .display
            .as_deref()
            .unwrap()
            .contains("extremeextreme")
    );
    assert_eq!(head.to.uri.scheme(), "sip");
    assert_eq!(head.from.param("tag").unwrap().len(), 155);
    assert!(head.call_id.ends_with("reallylongcallid"));
    assert_eq!(head.cseq, 3_882_340);
    assert_eq!(msg.body.len(), 150);
}

/// RFC 4475 §3.1.1.8: a REGISTER with Content-Length 0 followed by the bytes
/// of an INVITE in the same datagram; the REGISTER is handled, the rest ignored.
#[test]
fn rfc4475_3_1_1_8_dblreq_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.8-dblreq"));
    assert_eq!(head.method, "REGISTER");
    assert_eq!(head.call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
    assert!(msg.body.is_empty());
    assert_eq!(vias(&msg).len(), 1, "the trailing INVITE's Via is not read");
    // On a stream the same bytes are two frames: the REGISTER first.
    let bytes = fixture!("3.1.1.8-dblreq");
    let frame = framing::frame(bytes, STREAM_LIMIT).unwrap().unwrap();
    assert_eq!(frame.len, bytes.len() - 450);
}

/// RFC 4475 §3.1.1.9: `;` inside the user part of the Request-URI.
#[test]
fn rfc4475_3_1_1_9_semiuri_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.9-semiuri"));
    assert_eq!(head.request_uri, "sip:user;par=u%40example.net@example.com");
    assert_eq!(head.uri.scheme(), "sip");
    assert_eq!(
        msg.header("Accept").as_deref(),
        Some(
            "application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, \
             message/sip, message/sipfrag"
        )
    );
}

/// RFC 4475 §3.1.1.10: UDP, SCTP, TLS, an unknown transport and TCP in Vias.
#[test]
fn rfc4475_3_1_1_10_transports_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.10-transports"));
    assert_eq!(head.via.transport, "UDP");
    assert_eq!(head.via.sent_by, "t1.example.com");
    let vias = vias(&msg);
    for (via, transport) in vias.iter().zip(["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]) {
        assert!(via.starts_with(&format!("SIP/2.0/{transport} ")), "{via}");
    }
    assert_eq!(vias.len(), 5);
}

/// RFC 4475 §3.1.1.11: a multipart/mixed body with a binary part.
#[test]
fn rfc4475_3_1_1_11_mpart01_parses() {
    let (msg, head) = valid_request(fixture!("3.1.1.11-mpart01"));
    assert_eq!(head.method, "MESSAGE");
    assert_eq!(
        msg.header("Content-Type").as_deref(),
        Some("multipart/mixed;boundary=7a9cbec02ceef655")
    );
    assert_eq!(msg.body.len(), 553);
    assert!(msg.body.starts_with(b"--7a9cbec02ceef655\r\n"));
    assert!(
        msg.body.iter().any(|&b| b >= 0x80),
        "the binary part is kept"
    );
}

/// RFC 4475 §3.1.1.12: a response whose reason phrase is UTF-8 prose.
#[test]
fn rfc4475_3_1_1_12_unreason_parses() {
    let (msg, head) = valid_response(fixture!("3.1.1.12-unreason"));
    assert_eq!(
        msg.start,
        StartLine::Response {
            status: 200,
            reason: "= 2**3 * 5**2 но сто девяносто девять - простое".into()
        }
    );
    assert_eq!(head.status, 200);
    assert_eq!((head.cseq, head.cseq_method.as_str()), (35, "INVITE"));
    assert_eq!(head.branch.as_deref(), Some("z9hG4bK1324923"));
    assert_eq!(msg.body.len(), 154);
}

/// RFC 4475 §3.1.1.13: a response with an empty reason phrase (`100 ` SP CRLF).
#[test]
fn rfc4475_3_1_1_13_noreason_parses() {
    let (msg, head) = valid_response(fixture!("3.1.1.13-noreason"));
    assert_eq!(
        msg.start,
        StartLine::Response {
            status: 100,
            reason: "".into()
        }
    );
    assert_eq!(head.cseq, 35);
}

// ---------------------------------------------------------------- §3.1.2

/// RFC 4475 §3.1.2.1: empty parameters in Via and Contact: 400.
#[test]
fn rfc4475_3_1_2_1_badinv01_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.1-badinv01")), 400);
}

/// RFC 4475 §3.1.2.2: Content-Length 9999 for 154 bytes: 400 over UDP; on a
/// stream, wait for more bytes.
#[test]
fn rfc4475_3_1_2_2_clerr_is_answered_400() {
    let bytes = fixture!("3.1.2.2-clerr");
    let err = parse(bytes).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::ContentLengthExceedsBody);
    assert_eq!(refusal(bytes), 400);
    assert_eq!(framing::frame(bytes, STREAM_LIMIT), Ok(None));
}

/// RFC 4475 §3.1.2.3: Content-Length -999: an error over UDP; on a stream the
/// framing error is unrecoverable.
#[test]
fn rfc4475_3_1_2_3_ncl_is_answered_400() {
    let bytes = fixture!("3.1.2.3-ncl");
    assert_eq!(
        parse(bytes).unwrap_err().kind,
        ParseErrorKind::BadContentLength
    );
    assert_eq!(refusal(bytes), 400);
    assert!(matches!(
        framing::frame(bytes, STREAM_LIMIT),
        Err(FramingError::BadContentLength { .. })
    ));
}

/// RFC 4475 §3.1.2.4: CSeq > 2^32-1 (and Max-Forwards 300, huge expires): 400.
#[test]
fn rfc4475_3_1_2_4_scalar02_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.4-scalar02")), 400);
}

/// RFC 4475 §3.1.2.5: a response with a CSeq > 2^32-1 is discarded.
#[test]
fn rfc4475_3_1_2_5_scalarlg_is_dropped() {
    assert!(response_dropped(fixture!("3.1.2.5-scalarlg")));
}

/// RFC 4475 §3.1.2.6: unterminated quoted display name in To: 400.
#[test]
fn rfc4475_3_1_2_6_quotbal_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.6-quotbal")), 400);
}

/// RFC 4475 §3.1.2.7: Request-URI in `<>`: 400.
#[test]
fn rfc4475_3_1_2_7_ltgtruri_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.7-ltgtruri")), 400);
}

/// RFC 4475 §3.1.2.8: LWS inside the Request-URI: 400.
#[test]
fn rfc4475_3_1_2_8_lwsruri_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.8-lwsruri")), 400);
}

/// RFC 4475 §3.1.2.9: doubled SP in the Request-Line: rejecting is
/// acceptable (a liberal element could ignore them); we reject with 400.
#[test]
fn rfc4475_3_1_2_9_lwsstart_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.9-lwsstart")), 400);
}

/// RFC 4475 §3.1.2.10: SP after the SIP-Version: rejecting is acceptable;
/// we reject with 400.
#[test]
fn rfc4475_3_1_2_10_trws_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.10-trws")), 400);
}

/// RFC 4475 §3.1.2.11: escaped headers in the Request-URI: 400.
#[test]
fn rfc4475_3_1_2_11_escruri_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.11-escruri")), 400);
}

/// RFC 4475 §3.1.2.12: Date in EST, not GMT: rejecting is acceptable; we do.
#[test]
fn rfc4475_3_1_2_12_baddate_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.12-baddate")), 400);
}

/// RFC 4475 §3.1.2.13: Contact URI with an escaped header outside `<>`: 400.
#[test]
fn rfc4475_3_1_2_13_regbadct_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.13-regbadct")), 400);
}

/// RFC 4475 §3.1.2.14: spaces inside `< sip:… >`: the parser must not
/// break; 400.
#[test]
fn rfc4475_3_1_2_14_badaspec_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.14-badaspec")), 400);
}

/// RFC 4475 §3.1.2.15: unquoted display names with `,` and `.`: 400.
#[test]
fn rfc4475_3_1_2_15_baddn_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.15-baddn")), 400);
}

/// RFC 4475 §3.1.2.16: SIP/7.0: 505 Version Not Supported.
#[test]
fn rfc4475_3_1_2_16_badvers_is_answered_505() {
    assert_eq!(refusal(fixture!("3.1.2.16-badvers")), 505);
}

/// RFC 4475 §3.1.2.17: OPTIONS with `CSeq: 8 INVITE`: 400.
#[test]
fn rfc4475_3_1_2_17_mismatch01_is_answered_400() {
    assert_eq!(refusal(fixture!("3.1.2.17-mismatch01")), 400);
}

/// RFC 4475 §3.1.2.18: unknown method NEWMETHOD with `CSeq: 8 INVITE`: 501,
/// or 400, which the RFC also accepts.
#[test]
fn rfc4475_3_1_2_18_mismatch02_is_answered_501_or_400() {
    let status = refusal(fixture!("3.1.2.18-mismatch02"));
    assert!(status == 501 || status == 400, "{status}");
}

/// RFC 4475 §3.1.2.19: status code 4294967301: the response is dropped.
#[test]
fn rfc4475_3_1_2_19_bigcode_is_dropped() {
    assert!(response_dropped(fixture!("3.1.2.19-bigcode")));
}

// ---------------------------------------------------------------- §3.2

/// RFC 4475 §3.2.1: `branch=z9hG4bK` with nothing after the cookie. The
/// parser must not break; the request is refused with 400, or matched as an
/// RFC 2543 request, never keyed on the bare cookie (which every such
/// request from that sender would share).
#[test]
fn rfc4475_3_2_1_badbranch_is_refused_or_matched_as_rfc2543() {
    let msg = parse(fixture!("3.2.1-badbranch")).unwrap();
    match validate::request(&msg) {
        Err(r) => assert_eq!(r.status, 400),
        Ok(head) => {
            assert_eq!(head.via.branch.as_deref(), Some("z9hG4bK"));
            let key = ServerKey::of(&head);
            assert_ne!(key.branch(), "z9hG4bK", "keyed on the bare magic cookie");
        }
    }
}

// ---------------------------------------------------------------- §3.3

/// RFC 4475 §3.3.1: no Call-ID, From or To: must not break; ideally 400.
#[test]
fn rfc4475_3_3_1_insuf_is_answered_400() {
    let msg = parse(fixture!("3.3.1-insuf")).unwrap();
    assert_eq!(validate::request(&msg).unwrap_err().status, 400);
}

/// RFC 4475 §3.3.2: an unknown Request-URI scheme parses; 416.
#[test]
fn rfc4475_3_3_2_unkscm_is_answered_416() {
    let msg = parse(fixture!("3.3.2-unkscm")).unwrap();
    assert_eq!(
        request_uri(&msg),
        "nobodyKnowsThisScheme:totallyopaquecontent"
    );
    assert_eq!(validate::request(&msg).unwrap_err().status, 416);
}

/// RFC 4475 §3.3.3: `soap.beep:` Request-URI parses; 416 (or 404 for an
/// element that sometimes accepts the scheme).
#[test]
fn rfc4475_3_3_3_novelsc_is_answered_416() {
    let msg = parse(fixture!("3.3.3-novelsc")).unwrap();
    assert_eq!(request_uri(&msg), "soap.beep://192.0.2.103:3002");
    assert_eq!(validate::request(&msg).unwrap_err().status, 416);
}

/// RFC 4475 §3.3.4: `isbn:`, `http:` and `name:` URIs in To, From, Contact
/// are syntactically valid; parsers must not fail.
#[test]
fn rfc4475_3_3_4_unksm2_parses() {
    let (msg, head) = valid_request(fixture!("3.3.4-unksm2"));
    assert_eq!(head.to.uri.scheme(), "isbn");
    assert_eq!(head.to.uri_text, "isbn:2983792873");
    assert_eq!(head.from.uri.scheme(), "http");
    assert_eq!(head.from.param("tag"), Some("3234233"));
    assert_eq!(contacts(&msg)[0].uri_text, "name:John_Smith");
}

/// RFC 4475 §3.3.5: Require and Proxy-Require with unknown options parse;
/// answering 420 with Unsupported is the UAS's job, above the wire layer.
#[test]
fn rfc4475_3_3_5_bext01_parses_with_its_require_options() {
    let (msg, head) = valid_request(fixture!("3.3.5-bext01"));
    assert_eq!(head.via.transport, "TLS");
    assert_eq!(
        msg.header("Require").as_deref(),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
    assert_eq!(
        msg.header("Proxy-Require").as_deref(),
        Some("noProxiesSupportThis, norDoAnyProxiesSupportThis")
    );
}

/// RFC 4475 §3.3.6: an unknown body type is syntactically valid (an
/// endpoint answers 415 above the wire layer).
#[test]
fn rfc4475_3_3_6_invut_parses() {
    let (msg, _) = valid_request(fixture!("3.3.6-invut"));
    assert_eq!(
        msg.header("Content-Type").as_deref(),
        Some("application/unknownformat")
    );
    assert_eq!(msg.body.len(), 40);
}

/// RFC 4475 §3.3.7: Authorization with an unknown scheme is well formed and
/// kept unmodified.
#[test]
fn rfc4475_3_3_7_regaut01_parses() {
    let (msg, head) = valid_request(fixture!("3.3.7-regaut01"));
    assert_eq!(head.method, "REGISTER");
    assert_eq!(
        msg.header("Authorization").as_deref(),
        Some("NoOneKnowsThisScheme opaque-data=here")
    );
    assert!(msg.body.is_empty(), "`Content-Length:0` without a space");
}

/// RFC 4475 §3.3.8: two Call-IDs, Tos, Froms, Max-Forwards and CSeqs: must
/// not break; 400.
#[test]
fn rfc4475_3_3_8_multi01_is_answered_400() {
    assert_eq!(refusal(fixture!("3.3.8-multi01")), 400);
}

/// RFC 4475 §3.3.9: Content-Length 13 and 5: an error over UDP; on a stream
/// the framing error is unrecoverable.
#[test]
fn rfc4475_3_3_9_mcl01_is_answered_400() {
    let bytes = fixture!("3.3.9-mcl01");
    assert_eq!(refusal(bytes), 400);
    assert!(matches!(
        framing::frame(bytes, STREAM_LIMIT),
        Err(FramingError::BadContentLength { .. })
    ));
}

/// RFC 4475 §3.3.10: a 200 whose second Via sent-by is 255.255.255.255 is
/// well formed; parsers must not fail (an endpoint then discards it).
#[test]
fn rfc4475_3_3_10_bcast_parses() {
    let (msg, head) = valid_response(fixture!("3.3.10-bcast"));
    assert_eq!(head.status, 200);
    assert_eq!(head.branch.as_deref(), Some("z9hG4bK1324923"));
    let vias = vias(&msg);
    assert_eq!(vias.len(), 2);
    assert!(vias[0].contains("192.0.2.198"));
    assert!(vias[1].contains("255.255.255.255"));
}

/// RFC 4475 §3.3.11: Max-Forwards 0 is legal; an endpoint processes the
/// request as if it were positive.
#[test]
fn rfc4475_3_3_11_zeromf_parses() {
    let (_, head) = valid_request(fixture!("3.3.11-zeromf"));
    assert_eq!(head.method, "OPTIONS");
    assert_eq!(head.max_forwards, Some(0));
}

/// RFC 4475 §3.3.12: in `Contact: sip:…;unknownparam` (no `<>`) the
/// parameter is a contact-param, not part of the URI.
#[test]
fn rfc4475_3_3_12_cparam01_reads_a_contact_param() {
    let (msg, _) = valid_request(fixture!("3.3.12-cparam01"));
    let contact = &contacts(&msg)[0];
    assert_eq!(contact.uri_text, "sip:+19725552222@gw1.example.net");
    assert_eq!(
        contact.params,
        vec![(BytesStr::from_static("unknownparam"), None)]
    );
}

/// RFC 4475 §3.3.13: in `Contact: <sip:…;unknownparam>` the parameter
/// belongs to the URI.
#[test]
fn rfc4475_3_3_13_cparam02_reads_a_uri_param() {
    let (msg, _) = valid_request(fixture!("3.3.13-cparam02"));
    let contact = &contacts(&msg)[0];
    assert_eq!(
        contact.uri_text,
        "sip:+19725552222@gw1.example.net;unknownparam"
    );
    assert!(contact.params.is_empty());
}

/// RFC 4475 §3.3.14: an escaped Route header inside the Contact URI (compact
/// `M:`) stays in the URI.
#[test]
fn rfc4475_3_3_14_regescrt_keeps_the_escaped_header() {
    let (msg, _) = valid_request(fixture!("3.3.14-regescrt"));
    assert_eq!(
        contacts(&msg)[0].uri_text,
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
    );
}

/// RFC 4475 §3.3.15: Accept without application/sdp is well formed (406 or
/// 400 is decided above the wire layer).
#[test]
fn rfc4475_3_3_15_sdp01_parses() {
    let (msg, _) = valid_request(fixture!("3.3.15-sdp01"));
    assert_eq!(
        msg.header("Accept").as_deref(),
        Some("text/nobodyKnowsThis")
    );
    assert_eq!(msg.body.len(), 150);
}

// ---------------------------------------------------------------- §3.4

/// RFC 4475 §3.4.1: RFC 2543 syntax: no branch, no From tag, no
/// Content-Length (the body runs to the end of the datagram), no
/// Max-Forwards. Accepted, and matched as an RFC 2543 request.
#[test]
fn rfc4475_3_4_1_inv2543_parses() {
    let (msg, head) = valid_request(fixture!("3.4.1-inv2543"));
    assert_eq!(head.via.branch, None);
    assert_eq!(head.from.param("tag"), None);
    assert_eq!(head.max_forwards, None);
    // RFC 3261 §20.10: after an addr-spec without `<>`, `;user=phone` is a
    // header parameter, though an RFC 2543 sender meant it for the URI.
    assert_eq!(head.to.uri_text, "sip:+16505552222@ss1.example.net");
    assert_eq!(head.to.param("user"), Some("phone"));
    assert_eq!(msg.body.len(), 105);
    assert!(ServerKey::of(&head).branch().starts_with("2543|"));
    // On a stream, a message without Content-Length cannot be framed.
    assert!(matches!(
        framing::frame(fixture!("3.4.1-inv2543"), STREAM_LIMIT),
        Err(FramingError::MissingContentLength { .. })
    ));
}

// ---------------------------------------------------------------- all

/// Nothing panics on any prefix of any message (a datagram cut short, or a
/// stream read mid-message).
#[test]
fn rfc4475_every_prefix_parses_without_panic() {
    for bytes in ALL {
        for end in 0..=bytes.len() {
            if let Ok(msg) = parse(&bytes[..end]) {
                let _ = validate::request(&msg);
                let _ = validate::response(&msg);
            }
            let _ = framing::frame(&bytes[..end], STREAM_LIMIT);
        }
    }
}

const ALL: [&[u8]; 49] = [
    fixture!("3.1.1.1-wsinv"),
    fixture!("3.1.1.2-intmeth"),
    fixture!("3.1.1.3-esc01"),
    fixture!("3.1.1.4-escnull"),
    fixture!("3.1.1.5-esc02"),
    fixture!("3.1.1.6-lwsdisp"),
    fixture!("3.1.1.7-longreq"),
    fixture!("3.1.1.8-dblreq"),
    fixture!("3.1.1.9-semiuri"),
    fixture!("3.1.1.10-transports"),
    fixture!("3.1.1.11-mpart01"),
    fixture!("3.1.1.12-unreason"),
    fixture!("3.1.1.13-noreason"),
    fixture!("3.1.2.1-badinv01"),
    fixture!("3.1.2.2-clerr"),
    fixture!("3.1.2.3-ncl"),
    fixture!("3.1.2.4-scalar02"),
    fixture!("3.1.2.5-scalarlg"),
    fixture!("3.1.2.6-quotbal"),
    fixture!("3.1.2.7-ltgtruri"),
    fixture!("3.1.2.8-lwsruri"),
    fixture!("3.1.2.9-lwsstart"),
    fixture!("3.1.2.10-trws"),
    fixture!("3.1.2.11-escruri"),
    fixture!("3.1.2.12-baddate"),
    fixture!("3.1.2.13-regbadct"),
    fixture!("3.1.2.14-badaspec"),
    fixture!("3.1.2.15-baddn"),
    fixture!("3.1.2.16-badvers"),
    fixture!("3.1.2.17-mismatch01"),
    fixture!("3.1.2.18-mismatch02"),
    fixture!("3.1.2.19-bigcode"),
    fixture!("3.2.1-badbranch"),
    fixture!("3.3.1-insuf"),
    fixture!("3.3.2-unkscm"),
    fixture!("3.3.3-novelsc"),
    fixture!("3.3.4-unksm2"),
    fixture!("3.3.5-bext01"),
    fixture!("3.3.6-invut"),
    fixture!("3.3.7-regaut01"),
    fixture!("3.3.8-multi01"),
    fixture!("3.3.9-mcl01"),
    fixture!("3.3.10-bcast"),
    fixture!("3.3.11-zeromf"),
    fixture!("3.3.12-cparam01"),
    fixture!("3.3.13-cparam02"),
    fixture!("3.3.14-regescrt"),
    fixture!("3.3.15-sdp01"),
    fixture!("3.4.1-inv2543"),
];

/// RFC 4475 §3.1.1.2: a `?` in the user part of the Request-URI is legal and is
/// not a header part (the request is accepted, not refused with 400).
#[test]
fn rfc4475_3_1_1_2_intmeth_user_part_question_mark_is_not_a_header() {
    let (_msg, head) = valid_request(fixture!("3.1.1.2-intmeth"));
    assert_eq!(head.method, "!interesting-Method0123456789_*+`.%indeed'~");
    assert!(head.request_uri.contains("crazy?,/;;*"));
}
