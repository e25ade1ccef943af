//! The one deploy loop of every platform: deploy through the OpenFaaS gateway API, let the
//! platform enforce placement ([`Platform::enforce_placement`]), wait until ready, verify.
//!
//! Platform-agnostic: the platform supplies the image references ([`Platform::build`]) and its
//! enforcement; this module knows no platform.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Platform, PlatformError};
use crate::build::{self, BuildError};
use crate::dryrun;
use crate::openfaas::{
    Client, ClientError, FunctionDeployment, FunctionResources, LABEL_SCALE_MIN,
};
use crate::spec::{all_match, Arch, Function, Scenario};

/// Errors deploying functions.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// No `images/functions` folder was found.
    #[error("cannot find images/functions (with go.mod) above {}; run faasbed from the faasbed checkout or pass a scenario inside it", start.display())]
    NoFunctions { start: PathBuf },
    /// Building a function failed.
    #[error("function {function}: build of images/functions/{source_dir} failed")]
    Build {
        function: String,
        source_dir: String,
        #[source]
        source: BuildError,
    },
    /// Building a Python function (or its arch's sysroot) failed.
    #[error("function {function}: build of images/python/{source_file}.py failed")]
    PythonBuild {
        function: String,
        source_file: String,
        #[source]
        source: crate::python::PythonError,
    },
    /// A gateway call failed.
    #[error("function {function}: {source}")]
    Gateway {
        function: String,
        #[source]
        source: ClientError,
    },
    /// The platform failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// Replicas did not become ready.
    #[error("function {function}: {available} of {wanted} replicas ready after {timeout:?}; see the replica logs in the run directory")]
    NotReady {
        function: String,
        available: u64,
        wanted: u64,
        timeout: Duration,
    },
    /// A replica runs on a node that does not satisfy the constraints.
    #[error("function {function}: replica on node {node} violates constraint {constraint}")]
    Placement {
        function: String,
        node: String,
        constraint: String,
    },
}

/// What was deployed, for provenance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Deployed {
    /// Function name.
    pub function: String,
    /// Image reference.
    pub image: String,
    /// Content hash of the build.
    pub hash: String,
    /// Arches built.
    pub arches: Vec<Arch>,
    /// Per arch: whether the binary came from the cache.
    pub cached: BTreeMap<Arch, bool>,
}

/// The gateway deployment for `f` with image `image`.
pub fn deployment(f: &Function, image: &str) -> FunctionDeployment {
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_SCALE_MIN.to_string(), f.replicas.to_string());
    labels.insert("faasbed.io/source".to_string(), f.source.clone());
    let limits = (f.limits.memory.is_some() || f.limits.cpu.is_some()).then(|| FunctionResources {
        memory: f.limits.memory.as_ref().map(|m| m.0.clone()),
        cpu: f.limits.cpu.as_ref().map(|c| c.0.clone()),
    });
    FunctionDeployment {
        service: f.name.clone(),
        image: image.to_string(),
        constraints: f.constraints.iter().map(ToString::to_string).collect(),
        env_vars: f.env.clone(),
        labels: Some(labels),
        limits,
        ..Default::default()
    }
}

/// How long `faasbed bench` lets each function become ready after its deploy.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The `images/functions` folder (with its `go.mod`) above the scenario file, else above the
/// working directory: where every platform builds function sources from.
pub fn functions_root(scenario: &Scenario) -> Result<PathBuf, DeployError> {
    let start = scenario
        .path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    build::functions_root(&start)
        .or_else(|| build::functions_root(Path::new(".")))
        .ok_or(DeployError::NoFunctions { start })
}

/// Deploy (or update) every function with its image, have the platform enforce placement
/// (OpenFaaS CE ignores `constraints`), wait (up to `timeout` each) until each function's
/// replicas are ready, and verify that each replica runs on a node satisfying its constraints.
/// Every platform deploys through this loop ([`Platform::deploy`]).
pub async fn deploy<P: Platform + ?Sized>(
    platform: &P,
    scenario: &Scenario,
    images: &[Deployed],
    timeout: Duration,
) -> Result<(), DeployError> {
    let client: Client = platform.gateway().client();
    dryrun::section("functions (OpenFaaS API, then placement)");
    for (f, img) in scenario.functions.iter().zip(images) {
        client
            .deploy_or_update(&deployment(f, &img.image))
            .await
            .map_err(|source| DeployError::Gateway {
                function: f.name.clone(),
                source,
            })?;
    }
    platform.enforce_placement(scenario).await?;
    for f in &scenario.functions {
        dryrun::wait(
            format!(
                "the gateway reports {} of {} replica(s) of {} available",
                f.replicas, f.replicas, f.name
            ),
            timeout,
        );
        wait_ready(&client, f, timeout).await?;
        dryrun::check(format!(
            "every replica of {} runs on a node of the scenario whose labels satisfy {}",
            f.name,
            f.constraints_text()
        ));
        verify_placement(scenario, platform, f).await?;
    }
    Ok(())
}

/// Wait until `f` has all its replicas available.
pub async fn wait_ready(
    client: &Client,
    f: &Function,
    timeout: Duration,
) -> Result<(), DeployError> {
    let deadline = Instant::now() + timeout;
    loop {
        let st = client
            .status(&f.name)
            .await
            .map_err(|source| DeployError::Gateway {
                function: f.name.clone(),
                source,
            })?;
        if st.available_replicas >= u64::from(f.replicas) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DeployError::NotReady {
                function: f.name.clone(),
                available: st.available_replicas,
                wanted: u64::from(f.replicas),
                timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Check that every replica of `f` runs on a node whose labels satisfy all its constraints.
pub async fn verify_placement<P: Platform + ?Sized>(
    scenario: &Scenario,
    platform: &P,
    f: &Function,
) -> Result<(), DeployError> {
    for r in platform.placement(&f.name).await? {
        let labels = scenario
            .node(&r.node)
            .map(|n| n.labels())
            .unwrap_or_default();
        if !all_match(&f.constraints, &labels) {
            let c = f
                .constraints
                .iter()
                .find(|c| !c.matches(&labels))
                .map(ToString::to_string)
                .unwrap_or_default();
            return Err(DeployError::Placement {
                function: f.name.clone(),
                node: r.node,
                constraint: c,
            });
        }
    }
    Ok(())
}
