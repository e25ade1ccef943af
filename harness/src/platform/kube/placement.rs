//! Placement on a Kubernetes cluster, enforced and verified through the kube API after
//! every gateway deploy, because OpenFaaS CE ignores `constraints` and resets the
//! nodeSelector on every update. `KubePlatform::enforce_placement` calls it from the one
//! deploy loop (`platform::deploy::deploy`).

use tokio::time::Instant;

use super::api::{Kube, KubeError, PodPlacement};
use super::ROLLOUT_DEADLINE;
use crate::dryrun;
use crate::spec::Scenario;

/// Patch every function's nodeSelector ([`Kube::enforce_placement`]), wait until each has
/// rolled out (each within [`ROLLOUT_DEADLINE`]), then check every live pod's node. Call it
/// after every gateway deploy or update. Returns each function's pods, scenario order.
pub async fn enforce_and_verify(
    kube: &Kube,
    scenario: &Scenario,
) -> Result<Vec<(String, Vec<PodPlacement>)>, KubeError> {
    dryrun::note(
        "OpenFaaS CE ignores constraints and resets the nodeSelector on every update: each \
         function's Deployment gets it through the kube API after every deploy or update",
    );
    for f in &scenario.functions {
        kube.enforce_placement(&f.name, &f.constraints).await?;
    }
    let mut out = Vec::with_capacity(scenario.functions.len());
    for f in &scenario.functions {
        dryrun::wait(
            format!(
                "deployments/{} rolled out (observedGeneration, updated = available = replicas \
                 = {})",
                f.name, f.replicas
            ),
            ROLLOUT_DEADLINE,
        );
        kube.wait_rolled_out(&f.name, Instant::now() + ROLLOUT_DEADLINE)
            .await?;
        dryrun::check(format!(
            "every live pod of {} runs on a node with {}",
            f.name,
            f.constraints_text()
        ));
        let placed = kube.verify_placement(&f.name, &f.constraints).await?;
        out.push((f.name.clone(), placed));
    }
    Ok(out)
}
