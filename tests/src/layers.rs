//! A crate's module layering read from its own source, for the `layers`
//! tests of the gateway and mapping crates (issue 20): which top-level
//! modules each file names with `crate::`, outside comments and outside the
//! `#[cfg(test)] mod tests` block at the end of a file (unit tests may reach
//! anywhere), and whether those imports form a cycle. It reads text, not the
//! compiler's view: a `use super::` or a path spelled another way is not seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it names, for every `.rs` file
/// under `src` but those whose module is in `skip` (the crate root, which
/// declares everything, and test-only folders).
pub fn import_graph(src: &Path, skip: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).expect("under src");
        let module = top_module(relative);
        if skip.contains(&module.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let names = graph.entry(module.clone()).or_default();
        for used in crate_paths(shipped(&text)) {
            if used != module {
                names.insert(used);
            }
        }
    }
    graph
}

/// The graph as lines, `module -> a, b`, for `--nocapture`.
pub fn describe(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(module, names)| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            format!("{module} -> {}\n", names.join(", "))
        })
        .collect()
}

/// The text before the file's unit tests.
pub fn shipped(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `error.rs` → `error`, `message/receipts.rs` → `message`.
fn top_module(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The first segment after every `crate::` outside comments, including
/// those inside `use crate::{a, b}` groups.
pub fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    if let Some(name) = ident(item.trim()) {
                        found.insert(name);
                    }
                }
            } else if let Some(name) = ident(rest) {
                found.insert(name);
            }
        }
    }
    found
}

fn ident(s: &str) -> Option<String> {
    let name: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The modules left in or behind a cycle once every module that imports
/// nothing still present has been removed, repeatedly (Kahn); empty when
/// the graph has no cycle.
pub fn in_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut left: BTreeMap<&str, BTreeSet<&str>> = graph
        .iter()
        .map(|(m, names)| {
            let inside = names
                .iter()
                .map(String::as_str)
                .filter(|n| graph.contains_key(*n))
                .collect();
            (m.as_str(), inside)
        })
        .collect();
    loop {
        let ground: Vec<&str> = left
            .iter()
            .filter(|(_, names)| names.is_empty())
            .map(|(m, _)| *m)
            .collect();
        if ground.is_empty() {
            break;
        }
        for m in &ground {
            left.remove(m);
        }
        for names in left.values_mut() {
            for m in &ground {
                names.remove(m);
            }
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_sees_groups_and_paths_and_skips_comments_and_tests() {
        let text = "use crate::links::{Links, typed};\nuse crate::{metrics::Metrics, store};\n\
                    // crate::router in a comment\n\
                    let x = crate::disco::component_features(a, b); // crate::shaping\n\
                    #[cfg(test)]\nmod tests {\n    use crate::config;\n}\n";
        let found: Vec<String> = crate_paths(shipped(text)).into_iter().collect();
        assert_eq!(found, vec!["disco", "links", "metrics", "store"]);
    }

    #[test]
    fn a_cycle_is_reported_with_what_hangs_on_it() {
        let graph: BTreeMap<String, BTreeSet<String>> = [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
            ("d", vec!["a"]),
            ("e", vec![]),
            ("f", vec!["e", "outside"]),
        ]
        .into_iter()
        .map(|(m, names)| (m.to_owned(), names.into_iter().map(str::to_owned).collect()))
        .collect();
        let left: Vec<&str> = in_cycles(&graph).keys().copied().collect();
        assert_eq!(left, vec!["a", "b", "c", "d"]);
        graph.get("e").expect("e");
        let acyclic: BTreeMap<String, BTreeSet<String>> = graph
            .into_iter()
            .filter(|(m, _)| m == "e" || m == "f")
            .collect();
        assert!(in_cycles(&acyclic).is_empty());
    }
}
