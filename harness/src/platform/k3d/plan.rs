//! The ordered dry-run plan of a k3d benchmark: every command, gateway call, kube patch and
//! wait that `faasbed bench SCENARIO` would run, as data ([`Step`]) rendered to text.
//!
//! Commands are the same [`Cmd`]s the live platform ([`crate::platform::kube::live`]) runs, from the one
//! builder of each in [`super::cmd`], in the order it runs them; a [`Step::Probe`] is a
//! read-only command whose answer decides whether the step after it is skipped. Only values
//! that exist at run time print as placeholders (`<content-hash>` of a function's sources).
//! Secrets never appear: the k3s join token and the gateway password print as [`REDACTED`].
//! Nothing here touches the machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::cmd;
use super::config::{self, ClusterPlan, ConfigError, RUN_LABEL};
use crate::exec::Cmd;
use crate::pins;
use crate::platform::kube::api::{
    self as k, CORE_NAMESPACE, FIELD_MANAGER, FUNCTION_LABEL, FUNCTION_NAMESPACE,
};
use crate::platform::kube::{helm, images, label};
use crate::spec::{ImageRegistry, PlatformKind, Scenario};

mod agents;
mod existing;

/// What a secret prints as.
pub const REDACTED: &str = "<redacted>";
pub use crate::platform::kube::helm::{core_node, CORE_READY_DEADLINE, OPENFAAS_REPO};
pub use crate::platform::kube::images::{image_builds, metadata_file, sources};
pub use crate::platform::kube::{COLD_SETTLE, GONE_DEADLINE, HEALTHZ_DEADLINE, ROLLOUT_DEADLINE};
/// What a function image's tag prints as in a dry run (the run computes it from the sources).
pub const CONTENT_HASH: &str = "<content-hash>";

/// Errors building a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The scenario cannot become a k3d config.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// One step of a run, as data.
#[derive(Debug, Clone)]
pub enum Step {
    /// An external program, through [`crate::exec`]; `on` names the node it runs on when that
    /// is not this machine.
    Command {
        /// The command line.
        cmd: Cmd,
        /// Node it runs on (`None`: this machine).
        on: Option<String>,
    },
    /// A call to the OpenFaaS gateway API.
    Api {
        /// HTTP method.
        method: &'static str,
        /// Path, e.g. `/system/functions`.
        path: String,
        /// JSON body.
        body: Option<Value>,
    },
    /// A patch through the kube API.
    KubePatch {
        /// API path, query included.
        path: String,
        /// Content type (strategic or JSON merge patch).
        content_type: &'static str,
        /// The patch body.
        body: Value,
    },
    /// A read-only command whose answer decides whether the next step is skipped.
    Probe {
        /// The command line.
        cmd: Cmd,
        /// When the next step is skipped.
        skip_when: String,
    },
    /// An object created through the kube API (already existing is fine).
    KubeCreate {
        /// API path of the collection.
        path: String,
        /// The object.
        body: Value,
    },
    /// Read-only kube API requests and the check made on their answer.
    Check {
        /// API paths read.
        reads: Vec<String>,
        /// What must hold.
        what: String,
    },
    /// A named condition with a deadline.
    Wait {
        /// What must become true.
        condition: String,
        /// How long it may take.
        deadline: Duration,
    },
    /// Context for the reader (what a step writes, what is not automated yet).
    Note(String),
}

/// A titled group of steps.
#[derive(Debug, Clone)]
pub struct Section {
    /// Title, e.g. `cluster`.
    pub title: String,
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Header lines (scenario, run id, run directory).
    pub header: Vec<String>,
    /// Sections in order.
    pub sections: Vec<Section>,
}

/// Inputs of a plan that do not come from the scenario.
#[derive(Debug, Clone)]
pub struct PlanOpts {
    /// Run id (labels every container and VM).
    pub run_id: String,
    /// Run directory (config, kubeconfig, VM disks, results).
    pub run_dir: PathBuf,
}

