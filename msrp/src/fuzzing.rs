//! Entry points for fuzz targets (`fuzz/`) and for the property tests that
//! replay them: each runs one input through a whole untrusted-input path and
//! must never panic.

use crate::chunk::{Reassembler, ReassemblyLimits};
use crate::error::ReportError;
use crate::session::{Delivered, Event, Paths, Session, SessionConfig};
use crate::status::StatusCode;
use crate::wire::{self, DecodeError, Decoder, Frame, Limits, TransactionId};

/// An SDP offer through the answerer, and our own offer and answer back
/// through the parser (`sdp::fuzzing`).
pub use crate::sdp::fuzzing::offer_answer as sdp_offer_answer;

/// Limits small enough that short inputs reach every refusal.
const LIMITS: Limits = Limits {
    max_head: 1024,
    max_body: 512,
};

/// A connection's bytes arriving in pieces, as the TCP reader sees them.
///
/// The first byte seeds the piece sizes (1 to 64 bytes); the rest is the
/// stream. Every frame is decoded, written back and parsed again (it must
/// read the same), handed to a reassembler and to two sessions whose paths
/// come from the first request (one reporting by itself, one whose
/// application reports on each message), and every frame the sessions
/// write must parse. Panics if the frames and errors found differ from those found in
/// the whole stream at once: where reads split the bytes must not change
/// the framing (RFC 4975 §5.1: the end-line alone ends a frame).
pub fn msrp_frames(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = decode_all(stream, &[stream.len()]);
    let mut sizes = Vec::new();
    let mut step = usize::from(seed);
    let mut covered = 0;
    while covered < stream.len() {
        // A cheap generator of piece sizes: deterministic per input.
        step = (step.wrapping_mul(37).wrapping_add(11)) % 64 + 1;
        sizes.push(step);
        covered += step;
    }
    let pieces = decode_all(stream, &sizes);
    assert_eq!(pieces, whole, "read boundaries changed the framing");

    let mut reassembler = Reassembler::new(ReassemblyLimits {
        max_message_size: 2048,
        max_incomplete: 4,
    });
    for frame in whole.iter().flatten() {
        let written = frame.to_bytes();
        assert_eq!(
            wire::parse(&written).as_ref(),
            Ok(frame),
            "a decoded frame does not read back the same"
        );
        if frame.method() == Some(&wire::Method::Send) {
            let _ = reassembler.handle_chunk(frame);
        }
    }
    run_session(&whole, false);
    run_session(&whole, true);
}

/// The frames and errors through a session whose paths come from the first
/// request. With `application_reports`, every delivered message is reported
/// on at once, success and failure in turn. Every frame the session writes
/// must parse.
fn run_session(whole: &[Result<Frame, DecodeError>], application_reports: bool) {
    let mut session = None;
    let mut delivered = 0u32;
    for result in whole {
        match result {
            Ok(frame) => {
                let session =
                    session.get_or_insert_with(|| session_for(frame, application_reports));
                if let Some(session) = session {
                    session.handle_frame(frame.clone());
                }
            }
            Err(error) => {
                let _ = (error.kind(), error.is_fatal());
                if let Some(Some(session)) = &mut session {
                    session.handle_decode_error(error);
                }
            }
        }
        if let Some(Some(session)) = &mut session {
            while let Some(event) = session.poll_event() {
                let Event::Message(Delivered {
                    subject, answer, ..
                }) = event
                else {
                    continue;
                };
                delivered = delivered.wrapping_add(1);
                if let Some(tid) = &answer {
                    // Every third is refused, as a switch refuses a bad
                    // CPIM wrapper (RFC 7701 §6): nothing is owed on it.
                    let refused = delivered.is_multiple_of(3);
                    let status = if refused {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::OK
                    };
                    assert_eq!(session.answer_message(tid, status), Ok(()));
                    assert!(
                        session.answer_message(tid, status).is_err(),
                        "a message answered twice"
                    );
                    if refused {
                        if let Some(subject) = &subject {
                            assert_eq!(
                                session.report_success(&subject.message_id),
                                Err(ReportError::UnknownMessage),
                                "a refused message is still owed a REPORT"
                            );
                        }
                        continue;
                    }
                }
                let Some(subject) = subject else {
                    continue;
                };
                let id = &subject.message_id;
                let reported = if delivered.is_multiple_of(2) {
                    session.report_success(id)
                } else {
                    session.report_failure(id, StatusCode::REQUEST_TIMEOUT)
                };
                // A message is reported on once; a second report names none.
                if reported.is_ok() {
                    assert_eq!(
                        session.report_success(id),
                        Err(ReportError::UnknownMessage),
                        "a message reported on twice"
                    );
                }
            }
        }
    }
    if let Some(Some(session)) = &mut session {
        while let Some(frame) = session.poll_transmit() {
            let written = frame.to_bytes();
            assert_eq!(
                wire::parse(&written).as_ref(),
                Ok(&frame),
                "a frame the session wrote does not parse: {:?}",
                String::from_utf8_lossy(&written)
            );
        }
    }
}

/// Everything a decoder finds in `stream` fed in pieces of `sizes`, up to
/// and including a fatal error.
fn decode_all(stream: &[u8], sizes: &[usize]) -> Vec<Result<Frame, DecodeError>> {
    let mut decoder = Decoder::new(LIMITS);
    let mut out = Vec::new();
    let mut at = 0;
    for &size in sizes {
        let end = (at + size).min(stream.len());
        decoder.handle_bytes(&stream[at..end]);
        at = end;
        loop {
            match decoder.poll_frame() {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(error) => {
                    let fatal = error.is_fatal();
                    out.push(Err(error));
                    if fatal {
                        return out;
                    }
                }
            }
        }
    }
    out
}

type FuzzSession = Session<Box<dyn FnMut() -> TransactionId>>;

/// A session addressed by `frame` (when it is a request with both paths),
/// so that some inputs get past the path checks.
fn session_for(frame: &Frame, application_reports: bool) -> Option<FuzzSession> {
    let local = frame.to_path().last()?.clone();
    let remote = frame.from_path().to_vec();
    if frame.method().is_none() || remote.is_empty() {
        return None;
    }
    let mut n = 0u32;
    let ids: Box<dyn FnMut() -> TransactionId> = Box::new(move || {
        n = n.wrapping_add(1);
        TransactionId::new(&format!("fuzz{n:08}")).unwrap_or_else(|| unreachable!())
    });
    Some(Session::new(
        SessionConfig {
            paths: Paths { local, remote },
            accept_types: vec!["text/plain".into(), "message/cpim".into()],
            limits: ReassemblyLimits {
                max_message_size: 2048,
                max_incomplete: 4,
            },
            max_chunk: 64,
            max_pending: 8,
            application_reports,
            max_awaiting_reports: 2,
            nickname_requests: crate::session::NicknameRequests::Application,
            // With application reports the application answers too: a
            // refused message must leave no REPORT owed.
            message_answers: if application_reports {
                crate::session::MessageAnswers::Application
            } else {
                crate::session::MessageAnswers::Session
            },
        },
        ids,
    ))
}
