//! Replays every file under `fuzz/corpus/<target>/` (and `fuzz/artifacts/`)
//! through the fuzzing entry points on stable Rust, so every input a fuzzer
//! kept, and every crash it found, stays a regression test (style.md).
#![allow(clippy::unwrap_used)]

use parley_harness::fuzz_corpus::replay;
use parley_sip::fuzzing;

#[test]
fn sip_datagram_corpus_never_panics() {
    assert!(
        replay("sip_datagram", fuzzing::datagram) > 0,
        "seed corpus missing"
    );
}

#[test]
fn sip_stream_corpus_never_panics() {
    assert!(
        replay("sip_stream", fuzzing::stream_in_pieces) > 0,
        "seed corpus missing"
    );
}