/// The plan of `faasbed bench` for a k3d or an existing-cluster scenario.
pub fn plan(scenario: &Scenario, opts: &PlanOpts) -> Result<Plan, PlanError> {
    if scenario.platform.kind == PlatformKind::Existing {
        return Ok(existing::plan(scenario, opts));
    }
    let cp = config::plan(scenario, &opts.run_id)?;
    let registry = k3d_registry(&cp);
    let run = &opts.run_dir;
    let kubeconfig = run.join("kubeconfig");
    let header = vec![
        format!(
            "plan of `faasbed bench {}` (dry run: nothing is executed)",
            scenario.path.display()
        ),
        format!(
            "platform k3d, cluster {}, run {}",
            cp.config.metadata.name, opts.run_id
        ),
        format!("run directory {}", run.display()),
        format!(
            "pins: k3s {}, k3d {}, helm {}, openfaas chart {}",
            cp.config.image,
            pins::K3D_VERSION,
            pins::HELM_VERSION,
            scenario.platform.k3d.openfaas_chart_version
        ),
    ];
    let mut sections = Vec::new();
    if !super::vms::vm_nodes(&cp).is_empty() {
        sections.push(agents::assets_section(&cp));
    }
    sections.extend([
        cluster_section(&cp, run, &kubeconfig, &opts.run_id),
        agents::section(scenario, &cp, run, &opts.run_id, &kubeconfig),
        labels_section(scenario),
        openfaas_section(
            scenario,
            cp.k3d_nodes.first().map_or("", |n| n.node.as_str()),
            run,
            &kubeconfig,
            &format!("http://127.0.0.1:{}", scenario.platform.k3d.gateway_port),
        ),
        images_section(scenario, Some(&registry), run, "the k3d registry"),
    ]);
    sections.push(functions_section(scenario, &registry.pull));
    sections.push(measure_section(scenario));
    let mut down = agents::stop_steps(&cp, run);
    down.push(Step::Command {
        cmd: cmd::cluster_delete(&cp.config.metadata.name),
        on: None,
    });
    sections.push(Section {
        title: "down".into(),
        steps: down,
    });
    Ok(Plan { header, sections })
}

fn cluster_section(cp: &ClusterPlan, run: &Path, kubeconfig: &Path, run_id: &str) -> Section {
    let config_path = run.join("k3d.yaml");
    Section {
        title: "cluster".into(),
        steps: vec![
            Step::Probe {
                cmd: cmd::cluster_list(),
                skip_when: format!(
                    "cluster {} exists with {RUN_LABEL}={run_id} on its containers (reused)",
                    cp.config.metadata.name
                ),
            },
            Step::Note(format!(
                "write {} (k3d.io/v1alpha5 Simple: {} server, {} agent container(s), registry {})",
                config_path.display(),
                cp.config.servers,
                cp.config.agents,
                cp.registry_push
            )),
            Step::Command {
                cmd: cmd::cluster_create(&config_path, kubeconfig),
                on: None,
            },
            Step::Command {
                cmd: cmd::kubeconfig_write(&cp.config.metadata.name, kubeconfig),
                on: None,
            },
            Step::Wait {
                condition: format!(
                    "nodes {} Ready (k3d waits itself: options.k3d.wait)",
                    names(cp.k3d_nodes.iter().map(|n| n.node.as_str()))
                ),
                deadline: cmd::CREATE_TIMEOUT,
            },
        ],
    }
}

fn labels_section(scenario: &Scenario) -> Section {
    let mut steps = vec![
        Step::Note(
            "labels are passed at join already; these make them hold on a node that joined without \
             them"
                .into(),
        ),
        Step::Check {
            reads: vec!["/api/v1/nodes".into()],
            what: "label::auto_label per node: the scenario's labels for the nodes it names, the \
                   rule table's class for the others; only labels a node lacks are patched"
                .into(),
        },
    ];
    for n in &scenario.nodes {
        let mut wanted = n.labels();
        wanted.retain(|key, _| !label::kubelet_manages(key));
        steps.push(Step::KubePatch {
            path: format!("/api/v1/nodes/{}?fieldManager={FIELD_MANAGER}", n.name),
            content_type: k::JSON_MERGE,
            body: k::labels_patch(&wanted),
        });
    }
    Section {
        title: "node labels".into(),
        steps,
    }
}

/// Where the k3d registry is reached from the host and from the nodes.
pub fn k3d_registry(cp: &ClusterPlan) -> ImageRegistry {
    ImageRegistry {
        push: cp.registry_push.clone(),
        pull: cp.registry_pull.clone(),
    }
}

