//! `parley` command line.
fn main() {
    println!("parley {}", env!("CARGO_PKG_VERSION"));
}
