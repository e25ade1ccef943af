//! The dry-run plan on an existing cluster (`kind = "existing"`): the live attach (label,
//! install OpenFaaS CE only when absent), the image builds to the scenario's
//! `[platform.registry]`, the deploy loop and `down`, recorded ([`super::record`]). Nothing is
//! created and nothing is deleted: the cluster is not faasbed's.

use std::path::Path;

use super::{measure_section, record, Plan, PlanError, PlanOpts};
use crate::pins;
use crate::spec::Scenario;

/// The plan of `faasbed bench` on the existing cluster of `scenario`.
pub(super) async fn plan(scenario: &Scenario, opts: &PlanOpts) -> Result<Plan, PlanError> {
    let kubeconfig = scenario
        .platform
        .kubeconfig
        .as_deref()
        .unwrap_or(Path::new("<kubeconfig>"));
    let header = vec![
        format!(
            "plan of `faasbed bench {}` (dry run: nothing is executed)",
            scenario.path.display()
        ),
        format!(
            "platform existing, kubeconfig {}, run {}",
            kubeconfig.display(),
            opts.run_id
        ),
        format!("run directory {}", opts.run_dir.display()),
        format!(
            "pins: helm {}, openfaas chart {} (installed only when absent)",
            pins::HELM_VERSION,
            scenario.platform.k3d.openfaas_chart_version
        ),
    ];
    let recorded = record::existing(scenario, kubeconfig, opts).await?;
    let mut sections = recorded.run;
    sections.push(measure_section(scenario, recorded.cold));
    sections.extend(recorded.down);
    Ok(Plan { header, sections })
}
