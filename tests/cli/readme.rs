//! The README as a new user reads it: its Rust example is the example
//! program that `cargo test` builds, and its links stay inside the repository.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

#[test]
fn the_rust_example_is_the_example_program_as_written() {
    let example = std::fs::read_to_string(root().join("stub-lib/examples/lookup.rs")).expect("the example");
    let readme = readme();
    let block = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```\n").next())
        .expect("a ```rust block in the README");
    assert_eq!(
        block, example,
        "the README's block is stub-lib/examples/lookup.rs, byte for byte"
    );
}

#[test]
fn every_link_points_inside_the_repository() {
    let readme = readme();
    for target in readme
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
    {
        if target.starts_with("http://") || target.starts_with("https://") || target.starts_with('#') {
            continue;
        }
        assert!(!target.starts_with(".."), "{target} is outside the repository");
        assert!(root().join(target).exists(), "{target} does not exist");
    }
    for word in readme.split_whitespace() {
        assert!(
            !word.contains("../"),
            "README names a path outside the repository: {word}"
        );
    }
}
