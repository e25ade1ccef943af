//! `[[function]]`: names, sources, paths, replicas and constraints proven to match a node.

use super::*;

/// OpenFaaS CE limits.
const MAX_FUNCTIONS: usize = 15;
const MAX_REPLICAS: i64 = 5;

pub(super) fn functions(cx: &Cx, nodes: &[Node], raw: &[RawFunction]) -> R<Vec<Function>> {
    if raw.len() > MAX_FUNCTIONS {
        return Err(cx.err(
            raw[MAX_FUNCTIONS].name.span(),
            format!("function[{MAX_FUNCTIONS}]"),
            format!(
                "at most {MAX_FUNCTIONS} functions (the OpenFaaS CE limit); split the scenario"
            ),
        ));
    }
    let node_labels: Vec<BTreeMap<String, String>> = nodes.iter().map(Node::labels).collect();
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for (i, rf) in raw.iter().enumerate() {
        let f = |s: &str| format!("function[{i}].{s}");
        let name = rf.name.get_ref();
        if !is_dns_label(name) {
            return Err(cx.err(
                rf.name.span(),
                f("name"),
                format!("{name:?} is not a valid function name: lowercase letters, digits and '-'"),
            ));
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            return Err(cx.err(
                rf.name.span(),
                f("name"),
                format!("duplicate function name {name:?} (also function[{first}])"),
            ));
        }
        let src = rf.source.get_ref();
        let runtime = match rf.runtime.as_ref().map(|r| (r, r.get_ref().as_str())) {
            None | Some((_, "go")) => Runtime::Go,
            Some((_, "python")) => Runtime::Python,
            Some((r, other)) => {
                return Err(cx.err(
                    r.span(),
                    f("runtime"),
                    format!("runtime {other:?} is not known; use \"go\" (images/functions/<source>) or \"python\" (images/python/<source>.py)"),
                ))
            }
        };
        match runtime {
            Runtime::Go => check_source(cx, &rf.source, &f("source"))?,
            Runtime::Python => check_python_source(cx, &rf.source, &f("source"))?,
        }
        let mut cons = Vec::new();
        for (j, c) in rf.constraints.iter().enumerate() {
            let parsed = Constraint::parse(c.get_ref())
                .map_err(|m| cx.err(c.span(), f(&format!("constraints[{j}]")), m))?;
            if !node_labels.iter().any(|l| parsed.matches(l)) {
                return Err(cx.err(
                    c.span(),
                    f(&format!("constraints[{j}]")),
                    format!(
                        "constraint {parsed} matches no node; {}",
                        label_hint(&parsed.key, nodes)
                    ),
                ));
            }
            cons.push(parsed);
        }
        if !cons.is_empty() && !node_labels.iter().any(|l| all_match(&cons, l)) {
            return Err(cx.err(
                rf.constraints[0].span(),
                f("constraints"),
                format!(
                    "each constraint matches some node, but no node matches all of them together; each node's labels: {}",
                    super::describe_labels(nodes)
                ),
            ));
        }
        let replicas = match &rf.replicas {
            Some(r) if (1..=MAX_REPLICAS).contains(r.get_ref()) => *r.get_ref() as u32,
            Some(r) => return Err(cx.err(r.span(), f("replicas"), format!("replicas must be 1 to {MAX_REPLICAS} (OpenFaaS CE limit; cold starts scale to 0 by themselves)"))),
            None => 1,
        };
        let mut limits = Limits::default();
        if let Some(l) = &rf.limits {
            if let Some(m) = &l.memory {
                let b = parse_memory(m.get_ref())
                    .map_err(|e| cx.err(m.span(), f("limits.memory"), e))?;
                limits.memory = Some((m.get_ref().clone(), b));
            }
            if let Some(c) = &l.cpu {
                let v = parse_cpu(c.get_ref()).map_err(|e| cx.err(c.span(), f("limits.cpu"), e))?;
                limits.cpu = Some((c.get_ref().clone(), v));
            }
        }
        let path = match &rf.path {
            Some(p) => check_path(p.get_ref()).map_err(|m| cx.err(p.span(), f("path"), m))?,
            None => "/".to_string(),
        };
        for (k, v) in &rf.env {
            if let Some(why) = crate::platform::local::env::refused(k) {
                return Err(cx.err(v.span(), f(&format!("env.{k}")), why));
            }
        }
        out.push(Function {
            name: name.clone(),
            source: src.clone(),
            runtime,
            constraints: cons,
            env: rf
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect(),
            replicas,
            limits,
            path,
            body: rf.body.clone(),
        });
    }
    Ok(out)
}

