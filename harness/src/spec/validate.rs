//! Raw scenario → checked [`Scenario`]: resolves classes, defaults, backends per platform,
//! and proves every constraint matches a node. Each error points at the offending value.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use toml::Spanned;

use super::raw::*;
use super::*;

mod registry;
mod thresholds;

struct Cx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Cx<'_> {
    fn err(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError::Invalid {
            at: Location::of(self.path, self.text, span.start),
            field: field.into(),
            message: message.into(),
        }
    }
    /// An error about a whole section, located at its first line (`[[node]]` etc.).
    fn at_end(&self, field: &str, message: impl Into<String>) -> SpecError {
        self.err(self.text.len()..self.text.len(), field, message)
    }
}

type R<T> = Result<T, SpecError>;

pub(super) fn parse(text: &str, path: &Path) -> R<Scenario> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let at = Location::of(path, text, e.span().map_or(0, |s| s.start));
        SpecError::Syntax {
            at,
            message: e.message().trim().to_string(),
        }
    })?;
    let cx = Cx { text, path };
    let hash = hex::encode(Sha256::digest(text.as_bytes()));

    let kind = match &raw.platform.kind {
        None => PlatformKind::Local,
        Some(k) => match k.get_ref().as_str() {
            "local" => PlatformKind::Local,
            "k3d" => PlatformKind::K3d,
            "existing" => PlatformKind::Existing,
            other => {
                return Err(cx.err(
                    k.span(),
                    "platform.kind",
                    format!("unknown platform {other:?}; use \"local\", \"k3d\" or \"existing\""),
                ))
            }
        },
    };

    let profiles = profiles(&cx, &raw.profile)?;
    let nodes = nodes(&cx, kind, &profiles, &raw.node)?;
    let sites: BTreeSet<&str> = nodes.iter().map(|n| n.site.as_str()).collect();

    let gateway_site = match &raw.platform.gateway_site {
        Some(s) => {
            if !sites.contains(s.get_ref().as_str()) {
                return Err(cx.err(
                    s.span(),
                    "platform.gateway_site",
                    format!(
                        "site {:?} has no node; known sites: {}",
                        s.get_ref(),
                        join(sites.iter())
                    ),
                ));
            }
            s.get_ref().clone()
        }
        None => nodes
            .iter()
            .find(|n| n.backend == Backend::Server)
            .unwrap_or(&nodes[0])
            .site
            .clone(),
    };

    let links = links(&cx, &sites, &raw.link)?;
    let functions = functions(&cx, &nodes, &raw.function)?;
    let mut experiment = experiment(&cx, &raw.experiment)?;
    experiment.thresholds =
        thresholds::thresholds(&cx, &raw.experiment.thresholds, &nodes, &functions)?;
    let kubeconfig = raw
        .platform
        .kubeconfig
        .as_ref()
        .map(|k| kubeconfig_path(k.get_ref()));
    if kind == PlatformKind::Existing && kubeconfig.is_none() {
        return Err(cx.at_end(
            "platform.kubeconfig",
            "platform \"existing\" needs `kubeconfig = \"path/to/kubeconfig\"` under [platform]",
        ));
    }
    let k3d = k3d_settings(&cx, &raw.platform)?;
    let registry = registry::registry(&cx, kind, &raw.platform)?;

    Ok(Scenario {
        path: path.to_path_buf(),
        hash,
        description: raw.description,
        platform: PlatformSpec {
            kind,
            gateway_site,
            kubeconfig,
            k3d,
            registry,
        },
        nodes,
        links,
        functions,
        experiment,
    })
}

/// A leading `~/` of the kubeconfig path stands for `$HOME`, as in a shell.
fn kubeconfig_path(written: &str) -> PathBuf {
    match (written.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(written),
    }
}

fn join<'a>(it: impl Iterator<Item = &'a &'a str>) -> String {
    it.copied().collect::<Vec<_>>().join(", ")
}

