//! The bodies of faasbed's commands; `cli.rs` keeps clap, dispatch and exit codes. The
//! lifecycle of a topology on any platform is in [`lifecycle`], runs and their analysis in
//! [`runs`]; this module holds what they share: the error type, scenario loading and the
//! handling of Ctrl-C and SIGTERM.

pub mod calibrate;
pub mod lifecycle;
pub mod runs;

use std::path::Path;

use crate::doctor;
use crate::openfaas::ClientError;
use crate::output::{say, OutputError};
use crate::platform::deploy::DeployError;
use crate::platform::local::LocalError;
use crate::platform::{Platform, PlatformError};
use crate::spec::{self, PlatformKind, SpecError};

/// Errors of the commands (what `faasbed` reports before exiting non-zero).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Scenario error.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Local platform error.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// Platform error.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// Deploy error.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// Bench error.
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    /// Results-store error.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Gateway error.
    #[error(transparent)]
    Gateway(#[from] ClientError),
    /// External command error.
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    /// Dry-run plan error.
    #[error(transparent)]
    Plan(#[from] crate::platform::k3d::PlanError),
    /// OpenFaaS-on-a-cluster error (programs, helm, images, labels).
    #[error(transparent)]
    KubePlatform(#[from] crate::platform::kube::KubePlatformError),
    /// Kube API error.
    #[error(transparent)]
    Kube(#[from] crate::platform::kube::KubeError),
    /// Report error.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// Calibration error (boxed: it is large and rare).
    #[error(transparent)]
    Calibrate(Box<crate::calibrate::session::CalibrateError>),
    /// A platform that this build cannot run yet.
    #[error("{0}")]
    Unsupported(String),
    /// Interrupted by SIGINT (Ctrl-C) or SIGTERM, after cleaning up; exits 128 + `signal`.
    #[error("{what}")]
    Interrupted {
        /// The signal number.
        signal: i32,
        /// What was kept and stopped.
        what: String,
    },
    /// Writing the output failed (a closed pipe ends the command quietly with exit 141).
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A command ran but its result is a failure (message already printed).
    #[error("{0}")]
    Failed(String),
    /// The run completed but thresholds failed (each already printed); exits 99.
    #[error("{failed} of {total} threshold check(s) failed; see the lines above")]
    Thresholds { failed: usize, total: usize },
    /// `compare --gate` failed (exit code 3).
    #[error("{0}")]
    GateFailed(String),
    /// A command line that clap accepts but the command cannot use (exit code 2).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit code: 2 bad usage, 3 a failed gate, 4 runs not comparable, 1 otherwise
    /// (130 for Ctrl-C is decided in [`main`]).
    pub fn exit_code(&self) -> u8 {
        use crate::report::compare::exit;
        match self {
            CliError::GateFailed(_) => exit::REGRESSED,
            CliError::Usage(_) => exit::USAGE,
            CliError::Thresholds { .. } => crate::thresholds::EXIT_THRESHOLDS,
            CliError::Report(crate::report::ReportError::Incomparable { .. }) => {
                exit::NOT_COMPARABLE
            }
            _ => exit::ERROR,
        }
    }
}

/// Load a scenario, moved to `platform` when one is given.
pub fn load_for(path: &Path, platform: Option<&str>) -> Result<spec::Scenario, CliError> {
    let s = spec::load(path)?;
    Ok(match platform {
        Some("local") => s.retarget(PlatformKind::Local)?,
        Some("k3d") => s.retarget(PlatformKind::K3d)?,
        _ => s,
    })
}

/// SIGINT (Ctrl-C) and SIGTERM, as one stream; installing it replaces their default
/// "terminate" action, so the command can clean up and then exit 128 + the signal.
pub struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub fn install() -> Result<StopSignals, CliError> {
        use tokio::signal::unix::{signal, SignalKind};
        let fail =
            |e: std::io::Error| CliError::Failed(format!("cannot install the Ctrl-C handler: {e}"));
        Ok(StopSignals {
            int: signal(SignalKind::interrupt()).map_err(fail)?,
            term: signal(SignalKind::terminate()).map_err(fail)?,
        })
    }
    /// The next signal's number.
    pub async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => libc::SIGINT,
            _ = self.term.recv() => libc::SIGTERM,
        }
    }
}

/// The error of a command stopped by `signal` after cleaning up.
pub fn interrupted(signal: i32) -> CliError {
    CliError::Interrupted {
        signal,
        what: "interrupted; everything the run started was stopped".into(),
    }
}

/// Run `fut`; on Ctrl-C or SIGTERM, bring `platform` down and report the interruption.
pub async fn or_interrupt<P: Platform, T, F>(platform: &mut P, fut: F) -> Result<T, CliError>
where
    F: std::future::Future<Output = Result<T, CliError>>,
{
    let mut stop = StopSignals::install()?;
    tokio::select! {
        r = fut => r,
        sig = stop.recv() => {
            let _ = platform.down().await;
            Err(interrupted(sig))
        }
    }
}

/// Stop unless the required prerequisites are there; as root, install them first.
pub async fn ensure_prerequisites() -> Result<(), CliError> {
    let missing = |cs: &[doctor::Check]| {
        cs.iter()
            .filter(|c| c.required && !c.ok)
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut m = missing(&doctor::checks().await);
    if !m.is_empty() && doctor::is_root() {
        say("installing missing prerequisites (faasbed setup)");
        doctor::setup(&mut |s| say(s)).await?;
        m = missing(&doctor::checks().await);
    }
    if m.is_empty() {
        return Ok(());
    }
    let fixes: Vec<String> = m
        .iter()
        .map(|c| {
            format!(
                "  {}: {}\n    run: {}",
                c.name,
                c.detail,
                c.fix.clone().unwrap_or_default()
            )
        })
        .collect();
    Err(CliError::Failed(format!(
        "missing prerequisites:\n{}",
        fixes.join("\n")
    )))
}
