//! The command line: clap definitions and dispatch to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, Subcommand};

use crate::doctor;
use crate::openfaas::{headers, ClientError};
use crate::output::{out, outln, say, OutputError};
use crate::platform::deploy::DeployError;
use crate::platform::local::{self, DaemonOpts, Home, LocalError, LocalPlatform};
use crate::platform::{Platform, PlatformError};
use crate::spec::{self, PlatformKind, SpecError};

/// The default scenario.
pub const DEFAULT_SCENARIO: &str = "scenarios/local.toml";

/// The exit codes of `faasbed compare` (see `report::compare::exit`).
const COMPARE_EXIT_CODES: &str = "Exit codes: 0 compared (with --gate: the gate passed); 1 error (a run or file could not be read); 2 bad usage; 3 the gate failed (a regression, or a row on one side only without --allow-missing); 4 not comparable (scenario, emulation, --quick or experiment settings differ; --force compares anyway).";

/// faasbed: a reproducible FaaS testbed and benchmark for hybrid x86_64 + ARM clusters.
#[derive(Debug, Parser)]
#[command(name = "faasbed", version, about, propagate_version = true)]
pub struct Cli {
    /// Working directory for run state and build cache (default ./.faasbed).
    #[arg(long, env = "FAASBED_HOME", global = true)]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole benchmark: up, deploy, verify placement, warm, cold, store, summary, down.
    Bench {
        /// Scenario file.
        #[arg(default_value = DEFAULT_SCENARIO)]
        scenario: PathBuf,
        /// Short durations (2 s warm, 5 cold repetitions) for a smoke run.
        #[arg(long)]
        quick: bool,
        /// Print the summary as JSON on stdout (no progress bars).
        #[arg(long)]
        json: bool,
        /// Where run directories go.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Skip the warm phase.
        #[arg(long)]
        skip_warm: bool,
        /// Skip the cold phase.
        #[arg(long)]
        skip_cold: bool,
        /// Run the scenario's topology on this platform instead (e.g. the k3d thesis on `local`).
        #[arg(long, value_parser = ["local", "k3d"])]
        platform: Option<String>,
        /// Print the ordered plan of the run (every command and API call) and run nothing.
        #[arg(long)]
        dry_run: bool,
        /// A pass/fail threshold checked after the run, e.g. 'p99<50ms', 'errors<1%',
        /// 'echo-pi3:p99<200ms', 'class=pi3:p50<20ms' (repeatable); a failure exits 99.
        #[arg(long = "threshold", value_name = "EXPR")]
        thresholds: Vec<String>,
        #[command(flatten)]
        exports: crate::export::ExportArgs,
    },
    /// Print the ordered plan of `faasbed bench SCENARIO` without running anything.
    Plan {
        /// Scenario file.
        #[arg(default_value = DEFAULT_SCENARIO)]
        scenario: PathBuf,
    },
    /// Stand up the topology of a scenario (embedded platform: starts the gateway daemon).
    Up {
        /// Scenario file.
        #[arg(default_value = DEFAULT_SCENARIO)]
        scenario: PathBuf,
        /// Run the scenario's topology on this platform instead (e.g. the k3d thesis on `local`).
        #[arg(long, value_parser = ["local", "k3d"])]
        platform: Option<String>,
    },
    /// Build and deploy the scenario's functions, then verify their placement.
    Deploy {
        /// Scenario file (default: the one the topology was made from).
        scenario: Option<PathBuf>,
    },
    /// Invoke a function through the gateway and show what answered.
    Invoke {
        /// Function name.
        function: String,
        /// Request body (sends a POST); without it, a GET.
        #[arg(long)]
        data: Option<String>,
        /// Path and query after the function name, e.g. "/?kib=64".
        #[arg(long, default_value = "/")]
        path: String,
    },
    /// Scale a function (0 is allowed on the embedded platform).
    Scale {
        /// Function name.
        function: String,
        /// Replicas.
        replicas: u64,
    },
    /// Label a cluster's nodes through the kube API: the scenario's labels for the nodes it
    /// names, the auto-labelling rule table's class for the others; only missing labels are set.
    Label {
        /// Kubeconfig of the cluster (a file; default: $KUBECONFIG).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: PathBuf,
        /// Scenario that names the nodes (without it the rule table decides every class).
        scenario: Option<PathBuf>,
        /// Print the changes and apply nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the topology and every function's replicas and placement.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop everything the topology started.
    Down,
    /// Kill the processes and remove the cgroups, TAP devices and k3d clusters that this home's
    /// runs left behind (every faasbed run on the machine with `--all`).
    Clean {
        /// Sweep every faasbed run on the machine, not only this home's.
        #[arg(long)]
        all: bool,
    },
    /// Check prerequisites and print the command that installs what is missing.
    Doctor,
    /// Install prerequisites (apt packages when root; binfmt_misc).
    Setup,
    /// Check scenario files and print what they resolve to.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Rebuild report.md, report.html, summary.csv and plots/ of a run from its store.
    Report {
        /// Run directory (results/<run-id>).
        run_dir: PathBuf,
        #[command(flatten)]
        exports: crate::export::ExportArgs,
    },
    /// Compare NEW runs against BASE runs: warm p50/p99 and cold median per workload × class.
    ///
    /// Forms: `compare BASE NEW`, `compare BASE... -- NEW...`, `compare --base DIR... --new
    /// DIR...`; each DIR is a run directory or a folder of runs. Several runs per side give the
    /// gate a run-to-run noise floor; so does `--noise FILE` from `--learn-noise RUN RUN RUN...`.
    #[command(after_help = COMPARE_EXIT_CODES)]
    Compare {
        /// BASE NEW (two runs), or the BASE runs when NEW runs follow `--`.
        runs: Vec<PathBuf>,
        /// NEW runs, after `--`.
        #[arg(last = true, value_name = "NEW")]
        after: Vec<PathBuf>,
        /// A BASE run or folder of runs (repeatable; with --new instead of positionals).
        #[arg(long = "base", value_name = "DIR")]
        base_dirs: Vec<PathBuf>,
        /// A NEW run or folder of runs (repeatable).
        #[arg(long = "new", value_name = "DIR")]
        new_dirs: Vec<PathBuf>,
        /// Decide the gate: exit 3 when any statistic regressed or a row is on one side only.
        #[arg(long)]
        gate: bool,
        /// With --gate: rows present on one side only do not fail the gate (still listed).
        #[arg(long)]
        allow_missing: bool,
        /// A noise file learned from repeated runs (`--learn-noise`), for the noise floor.
        #[arg(long, value_name = "FILE")]
        noise: Option<PathBuf>,
        /// Print a noise file (JSON) learned from the given runs of the same code and scenario.
        #[arg(long, conflicts_with_all = ["gate", "noise", "json"])]
        learn_noise: bool,
        /// Compare even if the scenario, emulation flags, --quick or experiment settings differ.
        #[arg(long)]
        force: bool,
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
        /// Smallest change that counts, percent.
        #[arg(long, default_value_t = 5.0)]
        threshold_pct: f64,
    },
    /// (internal) The embedded platform's gateway daemon.
    #[command(hide = true)]
    GatewayDaemon {
        #[arg(long)]
        run_dir: PathBuf,
        #[arg(long)]
        scenario: PathBuf,
        #[arg(long)]
        images: PathBuf,
        /// The bench process whose death ends the run (with `--run-json`).
        #[arg(long, requires = "run_json")]
        watch_pid: Option<u32>,
        /// The run's run.json, marked `killed` when the watched process dies.
        #[arg(long)]
        run_json: Option<PathBuf>,
    },
}

/// Errors the CLI reports.
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
    /// k3d platform error.
    #[error(transparent)]
    K3d(#[from] crate::platform::k3d::K3dError),
    /// Kube API error.
    #[error(transparent)]
    Kube(#[from] crate::platform::k3d::KubeError),
    /// Report error.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
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

/// Entry point of the `faasbed` binary.
pub fn main() -> ExitCode {
    crate::output::install_panic_hook();
    let cli = Cli::parse();
    // The gateway daemon proxies every call: one thread avoids cross-thread wake-ups on that
    // path (measured with `just bench-local`); the CLI and the load generator use two workers.
    let mut builder = match cli.command {
        Command::GatewayDaemon { .. } => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_code(&e),
    }
}

/// Report `e` on stderr and choose the exit status: 128 + the signal for an interrupted command
/// (130 for Ctrl-C, 143 for SIGTERM), 141 quietly for a closed stdout, else 1.
fn exit_code(e: &CliError) -> ExitCode {
    match e {
        CliError::Output(OutputError::ClosedPipe) => {
            return ExitCode::from(crate::output::CLOSED_PIPE_EXIT)
        }
        CliError::Interrupted { signal, .. } => {
            say(&format!("error: {e}"));
            return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
        }
        _ => {}
    }
    for line in crate::output::error_report(e) {
        say(&line);
    }
    ExitCode::from(e.exit_code())
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let home = cli.home.map_or_else(Home::from_env, |root| Home { root });
    match cli.command {
        Command::Bench {
            scenario,
            quick,
            json,
            results,
            skip_warm,
            skip_cold,
            platform,
            dry_run,
            thresholds,
            exports,
        } => {
            if dry_run {
                return print_plan(&scenario, &home);
            }
            let opts = crate::bench::BenchOpts {
                results,
                home,
                quick,
                skip_warm,
                skip_cold,
                exports: exports.into(),
            };
            bench_cmd(&scenario, platform.as_deref(), &opts, json, &thresholds).await
        }
        Command::Plan { scenario } => print_plan(&scenario, &home),
        Command::Up { scenario, platform } => up(&home, &scenario, platform.as_deref()).await,
        Command::Deploy { scenario } => deploy_cmd(&home, scenario.as_deref()).await,
        Command::Invoke {
            function,
            data,
            path,
        } => invoke(&home, &function, data, &path).await,
        Command::Scale { function, replicas } => {
            let p = LocalPlatform::attach(&home)?;
            p.gateway().client().scale(&function, replicas).await?;
            say(&format!("{function}: scaled to {replicas}"));
            Ok(())
        }
        Command::Label {
            kubeconfig,
            scenario,
            dry_run,
        } => label_cmd(&kubeconfig, scenario.as_deref(), dry_run).await,
        Command::Status { json } => status(&home, json).await,
        Command::Down => {
            let mut p = LocalPlatform::attach(&home)?;
            let id = p.state().run_id.clone();
            p.down().await?;
            say(&format!("run {id}: down; no process of it is left"));
            Ok(())
        }
        Command::Clean { all } => clean_cmd(&home, all).await,
        Command::Doctor => {
            let checks = doctor::checks().await;
            let mut failed = false;
            for c in &checks {
                let mark = if c.ok {
                    "ok  "
                } else if c.required {
                    "FAIL"
                } else {
                    "warn"
                };
                outln(&format!("{mark} {}: {}", c.name, c.detail))?;
                if let Some(fix) = &c.fix {
                    outln(&format!("     fix: {fix}"))?;
                }
                failed |= !c.ok && c.required;
            }
            if failed {
                return Err(CliError::Failed(
                    "some prerequisites are missing; run the fix commands above".into(),
                ));
            }
            Ok(())
        }
        Command::Setup => {
            doctor::setup(&mut |s| say(s)).await?;
            Ok(())
        }
        Command::Validate { scenarios } => {
            let mut bad = 0;
            for p in &scenarios {
                match spec::load(p) {
                    Ok(s) => outln(&format!(
                        "{}: ok ({} platform, {} nodes, {} functions)",
                        p.display(),
                        s.platform.kind.as_str(),
                        s.nodes.len(),
                        s.functions.len()
                    ))?,
                    Err(e) => {
                        outln(&e.to_string())?;
                        bad += 1;
                    }
                }
            }
            if bad > 0 {
                return Err(CliError::Failed(format!(
                    "{bad} of {} scenario(s) are invalid",
                    scenarios.len()
                )));
            }
            Ok(())
        }
        Command::Report { run_dir, exports } => report_cmd(&run_dir, exports.into()),
        Command::Compare {
            runs,
            after,
            base_dirs,
            new_dirs,
            gate,
            allow_missing,
            noise,
            learn_noise,
            force,
            json,
            threshold_pct,
        } => {
            let sides = compare_sides(runs, after, base_dirs, new_dirs, learn_noise)?;
            compare_cmd(
                sides,
                CompareFlags {
                    gate,
                    allow_missing,
                    noise,
                    force,
                    json,
                    threshold: threshold_pct / 100.0,
                },
            )
        }
        Command::GatewayDaemon {
            run_dir,
            scenario,
            images,
            watch_pid,
            run_json,
        } => {
            local::run_daemon(DaemonOpts {
                run_dir,
                scenario,
                images,
                watch: watch_pid.zip(run_json),
            })
            .await?;
            Ok(())
        }
    }
}

/// Load a scenario, moved to `platform` when one is given.
fn load_for(path: &Path, platform: Option<&str>) -> Result<spec::Scenario, CliError> {
    let s = spec::load(path)?;
    Ok(match platform {
        Some("local") => s.retarget(PlatformKind::Local)?,
        Some("k3d") => s.retarget(PlatformKind::K3d)?,
        _ => s,
    })
}

fn report_cmd(run_dir: &Path, exports: crate::export::Exports) -> Result<(), CliError> {
    let w = crate::report::write_all(run_dir)?;
    for f in &w.files {
        outln(&f.display().to_string())?;
    }
    if !exports.is_empty() {
        let summary = crate::summary::from_store(&crate::store::RunStore::open(run_dir))?;
        for f in exports
            .write(&summary)
            .map_err(|e| CliError::Failed(e.to_string()))?
        {
            println!("{}", f.display());
        }
    }
    if !w.png_text {
        say("note: no TrueType font found (set FAASBED_FONT); PNG plots have no text, the SVGs do");
    }
    Ok(())
}

/// The runs `compare` was given: BASE and NEW, or (for `--learn-noise`) every run in BASE.
struct CompareSides {
    base: Vec<PathBuf>,
    new: Vec<PathBuf>,
}

/// The flags of `compare` besides the runs.
struct CompareFlags {
    gate: bool,
    allow_missing: bool,
    noise: Option<PathBuf>,
    force: bool,
    json: bool,
    threshold: f64,
}

/// Sort `compare`'s arguments into BASE and NEW runs (see its `--help` for the forms).
fn compare_sides(
    runs: Vec<PathBuf>,
    after: Vec<PathBuf>,
    base_dirs: Vec<PathBuf>,
    new_dirs: Vec<PathBuf>,
    learn_noise: bool,
) -> Result<CompareSides, CliError> {
    let usage = |what: &str| {
        CliError::Usage(format!(
            "compare: {what}; use `compare BASE NEW`, `compare BASE... -- NEW...` or `compare --base DIR --new DIR` (each DIR a run directory or a folder of runs)"
        ))
    };
    if learn_noise {
        let all: Vec<PathBuf> = runs
            .into_iter()
            .chain(after)
            .chain(base_dirs)
            .chain(new_dirs)
            .collect();
        if all.len() < 2
            && all
                .iter()
                .all(|p| p.join(crate::store::files::RUN).is_file())
        {
            return Err(usage(
                "--learn-noise needs at least two runs of the same scenario (or a folder of them)",
            ));
        }
        return Ok(CompareSides {
            base: all,
            new: Vec::new(),
        });
    }
    let (base, new) = if !base_dirs.is_empty() || !new_dirs.is_empty() {
        if !runs.is_empty() || !after.is_empty() {
            return Err(usage(
                "give the runs either as --base/--new or as positionals, not both",
            ));
        }
        (base_dirs, new_dirs)
    } else if !after.is_empty() {
        (runs, after)
    } else if runs.len() == 2 {
        let mut it = runs.into_iter();
        (it.next().into_iter().collect(), it.collect())
    } else {
        return Err(usage(&format!("{} run(s) given without `--`", runs.len())));
    };
    if base.is_empty() {
        return Err(usage("no BASE run"));
    }
    if new.is_empty() {
        return Err(usage("no NEW run"));
    }
    Ok(CompareSides { base, new })
}

fn compare_cmd(sides: CompareSides, f: CompareFlags) -> Result<(), CliError> {
    use crate::report::compare;
    if sides.new.is_empty() {
        let file = compare::learn_noise(&sides.base, f.force)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&file).unwrap_or_default()
        );
        return Ok(());
    }
    let noise = match &f.noise {
        Some(p) => Some(compare::NoiseFile::read(p)?),
        None => None,
    };
    let settings = compare::Settings {
        force: f.force,
        noise,
    };
    let mut r = compare::compare_paths(&sides.base, &sides.new, f.threshold, &settings)?;
    if f.gate {
        r.decide_gate(f.allow_missing);
    }
    let out = if f.json {
        compare::json(&r)
    } else {
        compare::markdown(&r)
    };
    print!("{}", String::from_utf8_lossy(&out));
    r.gate_result().map_err(CliError::GateFailed)
}

fn require_local(s: &spec::Scenario) -> Result<(), CliError> {
    if s.platform.kind != PlatformKind::Local {
        return Err(CliError::Unsupported(format!(
            "{}: platform {:?} needs docker + k3d, which this build cannot drive yet; add `--platform local` to run the same topology on the embedded platform",
            s.path.display(),
            s.platform.kind.as_str()
        )));
    }
    Ok(())
}

/// Print the dry-run plan of a scenario on stdout (k3d and existing-cluster scenarios).
fn print_plan(path: &Path, home: &local::Home) -> Result<(), CliError> {
    let scenario = spec::load(path)?;
    if scenario.platform.kind == PlatformKind::Local {
        return Err(CliError::Unsupported(format!(
            "{}: a dry-run plan exists only for k3d and existing-cluster scenarios so far; the \
             local platform runs `faasbed bench` directly",
            path.display()
        )));
    }
    let run_id = local::new_run_id();
    let opts = crate::platform::k3d::PlanOpts {
        run_dir: home.runs().join(&run_id),
        run_id,
    };
    out(&crate::platform::k3d::plan::plan(&scenario, &opts)?.render())?;
    Ok(())
}

/// SIGINT (Ctrl-C) and SIGTERM, as one stream; installing it replaces their default
/// "terminate" action, so the command can clean up and then exit 128 + the signal.
struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals, CliError> {
        use tokio::signal::unix::{signal, SignalKind};
        let fail =
            |e: std::io::Error| CliError::Failed(format!("cannot install the Ctrl-C handler: {e}"));
        Ok(StopSignals {
            int: signal(SignalKind::interrupt()).map_err(fail)?,
            term: signal(SignalKind::terminate()).map_err(fail)?,
        })
    }
    /// The next signal's number.
    async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => libc::SIGINT,
            _ = self.term.recv() => libc::SIGTERM,
        }
    }
}

