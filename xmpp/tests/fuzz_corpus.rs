//! Replays every file under `fuzz/corpus/<target>/` (and `fuzz/artifacts/`)
//! through the fuzzing entry points on stable Rust, so every input a fuzzer
//! kept, and every crash it found, stays a regression test (style.md).
#![allow(clippy::unwrap_used)]

use parley_harness::fuzz_corpus::replay;
use parley_xmpp::fuzzing;

#[test]
fn component_stream_corpus_never_panics() {
    assert!(
        replay("component_stream", fuzzing::component_stream) > 0,
        "seed corpus missing"
    );
}
