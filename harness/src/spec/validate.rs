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

mod experiment;
mod functions;
mod hosts;
mod registry;
mod runtime;
mod thresholds;
mod topology;
mod trace;

use experiment::experiment;
use functions::functions;
pub(crate) use hosts::is_sha256_pin;
pub(super) use topology::check_backend;
use topology::{links, nodes, profiles};

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
    experiment.trace = trace::trace(
        &cx,
        raw.experiment.trace.as_ref(),
        &functions,
        experiment.seed,
    )?;
    let kubeconfig = raw
        .platform
        .kubeconfig
        .as_ref()
        .map(|k| kubeconfig_path(k.get_ref()));
    let k3s = hosts::k3s_install(&cx, kind, &raw.platform, &raw.node, &nodes)?;
    if kind == PlatformKind::Existing && kubeconfig.is_none() && k3s.is_none() {
        return Err(cx.at_end(
            "platform.kubeconfig",
            "platform \"existing\" needs `kubeconfig = \"path/to/kubeconfig\"` under [platform], or [platform.k3s] with `server = \"<node>\"` for faasbed to install k3s on the ssh nodes",
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
            gateway_model: runtime::gateway_model(&cx, &raw.platform.gateway)?,
            containerd_socket: runtime::containerd_socket(&cx, &raw.platform.containerd_socket)?,
            k3s,
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
#[allow(clippy::unwrap_used)] // tests may unwrap
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