/// `gateway` is the base URL `/healthz` is polled at.
fn openfaas_section(
    scenario: &Scenario,
    server: &str,
    run: &Path,
    kubeconfig: &Path,
    gateway: &str,
) -> Section {
    let install = helm::helm_install(
        run,
        kubeconfig,
        &scenario.platform.k3d.openfaas_chart_version,
        server,
    );
    Section {
        title: "OpenFaaS CE".into(),
        steps: vec![
            Step::Command {
                cmd: helm::helm_repo_add(run),
                on: None,
            },
            Step::Command {
                cmd: helm::helm_repo_update(run),
                on: None,
            },
            Step::KubeCreate {
                path: "/api/v1/namespaces".into(),
                body: k::namespace_object(FUNCTION_NAMESPACE),
            },
            Step::Note(format!(
                "the core (gateway, provider, NATS, Prometheus) is pinned to the server {server} \
                 by the chart's top-level nodeSelector: its images are amd64/arm64 only and the \
                 gateway belongs in the gateway site"
            )),
            Step::Command {
                cmd: install,
                on: None,
            },
            Step::Wait {
                condition: format!(
                    "every Deployment in namespace {CORE_NAMESPACE} Available (helm --wait)"
                ),
                deadline: CORE_READY_DEADLINE,
            },
            Step::Check {
                reads: vec![format!(
                    "/api/v1/namespaces/{CORE_NAMESPACE}/secrets/{}",
                    k::BASIC_AUTH_SECRET
                )],
                what: format!(
                    "gateway password = key {} (user admin, password {REDACTED}; never logged)",
                    k::BASIC_AUTH_PASSWORD_KEY
                ),
            },
            Step::Wait {
                condition: format!("GET {gateway}/healthz answers 200"),
                deadline: HEALTHZ_DEADLINE,
            },
        ],
    }
}

/// The builds and pushes to `registry` (`None`: an existing cluster without one, which the
/// run refuses), titled by what `where_to` names.
fn images_section(
    scenario: &Scenario,
    registry: Option<&ImageRegistry>,
    run: &Path,
    where_to: &str,
) -> Section {
    let Some(registry) = registry else {
        return Section {
            title: "function images (no registry)".into(),
            steps: vec![Step::Note(
                "the scenario has no [platform.registry]: `faasbed bench` stops here and says how \
                 to add one (push = \"host[:port]\", and pull = \"host[:port]\" when the nodes \
                 name it otherwise)"
                    .into(),
            )],
        };
    };
    let mut steps = vec![
        Step::Note(format!(
            "the Dockerfiles cross-compile with Go on the build platform, so no emulation is \
             needed; {CONTENT_HASH} is the hash of go.mod, contract/ and the function's folder"
        )),
        Step::Command {
            cmd: images::buildx_version(),
            on: None,
        },
        Step::Note(
            "when that fails (no buildx plugin), each build below is instead, per arch, \
             faasbed's own Go cross-compile FROM scratch with `docker build --no-cache --platform \
             …` and `docker push`, then one `docker manifest create/annotate/push` of the list \
             under the same tag"
                .into(),
        ),
        Step::Probe {
            cmd: images::buildx_inspect(),
            skip_when: format!("builder {} exists", images::BUILDER),
        },
        Step::Command {
            cmd: images::buildx_create(),
            on: None,
        },
    ];
    for (_, c) in image_builds(scenario, &registry.push, run, |_| CONTENT_HASH.to_string()) {
        steps.push(Step::Command { cmd: c, on: None });
    }
    Section {
        title: format!("function images (pushed to {where_to})"),
        steps,
    }
}

