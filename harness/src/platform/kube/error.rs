//! The errors of OpenFaaS on a cluster ([`KubePlatformError`]), apart from the kube API's own
//! ([`super::api::KubeError`]).

use std::path::PathBuf;
use std::time::Duration;

use super::api::KubeError;
use super::parse::ParseError;
use crate::build::BuildError;
use crate::exec::ExecError;

/// Errors of OpenFaaS on a cluster: programs, helm, images, labels, the kube API, the gateway.
#[derive(Debug, thiserror::Error)]
pub enum KubePlatformError {
    /// Programs the platform needs are not on `PATH`.
    #[error("{programs} not found on PATH; install: {hints} (or run the same topology on the embedded platform: `faasbed bench --platform local SCENARIO`)")]
    MissingPrograms {
        /// The missing programs, comma-separated.
        programs: String,
        /// One install command per missing program.
        hints: String,
    },
    /// A file of the run directory could not be written or read.
    #[error("cannot {action} {}; check the run directory is writable", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An external program failed (the source holds its command line, status and output).
    #[error("{step} failed")]
    Exec {
        step: String,
        #[source]
        source: Box<ExecError>,
    },
    /// A tool printed output faasbed cannot read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A kube API call failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// A node the scenario names cannot get its labels.
    #[error(transparent)]
    Label(#[from] super::label::LabelError),
    /// The gateway never answered `/healthz`.
    #[error("the OpenFaaS gateway at {url} did not answer /healthz within {waited:?} (last: {last}); check its pods with `kubectl --kubeconfig {} -n openfaas get pods`", kubeconfig.display())]
    Unhealthy {
        url: String,
        waited: Duration,
        last: String,
        kubeconfig: PathBuf,
    },
    /// No `images/functions` folder to build function images from.
    #[error("cannot find images/functions (with go.mod) above {}; run faasbed from the faasbed checkout", start.display())]
    NoFunctions { start: PathBuf },
    /// A function source could not be hashed for its image tag.
    #[error("function source {source_name}: cannot hash it for its image tag")]
    Hash {
        source_name: String,
        #[source]
        source: BuildError,
    },
    /// A Python function's image could not be hashed for its tag.
    #[error("python function image {image}: cannot hash it for its image tag")]
    PythonHash {
        image: String,
        #[source]
        source: crate::python::PythonError,
    },
    /// A Python image needs buildx (its Dockerfile has a `RUN` step per platform).
    #[error("function image {image}: Python images are built with `docker buildx` (images/python/Dockerfile runs a step per platform), and `docker buildx version` failed; install the docker buildx plugin (Debian: apt install docker-buildx)")]
    PythonNeedsBuildx { image: String },
    /// A function source did not cross-compile for its images.
    #[error("function source {source_name}: cannot cross-compile it for its images")]
    Build {
        source_name: String,
        #[source]
        source: BuildError,
    },
    /// `docker manifest push` printed no digest.
    #[error("`{command}` printed no sha256 digest (it printed {stdout:?}); check docker is 20.10 or newer")]
    NoDigest { command: String, stdout: String },
    /// An existing cluster's scenario names no registry to push function images to.
    #[error("scenario {}: platform existing names no registry for the function images of cluster {}; add under [platform]:\n  [platform.registry]\n  push = \"registry.lan:5000\"   # host[:port] this machine pushes to\n  pull = \"registry.lan:5000\"   # optional: how the nodes name it\nthe nodes must pull from it anonymously (see README, Platforms)", scenario.display(), kubeconfig.display())]
    NoRegistry {
        /// The scenario file.
        scenario: PathBuf,
        /// The cluster's kubeconfig.
        kubeconfig: PathBuf,
    },
}
