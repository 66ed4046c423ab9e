//! Replays `fuzz/corpus/sdp/` (and `fuzz/artifacts/sdp/`, if a fuzzer left
//! crashes there) through the `sdp` fuzz entry point on stable Rust, so every
//! input the fuzzer kept stays a regression test.

#![allow(clippy::unwrap_used)]

use parley_msrp::sdp::fuzzing;

fn replay(dir: &str) -> usize {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/");
    let Ok(entries) = std::fs::read_dir(format!("{root}{dir}")) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| fuzzing::offer_answer(&data));
        assert!(result.is_ok(), "panic on {}", path.display());
        count += 1;
    }
    count
}

#[test]
fn sdp_corpus_never_panics() {
    assert!(replay("corpus/sdp") > 0, "seed corpus missing");
    replay("artifacts/sdp");
}
