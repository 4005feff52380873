//! The core's house rules, read from its own source:
//!
//! - **No circles between top-level modules.** The edges are the `crate::X` paths each
//!   top-level module names (in `use` lines and in code, `crate::{X, Y}` groups included). The
//!   floors run platform -> vault -> ctap, link, hybrid, enroll, obr -> api; a circle means two floors
//!   each reach into the other, which this check refuses with the circle it found.
//! - **The public surface is an explicit list.** Every module that is public outside the crate
//!   (a `pub mod` whose parents are all public) must be on `PUBLIC_MODULES`; internals are
//!   `pub(crate)` in the library the apps ship, declared through `internal!` (public only with
//!   the `testkit` feature, for the workspace's white-box tests) or `shared_with_the_pc_side!`
//!   (public with `pc`, for the pairing tool and the workspace server) in `lib.rs`. A new
//!   public module is a decision, made here.
//!
//! `super::` paths are not read: inside a top-level module they stay inside it (a `super::`
//! path that left it would be a review finding). Paths in comments are skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules the crate exports, by path. Each line is a decision: what apps or this workspace's
/// other binaries legitimately use.
const PUBLIC_MODULES: &[&str] = &[
    // The uniffi surface the apps call.
    "api", // The foreign traits the apps implement, and the desktop key store.
    "platform",
    // Strict CTAP2-canonical CBOR: the pairing tool, the workspace server and the virtual
    // phone's relying party build and read CTAP messages with it.
    "cbor",
    // CTAPHID framing and the socket server: the virtual phone and the pairing tool serve it.
    "ctaphid",
    // The shared test doubles: compiled only for tests and with the `testkit` feature.
    "testkit",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for `lib.rs` and binaries).
fn top_module(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        name => Some(name.trim_end_matches(".rs").to_owned()),
    }
}

/// The code of `text` without `//` comments (doc comments included) and string literals'
/// contents, so that prose naming a path is not an edge.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_string && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_string = !in_string;
            } else if !in_string {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The top-level modules named by `crate::` paths in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `authenticator_crate::` or `$crate::` are not this crate's paths.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::b, c, d::{e, f}}`: the names at depth 0 of the group.
            let mut depth = 0;
            let mut name = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !name.is_empty() {
                            found.insert(std::mem::take(&mut name));
                        }
                        at_start = true;
                    }
                    c if depth == 0 && at_start && (c.is_alphanumeric() || c == '_') => {
                        name.push(c)
                    }
                    _ if depth == 0 && at_start && !name.is_empty() => {
                        found.insert(std::mem::take(&mut name));
                        at_start = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                found.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Top-level module -> the other top-level modules it names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let tops: BTreeSet<String> = files.iter().filter_map(|f| top_module(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(top) = top_module(file) else {
            continue;
        };
        let code = code_only(&fs::read_to_string(file).unwrap());
        let edges = graph.entry(top.clone()).or_default();
        for target in crate_paths(&code) {
            if target != top && tops.contains(&target) {
                edges.insert(target);
            }
        }
    }
    graph
}

/// One circle of `graph`, as the path `a -> b -> ... -> a`, if there is any.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, done, stack) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(circle) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(circle);
        }
    }
    None
}

#[test]
fn the_top_level_modules_have_no_circle() {
    let graph = module_graph();
    assert!(graph.len() > 5, "the module graph was not read: {graph:?}");
    for (module, edges) in &graph {
        println!(
            "{module} -> {}",
            Vec::from_iter(edges.iter().cloned()).join(", ")
        );
    }
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "a circle between the core's top-level modules: {}",
            circle.join(" -> ")
        );
    }
}

#[test]
fn the_check_reads_paths_and_finds_circles() {
    let code = code_only(
        "use crate::vault::Vault;\nuse crate::{ctap::{a, b}, hex, request::X};\n\
         // crate::enroll in a comment\nlet s = \"crate::obr\"; $crate::api; x(crate::link::f());",
    );
    assert_eq!(
        Vec::from_iter(crate_paths(&code)),
        ["ctap", "hex", "link", "request", "vault"]
    );
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(find_circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let mut acyclic = graph.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(find_circle(&acyclic), None);
}

/// Every module that is public outside the crate: `pub mod` lines (not `pub(crate)`), whose
/// parents are public too. Modules declared through `internal!` are not public.
fn public_modules() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    // module path of each file, and the `pub mod` names each declares.
    let mut declared: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(src()).unwrap();
        let mut path: Vec<String> = rel
            .iter()
            .map(|c| c.to_str().unwrap().trim_end_matches(".rs").to_owned())
            .collect();
        if path.first().is_some_and(|p| p == "bin") {
            continue;
        }
        if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
            path.pop();
        }
        let code = code_only(&fs::read_to_string(file).unwrap());
        for line in code.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("pub mod ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // `pub mod $module;` inside `internal!` and `shared_with_the_pc_side!`: not
                // public in the library the apps ship.
                if !name.is_empty() {
                    declared.entry(path.clone()).or_default().insert(name);
                }
            }
        }
    }
    let mut public = BTreeSet::new();
    let mut frontier = vec![Vec::<String>::new()];
    while let Some(parent) = frontier.pop() {
        for name in declared.get(&parent).into_iter().flatten() {
            let mut child = parent.clone();
            child.push(name.clone());
            public.insert(child.join("::"));
            frontier.push(child);
        }
    }
    public
}

#[test]
fn every_public_module_is_on_the_list() {
    let public = public_modules();
    assert!(public.contains("api"), "the public modules were not read");
    let listed: BTreeSet<String> = PUBLIC_MODULES.iter().map(|m| m.to_string()).collect();
    let unlisted: Vec<&String> = public
        .iter()
        .filter(|m| {
            // A public module inside a listed one is part of that decision.
            !listed.contains(*m) && !listed.iter().any(|l| m.starts_with(&format!("{l}::")))
        })
        .collect();
    assert!(
        unlisted.is_empty(),
        "public modules not on PUBLIC_MODULES in tests/module_graph.rs (make them pub(crate) \
         or `internal!`, or add them to the list with the reason): {unlisted:?}"
    );
    let stale: Vec<&String> = listed.iter().filter(|l| !public.contains(*l)).collect();
    assert!(stale.is_empty(), "listed but not public: {stale:?}");
}
