//! The README's first example is the program `engine/examples/readme.rs`, word for word: this
//! test checks that the two texts match, then runs the example and drives it with the stock
//! socket.io-client (interop/readme.mjs), as a user copying the example would.

mod common;

/// The README's first ```rust block, and the example's region between its markers (dedented),
/// with the example's `use` lines in front.
fn texts() -> (String, String) {
    let root = common::interop_dir().join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("```rust\n")
        .expect("a rust block in the README")
        + 8;
    let end = start + readme[start..].find("```\n").unwrap();
    let example = std::fs::read_to_string(root.join("engine/examples/readme.rs")).unwrap();
    let uses: Vec<&str> = example.lines().filter(|l| l.starts_with("use ")).collect();
    let begin = example.find("    // README begin\n").unwrap() + "    // README begin\n".len();
    let stop = example.find("    // README end\n").unwrap();
    let body: Vec<&str> = example[begin..stop]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let ours = format!("{}\n\n{}\n", uses.join("\n"), body.join("\n"));
    (readme[start..end].to_string(), ours)
}

#[test]
fn the_readme_example_is_the_example_program() {
    let (readme, example) = texts();
    assert_eq!(
        readme, example,
        "README.md and engine/examples/readme.rs differ"
    );
}

#[test]
fn the_readme_example_works_with_the_stock_client() {
    let server = common::ServerProcess::start("readme", &[]);
    let out = common::run_node("readme.mjs", &[&server.url()]);
    common::assert_cases(
        &out,
        &[
            "a client without auth is refused",
            "a room member gets the chat of another, the sender does not",
            "getData is acknowledged with the object",
            "the timed question gets its answer",
            "a member leaving is announced with its reason",
            "a dynamic namespace accepts a client",
        ],
    );
}
