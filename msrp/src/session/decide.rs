//! RFC 4975 §7.1.2–§7.3, §12: what an endpoint owes a request, as pure
//! functions of the request and the session's paths. The session acts on
//! these decisions; tests check them without one.

use crate::error::RequestError;
use crate::status::StatusCode;
use crate::uri::Uri;
use crate::wire::{
    ByteRange, Continuation, FailureReport, Frame, Header, Method, StartLine, Status, TransactionId,
};

/// The paths a session checks requests against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Our URI: the rightmost of the `a=path` we sent (RFC 4975 §8.2).
    pub local: Uri,
    /// The peer's `a=path`, leftmost hop first, the peer itself last;
    /// our requests' To-Path (§8.2: "The target path is the entire path
    /// attribute value received from the peer").
    pub remote: Vec<Uri>,
}

/// Whether a request belongs to this session.
///
/// §7.3: "the To-Path will have exactly one URI, which MUST map to an
/// existing session ... If this is not true, then the receiver MUST
/// generate a 481 error". Parley also checks that the From-Path ends with
/// the peer's URI from its SDP: §8.2 says the rightmost path URI "MUST
/// identify the endpoint that generated the SDP document", and a relay
/// never removes the sender: RFC 4976 §3, "When a relay forwards a request,
/// it removes its address from the To-Path header and inserts it as the
/// first URI in the From-Path header." Then §12: "If an MSRP device
/// receives a request with an unknown method, it MUST return a 501
/// response." RFC 7701's NICKNAME is known; whether this session takes it
/// is the session's [`NicknameRequests`](crate::session::NicknameRequests).
pub fn check_request(paths: &Paths, request: &Frame) -> Result<(), RequestError> {
    match request.to_path() {
        [only] if only.equivalent(&paths.local) => {}
        _ => return Err(RequestError::ToPathMismatch),
    }
    match (request.from_path().last(), paths.remote.last()) {
        (Some(sender), Some(peer)) if sender.equivalent(peer) => {}
        _ => return Err(RequestError::FromPathMismatch),
    }
    match request.method() {
        Some(Method::Send | Method::Report | Method::Nickname) => Ok(()),
        _ => Err(RequestError::UnknownMethod),
    }
}

/// Whether a request with this method and Failure-Report gets a
/// transaction response with `status`.
///
/// - REPORT: never; §7.1.2: "MSRP nodes MUST NOT send MSRP responses to
///   REPORT requests."
/// - `yes` (or absent): always; §7.2: it "MUST immediately generate a response".
/// - `partial`: only a failure; §7.1.4: "it MUST NOT send a 200 transaction
///   response to the request, but SHOULD send an appropriate non-200 class
///   response if a failure occurs".
/// - `no`: never; §7.1.4: "MUST NOT send a transaction response".
pub fn response_owed(method: &Method, failure_report: FailureReport, status: StatusCode) -> bool {
    if *method == Method::Report {
        return false;
    }
    match failure_report {
        FailureReport::Yes => true,
        FailureReport::Partial => !status.is_success(),
        FailureReport::No => false,
    }
}

/// The response to `request` (§7.2).
///
/// "The transaction identifier in the response start line MUST match the
/// transaction identifier from the original request." To-Path: for a SEND,
/// "copying the first (leftmost) URI in the From-Path header field of the
/// request"; otherwise the whole From-Path. From-Path: "the URI that
/// identifies it in the context of the session". The flag is "$".
pub fn response(request: &Frame, status: StatusCode, local: &Uri) -> Frame {
    let from = request.from_path();
    let to_path = match request.method() {
        Some(Method::Send) => from.iter().take(1).cloned().collect(),
        _ => from.to_vec(),
    };
    Frame {
        transaction_id: request.transaction_id.clone(),
        start: StartLine::Response {
            status,
            comment: Some(status.comment().to_owned()),
        },
        headers: vec![
            Header::ToPath(to_path),
            Header::FromPath(vec![local.clone()]),
        ],
        body: None,
        continuation: Continuation::End,
    }
}

/// A REPORT on a received message (§7.1.3, §7.1.4).
///
/// "the endpoint inserts a To-Path header field containing the From-Path
/// value from the original request, and a From-Path header field containing
/// the URI identifying itself in the session ... a Status header field with
/// a namespace of '000' ... It also inserts a Message-ID header field
/// containing the value from the original request." §7.1.2: no
/// Success-Report or Failure-Report.
pub fn report(
    transaction_id: TransactionId,
    original: &ReportSubject,
    status: StatusCode,
    local: &Uri,
) -> Frame {
    let mut frame = Frame::request(
        transaction_id,
        Method::Report,
        original.from_path.clone(),
        vec![local.clone()],
    );
    frame
        .headers
        .push(Header::MessageId(original.message_id.clone()));
    frame.headers.push(Header::ByteRange(original.byte_range));
    frame.headers.push(Header::Status(Status::new(status)));
    frame
}

