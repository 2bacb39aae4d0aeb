//! Every ```rust block of the README is the region of an example program, word for word
//! (MIRRORS: the first is `engine/examples/readme.rs`, then `http_fallback.rs`,
//! `axum_handoff.rs` and `recovery.rs`, which engine/tests/http_fallback.rs, http_handoff.rs and
//! sio_recovery.rs run): this test checks that the texts match and that no block lacks its
//! example. It runs the first example and drives it with the stock socket.io-client
//! (interop/readme.mjs), as a user copying the example would, and builds what the README tells
//! a user to make (a new crate with its ```toml dependencies and the first ```rust block in
//! `main`) and drives that program the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

/// The repository root.
fn root() -> PathBuf {
    common::interop_dir().join("..")
}

/// The README's ```rust blocks, in order, and the example (`engine/examples/<name>.rs`) whose
/// region between `// README begin` and `// README end` each one is.
const MIRRORS: &[&str] = &["readme", "http_fallback", "axum_handoff", "recovery"];

/// The texts of the README's ```<lang> blocks, in order (a block's info string may add
/// attributes after the language: ```rust,ignore is a rust block too).
fn readme_blocks(lang: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (Some(block), Some("")) => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, Some(info)) => {
                if info.split([',', ' ']).next() == Some(lang) {
                    current = Some(String::new());
                }
            }
            (None, None) => {}
        }
    }
    assert!(
        current.is_none(),
        "a {lang} block of the README is not closed"
    );
    blocks
}

/// The text of the README's first ```<lang> block.
fn readme_block(lang: &str) -> String {
    readme_blocks(lang)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {lang} block in the README"))
}

/// The region of `engine/examples/<name>.rs` between its `// README begin` and `// README end`
/// lines, dedented by the leading whitespace its lines share; with the example's `use` lines
/// and a blank line in front when `with_uses`.
fn example_region(name: &str, with_uses: bool) -> String {
    let path = root().join(format!("engine/examples/{name}.rs"));
    let example = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let lines: Vec<&str> = example.lines().collect();
    let marker = |text: &str| {
        let at: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim() == text)
            .collect();
        assert_eq!(at.len(), 1, "{name}.rs needs exactly one `{text}` line");
        at[0]
    };
    let (begin, end) = (marker("// README begin"), marker("// README end"));
    assert!(
        begin < end,
        "{name}.rs: `// README end` before `// README begin`"
    );
    let body = &lines[begin + 1..end];
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut text = String::new();
    if with_uses {
        let uses: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("use "))
            .collect();
        text = format!("{}\n\n", uses.join("\n"));
    }
    for line in body {
        text.push_str(line.get(indent..).unwrap_or(""));
        text.push('\n');
    }
    text
}

#[test]
fn each_readme_rust_block_is_the_region_of_its_example() {
    let blocks = readme_blocks("rust");
    let mut differ = Vec::new();
    for (k, (block, name)) in blocks.iter().zip(MIRRORS).enumerate() {
        let example = example_region(name, block.starts_with("use "));
        if *block != example {
            differ.push(format!(
                "README rust block {} and engine/examples/{name}.rs differ\n\
                 --- README\n{block}--- {name}.rs\n{example}",
                k + 1
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn every_readme_rust_block_has_an_example() {
    let count = readme_blocks("rust").len();
    assert_eq!(
        count,
        MIRRORS.len(),
        "README.md has {count} rust blocks and MIRRORS names {} examples: a block needs an \
         example whose `// README begin`/`// README end` region it is (MIRRORS in this file)",
        MIRRORS.len()
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
