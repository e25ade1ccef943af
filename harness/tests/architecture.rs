//! The shape of `harness/src` (issue 11): no import circle between modules, no source file over
//! 700 lines, and the README's Layout section names every folder of the tree.
//!
//! Modules are files (`a/b.rs` and `a/b/mod.rs` are `a::b`). An edge `a → b` is a
//! `crate::b...` path in `a` outside its `#[cfg(test)] mod tests`; paths between a module and
//! its own ancestors or descendants (`super::`, a parent naming its child) are not edges, since
//! a parent and its children are one unit; nor are paths in comments (doc links).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `a/b/mod.rs` → `a::b`; `a/b.rs` → `a::b`; `lib.rs` and `main.rs` → `None` (the crate root).
fn module_of(file: &Path, root: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        return None;
    }
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    Some(parts.join("::"))
}

/// The text of a module without its unit-test module (tests may reach anywhere).
fn without_tests(src: &str) -> &str {
    match src.find("#[cfg(test)]\nmod tests") {
        Some(i) => &src[..i],
        None => src,
    }
}

/// Every `crate::x::y::z` path in `src`, as its segments.
fn crate_paths(src: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `mycrate::`
        }
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let end = s
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            if end == 0 {
                break;
            }
            segs.push(s[..end].to_string());
            s = &s[end..];
            if let Some(next) = s.strip_prefix("::") {
                s = next;
            } else {
                break;
            }
        }
        if !segs.is_empty() {
            out.push(segs);
        }
    }
    out
}

fn related(a: &str, b: &str) -> bool {
    a == b || b.starts_with(&format!("{a}::")) || a.starts_with(&format!("{b}::"))
}

fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src_dir();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .filter_map(|f| module_of(f, &root).map(|m| (m, f.clone())))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, f) in &modules {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let code: String = without_tests(&text)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for segs in crate_paths(&code) {
            // The longest prefix of the path that is a module file.
            let target = (1..=segs.len())
                .rev()
                .map(|n| segs[..n].join("::"))
                .find(|c| modules.contains_key(c));
            if let Some(t) = target {
                if !related(m, &t) {
                    graph.entry(m.clone()).or_default().insert(t);
                }
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'g> {
        g: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    impl<'g> T<'g> {
        fn visit(&mut self, v: &'g str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on.insert(v);
            if let Some(ws) = self.g.get(v) {
                for w in ws {
                    let w = w.as_str();
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(lw);
                    } else if self.on.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(iw);
                    }
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = import_graph();
    let found = cycles(&graph);
    let text: Vec<String> = found
        .iter()
        .map(|comp| {
            let edges: Vec<String> = comp
                .iter()
                .flat_map(|a| {
                    graph[a]
                        .iter()
                        .filter(|b| comp.contains(b))
                        .map(move |b| format!("  {a} → {b}"))
                })
                .collect();
            format!("circle of {}:\n{}", comp.join(", "), edges.join("\n"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "import circles in harness/src:\n{}",
        text.join("\n")
    );
}

#[test]
fn the_checker_finds_a_planted_circle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b::c".into());
    g.entry("b::c".into()).or_default().insert("d".into());
    g.entry("d".into()).or_default().insert("a".into());
    g.entry("e".into()).or_default().insert("a".into());
    assert_eq!(
        cycles(&g),
        vec![vec!["a".to_string(), "b::c".into(), "d".into()]]
    );
    assert_eq!(
        crate_paths(
            "use crate::platform::local::{self, Home}; mycrate::x; crate::store::clock::now_ns()"
        ),
        vec![
            vec!["platform".to_string(), "local".into()],
            vec!["store".to_string(), "clock".into(), "now_ns".into()],
        ]
    );
}

#[test]
fn no_source_file_is_over_700_lines() {
    let root = src_dir();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).ok()?.lines().count();
            (n > MAX_LINES).then(|| {
                format!(
                    "{} ({n} lines)",
                    f.strip_prefix(&root).unwrap_or(f).display()
                )
            })
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines: {}",
        long.join(", ")
    );
}

#[test]
fn the_readme_layout_names_every_source_folder() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let layout = readme
        .split("## Layout")
        .nth(1)
        .expect("README.md has a ## Layout section");
    let layout = layout.split("\n## ").next().unwrap_or(layout);
    let root = src_dir();
    let mut missing = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)
            .expect("read src")
            .filter_map(Result::ok)
        {
            let p = e.path();
            if p.is_dir() {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !layout.contains(&format!("{name}/")) {
                    missing.push(p.strip_prefix(&root).unwrap_or(&p).display().to_string());
                }
                dirs.push(p);
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "README.md's Layout section does not name these folders of harness/src: {}",
        missing.join(", ")
    );
}
