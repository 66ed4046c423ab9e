//! The crate's module layering, read from its own source (issue 20): the
//! modules import each other without a cycle, and the transports hand bytes
//! up through `transport::Intake` without naming the endpoint that
//! implements it. Rerun with `cargo test -p parley-sip --test layers --
//! --nocapture` to print the import graph it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use parley_harness::layers::{describe, in_cycles};

/// Top-level module → the modules it names with `crate::` (`lib.rs`
/// declares and re-exports every module, so it is left out).
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
    for module in ["endpoint", "transport", "transaction", "wire", "rate"] {
        assert!(graph.contains_key(module), "{module} was read");
    }
    assert!(
        graph["endpoint"].contains("transport"),
        "endpoint uses the transports"
    );
    let left = in_cycles(&graph);
    assert!(left.is_empty(), "modules in a cycle: {left:?}");
}

#[test]
fn the_transports_do_not_name_the_endpoint() {
    let graph = import_graph();
    let names = graph.get("transport").expect("transport/ was read");
    assert!(!names.contains("endpoint"), "transport imports {names:?}");
}

#[test]
fn the_sans_io_core_names_no_driver() {
    let graph = import_graph();
    for core in [
        "wire",
        "framing",
        "transaction",
        "locate",
        "rate",
        "dialog",
        "register",
    ] {
        let names = graph.get(core).unwrap_or_else(|| panic!("{core} was read"));
        for driver in ["endpoint", "transport", "resolver"] {
            assert!(!names.contains(driver), "{core} imports {driver}");
        }
    }
}
