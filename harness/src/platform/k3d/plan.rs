//! The ordered dry-run plan of a k3d or existing-cluster benchmark: every command, gateway
//! call, kube request and wait that `faasbed bench SCENARIO` runs, as data ([`Step`]) rendered
//! to text.
//!
//! The plan is **recorded from the live code** ([`record`]): `faasbed bench --dry-run` runs
//! the live `up` (or `attach`), `build`, the one deploy loop and `down` through recording
//! stand-ins ([`crate::dryrun`]) that answer as a fresh machine with a healthy cluster would,
//! in a scratch folder that is removed afterwards. So plan and run match by construction. Only
//! two sections are described rather than recorded: the cached QEMU VM images (built once per
//! arch; the recording finds them cached) and the measurement (the same on every platform).
//! Values that exist only at run time print as placeholders: `<content-hash>` of a function's
//! sources, `sha256:<digest>` of a pushed image, `<redacted>` for the join token and the
//! gateway password, `<... address>` for addresses Docker assigns. Nothing of the user's
//! machine is touched: the placeholder gateway listens on a loopback port for the duration.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::config::{self, ConfigError};
use crate::pins;
use crate::spec::{PlatformKind, Scenario};

mod answers;
mod assets;
mod existing;
mod record;

pub use crate::dryrun::{Step, REDACTED};
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
    /// The scratch folder or the placeholder gateway could not be made.
    #[error("dry run: cannot {what}")]
    Scratch {
        what: String,
        #[source]
        source: std::io::Error,
    },
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

/// The plan of `faasbed bench` for a k3d or an existing-cluster scenario, recorded from the
/// live code.
pub async fn plan(scenario: &Scenario, opts: &PlanOpts) -> Result<Plan, PlanError> {
    if scenario.platform.kind == PlatformKind::Existing {
        return existing::plan(scenario, opts).await;
    }
    let cp = config::plan(scenario, &opts.run_id)?;
    let header = vec![
        format!(
            "plan of `faasbed bench {}` (dry run: nothing is executed)",
            scenario.path.display()
        ),
        format!(
            "platform k3d, cluster {}, run {}",
            cp.config.metadata.name, opts.run_id
        ),
        format!("run directory {}", opts.run_dir.display()),
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
        sections.push(assets::assets_section(&cp));
    }
    let recorded = record::k3d(scenario, &cp, opts).await?;
    sections.extend(recorded.run);
    sections.push(measure_section(scenario, recorded.cold));
    sections.extend(recorded.down);
    Ok(Plan { header, sections })
}

/// The measurement: the warm loop described (it is the same on every platform), then the
/// one cold start the recording made (`cold`), which the measurement repeats.
fn measure_section(scenario: &Scenario, cold: Vec<Step>) -> Section {
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
    if let (false, Some(f)) = (cold.is_empty(), scenario.functions.first()) {
        steps.extend(cold);
        steps.push(Step::Note(format!(
            "(recorded for {}; the same for every function)",
            f.name
        )));
    }
    Section {
        title: "measure".into(),
        steps,
    }
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
        Step::Check { reads, what } if reads.is_empty() => format!("check: {what}"),
        Step::Check { reads, what } => {
            format!("kube GET {}\n       check: {what}", reads.join(" + "))
        }
        Step::Read { via, path } => format!("{via} GET {path}"),
        Step::Wait {
            condition,
            deadline,
            polls,
        } if polls.is_empty() => format!("wait until {condition} (deadline {deadline:?})"),
        Step::Wait {
            condition,
            deadline,
            polls,
        } => format!(
            "wait until {condition} (deadline {deadline:?})\n       polls {}",
            polls.join(" + ")
        ),
        Step::Note(t) => format!("# {t}"),
    }
}
