//! `[profile.*]`, `[[node]]` and `[[link]]`: classes resolved into profiles, arch and backend per platform, sites joined by links.

use super::*;

pub(super) fn profiles(
    cx: &Cx,
    raw: &BTreeMap<Spanned<String>, RawProfile>,
) -> R<BTreeMap<String, Profile>> {
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
            runtime: ReplicaRuntime::Process,
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
        if let Some(r) = &rp.runtime {
            p.runtime = super::runtime::parse_runtime(cx, r, &format!("{key}.runtime"))?;
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
pub(in crate::spec) fn check_backend(
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

pub(super) fn nodes(
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
        let runtime = match &rn.runtime {
            Some(r) => super::runtime::parse_runtime(cx, r, &f("runtime"))?,
            None => profile.runtime,
        };
        if runtime == ReplicaRuntime::Containerd {
            let span = rn.runtime.as_ref().map_or(rn.class.span(), |r| r.span());
            let field = if rn.runtime.is_some() {
                f("runtime")
            } else {
                f("class")
            };
            super::runtime::check_containerd(cx, kind, name, span, &field)?;
        }
        out.push(Node {
            runtime,
            name: name.clone(),
            class: class.clone(),
            profile: profile.clone(),
            arch,
            site,
            own_labels: own,
            backend,
            address: rn.address.as_ref().map(|a| a.get_ref().clone()),
            host_key: rn.host_key.as_ref().map(|k| k.get_ref().clone()),
            key: rn.key.as_ref().map(|k| super::kubeconfig_path(k.get_ref())),
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

pub(super) fn links(cx: &Cx, sites: &BTreeSet<&str>, raw: &[RawLink]) -> R<Vec<Link>> {
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
