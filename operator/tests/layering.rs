//! The module layering, checked from the source: `cargo test -p subnet-operator --test layering`.
//!
//! - The files of `controller/` import each other without a circle (the shared `Context` and
//!   `Error` live in `controller/context.rs`, which imports none of them; `mod.rs` only wires).
//! - Nothing below the controllers (`chain/`, `keys/`, `crd/`, the labels, metrics and config)
//!   imports from `controller/`.
//! - No controller imports from the simulation (`chain/simulation/`: `chain::memory`, `chain::sim`).
//!
//! References are read from code, not comments; in-file test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The code of a file: comments dropped, and everything from its test module on.
fn code(text: &str) -> String {
    let text = match text.find("\n#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rs_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.map(|e| e.path()).unwrap_or_default();
        if p.is_dir() {
            out.extend(rs_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first path segment after every occurrence of `prefix` in `code` (each name of a
/// `prefix{a, b::c}` group counts).
fn segments_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(item.trim().split("::").next().unwrap_or("").to_string());
                        item.clear();
                    }
                    _ => item.push(c),
                }
            }
            out.push(item.trim().split("::").next().unwrap_or("").to_string());
        } else {
            out.push(rest.chars().take_while(|c| is_ident(*c)).collect());
        }
    }
    out.into_iter()
        .map(|s| s.trim().trim_start_matches("self").to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The controller modules (files and folders directly under `controller/`) and `mod`.
fn controller_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = src().join("controller");
    let mut modules = BTreeSet::new();
    for p in rs_files(&dir) {
        let rel = p.strip_prefix(&dir).unwrap_or(&p);
        let first = rel.iter().next().and_then(|s| s.to_str()).unwrap_or("");
        modules.insert(first.trim_end_matches(".rs").to_string());
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let node_of = |name: &str| {
        if modules.contains(name) && name != "mod" {
            name.to_string()
        } else {
            "mod".to_string()
        }
    };
    for p in rs_files(&dir) {
        let rel = p.strip_prefix(&dir).unwrap_or(&p);
        let parts: Vec<&str> = rel.iter().filter_map(|s| s.to_str()).collect();
        let me = parts[0].trim_end_matches(".rs").to_string();
        let text = code(&read(&p));
        let edges = graph.entry(me.clone()).or_default();
        // From a file directly under controller/ (or a folder's own mod.rs), `super::` is
        // controller/mod.rs; from another file of a folder (build/pod.rs), `super::super::` is.
        let up = if parts.len() == 1 || parts[1..] == ["mod.rs"] {
            "super::"
        } else {
            "super::super::"
        };
        let mut names = segments_after(&text, "crate::controller::");
        if me == "mod" {
            // mod.rs names its children directly (`fleet::controller`, `use context::…`).
            for m in &modules {
                let declared = format!("mod {m};");
                let body: String = text
                    .lines()
                    .filter(|l| !l.trim_end().ends_with(&declared))
                    .collect::<Vec<_>>()
                    .join("\n");
                if !segments_after(&format!(" {body}"), &format!("{m}::")).is_empty()
                    || body.contains(&format!("use {m}::"))
                {
                    names.push(m.clone());
                }
            }
        } else {
            names.extend(
                segments_after(&text, up)
                    .into_iter()
                    .filter(|n| n != "super"),
            );
        }
        for n in names {
            let to = node_of(&n);
            if to != me {
                edges.insert(to);
            }
        }
    }
    graph
}

/// A circle in `graph`, if any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut vec![], &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_detector_sees_imports_and_circles() {
    let names = segments_after(
        "use super::{Context, build::x, keys};\nlet a = super::fleet::f();",
        "super::",
    );
    assert_eq!(names, ["Context", "build", "keys", "fleet"]);
    assert!(segments_after("// nothing", "super::").is_empty());
    assert_eq!(
        code("use a; // super::x\n#[cfg(test)]\nmod tests {}"),
        "use a; "
    );
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}

#[test]
fn no_import_circle_among_controller_files() {
    let graph = controller_graph();
    assert!(
        graph.len() > 10,
        "too few controller modules read: {graph:?}"
    );
    assert!(
        graph.get("fleet").is_some_and(|e| e.contains("context")),
        "the graph misses fleet -> context: {graph:?}"
    );
    // A folder's mod.rs (registration/) and its other files (registration/plan.rs) are read.
    assert!(
        graph
            .get("registration")
            .is_some_and(|e| e.contains("context") && e.contains("keys")),
        "the graph misses registration -> context, keys: {graph:?}"
    );
    if let Some(c) = find_cycle(&graph) {
        panic!("an import circle: {}\n{graph:#?}", c.join(" -> "));
    }
}

#[test]
fn nothing_below_the_controllers_imports_them() {
    let mut bad = vec![];
    let mut files = vec![];
    for d in ["chain", "keys", "crd"] {
        files.extend(rs_files(&src().join(d)));
    }
    for f in ["labels.rs", "metrics.rs", "config.rs"] {
        files.push(src().join(f));
    }
    for p in files {
        let text = code(&read(&p));
        if text.contains("crate::controller") || text.contains("super::controller") {
            bad.push(p.display().to_string());
        }
    }
    assert!(bad.is_empty(), "these import from controller/: {bad:?}");
}

#[test]
fn no_controller_imports_the_simulation() {
    let mut bad = vec![];
    for p in rs_files(&src().join("controller")) {
        let text = code(&read(&p));
        for s in [
            "chain::memory",
            "chain::sim",
            "chain::simulation",
            "MemoryChain",
        ] {
            if text.contains(s) {
                bad.push(format!("{}: {s}", p.display()));
            }
        }
    }
    assert!(bad.is_empty(), "controllers using the simulation: {bad:?}");
}

/// What only the one kube writer (`controller/apply.rs`) may name: the API's write parameters.
const KUBE_WRITES: &[&str] = &[
    "Patch::Apply",
    "Patch::Merge",
    "Patch::Json",
    "Patch::Strategic",
    "PostParams",
    "DeleteParams",
    "patch_status(",
    ".replace_status(",
];

#[test]
fn the_applier_is_the_only_kube_writer_of_the_controllers() {
    let mut bad = vec![];
    let files = rs_files(&src().join("controller"));
    assert!(files.iter().any(|p| p.ends_with("controller/apply.rs")));
    for p in files.iter().filter(|p| !p.ends_with("controller/apply.rs")) {
        let text = code(&read(p));
        for s in KUBE_WRITES {
            if text.contains(s) {
                bad.push(format!("{}: {s}", p.display()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "kube writes outside controller/apply.rs: {bad:?}"
    );
    // The check reads what it looks for: the applier itself names them.
    let applier = code(&read(&src().join("controller/apply.rs")));
    for s in [
        "Patch::Apply",
        "Patch::Merge",
        "PostParams",
        "DeleteParams",
        "patch_status(",
    ] {
        assert!(applier.contains(s), "apply.rs does not name {s}");
    }
}

#[test]
fn the_chain_writer_is_the_only_chain_writer() {
    // Only chain/writer.rs calls the write half of a chain (sign, submit, localnet calls); the
    // controllers get a reader and a writer's turn.
    let mut bad = vec![];
    for p in rs_files(&src().join("controller")) {
        let text = code(&read(&p));
        for s in [".chain()", "Arc<dyn Chain>", "dyn Chain"] {
            if text.contains(s) {
                bad.push(format!("{}: {s}", p.display()));
            }
        }
    }
    assert!(bad.is_empty(), "controllers holding a chain: {bad:?}");
}
