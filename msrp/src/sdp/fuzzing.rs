//! The entry point of `fuzz/fuzz_targets/sdp.rs` and of the stable replay
//! of its corpus: one untrusted SDP body through everything Parley does
//! with it, as answerer and as offerer. Must never panic.

use crate::sdp::{self, FormatList, LocalEndpoint, MediaLimits, Origin, SessionDescription};

/// Parses `data` as SDP, reads every m-line as MSRP, answers it, and takes
/// it as the answer to our own offer. What Parley writes must parse back
/// to the same value.
pub fn offer_answer(data: &[u8]) {
    let Ok(remote) = SessionDescription::parse(data, 64 * 1024) else {
        return;
    };
    for index in 0..remote.media_lines().len() {
        let _ = remote.msrp_media(index, MediaLimits::default());
    }
    let local = local();
    match sdp::answer(&remote, &local) {
        Ok(answer) => {
            let mut text = String::new();
            answer.sdp.write_to(&mut text);
            let again = SessionDescription::parse(text.as_bytes(), usize::MAX);
            assert_eq!(
                again.as_ref().ok(),
                Some(&answer.sdp),
                "answer does not parse back: {text:?}"
            );
        }
        Err(refusal) => {
            let _ = (refusal.warn_code(), refusal.warn_text(), refusal.kind());
        }
    }
    let offer = sdp::offer(&local);
    if let Err(error) = sdp::accept_answer(&offer, &remote, &local) {
        let _ = error.kind();
    }
}

/// A fixed endpoint with TLS allowed, so every branch can be reached.
fn local() -> LocalEndpoint {
    let origin = Origin {
        username: "-".to_owned(),
        session_id: 1,
        session_version: 1,
    };
    #[allow(clippy::expect_used)]
    let mut local = LocalEndpoint::new("192.0.2.1", 7654, Some(7655), "fuzz", origin)
        .expect("a valid fixed URI");
    local.accept_types = FormatList::parse("message/cpim text/plain", 8).unwrap_or_default();
    local.accept_wrapped_types = FormatList::parse("text/plain", 8).unwrap_or_default();
    local.max_size = 65536;
    local
}