fn profiles(cx: &Cx, raw: &BTreeMap<Spanned<String>, RawProfile>) -> R<BTreeMap<String, Profile>> {
    let mut out = default_profiles();
    for (name, rp) in raw {
        let key = format!("profile.{}", name.get_ref());
        if !is_dns_label(name.get_ref()) {
            return Err(cx.err(
                name.span(),
                &key,
                "a profile name must be lowercase letters, digits and '-'",
            ));
        }
        let base = out.get(name.get_ref()).cloned();
        let is_new = base.is_none();
        if is_new {
            for (present, f) in [
                (rp.cpus.is_some(), "cpus"),
                (rp.memory.is_some(), "memory"),
                (rp.default_arch.is_some(), "default_arch"),
            ] {
                if !present {
                    return Err(cx.err(
                        name.span(),
                        &key,
                        format!("new profile {:?} needs `{f}` (only vps, pi3, pi4 and pi5 have defaults)", name.get_ref()),
                    ));
                }
            }
        }
        let mut p = base.unwrap_or(Profile {
            name: name.get_ref().clone(),
            cpus: 1.0,
            memory_bytes: 1 << 30,
            qemu_cpu: "max".into(),
            qemu_cpu_armhf: "max".into(),
            nic_mbit: 1000.0,
            default_arch: Arch::Amd64,
        });
        if let Some(c) = &rp.cpus {
            let v = *c.get_ref();
            if !(v.is_finite() && v > 0.0 && v <= 1024.0) {
                return Err(cx.err(
                    c.span(),
                    format!("{key}.cpus"),
                    "cpus must be above 0 (fractions allowed, e.g. 0.5)",
                ));
            }
            p.cpus = v;
        }
        if let Some(m) = &rp.memory {
            p.memory_bytes = parse_memory(m.get_ref())
                .map_err(|e| cx.err(m.span(), format!("{key}.memory"), e))?;
        }
        if let Some(c) = &rp.qemu_cpu {
            p.qemu_cpu = c.get_ref().clone();
        }
        if let Some(c) = &rp.qemu_cpu_armhf {
            p.qemu_cpu_armhf = c.get_ref().clone();
        }
        if let Some(n) = &rp.nic_mbit {
            let v = *n.get_ref();
            if !(v.is_finite() && v > 0.0) {
                return Err(cx.err(
                    n.span(),
                    format!("{key}.nic_mbit"),
                    "nic_mbit must be above 0",
                ));
            }
            p.nic_mbit = v;
        }
        if let Some(a) = &rp.default_arch {
            p.default_arch = parse_arch(cx, a, &format!("{key}.default_arch"))?;
        }
        out.insert(name.get_ref().clone(), p);
    }
    Ok(out)
}

fn parse_arch(cx: &Cx, a: &Spanned<String>, field: &str) -> R<Arch> {
    Arch::parse(a.get_ref()).ok_or_else(|| {
        cx.err(
            a.span(),
            field,
            format!(
                "unknown arch {:?}; use \"amd64\", \"arm64\" or \"armhf\"",
                a.get_ref()
            ),
        )
    })
}

fn parse_backend(cx: &Cx, b: &Spanned<String>, field: &str) -> R<Backend> {
    Ok(match b.get_ref().as_str() {
        "native" => Backend::Native,
        "qemu-user" => Backend::QemuUser,
        "qemu-vm" => Backend::QemuVm,
        "server" => Backend::Server,
        "agent" => Backend::Agent,
        "qemu" => Backend::Qemu,
        "ssh" => Backend::Ssh,
        other => {
            return Err(cx.err(
                b.span(),
                field,
                format!("unknown backend {other:?}; local: native, qemu-user; k3d: server, agent, qemu; existing: ssh"),
            ))
        }
    })
}

fn default_backend(
    kind: PlatformKind,
    arch: Arch,
    host: Option<Arch>,
    first_server: bool,
) -> Backend {
    match kind {
        PlatformKind::Local if Some(arch) == host => Backend::Native,
        PlatformKind::Local => Backend::QemuUser,
        PlatformKind::K3d if Some(arch) == host && first_server => Backend::Server,
        PlatformKind::K3d if Some(arch) == host => Backend::Agent,
        PlatformKind::K3d => Backend::Qemu,
        PlatformKind::Existing => Backend::Ssh,
    }
}

