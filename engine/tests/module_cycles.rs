//! No import cycle among the files of `engine/src/server/` and `engine/src/client/`.
//!
//! A file in a cycle cannot be read, tested or moved without every other file of the cycle, so
//! the modules stop being layers. This test walks the crate's module tree from `src/lib.rs`
//! (`mod x;` declarations, which are containment and not dependencies), builds a graph between
//! files from `use crate::…` / `use super::…` / `use self::…` statements (grouped, multi-line,
//! `pub use`, `pub(crate) use`) and from paths in code (`super::x::y()`,
//! `crate::server::x::Y`), and resolves each path to the file that defines the item: through
//! a `mod.rs` re-export (`pub use socket::Socket;`) to `socket.rs`, to `mod.rs` only for items
//! defined there. Test code (`#[cfg(test)]` items, and files declared under `#[cfg(test)]`) is
//! left out: it may reach anywhere. Strongly connected components (Tarjan) of that graph are
//! the cycles; each is reported with its files and one `use` line per edge.
//!
//! The checker is plain text processing (comments and literals blanked, then tokens), not a
//! Rust parser; the `checker` tests at the end prove it on small fixtures, including that it
//! does fail on a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The trees checked, as path prefixes under `engine/src`.
const CHECKED: &[&str] = &["server/", "client/"];

#[test]
fn client_has_no_import_cycle() {
    assert_no_cycle_in("client/");
}

#[test]
fn server_has_no_import_cycle() {
    assert_no_cycle_in("server/");
}

/// Fails with every cycle that reaches a file of `tree`, each with the `use` line of every edge.
fn assert_no_cycle_in(tree: &str) {
    let krate = load_crate();
    let cycles: Vec<Cycle> = krate
        .cycles(CHECKED)
        .into_iter()
        .filter(|c| c.files.iter().any(|f| f.starts_with(tree)))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles in engine/src/{tree}:\n{}",
        report(&cycles)
    );
}

/// Guards against a vacuous pass: the walk must reach both trees and see their imports.
#[test]
fn the_walk_reaches_both_trees() {
    let krate = load_crate();
    for tree in CHECKED {
        let files = krate.files.iter().filter(|f| f.path.starts_with(tree));
        assert!(files.count() >= 5, "too few files found under {tree}");
        let edges = krate.edges(&[tree]);
        assert!(edges.len() >= 5, "too few imports found under {tree}");
    }
}

/// The crate's sources, keyed by path under `engine/src`.
fn load_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    read_tree(&src, &src, &mut sources);
    Crate::load(&sources, "lib.rs")
}

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy();
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(rel.replace('\\', "/"), text);
        }
    }
}

/// A cycle: the files of one strongly connected component and the edges among them.
#[derive(Clone, Debug)]
struct Cycle {
    files: Vec<String>,
    /// `(from, to, evidence)`.
    edges: Vec<(String, String, String)>,
}