fn interrupted(signal: i32) -> CliError {
    CliError::Interrupted {
        signal,
        what: "interrupted; everything the run started was stopped".into(),
    }
}

/// Run `fut`; on Ctrl-C or SIGTERM, bring `platform` down and report the interruption.
async fn or_interrupt<T, F>(platform: &mut LocalPlatform, fut: F) -> Result<T, CliError>
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

async fn up(home: &Home, path: &Path, platform: Option<&str>) -> Result<(), CliError> {
    let scenario = load_for(path, platform)?;
    require_local(&scenario)?;
    if let Ok(p) = LocalPlatform::attach(home) {
        if p.daemon_alive() {
            return Err(CliError::Failed(format!(
                "run {} is already up at {}; run `faasbed down` first",
                p.state().run_id,
                p.state().url
            )));
        }
    }
    // The handler is in place before anything is spawned, so Ctrl-C at any point is caught.
    let mut stop = StopSignals::install()?;
    let run_id = local::new_run_id();
    let started = tokio::select! {
        r = LocalPlatform::up(home, &scenario, &run_id) => r?,
        sig = stop.recv() => {
            local::sweep(Some(&run_id));
            let _ = std::fs::remove_file(home.root.join("current"));
            return Err(interrupted(sig));
        }
    };
    say(&format!(
        "run {} up: gateway {} ({} nodes); credentials in {}",
        started.state().run_id,
        started.state().url,
        started.state().nodes.len(),
        started.run_dir().join("password").display()
    ));
    Ok(())
}