/// Can `backend` run `arch` on `platform`? `Err` says why not and what to use instead.
pub(super) fn check_backend(
    kind: PlatformKind,
    backend: Backend,
    arch: Arch,
    host: Option<Arch>,
) -> Result<(), String> {
    let host_s = host.map_or("this host's", Arch::as_str);
    let allowed: &[Backend] = match kind {
        PlatformKind::Local => &[Backend::Native, Backend::QemuUser, Backend::QemuVm],
        PlatformKind::K3d => &[Backend::Server, Backend::Agent, Backend::Qemu, Backend::Ssh],
        PlatformKind::Existing => &[Backend::Ssh],
    };
    if !allowed.contains(&backend) {
        let names: Vec<&str> = allowed.iter().map(|b| b.as_str()).collect();
        return Err(format!(
            "backend \"{backend}\" is not one of the {} platform's: {}",
            kind.as_str(),
            names.join(", ")
        ));
    }
    match backend {
        Backend::Native | Backend::Server | Backend::Agent if Some(arch) != host => Err(format!(
            "backend \"{backend}\" runs only the host's arch ({host_s}), not {arch}; use backend = \"{}\"",
            if kind == PlatformKind::Local { "qemu-user" } else { "qemu" }
        )),
        Backend::QemuUser if arch == Arch::Amd64 => Err(
            "qemu-user emulates ARM only; an amd64 node runs with backend = \"native\"".into(),
        ),
        Backend::QemuUser if Some(arch) == host => Err(format!(
            "{arch} is this host's own arch; use backend = \"native\""
        )),
        Backend::QemuVm => Err(
            "backend \"qemu-vm\" is not available on the local platform yet; use \"qemu-user\"".into(),
        ),
        Backend::Ssh if kind == PlatformKind::K3d => Err(
            "backend \"ssh\" (a real host joining a k3d cluster) is not available yet; join your \
             Pis and VPSs to a k3s server as the thesis did and use kind = \"existing\" (see \
             scenarios/existing-pi-cluster.toml), or emulate the node with backend = \"qemu\""
                .into(),
        ),
        Backend::Qemu if arch == Arch::Amd64 => Err(
            "backend \"qemu\" boots ARM VMs; an amd64 node is a k3d \"agent\"".into(),
        ),
        _ => Ok(()),
    }
}