/// What a REPORT is about: a message (or bytes of it) a peer sent us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSubject {
    /// The Message-ID of the original SEND.
    pub message_id: crate::wire::MessageId,
    /// The From-Path of the original SEND.
    pub from_path: Vec<Uri>,
    /// The bytes reported on.
    pub byte_range: ByteRange,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    const SEND: &[u8] = b"MSRP a786hjs2 SEND\r\n\
        To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
        From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n\
        Message-ID: 87652491\r\n\
        Content-Type: text/plain\r\n\
        \r\n\
        Hey Bob\r\n\
        -------a786hjs2$\r\n";

    fn uri(text: &str) -> Uri {
        Uri::parse(text).expect("uri")
    }

    fn bob() -> Paths {
        Paths {
            local: uri("msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"),
            remote: vec![uri("msrp://atlanta.example.com:7654/jshA7weztas;tcp")],
        }
    }

    fn send() -> Frame {
        wire::parse(SEND).expect("valid")
    }

    #[test]
    fn request_for_this_session_passes() {
        assert_eq!(check_request(&bob(), &send()), Ok(()));
    }

    #[test]
    fn to_path_naming_another_session_is_481() {
        let mut paths = bob();
        paths.local = uri("msrp://biloxi.example.com:12763/othersession;tcp");
        let error = check_request(&paths, &send()).expect_err("481");
        assert_eq!(StatusCode::from(&error), StatusCode::NO_SESSION);
    }

    #[test]
    fn to_path_with_two_uris_is_481() {
        // §7.3: at the endpoint "the To-Path will have exactly one URI".
        let mut frame = send();
        let local = bob().local;
        frame.headers[0] = Header::ToPath(vec![uri("msrp://relay.example:1/r;tcp"), local]);
        assert_eq!(
            check_request(&bob(), &frame),
            Err(RequestError::ToPathMismatch)
        );
    }

    #[test]
    fn to_path_differing_only_in_host_case_passes() {
        // §6.1: the authority compares case-insensitively.
        let mut frame = send();
        frame.headers[0] = Header::ToPath(vec![uri(
            "MSRP://BILOXI.example.com:12763/kjhd37s2s20w2a;TCP",
        )]);
        assert_eq!(check_request(&bob(), &frame), Ok(()));
    }

    #[test]
    fn to_path_differing_in_session_id_case_is_481() {
        // §6.1 rule 4: the session-id is case sensitive.
        let mut frame = send();
        frame.headers[0] = Header::ToPath(vec![uri(
            "msrp://biloxi.example.com:12763/KJHD37S2S20W2A;tcp",
        )]);
        assert_eq!(
            check_request(&bob(), &frame),
            Err(RequestError::ToPathMismatch)
        );
    }

    #[test]
    fn from_path_not_ending_with_the_peer_is_481() {
        let mut frame = send();
        frame.headers[1] = Header::FromPath(vec![uri("msrp://mallory.example:7654/x;tcp")]);
        let error = check_request(&bob(), &frame).expect_err("481");
        assert_eq!(error, RequestError::FromPathMismatch);
        assert_eq!(StatusCode::from(&error).0, 481);
    }

    #[test]
    fn from_path_through_a_relay_ending_with_the_peer_passes() {
        let mut frame = send();
        let peer = bob().remote[0].clone();
        frame.headers[1] = Header::FromPath(vec![uri("msrps://relay.example:9000/r;tcp"), peer]);
        assert_eq!(check_request(&bob(), &frame), Ok(()));
    }

    #[test]
    fn unknown_method_is_501_after_the_path_checks() {
        let mut frame = send();
        frame.start = StartLine::Request(Method::Other("AUTH".into()));
        let error = check_request(&bob(), &frame).expect_err("501");
        assert_eq!(StatusCode::from(&error).0, 501);
        let mut paths = bob();
        paths.local = uri("msrp://biloxi.example.com:12763/other;tcp");
        assert_eq!(
            check_request(&paths, &frame),
            Err(RequestError::ToPathMismatch)
        );
    }

    #[test]
    fn failure_report_decides_which_responses_are_sent() {
        let ok = StatusCode::OK;
        let bad = StatusCode::BAD_REQUEST;
        assert!(response_owed(&Method::Send, FailureReport::Yes, ok));
        assert!(response_owed(&Method::Send, FailureReport::Yes, bad));
        assert!(!response_owed(&Method::Send, FailureReport::Partial, ok));
        assert!(response_owed(&Method::Send, FailureReport::Partial, bad));
        assert!(!response_owed(&Method::Send, FailureReport::No, ok));
        assert!(!response_owed(&Method::Send, FailureReport::No, bad));
        assert!(!response_owed(&Method::Report, FailureReport::Yes, bad));
    }

    #[test]
    fn response_to_a_send_goes_to_the_previous_hop_only() {
        let mut frame = send();
        let peer = bob().remote[0].clone();
        let relay = uri("msrps://relay.example:9000/r;tcp");
        frame.headers[1] = Header::FromPath(vec![relay.clone(), peer]);
        let response = response(&frame, StatusCode::OK, &bob().local);
        assert_eq!(response.transaction_id, frame.transaction_id);
        assert_eq!(response.to_path(), &[relay]);
        assert_eq!(response.from_path(), &[bob().local]);
        assert_eq!(response.continuation, Continuation::End);
        assert_eq!(
            String::from_utf8(response.to_bytes()).expect("utf8"),
            "MSRP a786hjs2 200 OK\r\n\
             To-Path: msrps://relay.example:9000/r;tcp\r\n\
             From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
             -------a786hjs2$\r\n"
        );
    }

    #[test]
    fn success_report_has_status_000_200_and_no_report_fields() {
        let subject = ReportSubject {
            message_id: wire::MessageId::new("12339sdqwer").expect("ident"),
            from_path: vec![uri("msrp://alicepc.example.com:7777/iau39soe2843z;tcp")],
            byte_range: ByteRange::whole(106),
        };
        let frame = report(
            TransactionId::new("dkei38sd").expect("ident"),
            &subject,
            StatusCode::OK,
            &uri("msrp://bob.example.com:8888/9di4eae923wzd;tcp"),
        );
        // RFC 4975 §11.6, Figure 17, byte for byte.
        let expected: &[u8] = include_bytes!("../../tests/fixtures/rfc4975-11.6-report.msrp");
        assert_eq!(
            String::from_utf8(frame.to_bytes()).expect("utf8"),
            String::from_utf8(expected.to_vec()).expect("utf8")
        );
    }
}
