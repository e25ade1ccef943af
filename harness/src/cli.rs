//! The command line: clap definitions and dispatch to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, Subcommand};

use crate::deploy::{self, DeployError};
use crate::doctor;
use crate::openfaas::{headers, ClientError};
use crate::platform::local::{self, DaemonOpts, Home, LocalError, LocalPlatform};
use crate::platform::{Platform, PlatformError};
use crate::spec::{self, PlatformKind, SpecError};

/// The default scenario.
pub const DEFAULT_SCENARIO: &str = "scenarios/local.toml";

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
    /// Kill every process and remove every cgroup any faasbed run left behind.
    Clean,
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
    /// Compare run NEW against run BASE: warm p50/p99 and cold median per function × class.
    Compare {
        /// Baseline run directory.
        base: PathBuf,
        /// New run directory.
        new: PathBuf,
        /// Exit non-zero when any statistic regressed.
        #[arg(long)]
        gate: bool,
        /// Compare even if the scenario hash or emulation flags differ.
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
    /// Interrupted by Ctrl-C (after cleaning up).
    #[error("interrupted; everything the run started was stopped")]
    Interrupted,
    /// A command ran but its result is a failure (message already printed).
    #[error("{0}")]
    Failed(String),
    /// The run completed but thresholds failed (each already printed); exits 99.
    #[error("{failed} of {total} threshold check(s) failed; see the lines above")]
    Thresholds { failed: usize, total: usize },
}