fn nodes(
    cx: &Cx,
    kind: PlatformKind,
    profiles: &BTreeMap<String, Profile>,
    raw: &[RawNode],
) -> R<Vec<Node>> {
    if raw.is_empty() {
        return Err(cx.at_end(
            "node",
            "a scenario needs at least one [[node]] with `name` and `class`",
        ));
    }
    let host = Arch::host();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    let mut have_server = false;
    for (i, rn) in raw.iter().enumerate() {
        let f = |s: &str| format!("node[{i}].{s}");
        let name = rn.name.get_ref();
        if !is_dns_label(name) {
            return Err(cx.err(rn.name.span(), f("name"), format!("{name:?} is not a valid node name: use lowercase letters, digits and '-' (at most 63)")));
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            return Err(cx.err(
                rn.name.span(),
                f("name"),
                format!("duplicate node name {name:?} (also node[{first}])"),
            ));
        }
        let class = rn.class.get_ref();
        let Some(profile) = profiles.get(class) else {
            let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
            return Err(cx.err(
                rn.class.span(),
                f("class"),
                format!(
                    "unknown class {class:?}; known: {} (or define [profile.{class}])",
                    known.join(", ")
                ),
            ));
        };
        let arch = match &rn.arch {
            Some(a) => parse_arch(cx, a, &f("arch"))?,
            None => profile.default_arch,
        };
        let backend = match &rn.backend {
            Some(b) => parse_backend(cx, b, &f("backend"))?,
            None => default_backend(kind, arch, host, !have_server),
        };
        if let Err(m) = check_backend(kind, backend, arch, host) {
            let span = rn
                .backend
                .as_ref()
                .or(rn.arch.as_ref())
                .map_or(rn.class.span(), |s| s.span());
            return Err(cx.err(
                span,
                f(if rn.backend.is_some() {
                    "backend"
                } else {
                    "arch"
                }),
                m,
            ));
        }
        if backend == Backend::Server {
            if have_server {
                return Err(cx.err(
                    rn.name.span(),
                    f("backend"),
                    "only one node may be the k3s \"server\"",
                ));
            }
            if arch == Arch::Armhf {
                return Err(cx.err(rn.name.span(), f("arch"), "the server hosts the OpenFaaS core, which has no armhf images; use an amd64 or arm64 node"));
            }
            have_server = true;
        }
        if backend == Backend::Ssh && rn.address.is_none() {
            return Err(cx.err(
                rn.name.span(),
                f("address"),
                "an ssh node needs `address = \"user@host\"`",
            ));
        }
        let site = match &rn.site {
            Some(s) if is_dns_label(s.get_ref()) => s.get_ref().clone(),
            Some(s) => {
                return Err(cx.err(
                    s.span(),
                    f("site"),
                    "a site name must be lowercase letters, digits and '-'",
                ))
            }
            None => "local".to_string(),
        };
        let mut own = BTreeMap::new();
        for (k, v) in &rn.labels {
            if let Err(m) = check_label(k, v.get_ref()) {
                return Err(cx.err(v.span(), f(&format!("labels.{k}")), m));
            }
            if [labels::ARCH, labels::HOSTNAME, labels::CLASS, labels::SITE].contains(&k.as_str()) {
                return Err(cx.err(v.span(), f(&format!("labels.{k}")), format!("{k} is set automatically from the node's arch, name, class and site; remove it")));
            }
            own.insert(k.clone(), v.get_ref().clone());
        }
        out.push(Node {
            name: name.clone(),
            class: class.clone(),
            profile: profile.clone(),
            arch,
            site,
            own_labels: own,
            backend,
            address: rn.address.as_ref().map(|a| a.get_ref().clone()),
        });
    }
    if kind == PlatformKind::K3d && !have_server {
        return Err(cx.at_end(
            "node",
            "the k3d platform needs one node with backend = \"server\" (amd64 or arm64)",
        ));
    }
    Ok(out)
}

fn links(cx: &Cx, sites: &BTreeSet<&str>, raw: &[RawLink]) -> R<Vec<Link>> {
    let mut out: Vec<Link> = Vec::new();
    for (i, rl) in raw.iter().enumerate() {
        let f = |s: &str| format!("link[{i}].{s}");
        let b = rl.between.get_ref();
        if b.len() != 2 || b[0] == b[1] {
            return Err(cx.err(
                rl.between.span(),
                f("between"),
                "`between` names two different sites, e.g. [\"frankfurt\", \"italy\"]",
            ));
        }
        for s in b {
            if !sites.contains(s.as_str()) {
                return Err(cx.err(
                    rl.between.span(),
                    f("between"),
                    format!(
                        "site {s:?} has no node; known sites: {}",
                        join(sites.iter())
                    ),
                ));
            }
        }
        if out.iter().any(|l| {
            (l.between[0] == b[0] && l.between[1] == b[1])
                || (l.between[0] == b[1] && l.between[1] == b[0])
        }) {
            return Err(cx.err(
                rl.between.span(),
                f("between"),
                format!(
                    "a link between {:?} and {:?} is already defined",
                    b[0], b[1]
                ),
            ));
        }
        let rtt = match &rl.rtt_ms {
            Some(v)
                if v.get_ref().is_finite() && *v.get_ref() >= 0.0 && *v.get_ref() <= 60_000.0 =>
            {
                *v.get_ref()
            }
            Some(v) => {
                return Err(cx.err(v.span(), f("rtt_ms"), "rtt_ms must be between 0 and 60000"))
            }
            None => 0.0,
        };
        let bw = match &rl.bandwidth_mbit {
            Some(v) if v.get_ref().is_finite() && *v.get_ref() > 0.0 => Some(*v.get_ref()),
            Some(v) => {
                return Err(cx.err(
                    v.span(),
                    f("bandwidth_mbit"),
                    "bandwidth_mbit must be above 0 (omit it for no cap)",
                ))
            }
            None => None,
        };
        let loss = match &rl.loss_pct {
            Some(v) if v.get_ref().is_finite() && (0.0..100.0).contains(v.get_ref()) => {
                *v.get_ref()
            }
            Some(v) => {
                return Err(cx.err(
                    v.span(),
                    f("loss_pct"),
                    "loss_pct must be at least 0 and below 100",
                ))
            }
            None => 0.0,
        };
        out.push(Link {
            between: [b[0].clone(), b[1].clone()],
            rtt_ms: rtt,
            bandwidth_mbit: bw,
            loss_pct: loss,
        });
    }
    Ok(out)
}

