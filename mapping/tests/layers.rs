//! The crate's module layering, read from its own source (issue 20): the
//! modules import each other without a cycle. The error type is a leaf that
//! the failing modules import (`failure`); RFC 7247's tables (`error`) sit on
//! top, importing addresses and answers, and nothing imports them back.
//! Rerun with `cargo test -p parley-mapping --test layers -- --nocapture` to
//! print the import graph it checks.
//!
//! The reader is the harness's (`tests/src/layers.rs`), shared with
//! `gateway/tests/layers.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use parley_harness::layers::{describe, in_cycles};

/// Module → the modules it names with `crate::` (`lib.rs` declares and
/// re-exports every module, so it is left out).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    parley_harness::layers::import_graph(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &["lib"],
    )
}

#[test]
fn modules_import_each_other_without_a_cycle() {
    let graph = import_graph();
    print!("{}", describe(&graph));
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
