//! Parley's MSRP parser and writer against the harness's MSRP peer
//! (`parley_harness::msrp_peer`), which was written from RFC 4975 §9 alone
//! and shares no code with this crate: every RFC example frame reads the
//! same in both, and what this crate writes back reads the same to the peer.

use std::path::Path;

use parley_harness::msrp_peer::{MsrpFrame, split_frame};
use parley_msrp::wire::{self, StartLine};

/// Every `.msrp` fixture that this crate accepts (RFC 4975 §5.1's Figure 3
/// chunks have no To-Path/From-Path and are refused by design, see
/// `rfc4975.rs`).
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "msrp"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read fixture"))
        })
        .collect();
    out.sort();
    out
}

fn peer_reads(bytes: &[u8], name: &str) -> MsrpFrame {
    let (frame, used) = split_frame(bytes)
        .unwrap_or_else(|e| panic!("{name}: the peer refuses it: {e}"))
        .unwrap_or_else(|| panic!("{name}: the peer finds no whole frame"));
    assert_eq!(used, bytes.len(), "{name}: one frame, nothing after");
    frame
}

#[test]
fn both_implementations_read_every_rfc_frame_alike() {
    let mut compared = 0;
    for (name, bytes) in fixtures() {
        let Ok(ours) = wire::parse(&bytes) else {
            assert!(name.starts_with("rfc4975-5.1-fig3"), "{name}: refused");
            continue;
        };
        let theirs = peer_reads(&bytes, &name);
        assert_eq!(
            ours.transaction_id.as_str(),
            theirs.transaction_id,
            "{name}"
        );
        match &ours.start {
            StartLine::Request(method) => {
                assert_eq!(Some(method.as_str()), theirs.method.as_deref(), "{name}");
            }
            StartLine::Response { status, .. } => {
                assert_eq!(Some(status.0), theirs.status, "{name}");
            }
        }
        assert_eq!(
            ours.body.as_deref().unwrap_or_default(),
            theirs.body.as_slice(),
            "{name}"
        );
        assert_eq!(ours.continuation.as_byte() as char, theirs.flag, "{name}");
        let names: Vec<&str> = ours.headers.iter().map(|h| h.name()).collect();
        let their_names: Vec<&str> = theirs.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, their_names, "{name}");

        // What this crate writes back, the peer reads as it read the RFC's.
        let mut written = Vec::new();
        ours.write_to(&mut written);
        assert_eq!(peer_reads(&written, &name), theirs, "{name}");
        compared += 1;
    }
    assert!(compared >= 15, "only {compared} fixtures compared");
}
