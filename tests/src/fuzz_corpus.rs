//! Replaying the fuzz corpora on stable Rust (style.md: every input a fuzzer
//! kept, and every crash it found, stays a regression test). Each crate's
//! `tests/fuzz_corpus.rs` calls [`replay`](crate::fuzz_corpus::replay) with its fuzzing entry points.

use std::path::{Path, PathBuf};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Feed every file under `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/`
/// to `entry`, panicking with the file's name if one panics. Returns how many
/// files were replayed (callers assert it is not zero: a missing seed corpus
/// would make the test vacuous).
pub fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in [
        fuzz.join("corpus").join(target),
        fuzz.join("artifacts").join(target),
    ] {
        for file in files_under(&dir) {
            let data = std::fs::read(&file).expect("a corpus file is readable");
            let result = std::panic::catch_unwind(|| entry(&data));
            assert!(result.is_ok(), "{} panics", file.display());
            n += 1;
        }
    }
    n
}
