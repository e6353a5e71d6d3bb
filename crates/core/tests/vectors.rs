//! Runs every golden vector of `tests/vectors/` against the native store.

use sessionwire_core::store::Store;
use sessionwire_core::vectors::{run_vector, NativeDriver};
use std::path::Path;

#[test]
fn every_golden_vector_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 25,
        "expected at least 25 vectors, found {}",
        paths.len()
    );
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).expect("readable vector");
            run_vector(&text, |prefix| NativeDriver(Store::new(prefix)))
                .err()
                .map(|problem| format!("{}: {problem}", path.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n\n")
    );
}
