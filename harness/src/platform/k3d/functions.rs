//! Deploying a scenario's functions on a k3d (or existing) cluster: the gateway deploy, then
//! placement enforced and verified through the kube API, because OpenFaaS CE ignores
//! `constraints` and resets the nodeSelector on every update.

use std::time::Duration;

use tokio::time::Instant;

use super::kube::{Kube, KubeError, PodPlacement};
use super::live::K3dPlatform;
use super::plan::ROLLOUT_DEADLINE;
use crate::deploy::{self, DeployError, Deployed};
use crate::exec::Runner;
use crate::platform::{Platform, PlatformError};
use crate::spec::Scenario;

/// Patch every function's nodeSelector ([`Kube::enforce_placement`]), wait until each has
/// rolled out (each within [`ROLLOUT_DEADLINE`]), then check every live pod's node. Call it
/// after every gateway deploy or update. Returns each function's pods, scenario order.
pub async fn enforce_and_verify(
    kube: &Kube,
    scenario: &Scenario,
) -> Result<Vec<(String, Vec<PodPlacement>)>, KubeError> {
    for f in &scenario.functions {
        kube.enforce_placement(&f.name, &f.constraints).await?;
    }
    let mut out = Vec::with_capacity(scenario.functions.len());
    for f in &scenario.functions {
        kube.wait_rolled_out(&f.name, Instant::now() + ROLLOUT_DEADLINE)
            .await?;
        let placed = kube.verify_placement(&f.name, &f.constraints).await?;
        out.push((f.name.clone(), placed));
    }
    Ok(out)
}

/// Deploy (or update) every function through the gateway with its image, enforce and verify
/// placement, then wait (up to `timeout` each) until the gateway counts the replicas ready.
pub async fn deploy<R: Runner>(
    platform: &K3dPlatform<R>,
    scenario: &Scenario,
    images: &[Deployed],
    timeout: Duration,
) -> Result<(), DeployError> {
    let client = platform.gateway().client();
    for (f, img) in scenario.functions.iter().zip(images) {
        client
            .deploy_or_update(&deploy::deployment(f, &img.image))
            .await
            .map_err(|source| DeployError::Gateway {
                function: f.name.clone(),
                source,
            })?;
    }
    enforce_and_verify(platform.kube(), scenario)
        .await
        .map_err(|e| PlatformError::K3d(Box::new(e.into())))?;
    for f in &scenario.functions {
        deploy::wait_ready(&client, f, timeout).await?;
        deploy::verify_placement(scenario, platform, f).await?;
    }
    Ok(())
}