async fn deploy_cmd(home: &Home, path: Option<&Path>) -> Result<(), CliError> {
    let mut p = LocalPlatform::attach(home)?;
    let path = path.map_or_else(|| p.state().scenario.clone(), Path::to_path_buf);
    // The topology that is up is local, whatever platform the file names.
    let scenario = spec::load(&path)?.retarget(PlatformKind::Local)?;
    if scenario.hash != p.state().scenario_hash {
        return Err(CliError::Failed(format!(
            "{} differs from the scenario the topology was made from ({}); run `faasbed down` and `faasbed up {}`",
            path.display(),
            p.state().scenario.display(),
            path.display()
        )));
    }
    let images = home.images();
    let p2 = LocalPlatform::attach(home)?;
    let fut = async {
        let built = local::functions::build_functions(&scenario, &images, &mut |s| say(s)).await?;
        p2.deploy(&scenario, &built, Duration::from_secs(60))
            .await?;
        Ok(())
    };
    or_interrupt(&mut p, fut).await?;
    for f in &scenario.functions {
        let pl = p2.placement(&f.name).await?;
        let nodes: Vec<String> = pl
            .iter()
            .map(|r| format!("{} ({}, {})", r.node, r.class, r.arch))
            .collect();
        say(&format!("deployed {}: {}", f.name, nodes.join(", ")));
    }
    Ok(())
}