/// The path and query a function is invoked with: starts with '/', no control character or
/// space (a CR/LF would split the request), and valid in an HTTP request line.
fn check_path(p: &str) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err("path must start with '/', e.g. \"/?kib=64\"".into());
    }
    if let Some((i, c)) = p.char_indices().find(|(_, c)| c.is_control() || *c == ' ') {
        return Err(format!(
            "path has {c:?} at byte {i}; a control character or space cannot go into an HTTP request line: percent-encode it (e.g. %0D%0A, %20)"
        ));
    }
    p.parse::<http::uri::PathAndQuery>()
        .map_err(|e| format!("path {p:?} is not a valid URL path and query ({e}); percent-encode the characters that are not"))?;
    Ok(p.to_string())
}

/// `source` names a function folder of the Go module in `images/functions/` (found above the
/// scenario file, else above the current directory, as the build finds it).
fn check_source(cx: &Cx, src: &Spanned<String>, field: &str) -> R<()> {
    let name = src.get_ref();
    let start = cx.path.parent().unwrap_or(Path::new("."));
    let root = crate::build::functions_root(start)
        .or_else(|| crate::build::functions_root(Path::new(".")));
    let plain = !name.is_empty()
        && name != "contract"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match root {
        Some(root) if !plain || !root.join(name).is_dir() => Err(cx.err(
            src.span(),
            field,
            format!(
                "no function {name:?} in {}; available: {}",
                root.display(),
                crate::build::available_functions(&root)
            ),
        )),
        None if !plain => Err(cx.err(
            src.span(),
            field,
            "source is a folder name under images/functions, e.g. \"echo\"",
        )),
        None => Err(cx.err(
            src.span(),
            field,
            format!(
                "no images/functions/go.mod above {} or the current directory to find {name:?} in; run faasbed from its checkout",
                start.display()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// `source` names a script `images/python/<source>.py` beside the Go module's folder.
fn check_python_source(cx: &Cx, src: &Spanned<String>, field: &str) -> R<()> {
    let name = src.get_ref();
    let start = cx.path.parent().unwrap_or(Path::new("."));
    let root = crate::build::functions_root(start)
        .or_else(|| crate::build::functions_root(Path::new(".")))
        .map(|r| crate::python::python_root(&r));
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !crate::python::SHARED.contains(&format!("{name}.py").as_str());
    match root {
        Some(root) if plain && root.join(format!("{name}.py")).is_file() => Ok(()),
        Some(root) => Err(cx.err(
            src.span(),
            field,
            format!(
                "no Python function {name:?} in {} (runtime = \"python\" runs {name}.py there); available: {}",
                root.display(),
                crate::python::available(&root)
            ),
        )),
        None => Err(cx.err(
            src.span(),
            field,
            format!(
                "no images/functions/go.mod above {} or the current directory to find images/python/{name}.py beside; run faasbed from its checkout",
                start.display()
            ),
        )),
    }
}

fn label_hint(key: &str, nodes: &[Node]) -> String {
    let vals: BTreeSet<String> = nodes
        .iter()
        .filter_map(|n| n.labels().get(key).cloned())
        .collect();
    if vals.is_empty() {
        format!("no node has a label {key:?}; add it under the node's `labels` or use faasbed.io/class, faasbed.io/site, kubernetes.io/arch or kubernetes.io/hostname")
    } else {
        format!(
            "values of {key:?} on the nodes: {}; each node's labels: {}",
            vals.into_iter().collect::<Vec<_>>().join(", "),
            super::describe_labels(nodes)
        )
    }
}
