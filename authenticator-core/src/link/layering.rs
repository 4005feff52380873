//! The link's submodules depend on each other in one direction only (no circle), read from
//! the code's own paths: `super::x` in a file directly under `link/`, `crate::link::x`
//! anywhere under it, and the root's re-exports (`crate::link::Link` is `transport`'s).
//! Test modules are left out: a test may use both ends of an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const LINK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/link");

/// `(file relative to link/, its text without test modules)` for every source file.
fn sources(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let rel = format!("{prefix}{name}");
        if path.is_dir() {
            sources(&path, &format!("{rel}/"), out);
        } else if name.ends_with(".rs") && name != "tests.rs" && name != "layering.rs" {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            // Comments name modules in prose (`[`super::noise`]`); only code counts.
            let code: Vec<&str> = code
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect();
            out.push((rel, code.join("\n")));
        }
    }
}

/// The first path segment of each item named right after `prefix` (one, or each of a `{}`
/// group).
fn named_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let ident = |s: &'a str| {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        &s[..end]
    };
    let mut names = Vec::new();
    for (at, _) in text.match_indices(prefix) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.push(ident(group[start..].trim_start()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(ident(group[start..].trim_start()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.push(ident(rest));
        }
    }
    names
}

fn edges() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    sources(Path::new(LINK_DIR), "", &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|(rel, _)| {
            rel.split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|m| m != "mod")
        .collect();
    // `pub use x::{A, B}` in mod.rs: A and B belong to x.
    let root = &files.iter().find(|(rel, _)| rel == "mod.rs").unwrap().1;
    let mut reexports = BTreeMap::new();
    for line in root.lines().filter_map(|l| l.strip_prefix("pub use ")) {
        if let Some((module, items)) = line.split_once("::") {
            for item in named_after(&format!(" ::{items}"), "::") {
                reexports.insert(item.to_owned(), module.to_owned());
            }
        }
    }
    let mut edges = BTreeSet::new();
    for (rel, code) in files.iter().filter(|(rel, _)| rel != "mod.rs") {
        let me = rel.split('/').next().unwrap().trim_end_matches(".rs");
        let mut named = named_after(code, "crate::link::");
        if !rel.contains('/') {
            named.extend(named_after(code, "super::"));
        }
        for name in named {
            let target = reexports.get(name).map(String::as_str).unwrap_or(name);
            if target != me && modules.contains(target) {
                edges.insert((me.to_owned(), target.to_owned()));
            }
        }
    }
    edges
}

#[test]
fn the_links_submodules_form_no_circle() {
    let edges = edges();
    // Known edges, so a parser that finds nothing cannot pass.
    for (from, to) in [
        ("noise", "channel"),
        ("session", "noise"),
        ("ble", "transport"),
    ] {
        assert!(
            edges.contains(&(from.to_owned(), to.to_owned())),
            "{from} -> {to} not found in {edges:?}"
        );
    }
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(at) = todo.pop() {
            for (_, next) in edges.iter().filter(|(f, _)| *f == at) {
                if next == to {
                    return true;
                }
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        false
    };
    let circles: Vec<_> = edges.iter().filter(|(a, b)| reaches(b, a)).collect();
    assert!(
        circles.is_empty(),
        "circles through {circles:?}; all edges: {edges:?}"
    );
}
