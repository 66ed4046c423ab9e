//! Replays every file under `fuzz/corpus/<target>/` (and `fuzz/artifacts/`)
//! through the fuzzing entry points on stable Rust, so every input a fuzzer
//! kept, and every crash it found, stays a regression test (style.md).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use parley_xmpp::fuzzing;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in [
        fuzz.join("corpus").join(target),
        fuzz.join("artifacts").join(target),
    ] {
        for file in files_under(&dir) {
            let data = std::fs::read(&file).unwrap();
            let result = std::panic::catch_unwind(|| entry(&data));
            assert!(result.is_ok(), "{} panics", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn component_stream_corpus_never_panics() {
    assert!(
        replay("component_stream", fuzzing::component_stream) > 0,
        "seed corpus missing"
    );
}
