//! Replays every file under `fuzz/corpus/msrp_frames/` (and `fuzz/artifacts/`)
//! through the fuzzing entry point on stable Rust, so every input a fuzzer
//! kept, and every crash it found, stays a regression test (style.md).
#![allow(clippy::unwrap_used)]

use parley_harness::fuzz_corpus::replay;
use parley_msrp::fuzzing;

#[test]
fn msrp_frames_corpus_never_panics() {
    assert!(
        replay("msrp_frames", fuzzing::msrp_frames) > 0,
        "seed corpus missing"
    );
}
