//! The README's first example is the program `engine/examples/readme.rs`, word for word: this
//! test checks that the two texts match, then runs the example and drives it with the stock
//! socket.io-client (interop/readme.mjs), as a user copying the example would. It also builds
//! what the README tells a user to make (a new crate with its ```toml dependencies and the
//! ```rust block in `main`) and drives that program the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

/// The repository root.
fn root() -> PathBuf {
    common::interop_dir().join("..")
}

/// The text of the README's first ```<lang> block.
fn readme_block(lang: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let fence = format!("```{lang}\n");
    let start = readme
        .find(&fence)
        .unwrap_or_else(|| panic!("no {lang} block in the README"))
        + fence.len();
    let end = start + readme[start..].find("```\n").unwrap();
    readme[start..end].to_string()
}

/// The README's first ```rust block, and the example's region between its markers (dedented),
/// with the example's `use` lines in front.
fn texts() -> (String, String) {
    let root = root();
    let example = std::fs::read_to_string(root.join("engine/examples/readme.rs")).unwrap();
    let uses: Vec<&str> = example.lines().filter(|l| l.starts_with("use ")).collect();
    let begin = example.find("    // README begin\n").unwrap() + "    // README begin\n".len();
    let stop = example.find("    // README end\n").unwrap();
    let body: Vec<&str> = example[begin..stop]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let ours = format!("{}\n\n{}\n", uses.join("\n"), body.join("\n"));
    (readme_block("rust"), ours)
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

/// What the README's prose tells a user to put around the ```rust block in `src/main.rs`.
const MAIN_OPEN: &str = "fn main() -> Result<(), Box<dyn std::error::Error>>";
const FIRST: &str = "volley::runtime::signal::block_termination_signals()?;";
const LAST: &str = "server.run_until_signal()?;";

/// Writes `path` only when its text differs, so that cargo sees an unchanged crate as fresh.
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A new crate as the README describes it: its ```toml block as the dependencies (volley's
/// source replaced by this checkout's engine/), `main` around its ```rust block; built into this
/// workspace's target dir so that volley and its dependencies are not compiled again.
fn readme_crate() -> PathBuf {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for needed in [MAIN_OPEN, FIRST, LAST] {
        assert!(
            readme.contains(needed),
            "the README no longer says {needed:?}"
        );
    }
    let engine = std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).unwrap();
    let mut volley_lines = 0;
    let deps: Vec<String> = readme_block("toml")
        .lines()
        .map(|l| {
            if l.starts_with("volley ") || l.starts_with("volley=") {
                volley_lines += 1;
                format!("volley = {{ path = {:?} }}", engine.display().to_string())
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_eq!(volley_lines, 1, "the README's toml block must add volley");
    // Its own [workspace]: the crate lies inside this repository's tree but is not a member.
    let manifest = format!(
        "[package]\nname = \"readme-user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [workspace]\n\n{}\n",
        deps.join("\n")
    );
    let main = format!(
        "{MAIN_OPEN} {{\n{FIRST}\n{}{LAST}\nOk(())\n}}\n",
        readme_block("rust")
    );
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.join("readme-crate");
    // Clean start, unless it holds exactly this crate already (then the build is reused).
    let same = std::fs::read_to_string(dir.join("Cargo.toml")).ok() == Some(manifest.clone())
        && std::fs::read_to_string(dir.join("src/main.rs")).ok() == Some(main.clone());
    if !same && dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    write_if_changed(&dir.join("src/main.rs"), &main);
    // The workspace's lock: the versions already compiled (cargo drops what the crate does not
    // use), and no registry needed.
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = tmp.parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README's crate does not build:\n{}\n{main}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug/readme-user")
}

#[test]
fn a_new_crate_made_as_the_readme_says_works_with_the_stock_client() {
    let binary = readme_crate();
    let addr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let server = common::ServerProcess::start_program(binary, addr);
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