async fn invoke(
    home: &Home,
    function: &str,
    data: Option<String>,
    path: &str,
) -> Result<(), CliError> {
    let p = LocalPlatform::attach(home)?;
    let inv = p
        .gateway()
        .client()
        .invoke(function, path, data.map(Bytes::from))
        .await?;
    for h in [
        headers::NODE,
        headers::ARCH,
        headers::INSTANCE,
        headers::STARTED,
        headers::DURATION,
        headers::SPAWNED,
        headers::HEALTHY,
    ] {
        if let Some(v) = inv.header(h) {
            say(&format!("{h}: {v}"));
        }
    }
    say(&format!(
        "status: {}  first byte: {:?}  total: {:?}",
        inv.status, inv.first_byte, inv.total
    ));
    out(&String::from_utf8_lossy(&inv.body))?;
    if !inv.status.is_success() {
        return Err(CliError::Failed(format!(
            "function {function} answered {}",
            inv.status
        )));
    }
    Ok(())
}

async fn status(home: &Home, json: bool) -> Result<(), CliError> {
    let p = LocalPlatform::attach(home)?;
    let c = p.gateway().client();
    let fns = c.list().await?;
    let mut placements = Vec::new();
    for f in &fns {
        placements.push((f.name.clone(), p.placement(&f.name).await?));
    }
    if json {
        let v = serde_json::json!({
            "run": p.state(),
            "functions": fns,
            "placement": placements.iter().map(|(n, r)| (n.clone(), r.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        });
        outln(&serde_json::to_string_pretty(&v).unwrap_or_default())?;
        return Ok(());
    }
    let st = p.state();
    let mut text = format!(
        "run {}  gateway {}  scenario {}\n",
        st.run_id,
        st.url,
        st.scenario.display()
    );
    for n in &st.nodes {
        text += &format!(
            "  node {:<16} class {:<5} arch {:<6} {:<10} site {:<10} launcher {} cgroup {}\n",
            n.name, n.class, n.arch, n.backend, n.site, n.launcher, n.enforcement
        );
        let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("       labels {}", labels.join(", "));
    }
    for (f, (_, reps)) in fns.iter().zip(&placements) {
        text += &format!(
            "  fn   {:<16} replicas {}/{}  invocations {}\n",
            f.name, f.available_replicas, f.replicas, f.invocation_count
        );
        for r in reps {
            text += &format!(
                "       on {:<16} {:<6} {:<5} instance {} {}\n",
                r.node,
                r.arch,
                r.class,
                r.instance.as_deref().unwrap_or("-"),
                if r.ready { "ready" } else { "starting" }
            );
        }
    }
    out(&text)?;
    Ok(())
}

/// `faasbed clean`: sweep this home's runs (every run with `all`) and say what was removed.
async fn clean_cmd(home: &Home, all: bool) -> Result<(), CliError> {
    use crate::platform::k3d::vm::net;
    use local::cleanup::{self, Scope};
    let scope = if all {
        Scope::All
    } else {
        Scope::home(&home.root)
    };
    let runs = scope.run_ids();
    let whose = if all {
        "every faasbed run".to_string()
    } else {
        format!("the runs of {}", home.root.display())
    };
    let r = cleanup::sweep(&scope);
    // `current` names a run that is gone now (this home's runs are all in scope).
    let _ = std::fs::remove_file(home.root.join("current"));
    let taps = cleanup::leftover_taps(runs.as_ref(), &home.runs());
    let mut tap_failed = Vec::new();
    for tap in &taps {
        if let Err(e) = crate::exec::run(&net::tap_down(tap)).await {
            tap_failed.push(format!("{tap} ({e})"));
        }
    }
    let clusters = if crate::exec::which("k3d").is_some() {
        let ours = |run: &str| runs.as_ref().is_none_or(|r| r.contains(run));
        crate::platform::k3d::live::sweep_clusters(&crate::exec::System, &ours)
            .await
            .map_err(|e| CliError::Failed(format!("sweeping k3d clusters: {e}")))?
    } else {
        Vec::new()
    };
    say(&format!(
        "clean ({whose}): killed {} process(es), removed {} cgroup(s), deleted {} TAP device(s) and {} k3d cluster(s){}",
        r.processes,
        r.cgroups,
        taps.len() - tap_failed.len(),
        clusters.len(),
        if clusters.is_empty() {
            String::new()
        } else {
            format!(": {}", clusters.join(", "))
        }
    ));
    let mut left: Vec<String> = r
        .left
        .iter()
        .map(|l| format!("cgroup {}: {}", l.path.display(), l.reason))
        .collect();
    left.extend(tap_failed.into_iter().map(|t| format!("TAP device {t}")));
    if !left.is_empty() {
        return Err(CliError::Failed(format!(
            "could not remove:\n  {}",
            left.join("\n  ")
        )));
    }
    Ok(())
}

/// Stop unless the required prerequisites are there; as root, install them first.
async fn ensure_prerequisites() -> Result<(), CliError> {
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

/// `faasbed label`: decide every node's labels, print them, apply them unless `dry_run`.
async fn label_cmd(
    kubeconfig: &Path,
    scenario: Option<&Path>,
    dry_run: bool,
) -> Result<(), CliError> {
    use crate::platform::k3d::{relabel, Kube};
    let scenario = scenario.map(spec::load).transpose()?;
    let kube = Kube::from_kubeconfig(kubeconfig).await?;
    let rows = relabel::decide(&kube, scenario.as_ref()).await?;
    out(&relabel::table(&rows))?;
    if dry_run {
        say("dry run: no label was changed");
    } else {
        let n = relabel::apply(&kube, &rows).await?;
        say(&format!("labelled {n} node(s)"));
    }
    let undecided: Vec<&str> = rows
        .iter()
        .filter(|r| r.problem.is_some())
        .map(|r| r.node.as_str())
        .collect();
    if !undecided.is_empty() {
        return Err(CliError::Failed(format!(
            "no labels decided for node(s) {}; name them with their class in a scenario and pass it",
            undecided.join(", ")
        )));
    }
    Ok(())
}

async fn bench_cmd(
    path: &Path,
    platform: Option<&str>,
    opts: &crate::bench::BenchOpts,
    json: bool,
    thresholds: &[String],
) -> Result<(), CliError> {
    let mut scenario = load_for(path, platform)?;
    if opts.quick {
        crate::bench::quicken(&mut scenario);
    }
    // Bad thresholds stop the run before anything starts.
    let thresholds =
        crate::thresholds::with_cli(&scenario, thresholds).map_err(CliError::Failed)?;
    match scenario.platform.kind {
        PlatformKind::Local => {
            ensure_prerequisites().await?;
            if let Ok(p) = LocalPlatform::attach(&opts.home) {
                if p.daemon_alive() {
                    return Err(CliError::Failed(format!(
                        "run {} is up (from `faasbed up`); run `faasbed down` first, bench starts its own topology",
                        p.state().run_id
                    )));
                }
            }
        }
        // Before any run directory exists: a missing docker or k3d fails here, at once.
        _ => crate::platform::k3d::preflight(&scenario.platform, crate::exec::which)?,
    }
    let mut stop = StopSignals::install()?;
    let run_id = local::new_run_id();
    let mut progress = crate::progress::Bars::new(crate::progress::Mode::detect(json));
    let signal = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(libc::SIGINT));
    let seen = signal.clone();
    let interrupt = async move {
        seen.store(stop.recv().await, std::sync::atomic::Ordering::SeqCst);
    };
    let (store, summary) =
        match crate::bench::bench(&scenario, opts, &run_id, &mut progress, interrupt).await {
            Err(e @ crate::bench::BenchError::Interrupted { .. }) => {
                return Err(CliError::Interrupted {
                    signal: signal.load(std::sync::atomic::Ordering::SeqCst),
                    what: e.to_string(),
                })
            }
            r => r?,
        };
    progress.finish();
    if json {
        outln(&serde_json::to_string_pretty(&summary).unwrap_or_default())?;
    } else {
        out(&summary.table())?;
        let (events, _) = crate::store::events::read(&store.path(crate::store::files::EVENTS))?;
        for ((f, n), (crashed, restarted, last)) in crate::report::requests::event_counts(&events) {
            outln(&format!("{f} on {n}: replica crashed {crashed} time(s) (last: {last}), restarted {restarted} time(s)"))?;
        }
        outln(&format!("results: {}", store.dir().display()))?;
    }
    let mut empty = summary.empty_results();
    for f in &scenario.functions {
        if !summary.results.iter().any(|e| e.function == f.name) {
            empty.push(format!("{} (no sample at all)", f.name));
        }
    }
    if !empty.is_empty() {
        return Err(CliError::Failed(format!(
            "no valid sample for: {}; see {}",
            empty.join(", "),
            store.path(crate::store::files::SAMPLES).display()
        )));
    }
    let verdicts = crate::thresholds::check(&thresholds, &summary);
    for v in &verdicts {
        say(&v.to_string());
    }
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    if failed > 0 {
        return Err(CliError::Thresholds {
            failed,
            total: verdicts.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn label_takes_a_kubeconfig_an_optional_scenario_and_dry_run() {
        let cli = Cli::try_parse_from([
            "faasbed",
            "label",
            "--kubeconfig",
            "run/kubeconfig",
            "scenarios/thesis.toml",
            "--dry-run",
        ])
        .unwrap();
        let Command::Label {
            kubeconfig,
            scenario,
            dry_run,
        } = cli.command
        else {
            panic!("not the label command: {:?}", cli.command);
        };
        assert_eq!(kubeconfig, PathBuf::from("run/kubeconfig"));
        assert_eq!(scenario, Some(PathBuf::from("scenarios/thesis.toml")));
        assert!(dry_run);
    }
}
