//! The command line: clap definitions, dispatch to the command bodies in [`crate::commands`],
//! and the exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{lifecycle, runs};
use crate::output::{say, OutputError};
use crate::platform::local::{self, DaemonOpts};
use crate::store::home::Home;

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
        /// Run without the home's calibration.json even when it is stale (the report then
        /// says "not calibrated").
        #[arg(long)]
        uncalibrated: bool,
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
        /// Start without the home's calibration.json even when it is stale.
        #[arg(long)]
        uncalibrated: bool,
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
    /// Run the reference programs (7-Zip, openssl, sysbench: Debian's builds for each node's
    /// arch) on every node class, derive the CPU quota that makes each emulated class match its
    /// real device, and write calibration.json in the faasbed home (applied by later runs).
    Calibrate {
        /// Scenario file (its node classes are calibrated; the topology runs on `local`).
        #[arg(default_value = DEFAULT_SCENARIO)]
        scenario: PathBuf,
        /// The published figures of the real devices.
        #[arg(long, default_value = crate::calibrate::reference::DEFAULT_PATH)]
        reference: PathBuf,
        /// Repetitions of every program, unthrottled and then calibrated.
        #[arg(long, default_value_t = 3)]
        repetitions: u32,
        /// Programs whose figures decide the quota (comma-separated); the others are held
        /// out and only checked: 7z-b, openssl-speed, sysbench-cpu.
        #[arg(long, value_delimiter = ',', default_value = "7z-b")]
        calibrate_on: Vec<String>,
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

pub use crate::commands::CliError;

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
            uncalibrated,
        } => {
            if dry_run {
                return runs::print_plan(&scenario, &home).await;
            }
            let opts = crate::bench::BenchOpts {
                results,
                home,
                quick,
                skip_warm,
                skip_cold,
                exports: exports.into(),
                uncalibrated,
            };
            runs::bench(&scenario, platform.as_deref(), &opts, json, &thresholds).await
        }
        Command::Plan { scenario } => runs::print_plan(&scenario, &home).await,
        Command::Up {
            scenario,
            platform,
            uncalibrated,
        } => lifecycle::up(&home, &scenario, platform.as_deref(), uncalibrated).await,
        Command::Deploy { scenario } => lifecycle::deploy(&home, scenario.as_deref()).await,
        Command::Invoke {
            function,
            data,
            path,
        } => lifecycle::invoke(&home, &function, data, &path).await,
        Command::Scale { function, replicas } => lifecycle::scale(&home, &function, replicas).await,
        Command::Label {
            kubeconfig,
            scenario,
            dry_run,
        } => runs::label(&kubeconfig, scenario.as_deref(), dry_run).await,
        Command::Status { json } => lifecycle::status(&home, json).await,
        Command::Down => lifecycle::down(&home).await,
        Command::Clean { all } => lifecycle::clean(&home, all).await,
        Command::Calibrate {
            scenario,
            reference,
            repetitions,
            calibrate_on,
        } => {
            let opts = crate::commands::calibrate::CalibrateOpts {
                reference,
                repetitions,
                calibrate_on,
            };
            crate::commands::calibrate::calibrate(&home, &scenario, &opts).await
        }
        Command::Doctor => runs::doctor().await,
        Command::Setup => {
            crate::doctor::setup(&mut |s| say(s)).await?;
            Ok(())
        }
        Command::Validate { scenarios } => runs::validate(&scenarios),
        Command::Report { run_dir, exports } => runs::report(&run_dir, exports.into()),
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
            let sides = runs::compare_sides(runs, after, base_dirs, new_dirs, learn_noise)?;
            runs::compare(
                sides,
                runs::CompareFlags {
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
