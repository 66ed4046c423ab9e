//! The crate's module layering, read from its own source (issue 20): the
//! modules import each other without a cycle. The error type is a leaf that
//! the failing modules import (`failure`); RFC 7247's tables (`error`) sit on
//! top, importing addresses and answers, and nothing imports them back.
//! Rerun with `cargo test -p parley-mapping --test layers -- --nocapture` to
//! print the import graph it checks.
//!
//! The reader is the one of `gateway/tests/layers.rs`: `crate::` paths
//! outside comments and outside the `#[cfg(test)] mod tests` block at the end
//! of each file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the modules it names with `crate::`.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = top_module(relative);
        // The wiring declares and re-exports every module.
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        // Unit tests may reach anywhere: the layering is the shipped code's.
        let names = graph.entry(module.clone()).or_default();
        for used in crate_paths(shipped(&text)) {
            if used != module {
                names.insert(used);
            }
        }
    }
    graph
}

/// The text before the file's unit tests.
fn shipped(text: &str) -> &str {
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

/// `error.rs` → `error` (and `a/b.rs` → `a`, should the crate grow folders).
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
fn crate_paths(text: &str) -> BTreeSet<String> {
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
fn in_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<&str, BTreeSet<&str>> {
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

#[test]
fn modules_import_each_other_without_a_cycle() {
    let graph = import_graph();
    for (module, names) in &graph {
        println!(
            "{module} -> {}",
            names.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    // The source was read: the modules the old cycle ran through, and an edge.
    for module in ["address", "answer", "body", "error", "jid", "uri"] {
        assert!(graph.contains_key(module), "{module}.rs was read");
    }
    assert!(graph["error"].contains("answer"), "error imports answer");
    let left = in_cycles(&graph);
    assert!(left.is_empty(), "modules in a cycle: {left:?}");
}

#[test]
fn the_failure_type_names_no_module_that_can_fail() {
    let graph = import_graph();
    let names = graph.get("failure").expect("failure.rs was read");
    // Only leaves: what `MappingError`'s variants carry.
    for name in names {
        let theirs = graph.get(name).expect("a module of the crate");
        assert!(
            theirs.is_empty(),
            "failure imports {name}, which imports {theirs:?}"
        );
    }
}

#[test]
fn nothing_imports_the_rfc7247_tables() {
    let graph = import_graph();
    let importers: Vec<&String> = graph
        .iter()
        .filter(|(_, names)| names.contains("error"))
        .map(|(module, _)| module)
        .collect();
    assert!(importers.is_empty(), "error is imported by {importers:?}");
}

#[test]
fn the_reader_sees_groups_and_paths_and_skips_comments_and_tests() {
    let text = "use crate::address::{Jid, SipAddress};\nuse crate::{body, failure::MappingError};\n/// [`crate::error`] in a doc comment\nlet x = crate::xml::parse(b, l); // crate::uri\n#[cfg(test)]\nmod tests {\n    use crate::pidf::Pidf;\n}\n";
    let found: Vec<String> = crate_paths(shipped(text)).into_iter().collect();
    assert_eq!(found, vec!["address", "body", "failure", "xml"]);
}

#[test]
fn a_cycle_is_reported_with_what_hangs_on_it() {
    let edges = [("a", "b"), ("b", "a"), ("c", "a"), ("d", "e")];
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(from.into()).or_default().insert(to.into());
        graph.entry(to.into()).or_default();
    }
    let left: Vec<&str> = in_cycles(&graph).into_keys().collect();
    assert_eq!(left, vec!["a", "b", "c"]);
}
