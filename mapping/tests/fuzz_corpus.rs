//! Replays every file under `fuzz/corpus/<target>/` (and `fuzz/artifacts/`)
//! through the fuzzing entry points on stable Rust, so every input a fuzzer
//! kept, and every crash it found, stays a regression test (style.md).
#![allow(clippy::unwrap_used)]

use parley_harness::fuzz_corpus::replay;
use parley_mapping::fuzzing;

#[test]
fn pidf_corpus_never_panics() {
    assert!(replay("pidf", fuzzing::pidf) > 0, "seed corpus missing");
}

#[test]
fn conference_info_corpus_never_panics() {
    assert!(
        replay("conference_info", fuzzing::conference_info) > 0,
        "seed corpus missing"
    );
}

#[test]
fn cpim_corpus_never_panics() {
    assert!(replay("cpim", fuzzing::cpim) > 0, "seed corpus missing");
}

#[test]
fn address_corpus_never_panics() {
    assert!(
        replay("address", fuzzing::address) > 0,
        "seed corpus missing"
    );
}

#[test]
fn sip_message_corpus_never_panics() {
    assert!(
        replay("sip_message_to_xmpp", fuzzing::message) > 0,
        "seed corpus missing"
    );
}