fn report(cycles: &[Cycle]) -> String {
    let mut out = String::new();
    for (n, cycle) in cycles.iter().enumerate() {
        out += &format!(
            "cycle {} ({} files): {}\n",
            n + 1,
            cycle.files.len(),
            cycle.files.join(", ")
        );
        for (from, to, evidence) in &cycle.edges {
            out += &format!("  {from} -> {to}\n      {evidence}\n");
        }
    }
    if out.is_empty() {
        out.push_str("no import cycles\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Lexing: comments and literals blanked, then tokens with line numbers.

/// `src` with comments blanked and every string, byte-string or char literal replaced by `0`
/// and blanks; newlines are kept so line numbers still hold.
fn strip(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, from: usize, to: usize, literal: bool| {
        for (k, c) in chars[from..to.min(chars.len())].iter().enumerate() {
            out.push(match c {
                '\n' => '\n',
                _ if literal && k == 0 => '0',
                _ => ' ',
            });
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |p| i + p);
            blank(&mut out, i, end, false);
            i = end;
        } else if c == '/' && at(i + 1) == '*' {
            let (mut j, mut depth) = (i, 0usize);
            while j < chars.len() {
                if at(j) == '/' && at(j + 1) == '*' {
                    depth += 1;
                    j += 2;
                } else if at(j) == '*' && at(j + 1) == '/' {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j, false);
            i = j;
        } else if is_ident_start(c) {
            let mut j = i;
            while j < chars.len() && is_ident_char(at(j)) {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            let raw = matches!(word.as_str(), "r" | "br" | "cr");
            let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
            if raw && at(j + hashes) == '"' {
                let end = raw_string_end(&chars, j + hashes + 1, hashes);
                blank(&mut out, i, end, true);
                i = end;
            } else if word == "r" && hashes == 1 && is_ident_start(at(j + 1)) {
                // A raw identifier, `r#type`: keep the name.
                out.push_str("  ");
                i = j + 1;
            } else if matches!(word.as_str(), "b" | "c") && at(j) == '"' {
                let end = quoted_end(&chars, j, '"');
                blank(&mut out, i, end, true);
                i = end;
            } else if word == "b" && at(j) == '\'' {
                let end = quoted_end(&chars, j, '\'');
                blank(&mut out, i, end, true);
                i = end;
            } else {
                out.push_str(&word);
                i = j;
            }
        } else if c == '"' {
            let end = quoted_end(&chars, i, '"');
            blank(&mut out, i, end, true);
            i = end;
        } else if c == '\'' && (at(i + 1) == '\\' || (at(i + 1) != '\n' && at(i + 2) == '\'')) {
            let end = quoted_end(&chars, i, '\'');
            blank(&mut out, i, end, true);
            i = end;
        } else {
            // A lifetime's quote stays; the tokenizer reads it.
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The index after the closing `quote` of the literal opened at `open`, skipping escapes.
fn quoted_end(chars: &[char], open: usize, quote: char) -> usize {
    let mut j = open + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    chars.len()
}

/// The index after a raw string's closing `"` and `hashes` hashes; `body` is after the `"`.
fn raw_string_end(chars: &[char], body: usize, hashes: usize) -> usize {
    let mut j = body;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return j + 1 + hashes;
        }
        j += 1;
    }
    chars.len()
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ident,
    Punct,
    Lifetime,
    Literal,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    text: String,
    /// 1-based.
    line: usize,
}

impl Token {
    fn is(&self, punct: &str) -> bool {
        self.kind == Kind::Punct && self.text == punct
    }

    fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Ident && self.text == word
    }
}

/// Tokens of stripped source: identifiers, lifetimes, number literals, `::`, and single
/// punctuation characters.
fn tokenize(stripped: &str) -> Vec<Token> {
    let chars: Vec<char> = stripped.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind = if c == '\n' {
            line += 1;
            i += 1;
            continue;
        } else if c.is_whitespace() {
            i += 1;
            continue;
        } else if is_ident_start(c) {
            while is_ident_char(at(i)) {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_digit() {
            while is_ident_char(at(i)) {
                i += 1;
            }
            Kind::Literal
        } else if c == '\'' && is_ident_start(at(i + 1)) {
            i += 1;
            while is_ident_char(at(i)) {
                i += 1;
            }
            Kind::Lifetime
        } else if c == ':' && at(i + 1) == ':' {
            i += 2;
            Kind::Punct
        } else {
            i += 1;
            Kind::Punct
        };
        tokens.push(Token {
            kind,
            text: chars[start..i].iter().collect(),
            line,
        });
    }
    tokens
}

/// The index of the bracket closing the one at `open`, or `end`.
fn matching(tokens: &[Token], open: usize, end: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().take(end).skip(open) {
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    end
}

/// The index after the item (or statement, or field when `in_block`) starting at `start`: after
/// its `;`, or its closing `}`.
fn item_end(tokens: &[Token], start: usize, end: usize, in_block: bool) -> usize {
    let mut depth = 0isize;
    for (k, t) in tokens.iter().enumerate().take(end).skip(start) {
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" => depth -= 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
                if depth < 0 {
                    return k;
                }
            }
            ";" if depth == 0 => return k + 1,
            "," if depth == 0 && in_block => return k + 1,
            _ => {}
        }
    }
    end
}

/// Whether an attribute (its tokens joined, without `#[` and `]`) compiles its item only in
/// tests.
fn is_cfg_test(attr: &str) -> bool {
    attr == "cfg(test)" || attr.starts_with("cfg(all(test,") || attr.starts_with("cfg(all(test)")
}

// ---------------------------------------------------------------------------------------------
// The module tree and the paths each file names.

/// One parsed module file.
#[derive(Debug)]
struct SourceFile {
    /// Under `engine/src`, e.g. `server/sio/mod.rs`.
    path: String,
    /// The stripped text's lines, for evidence.
    lines: Vec<String>,
}

/// A module: a file, or an inline `mod x { ... }` in one.
#[derive(Debug, Default)]
struct Module {
    file: usize,
    parent: Option<usize>,
    /// Where the files of its `mod x;` children live.
    child_dir: String,
    children: BTreeMap<String, usize>,
    /// `use` leaves at module level: the name they bring in, and the path as written.
    imports: Vec<(String, Vec<String>)>,
    globs: Vec<Vec<String>>,
    /// Names of items defined here (`fn`, `struct`, `enum`, `trait`, `type`, `const`, ...).
    items: BTreeSet<String>,
}

/// A path named by a `use` leaf or in code, as written in `module`.
#[derive(Debug)]
struct Ref {
    module: usize,
    file: usize,
    path: Vec<String>,
    first_line: usize,
    last_line: usize,
    is_use: bool,
}

/// A `use` tree's leaf: its path, and the name it binds (`None` for a glob).
struct Leaf {
    path: Vec<String>,
    name: Option<String>,
}

#[derive(Debug, Default)]
struct Crate {
    files: Vec<SourceFile>,
    modules: Vec<Module>,
    refs: Vec<Ref>,
}

impl Crate {
    /// Walks the module tree from `root` (e.g. `lib.rs`) through `sources`.
    fn load(sources: &BTreeMap<String, String>, root: &str) -> Crate {
        let mut krate = Crate::default();
        krate.add_file_module(sources, root, None);
        krate
    }

    fn add_file_module(
        &mut self,
        sources: &BTreeMap<String, String>,
        path: &str,
        parent: Option<usize>,
    ) -> Option<usize> {
        let text = sources.get(path)?;
        let stripped = strip(text);
        let tokens = tokenize(&stripped);
        let file = self.files.len();
        self.files.push(SourceFile {
            path: path.to_owned(),
            lines: stripped.lines().map(str::to_owned).collect(),
        });
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let child_dir = if matches!(name, "mod.rs" | "lib.rs" | "main.rs") {
            dir.to_owned()
        } else {
            path.trim_end_matches(".rs").to_owned()
        };
        let module = self.modules.len();
        self.modules.push(Module {
            file,
            parent,
            child_dir,
            ..Module::default()
        });
        self.parse_scope(sources, &tokens, 0, tokens.len(), module, true);
        Some(module)
    }

    /// Reads `tokens[start..end]`, the body of `module` (`module_level`) or a block in it.
    fn parse_scope(
        &mut self,
        sources: &BTreeMap<String, String>,
        tokens: &[Token],
        start: usize,
        end: usize,
        module: usize,
        module_level: bool,
    ) {
        let file = self.modules[module].file;
        let (mut i, mut depth, mut skip_item) = (start, 0usize, false);
        while i < end {
            let t = &tokens[i];
            let next = |k: usize| tokens.get(i + k).filter(|_| i + k < end);
            if t.is("#") {
                let inner = next(1).is_some_and(|n| n.is("!"));
                let open = i + 1 + usize::from(inner);
                if tokens.get(open).is_some_and(|n| n.is("[")) {
                    let close = matching(tokens, open, end);
                    let attr: String = tokens[open + 1..close]
                        .iter()
                        .map(|t| t.text.as_str())
                        .collect();
                    if is_cfg_test(&attr) {
                        if inner {
                            return;
                        }
                        skip_item = true;
                    }
                    i = close + 1;
                    continue;
                }
            }
            if skip_item {
                skip_item = false;
                i = item_end(tokens, i, end, depth > 0 || !module_level);
                continue;
            }
            let at_top = module_level && depth == 0;
            match (t.kind, t.text.as_str()) {
                (Kind::Punct, "(" | "[" | "{") => depth += 1,
                (Kind::Punct, ")" | "]" | "}") => depth = depth.saturating_sub(1),
                // `pub(crate)`, `pub(in crate::x)`: visibility, not a dependency.
                (Kind::Ident, "pub") if next(1).is_some_and(|n| n.is("(")) => {
                    i = matching(tokens, i + 1, end) + 1;
                    continue;
                }
                (Kind::Ident, "use") => {
                    let semi = item_end(tokens, i, end, false).saturating_sub(1).max(i);
                    let mut leaves = Vec::new();
                    let mut j = i + 1;
                    while j < semi {
                        parse_use_tree(tokens, &mut j, semi, Vec::new(), &mut leaves);
                    }
                    for leaf in leaves {
                        self.refs.push(Ref {
                            module,
                            file,
                            path: leaf.path.clone(),
                            first_line: t.line,
                            last_line: tokens[semi.min(end - 1)].line,
                            is_use: true,
                        });
                        if at_top {
                            let m = &mut self.modules[module];
                            match leaf.name {
                                Some(name) if name != "_" => m.imports.push((name, leaf.path)),
                                Some(_) => {}
                                None => m.globs.push(leaf.path),
                            }
                        }
                    }
                    i = semi + 1;
                    continue;
                }
                (Kind::Ident, "mod")
                    if at_top && next(1).is_some_and(|n| n.kind == Kind::Ident) =>
                {
                    let name = tokens[i + 1].text.clone();
                    if next(2).is_some_and(|n| n.is(";")) {
                        let dir = &self.modules[module].child_dir;
                        let base = if dir.is_empty() {
                            name.clone()
                        } else {
                            format!("{dir}/{name}")
                        };
                        let path = [format!("{base}.rs"), format!("{base}/mod.rs")]
                            .into_iter()
                            .find(|p| sources.contains_key(p));
                        if let Some(path) = path {
                            if let Some(child) = self.add_file_module(sources, &path, Some(module))
                            {
                                self.modules[module].children.insert(name, child);
                            }
                        }
                        i += 3;
                        continue;
                    }
                    if next(2).is_some_and(|n| n.is("{")) {
                        let close = matching(tokens, i + 2, end);
                        let parent_dir = self.modules[module].child_dir.clone();
                        let child = self.modules.len();
                        self.modules.push(Module {
                            file,
                            parent: Some(module),
                            child_dir: format!("{parent_dir}/{name}"),
                            ..Module::default()
                        });
                        self.modules[module].children.insert(name, child);
                        self.parse_scope(sources, tokens, i + 3, close, child, true);
                        i = close + 1;
                        continue;
                    }
                }
                (
                    Kind::Ident,
                    "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union",
                ) if at_top => {
                    if let Some(name) = next(1).filter(|n| n.kind == Kind::Ident) {
                        self.modules[module].items.insert(name.text.clone());
                    }
                }
                (Kind::Ident, "macro_rules") if at_top => {
                    if let Some(name) = next(2).filter(|n| n.kind == Kind::Ident) {
                        self.modules[module].items.insert(name.text.clone());
                    }
                }
                (Kind::Ident, _) if next(1).is_some_and(|n| n.is("::")) => {
                    let prev = i.checked_sub(1).map(|p| &tokens[p]);
                    // Not the middle of a longer path, nor `$crate::` in a macro.
                    if !prev.is_some_and(|p| p.is("::") || p.is("$")) {
                        let mut path = vec![t.text.clone()];
                        let mut j = i + 1;
                        while j + 1 < end && tokens[j].is("::") && tokens[j + 1].kind == Kind::Ident
                        {
                            path.push(tokens[j + 1].text.clone());
                            j += 2;
                        }
                        self.refs.push(Ref {
                            module,
                            file,
                            path,
                            first_line: t.line,
                            last_line: t.line,
                            is_use: false,
                        });
                        i = j;
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// Whether `name` is bound in `module` (so a relative path starting with it is local, not
    /// an external crate).
    fn binds(&self, module: usize, name: &str) -> bool {
        let m = &self.modules[module];
        m.children.contains_key(name)
            || m.items.contains(name)
            || m.imports.iter().any(|(n, _)| n == name)
    }

    /// The file that defines what `path`, written in `module`, names; `None` outside the crate.
    fn resolve(&self, module: usize, path: &[String], depth: usize) -> Option<usize> {
        let first = path.first()?;
        if depth > 32 {
            return None;
        }
        let (mut current, mut rest) = (module, path);
        match first.as_str() {
            "crate" => (current, rest) = (0, &path[1..]),
            "self" => rest = &path[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    current = self.modules[current].parent?;
                    rest = &rest[1..];
                }
            }
            name if self.binds(module, name) => {}
            _ => return None,
        }
        self.walk(current, rest, depth)
    }

    /// Follows `rest` down from `module`: through child modules, and through imports to where
    /// the imported item is defined.
    fn walk(&self, module: usize, rest: &[String], depth: usize) -> Option<usize> {
        let m = &self.modules[module];
        let Some(first) = rest.first() else {
            return Some(m.file);
        };
        if let Some(&child) = m.children.get(first) {
            return self.walk(child, &rest[1..], depth);
        }
        if let Some((_, target)) = m.imports.iter().rev().find(|(n, _)| n == first) {
            let mut path = target.clone();
            path.extend_from_slice(&rest[1..]);
            return self.resolve(module, &path, depth + 1);
        }
        if m.items.contains(first) {
            return Some(m.file);
        }
        for glob in &m.globs {
            if let Some(target) = self.module_at(module, glob, depth + 1) {
                if self.binds(target, first) {
                    return self.walk(target, rest, depth + 1);
                }
            }
        }
        // Unknown here (made by a macro, say): this module's file is the best guess.
        Some(m.file)
    }

    /// The module `path` (written in `module`) names, if it names one.
    fn module_at(&self, module: usize, path: &[String], depth: usize) -> Option<usize> {
        let mut current = module;
        let mut rest = path;
        match path.first()?.as_str() {
            "crate" => (current, rest) = (0, &path[1..]),
            "self" => rest = &path[1..],
            _ => {}
        }
        while rest.first().is_some_and(|s| s == "super") {
            current = self.modules[current].parent?;
            rest = &rest[1..];
        }
        for seg in rest {
            let m = &self.modules[current];
            current = match m.children.get(seg) {
                Some(&child) => child,
                None => {
                    let (_, target) = m.imports.iter().find(|(n, _)| n == seg)?;
                    if depth > 32 {
                        return None;
                    }
                    self.module_at(current, target, depth + 1)?
                }
            };
        }
        Some(current)
    }

    /// Edges between files under the `trees` prefixes: `(from, to)` with the first line that
    /// makes it, as evidence.
    fn edges(&self, trees: &[&str]) -> BTreeMap<(String, String), String> {
        let inside = |f: usize| trees.iter().any(|t| self.files[f].path.starts_with(t));
        let mut edges = BTreeMap::new();
        for r in &self.refs {
            if !inside(r.file) {
                continue;
            }
            let Some(to) = self.resolve(r.module, &r.path, 0) else {
                continue;
            };
            if to == r.file || !inside(to) {
                continue;
            }
            let from = &self.files[r.file];
            let key = (from.path.clone(), self.files[to].path.clone());
            edges.entry(key).or_insert_with(|| {
                let text = from.lines[r.first_line - 1..r.last_line.min(from.lines.len())]
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let kind = if r.is_use { "" } else { "(in code) " };
                format!("{}:{}: {kind}{text}", from.path, r.first_line)
            });
        }
        edges
    }

    /// The cycles (strongly connected components of more than one file) among the files under
    /// the `trees` prefixes.
    fn cycles(&self, trees: &[&str]) -> Vec<Cycle> {
        let edges = self.edges(trees);
        let names: Vec<String> = self
            .files
            .iter()
            .map(|f| f.path.clone())
            .filter(|p| trees.iter().any(|t| p.starts_with(t)))
            .collect();
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(k, n)| (n.as_str(), k))
            .collect();
        let mut adjacency = vec![Vec::new(); names.len()];
        for (from, to) in edges.keys() {
            adjacency[index[from.as_str()]].push(index[to.as_str()]);
        }
        let mut cycles: Vec<Cycle> = tarjan(&adjacency)
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| {
                let files: BTreeSet<String> = component.iter().map(|&k| names[k].clone()).collect();
                let edges = edges
                    .iter()
                    .filter(|((f, t), _)| files.contains(f) && files.contains(t))
                    .map(|((f, t), e)| (f.clone(), t.clone(), e.clone()))
                    .collect();
                Cycle {
                    files: files.into_iter().collect(),
                    edges,
                }
            })
            .collect();
        cycles.sort_by(|a, b| {
            b.files
                .len()
                .cmp(&a.files.len())
                .then(a.files.cmp(&b.files))
        });
        cycles
    }
}

/// Reads one use tree at `tokens[*j..end]` under `prefix`, adding its leaves.
fn parse_use_tree(
    tokens: &[Token],
    j: &mut usize,
    end: usize,
    prefix: Vec<String>,
    out: &mut Vec<Leaf>,
) {
    let mut path = prefix;
    while *j < end {
        let t = &tokens[*j];
        if t.kind == Kind::Ident && t.text != "as" {
            path.push(t.text.clone());
            *j += 1;
            if *j < end && tokens[*j].is("::") {
                *j += 1;
                continue;
            }
            let mut name = path.last().cloned();
            if *j + 1 < end && tokens[*j].is_word("as") {
                name = Some(tokens[*j + 1].text.clone());
                *j += 2;
            }
            // `a::b::{self}` binds `b` itself.
            if path.last().is_some_and(|s| s == "self") && path.len() > 1 {
                path.pop();
                if name.as_deref() == Some("self") {
                    name = path.last().cloned();
                }
            }
            out.push(Leaf { path, name });
            return;
        } else if t.is("::") {
            *j += 1;
        } else if t.is("{") {
            *j += 1;
            while *j < end {
                if tokens[*j].is("}") {
                    *j += 1;
                    break;
                }
                if tokens[*j].is(",") {
                    *j += 1;
                    continue;
                }
                parse_use_tree(tokens, j, end, path.clone(), out);
            }
            return;
        } else if t.is("*") {
            *j += 1;
            out.push(Leaf { path, name: None });
            return;
        } else {
            *j += 1;
            return;
        }
    }
}

/// Strongly connected components of a graph given as adjacency lists (Tarjan's algorithm).
fn tarjan(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        adjacency: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<Vec<usize>>,
    }
    fn connect(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.adjacency[v] {
            match s.index[w] {
                None => {
                    connect(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.components.push(component);
        }
    }
    let n = adjacency.len();
    let mut s = State {
        adjacency,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            connect(&mut s, v);
        }
    }
    s.components
}

// ---------------------------------------------------------------------------------------------
// The checker on fixtures: it sees what it must, and fails when it must.

mod checker {
    use super::*;

    fn fixture(files: &[(&str, &str)]) -> Crate {
        let sources = files
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
            .collect();
        Crate::load(&sources, "lib.rs")
    }

    fn edge_set(krate: &Crate) -> BTreeSet<(String, String)> {
        krate.edges(&["m/"]).into_keys().collect()
    }

    fn edge(from: &str, to: &str) -> (String, String) {
        (format!("m/{from}"), format!("m/{to}"))
    }

    const TREE: (&str, &str) = ("lib.rs", "mod m;");
    const MOD_ABCD: (&str, &str) = ("m/mod.rs", "mod a;\nmod b;\nmod c;\nmod d;\n");

    #[test]
    fn grouped_nested_and_multi_line_uses() {
        let krate = fixture(&[
            TREE,
            MOD_ABCD,
            (
                "m/a.rs",
                "use super::{b::B, c::{self as cc, C}};\npub(crate) use crate::m::d::{\n    D,\n    \
                 E as F,\n};\nuse std::fmt;\n",
            ),
            ("m/b.rs", "pub struct B;"),
            ("m/c.rs", "pub struct C;"),
            ("m/d.rs", "pub struct D; pub struct E;"),
        ]);
        let expected = [
            edge("a.rs", "b.rs"),
            edge("a.rs", "c.rs"),
            edge("a.rs", "d.rs"),
        ];
        assert_eq!(edge_set(&krate), expected.into_iter().collect());
        let evidence = &krate.edges(&["m/"])[&edge("a.rs", "d.rs")];
        assert_eq!(
            evidence,
            "m/a.rs:2: pub(crate) use crate::m::d::{ D, E as F, };"
        );
    }

    #[test]
    fn a_re_export_resolves_to_the_defining_file() {
        let krate = fixture(&[
            TREE,
            (
                "m/mod.rs",
                "mod a;\nmod b;\nmod socket;\npub use socket::Socket;\npub(crate) use \
                 socket::{Other, Third};\npub struct Local;\n",
            ),
            ("m/a.rs", "use super::{Socket, Third};\n"),
            (
                "m/b.rs",
                "use super::Local;\nfn f() { super::Other::new(); }\n",
            ),
            (
                "m/socket.rs",
                "pub struct Socket; pub struct Other; pub struct Third;",
            ),
        ]);
        let expected = [
            edge("a.rs", "socket.rs"),
            edge("b.rs", "mod.rs"),
            edge("b.rs", "socket.rs"),
            edge("mod.rs", "socket.rs"),
        ];
        assert_eq!(edge_set(&krate), expected.into_iter().collect());
    }

    #[test]
    fn a_private_import_of_the_parent_resolves_for_its_children() {
        let krate = fixture(&[
            TREE,
            ("m/mod.rs", "mod conn;"),
            (
                "m/conn.rs",
                "use lanes::Lane;\nstruct Core;\nmod lanes;\nmod recv;\n",
            ),
            ("m/conn/lanes.rs", "pub enum Lane { A }"),
            ("m/conn/recv.rs", "use super::{Core, Lane};"),
        ]);
        let expected = [
            edge("conn.rs", "conn/lanes.rs"),
            edge("conn/recv.rs", "conn.rs"),
            edge("conn/recv.rs", "conn/lanes.rs"),
        ];
        assert_eq!(edge_set(&krate), expected.into_iter().collect());
        assert!(krate.cycles(&["m/"]).is_empty());
    }

    #[test]
    fn a_three_file_cycle_is_found_with_evidence() {
        let krate = fixture(&[
            TREE,
            MOD_ABCD,
            ("m/a.rs", "use super::b::B;\npub struct A;"),
            (
                "m/b.rs",
                "pub struct B;\nfn f() { let _ = crate::m::c::C; }",
            ),
            ("m/c.rs", "pub struct C;\nuse super::{\n    a::A,\n};"),
            ("m/d.rs", "use super::a::A;"),
        ]);
        let cycles = krate.cycles(&["m/"]);
        assert_eq!(cycles.len(), 1, "{}", report(&cycles));
        assert_eq!(cycles[0].files, ["m/a.rs", "m/b.rs", "m/c.rs"]);
        let evidence: Vec<&str> = cycles[0].edges.iter().map(|(_, _, e)| e.as_str()).collect();
        assert_eq!(
            evidence,
            [
                "m/a.rs:1: use super::b::B;",
                "m/b.rs:2: (in code) fn f() { let _ = crate::m::c::C; }",
                "m/c.rs:2: use super::{ a::A, };",
            ]
        );
    }

    #[test]
    fn a_dag_passes() {
        let krate = fixture(&[
            TREE,
            MOD_ABCD,
            ("m/a.rs", "use super::{b::B, c::C};"),
            ("m/b.rs", "use super::c::C;\npub struct B;"),
            ("m/c.rs", "pub struct C; use super::d::*;"),
            ("m/d.rs", "pub struct D;"),
        ]);
        assert_eq!(edge_set(&krate).len(), 4);
        assert!(krate.cycles(&["m/"]).is_empty());
    }

    #[test]
    fn test_code_comments_strings_and_visibility_are_ignored() {
        let krate = fixture(&[
            TREE,
            ("m/mod.rs", "mod a;\nmod b;\n"),
            ("m/a.rs", "use super::b::B;\npub struct A;"),
            (
                "m/b.rs",
                "pub struct B;\n\
                 // use super::a::A;\n\
                 /* super::a::A /* nested */ super::a::A */\n\
                 const S: &str = \"super::a::A\";\n\
                 const R: &str = r#\"crate::m::a::A \" super::a::A\"#;\n\
                 const C: char = '\"';\n\
                 fn f<'a>(x: &'a str) -> &'a str { x }\n\
                 pub(in crate::m) fn g() {}\n\
                 #[cfg(test)]\n\
                 fn helper() { super::a::A; }\n\
                 #[cfg(test)]\n\
                 mod b_tests;\n\
                 #[cfg(test)]\n\
                 mod tests {\n    use super::super::a::A;\n    #[test]\n    fn t() { \
                 crate::m::a::A; }\n}\n",
            ),
            ("m/b/b_tests.rs", "use crate::m::a::A;"),
        ]);
        let expected = [edge("a.rs", "b.rs")];
        assert_eq!(edge_set(&krate), expected.into_iter().collect());
        assert!(krate.cycles(&["m/"]).is_empty());
        assert!(!krate.files.iter().any(|f| f.path == "m/b/b_tests.rs"));
    }

    #[test]
    fn a_mod_declaration_is_containment_not_a_dependency() {
        let krate = fixture(&[
            TREE,
            ("m/mod.rs", "mod a;\npub struct Shared;\n"),
            ("m/a.rs", "use super::Shared;"),
        ]);
        let expected = [edge("a.rs", "mod.rs")];
        assert_eq!(edge_set(&krate), expected.into_iter().collect());
        assert!(krate.cycles(&["m/"]).is_empty());
    }

    #[test]
    fn a_re_export_cycle_through_mod_rs_is_found() {
        // mod.rs re-exports b; a uses it through mod.rs, b uses a: a cycle of a and b, not of
        // mod.rs.
        let krate = fixture(&[
            TREE,
            ("m/mod.rs", "mod a;\nmod b;\npub use b::B;\n"),
            ("m/a.rs", "use super::B;\npub struct A;"),
            ("m/b.rs", "pub struct B;\nfn f() { super::a::A; }"),
        ]);
        let cycles = krate.cycles(&["m/"]);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].files, ["m/a.rs", "m/b.rs"]);
    }
}
