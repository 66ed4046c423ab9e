//! The gateway's module layering, read from its own source (issue 20): the
//! router only dispatches and nothing imports it back; each handler family
//! (`message/`, `presence/`, `session/`, `groupchat/`, `conference/`, `disco`) keeps to itself; the modules import
//! each other without a cycle. Rerun with
//! `cargo test -p parley-gateway --test layers -- --nocapture` to print the
//! import graph it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use parley_harness::layers::{describe, in_cycles};

/// The handler families: none may name another.
const HANDLERS: [&str; 6] = [
    "message",
    "presence",
    "session",
    "groupchat",
    "conference",
    "disco",
];

/// Top-level module → the top-level modules it names with `crate::`. The
/// wiring (`lib.rs`, `main.rs`) declares every module; `tests/` is the
/// in-process router tests, which may reach anything.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    parley_harness::layers::import_graph(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &["lib", "main", "tests"],
    )
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
    print!("{}", describe(&graph));
    assert!(graph.contains_key("router"), "router.rs was read");
    let left = in_cycles(&graph);
    assert!(left.is_empty(), "modules in a cycle: {left:?}");
}