/// `pull` is the registry the nodes pull the images from.
fn functions_section(scenario: &Scenario, pull: &str) -> Section {
    let mut steps = Vec::new();
    for f in &scenario.functions {
        let image = images::image_ref(pull, &f.source, CONTENT_HASH);
        let dep = crate::platform::deploy::deployment(f, &image);
        steps.push(Step::Api {
            method: "POST",
            path: "/system/functions".into(),
            body: serde_json::to_value(&dep).ok(),
        });
        steps.push(Step::KubePatch {
            path: deployment_path(&f.name, ""),
            content_type: k::STRATEGIC_MERGE,
            body: k::placement_patch(&f.name, &f.constraints),
        });
        steps.push(Step::Wait {
            condition: format!(
                "deployments/{} rolled out (observedGeneration, updated = available = replicas = {})",
                f.name, f.replicas
            ),
            deadline: ROLLOUT_DEADLINE,
        });
        steps.push(Step::Check {
            reads: vec![pods_path(&f.name), "/api/v1/nodes".into()],
            what: format!(
                "every live pod of {} runs on a node with {}",
                f.name,
                f.constraints
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    steps.push(Step::Note(
        "after any PUT /system/functions (an update) the nodeSelector patch is applied again: the \
         gateway resets it"
            .into(),
    ));
    Section {
        title: "functions (OpenFaaS API, then placement through the kube API)".into(),
        steps,
    }
}

fn measure_section(scenario: &Scenario) -> Section {
    let w = &scenario.experiment.warm;
    let c = &scenario.experiment.cold;
    let mut steps = vec![Step::Note(format!(
        "warm: {:?} loop, {} req/s for {:?} after {:?} warm-up, {} connection(s), per function",
        w.mode, w.rate, w.duration, w.warmup, w.connections
    ))];
    for f in &scenario.functions {
        steps.push(Step::Api {
            method: if f.body.is_some() { "POST" } else { "GET" },
            path: format!("/function/{}{}", f.name, f.path),
            body: None,
        });
    }
    steps.push(Step::Note(format!(
        "cold: {} repetition(s) per function, {:?} idle gap, each as below",
        c.repetitions, c.idle_gap
    )));
    if let Some(f) = scenario.functions.first() {
        steps.push(Step::KubePatch {
            path: deployment_path(&f.name, "/scale"),
            content_type: k::JSON_MERGE,
            body: k::scale_patch(0),
        });
        steps.push(Step::Wait {
            condition: format!(
                "no pod {FUNCTION_LABEL}={} and no ready address in endpoints/{}",
                f.name, f.name
            ),
            deadline: GONE_DEADLINE,
        });
        steps.push(Step::Wait {
            condition: "the gateway's 250 ms replica cache expires (cold_settle)".into(),
            deadline: COLD_SETTLE,
        });
        steps.push(Step::Api {
            method: "GET",
            path: format!("/function/{}", f.name),
            body: None,
        });
        steps.push(Step::Check {
            reads: vec![pods_path(&f.name)],
            what: "the answer's X-Faasbed-Instance is new and its node satisfies the constraints; \
                   phases from pod conditions (1 s resolution)"
                .into(),
        });
        steps.push(Step::Note(format!(
            "(shown for {}; the same for every function)",
            f.name
        )));
    }
    Section {
        title: "measure".into(),
        steps,
    }
}

fn deployment_path(function: &str, sub: &str) -> String {
    format!(
        "/apis/apps/v1/namespaces/{FUNCTION_NAMESPACE}/deployments/{function}{sub}?fieldManager={FIELD_MANAGER}"
    )
}

fn pods_path(function: &str) -> String {
    format!(
        "/api/v1/namespaces/{FUNCTION_NAMESPACE}/pods?labelSelector={FUNCTION_LABEL}%3D{function}"
    )
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

impl Plan {
    /// The plan as numbered text (steps numbered across sections).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for h in &self.header {
            let _ = writeln!(out, "{h}");
        }
        let mut n = 0;
        for (i, s) in self.sections.iter().enumerate() {
            let _ = writeln!(out, "\n== {}. {} ==", i + 1, s.title);
            for step in &s.steps {
                if let Step::Note(t) = step {
                    let _ = writeln!(out, "     # {t}");
                    continue;
                }
                n += 1;
                let _ = writeln!(out, "{n:>3}. {}", render_step(step));
            }
        }
        out
    }
}

fn render_step(step: &Step) -> String {
    match step {
        Step::Command { cmd, on } => match on {
            Some(node) => format!("[on {node}] $ {cmd}"),
            None => format!("$ {cmd}"),
        },
        Step::Probe { cmd, skip_when } => {
            format!("$ {cmd}\n       skip the next step when {skip_when}")
        }
        Step::KubeCreate { path, body } => {
            format!("kube POST {path} (AlreadyExists is fine)\n       {body}")
        }
        Step::Api { method, path, body } => match body {
            Some(b) => format!("gateway {method} {path}\n       {b}"),
            None => format!("gateway {method} {path}"),
        },
        Step::KubePatch {
            path,
            content_type,
            body,
        } => {
            format!("kube PATCH {path} ({content_type})\n       {body}")
        }
        Step::Check { reads, what } => {
            format!("kube GET {}\n       check: {what}", reads.join(" + "))
        }
        Step::Wait {
            condition,
            deadline,
        } => format!("wait until {condition} (deadline {deadline:?})"),
        Step::Note(t) => format!("# {t}"),
    }
}
