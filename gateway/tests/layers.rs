//! The gateway's module layering, read from its own source (issue 20): the
//! router only dispatches and nothing imports it back; each handler family
//! (`message/`, `presence/`, `disco`) keeps to itself; the modules import
//! each other without a cycle. Rerun with
//! `cargo test -p parley-gateway --test layers -- --nocapture` to print the
//! import graph it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The handler families: none may name another.
const HANDLERS: [&str; 3] = ["message", "presence", "disco"];

/// Top-level module → the top-level modules it names with `crate::`.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = top_module(relative);
        // The wiring declares every module; `tests/` is the in-process
        // router tests, which may reach anything.
        if module == "lib" || module == "main" || module == "tests" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        // Unit tests may reach anywhere: the layering is the shipped code's.
        let shipped = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let names = graph.entry(module.clone()).or_default();
        for used in crate_paths(shipped) {
            if used != module {
                names.insert(used);
            }
        }
    }
    graph
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

/// `message/receipts.rs` → `message`, `router.rs` → `router`.
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

#[test]
fn nothing_imports_the_router_but_the_wiring_and_the_drain() {
    let graph = import_graph();
    let importers: Vec<&String> = graph
        .iter()
        .filter(|(_, names)| names.contains("router"))
        .map(|(module, _)| module)
        .collect();
    assert_eq!(
        importers,
        vec!["drain"],
        "the router is imported by {importers:?}"
    );
    assert!(graph.contains_key("router"), "router.rs was read");
}

#[test]
fn handler_families_do_not_import_each_other() {
    let graph = import_graph();
    for handler in HANDLERS {
        let names = graph
            .get(handler)
            .unwrap_or_else(|| panic!("{handler} was read"));
        for other in HANDLERS.iter().filter(|h| **h != handler) {
            assert!(
                !names.contains(*other),
                "{handler} imports {other}: {names:?}"
            );
        }
    }
}

#[test]
fn the_links_name_no_handler() {
    let graph = import_graph();
    let names = graph.get("links").expect("links.rs was read");
    for handler in HANDLERS.iter().chain(&["router"]) {
        assert!(!names.contains(*handler), "links imports {handler}");
    }
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
    // Kahn: repeatedly remove modules that import nothing still present.
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
    assert!(left.is_empty(), "modules in a cycle: {left:?}");
}

#[test]
fn the_reader_sees_groups_and_paths() {
    let text = "use crate::links::{Links, typed};\nuse crate::{metrics::Metrics, store};\n// crate::router in a comment\nlet x = crate::disco::component_features(a, b);";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, vec!["disco", "links", "metrics", "store"]);
}