/// Entry point of the `faasbed` binary.
pub fn main() -> ExitCode {
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
        Err(CliError::Interrupted) => {
            eprintln!("error: {}", CliError::Interrupted);
            ExitCode::from(130)
        }
        Err(e @ CliError::Thresholds { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::thresholds::EXIT_THRESHOLDS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn say(s: &str) {
    eprintln!("{s}");
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
        Command::Clean => {
            let n = local::sweep(None);
            let _ = std::fs::remove_file(home.root.join("current"));
            say(&format!(
                "killed {n} labelled process(es) (QEMU VMs included) and removed leftover cgroups"
            ));
            let taps = crate::platform::k3d::vm::net::leftover_taps(Path::new("/sys/class/net"));
            for tap in &taps {
                let _ = crate::exec::run(&crate::platform::k3d::vm::net::tap_down(tap)).await;
            }
            if !taps.is_empty() {
                say(&format!(
                    "deleted the VMs' TAP device(s) {}",
                    taps.join(", ")
                ));
            }
            if crate::exec::which("k3d").is_some() {
                let deleted = crate::platform::k3d::live::sweep_clusters(&crate::exec::System)
                    .await
                    .map_err(|e| CliError::Failed(format!("sweeping k3d clusters: {e}")))?;
                say(&format!(
                    "deleted {} k3d cluster(s) of faasbed runs{}",
                    deleted.len(),
                    if deleted.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", deleted.join(", "))
                    }
                ));
            }
            Ok(())
        }
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
                println!("{mark} {}: {}", c.name, c.detail);
                if let Some(fix) = &c.fix {
                    println!("     fix: {fix}");
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
                    Ok(s) => println!(
                        "{}: ok ({} platform, {} nodes, {} functions)",
                        p.display(),
                        s.platform.kind.as_str(),
                        s.nodes.len(),
                        s.functions.len()
                    ),
                    Err(e) => {
                        println!("{e}");
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
            base,
            new,
            gate,
            force,
            json,
            threshold_pct,
        } => compare_cmd(&base, &new, gate, force, json, threshold_pct / 100.0),
        Command::GatewayDaemon {
            run_dir,
            scenario,
            images,
        } => {
            local::run_daemon(DaemonOpts {
                run_dir,
                scenario,
                images,
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
        println!("{}", f.display());
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

fn compare_cmd(
    base: &Path,
    new: &Path,
    gate: bool,
    force: bool,
    json: bool,
    threshold: f64,
) -> Result<(), CliError> {
    use crate::report::compare;
    let r = compare::compare_dirs(base, new, threshold, force)?;
    let out = if json {
        compare::json(&r)
    } else {
        compare::markdown(&r)
    };
    print!("{}", String::from_utf8_lossy(&out));
    match (gate, r.gate()) {
        (true, Err(e)) => Err(CliError::Failed(e)),
        _ => Ok(()),
    }
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
    print!(
        "{}",
        crate::platform::k3d::plan::plan(&scenario, &opts)?.render()
    );
    Ok(())
}

/// SIGINT as a stream; installing it replaces the default "terminate" action.
fn interrupt_signal() -> Result<tokio::signal::unix::Signal, CliError> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::Failed(format!("cannot install the Ctrl-C handler: {e}")))
}

/// Run `fut`; on Ctrl-C, bring `platform` down and report the interruption.
async fn or_interrupt<T, F>(platform: &mut LocalPlatform, fut: F) -> Result<T, CliError>
where
    F: std::future::Future<Output = Result<T, CliError>>,
{
    let mut sigint = interrupt_signal()?;
    tokio::select! {
        r = fut => r,
        _ = sigint.recv() => {
            let _ = platform.down().await;
            Err(CliError::Interrupted)
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
    let mut sigint = interrupt_signal()?;
    let run_id = local::new_run_id();
    let started = tokio::select! {
        r = LocalPlatform::up(home, &scenario, &run_id) => r?,
        _ = sigint.recv() => {
            local::sweep(Some(&run_id));
            let _ = std::fs::remove_file(home.root.join("current"));
            return Err(CliError::Interrupted);
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
        let built = deploy::build_local(&scenario, &images, &mut |s| say(s)).await?;
        deploy::deploy(&scenario, &p2, &built, Duration::from_secs(60)).await?;
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
            eprintln!("{h}: {v}");
        }
    }
    eprintln!(
        "status: {}  first byte: {:?}  total: {:?}",
        inv.status, inv.first_byte, inv.total
    );
    print!("{}", String::from_utf8_lossy(&inv.body));
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
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let st = p.state();
    println!(
        "run {}  gateway {}  scenario {}",
        st.run_id,
        st.url,
        st.scenario.display()
    );
    for n in &st.nodes {
        println!(
            "  node {:<16} class {:<5} arch {:<6} {:<10} site {:<10} launcher {} cgroup {}",
            n.name, n.class, n.arch, n.backend, n.site, n.launcher, n.enforcement
        );
    }
    for (f, (_, reps)) in fns.iter().zip(&placements) {
        println!(
            "  fn   {:<16} replicas {}/{}  invocations {}",
            f.name, f.available_replicas, f.replicas, f.invocation_count
        );
        for r in reps {
            println!(
                "       on {:<16} {:<6} {:<5} instance {} {}",
                r.node,
                r.arch,
                r.class,
                r.instance.as_deref().unwrap_or("-"),
                if r.ready { "ready" } else { "starting" }
            );
        }
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
    print!("{}", relabel::table(&rows));
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
    let mut sigint = interrupt_signal()?;
    let run_id = local::new_run_id();
    let mut progress = crate::progress::Bars::new(crate::progress::Mode::detect(json));
    let interrupt = async move {
        sigint.recv().await;
    };
    let (store, summary) =
        crate::bench::bench(&scenario, opts, &run_id, &mut progress, interrupt).await?;
    progress.finish();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    } else {
        print!("{}", summary.table());
        let (events, _) = crate::store::events::read(&store.path(crate::store::files::EVENTS))?;
        for ((f, n), (crashed, restarted, last)) in crate::report::requests::event_counts(&events) {
            println!("{f} on {n}: replica crashed {crashed} time(s) (last: {last}), restarted {restarted} time(s)");
        }
        println!("results: {}", store.dir().display());
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