/// OpenFaaS CE limits.
const MAX_FUNCTIONS: usize = 15;
const MAX_REPLICAS: i64 = 5;

fn functions(cx: &Cx, nodes: &[Node], raw: &[RawFunction]) -> R<Vec<Function>> {
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
        check_source(cx, &rf.source, &f("source"))?;
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

fn dur(
    cx: &Cx,
    v: &Option<Spanned<String>>,
    field: &str,
    default: Duration,
    range: std::ops::RangeInclusive<Duration>,
) -> R<Duration> {
    match v {
        None => Ok(default),
        Some(s) => {
            let d = parse_duration(s.get_ref()).map_err(|e| cx.err(s.span(), field, e))?;
            if d < *range.start() {
                return Err(cx.err(
                    s.span(),
                    field,
                    format!(
                        "must be at least {}",
                        humantime::format_duration(*range.start())
                    ),
                ));
            }
            if d > *range.end() {
                return Err(cx.err(
                    s.span(),
                    field,
                    format!(
                        "{:?} is longer than the limit of {}; split a longer experiment into several runs",
                        s.get_ref(),
                        humantime::format_duration(*range.end())
                    ),
                ));
            }
            Ok(d)
        }
    }
}

/// The longest measured warm phase of one function.
const MAX_WARM: Duration = Duration::from_secs(24 * 3600);
/// The longest warm-up, idle gap or per-request/cold-start timeout.
const MAX_WAIT: Duration = Duration::from_secs(3600);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The most warm requests one function's open-loop schedule may hold (each is a stored sample).
const MAX_WARM_REQUESTS: f64 = 10_000_000.0;
/// The most cold starts per function.
const MAX_REPETITIONS: i64 = 10_000;

fn int_in(
    cx: &Cx,
    v: &Option<Spanned<i64>>,
    field: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> R<i64> {
    match v {
        None => Ok(default),
        Some(x) if range.contains(x.get_ref()) => Ok(*x.get_ref()),
        Some(x) => Err(cx.err(
            x.span(),
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        )),
    }
}

fn experiment(cx: &Cx, e: &RawExperiment) -> R<Experiment> {
    let seed = int_in(cx, &e.seed, "experiment.seed", 42, 0..=i64::MAX)? as u64;
    let w = &e.warm;
    let mode = match w.mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
        None | Some((_, "open")) => WarmMode::Open,
        Some((_, "closed")) => WarmMode::Closed,
        Some((m, o)) => {
            return Err(cx.err(
                m.span(),
                "experiment.warm.mode",
                format!("unknown mode {o:?}; use \"open\" or \"closed\""),
            ))
        }
    };
    let arrival = match w.arrival.as_ref().map(|m| (m, m.get_ref().as_str())) {
        None | Some((_, "uniform")) => Arrival::Uniform,
        Some((_, "poisson")) => Arrival::Poisson,
        Some((m, o)) => {
            return Err(cx.err(
                m.span(),
                "experiment.warm.arrival",
                format!("unknown arrival {o:?}; use \"uniform\" or \"poisson\""),
            ))
        }
    };
    let rate = match &w.rate {
        None => 50.0,
        Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 && *r.get_ref() <= 1e6 => {
            *r.get_ref()
        }
        Some(r) => {
            return Err(cx.err(
                r.span(),
                "experiment.warm.rate",
                "rate is requests per second, above 0 and at most 1000000",
            ))
        }
    };
    let warm = Warm {
        mode,
        arrival,
        rate,
        duration: dur(
            cx,
            &w.duration,
            "experiment.warm.duration",
            Duration::from_secs(5),
            Duration::from_millis(100)..=MAX_WARM,
        )?,
        warmup: dur(
            cx,
            &w.warmup,
            "experiment.warm.warmup",
            Duration::from_secs(1),
            Duration::ZERO..=MAX_WAIT,
        )?,
        connections: int_in(
            cx,
            &w.connections,
            "experiment.warm.connections",
            4,
            1..=4096,
        )? as u32,
        timeout: dur(
            cx,
            &w.timeout,
            "experiment.warm.timeout",
            Duration::from_secs(10),
            Duration::from_millis(1)..=MAX_TIMEOUT,
        )?,
    };
    let c = &e.cold;
    let cold = Cold {
        repetitions: int_in(
            cx,
            &c.repetitions,
            "experiment.cold.repetitions",
            20,
            1..=MAX_REPETITIONS,
        )? as u32,
        idle_gap: dur(
            cx,
            &c.idle_gap,
            "experiment.cold.idle_gap",
            Duration::from_millis(300),
            Duration::ZERO..=MAX_WAIT,
        )?,
        timeout: dur(
            cx,
            &c.timeout,
            "experiment.cold.timeout",
            Duration::from_secs(60),
            Duration::from_millis(10)..=MAX_TIMEOUT,
        )?,
    };
    let planned = warm.rate * (warm.warmup + warm.duration).as_secs_f64();
    if warm.mode == WarmMode::Open && planned > MAX_WARM_REQUESTS {
        let span = w
            .rate
            .as_ref()
            .map(Spanned::span)
            .or_else(|| w.duration.as_ref().map(Spanned::span))
            .unwrap_or(0..0);
        return Err(cx.err(
            span,
            if w.rate.is_some() {
                "experiment.warm.rate"
            } else {
                "experiment.warm.duration"
            },
            format!(
                "rate × (warmup + duration) is {planned:.0} requests per function, above the limit of {MAX_WARM_REQUESTS:.0} (each is a stored sample); lower the rate or the duration"
            ),
        ));
    }
    Ok(Experiment {
        seed,
        warm,
        cold,
        thresholds: Vec::new(),
    })
}

fn k3d_settings(cx: &Cx, p: &RawPlatform) -> R<K3dSettings> {
    let s = |v: &Option<Spanned<String>>, d: &str| {
        v.as_ref().map_or(d.to_string(), |x| x.get_ref().clone())
    };
    let port = |v: &Option<Spanned<u16>>, d: u16| v.as_ref().map_or(d, |x| *x.get_ref());
    let k = &p.k3d;
    let registry_name = s(&k.registry_name, "faasbed-registry.localhost");
    if !registry_name.ends_with(".localhost") {
        let span = k.registry_name.as_ref().map_or(0..0, |x| x.span());
        return Err(cx.err(span, "platform.k3d.registry_name", "the registry must be a `*.localhost` name so OpenFaaS CE can pull from it anonymously over HTTP"));
    }
    Ok(K3dSettings {
        cluster_name: s(&k.cluster_name, "faasbed"),
        k3s_image: s(&k.k3s_image, crate::pins::K3S_IMAGE),
        registry_name,
        registry_port: port(&k.registry_port, 5111),
        api_port: port(&k.api_port, 6550),
        gateway_port: port(&k.gateway_port, 8081),
        openfaas_chart_version: s(&p.openfaas.chart_version, crate::pins::OPENFAAS_CHART),
    })
}

/// DNS-1123 label: what Kubernetes allows as a node or function name.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes label name or value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub(crate) fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A Kubernetes label key (optional DNS prefix + name) and value.
fn check_label(k: &str, v: &str) -> Result<(), String> {
    let name_ok = is_label_name;
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if !name_ok(name)
        || prefix.is_some_and(|p| p.is_empty() || p.len() > 253 || !p.split('.').all(is_dns_label))
    {
        return Err(format!("{k:?} is not a valid Kubernetes label key"));
    }
    if !(v.is_empty() || name_ok(v)) {
        return Err(format!("{v:?} is not a valid Kubernetes label value (letters, digits, '-', '_', '.'; at most 63)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(t: &str) -> Result<Scenario, SpecError> {
        parse(t, Path::new("t.toml"))
    }

    const MIN: &str = "[[node]]\nname = \"vps-1\"\nclass = \"vps\"\n";

    #[test]
    fn defaults_run_as_they_are() {
        let s = p(MIN).unwrap();
        assert_eq!(s.platform.kind, PlatformKind::Local);
        assert_eq!(s.nodes[0].arch, Arch::Amd64);
        assert_eq!(s.nodes[0].backend, Backend::Native);
        assert_eq!(s.experiment.cold.repetitions, 20);
        assert!(s.experiment.cold.idle_gap > Duration::from_millis(250));
    }

    #[test]
    fn class_defaults_arch_and_backend() {
        let s = p("[[node]]\nname = \"p\"\nclass = \"pi3\"\n").unwrap();
        assert_eq!(s.nodes[0].arch, Arch::Armhf);
        assert_eq!(s.nodes[0].backend, Backend::QemuUser);
        assert_eq!(s.nodes[0].qemu_cpu(), Some("cortex-a7"));
        let l = s.nodes[0].labels();
        assert_eq!(l["kubernetes.io/arch"], "arm");
        assert_eq!(l["faasbed.io/class"], "pi3");
    }

    #[test]
    fn thesis_style_constraint_selects_the_labelled_node() {
        let t = format!(
            "{MIN}[[node]]\nname = \"raspberrypi-01\"\nclass = \"pi3\"\nlabels = {{ type = \"rsbpi-01\" }}\n\
             [[function]]\nname = \"f\"\nsource = \"echo\"\nconstraints = [\"type=rsbpi-01\"]\n"
        );
        let s = p(&t).unwrap();
        let names: Vec<&str> = s
            .eligible_nodes(&s.functions[0])
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(names, ["raspberrypi-01"]);
    }

    #[test]
    fn constraints_that_never_match_together_are_rejected() {
        let t = format!(
            "{MIN}[[node]]\nname = \"p\"\nclass = \"pi3\"\n\
             [[function]]\nname = \"f\"\nsource = \"echo\"\nconstraints = [\"faasbed.io/class=vps\", \"kubernetes.io/arch=arm\"]\n"
        );
        let e = p(&t).unwrap_err().to_string();
        assert!(e.contains("no node matches all of them together"), "{e}");
    }

    #[test]
    fn custom_profile_needs_its_essentials() {
        let e = p("[profile.tiny]\ncpus = 0.25\n[[node]]\nname = \"t\"\nclass = \"tiny\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs `memory`"), "{e}");
        let s = p("[profile.tiny]\ncpus = 0.25\nmemory = \"256MiB\"\ndefault_arch = \"arm64\"\n[[node]]\nname = \"t\"\nclass = \"tiny\"\n").unwrap();
        assert_eq!(s.nodes[0].profile.memory_bytes, 256 << 20);
        assert_eq!(s.nodes[0].arch, Arch::Arm64);
    }

    #[test]
    fn k3d_needs_a_server_and_a_localhost_registry() {
        let e = p("[platform]\nkind = \"k3d\"\n[[node]]\nname = \"a\"\nclass = \"vps\"\nbackend = \"agent\"\n").unwrap_err().to_string();
        assert!(
            e.contains("needs one node with backend = \"server\""),
            "{e}"
        );
        let e = p("[platform]\nkind = \"k3d\"\n[platform.k3d]\nregistry_name = \"registry.example.com\"\n[[node]]\nname = \"a\"\nclass = \"vps\"\n").unwrap_err().to_string();
        assert!(e.contains("*.localhost"), "{e}");
    }

    proptest! {
        // Arbitrary text never panics the parser; errors are always located.
        #[test]
        fn arbitrary_text_never_panics(t in "\\PC{0,300}") {
            if let Err(e) = p(&t) {
                prop_assert!(e.to_string().starts_with("t.toml:"));
            }
        }

        // Mutating one character of a valid scenario never panics either.
        #[test]
        fn mutated_scenario_never_panics(pos in 0usize..400, c in proptest::char::any()) {
            let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/local.toml")).unwrap();
            let mut chars: Vec<char> = base.chars().collect();
            let i = pos % chars.len();
            chars[i] = c;
            let t: String = chars.into_iter().collect();
            let _ = p(&t);
        }
    }
}
