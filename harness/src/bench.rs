//! `faasbed bench`: up → deploy → verify placement → warm → cold → store → summary → down.
//!
//! Everything goes through the [`Platform`] seam. Each result is written before the next piece
//! of work starts; Ctrl-C and errors still bring the topology down and leave a readable run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::export::{ExportError, Exports};
use crate::measure::cold::{self, ColdOpts, ColdSample};
use crate::measure::live::{Live, LiveSnapshot};
use crate::measure::loadgen::{self, LoadgenError, RunOptions, Target};
use crate::measure::record::WarmResult;
use crate::measure::schedule::ScheduleError;
use crate::measure::schedule::{stream_seed, Schedule};
use crate::platform::deploy::DeployError;
use crate::platform::{AnyPlatform, Platform, PlatformError};
use crate::spec::{Scenario, WarmMode};
use crate::store::events::EventsFile;
use crate::store::hlog::{self, Interval};
use crate::store::home::Home;
use crate::store::manifest::{self, Host, RunManifest};
use crate::store::samples::SamplesFile;
use crate::store::{files, RunStore, StoreError};
use crate::summary::{self, RunSummary};

/// Errors of a bench run. The run directory is kept in every case.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The platform failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// Deploying failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// Writing results failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The home's calibration is stale or unreadable.
    #[error(transparent)]
    Calibration(#[from] crate::calibrate::store::StoreError),
    /// The load generator failed.
    #[error("function {function}: warm run failed: {source}")]
    Loadgen {
        function: String,
        #[source]
        source: LoadgenError,
    },
    /// The warm schedule could not be made.
    #[error("function {function}: {source}")]
    Schedule {
        function: String,
        #[source]
        source: ScheduleError,
    },
    /// Interrupted by Ctrl-C.
    #[error("interrupted; partial results are in {}", dir.display())]
    Interrupted { dir: PathBuf },
    /// An export file (`--export-*`) could not be written.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The trace replay (`[experiment.trace]`) failed.
    #[error(transparent)]
    Trace(#[from] crate::trace::run::RunError),
}

/// Options of one bench run.
#[derive(Debug, Clone)]
pub struct BenchOpts {
    /// Where run directories go (`results/`).
    pub results: PathBuf,
    /// faasbed home (topology state, build cache).
    pub home: Home,
    /// Short durations for smoke runs.
    pub quick: bool,
    /// Skip the warm phase.
    pub skip_warm: bool,
    /// Skip the cold phase.
    pub skip_cold: bool,
    /// `--export-json/--export-csv/--export-markdown`: rewritten after every result.
    pub exports: Exports,
    /// Run without the home's calibration even when it is stale (`--uncalibrated`).
    pub uncalibrated: bool,
}

/// How often the live view of a warm run is refreshed.
pub const LIVE_TICK: Duration = Duration::from_millis(250);

/// Apply `--quick`: short warm runs and 5 cold repetitions.
pub fn quicken(s: &mut Scenario) {
    let w = &mut s.experiment.warm;
    w.duration = w.duration.min(Duration::from_secs(2));
    w.warmup = w.warmup.min(Duration::from_millis(500));
    w.rate = w.rate.min(50.0);
    s.experiment.cold.repetitions = s.experiment.cold.repetitions.min(5);
}

/// Progress events for the terminal.
pub trait Progress {
    /// A free-text step.
    fn step(&mut self, msg: &str);
    /// Warm run `i` of `n` (of `function`) starts now.
    fn warm_start(&mut self, i: usize, n: usize, function: &str) {
        let _ = (i, n, function);
    }
    /// The figures of warm run `i` of `n` so far, a few times a second ([`LIVE_TICK`]).
    fn warm_tick(&mut self, i: usize, n: usize, live: &LiveSnapshot) {
        let _ = (i, n, live);
    }
    /// A warm run finished.
    fn warm_done(&mut self, i: usize, n: usize, r: &WarmResult);
    /// A cold sample was measured.
    fn cold_sample(&mut self, i: usize, n: usize, s: &ColdSample);
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Run the whole benchmark of `scenario`. Returns the run directory and its summary.
pub async fn bench(
    scenario: &Scenario,
    opts: &BenchOpts,
    run_id: &str,
    progress: &mut dyn Progress,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<(RunStore, RunSummary), BenchError> {
    // A stale calibration stops the run before anything is made, naming the command that
    // recalibrates; the one applied is kept in the results for the report's fidelity section.
    let calibration =
        crate::calibrate::apply::prepare(&opts.home, scenario, run_id, opts.uncalibrated, None)
            .await?;
    // A bad trace fails before anything starts.
    let replay = crate::trace::run::prepare(scenario)?;
    let store = RunStore::create(&opts.results, run_id)?;
    crate::calibrate::apply::record(store.dir(), &calibration)?;
    if let crate::calibrate::apply::Decision::NotApplied(why) = &calibration {
        progress.step(&format!("not calibrated: {why}"));
    }
    let mut m = RunManifest {
        format: 1,
        run_id: run_id.to_string(),
        scenario_path: scenario.path.clone(),
        scenario_hash: scenario.hash.clone(),
        scenario: serde_json::to_value(scenario).unwrap_or_default(),
        platform: scenario.platform.kind.as_str().to_string(),
        faasbed_version: env!("CARGO_PKG_VERSION").to_string(),
        git_sha: manifest::git_sha().to_string(),
        host: Host::detect(),
        tools: manifest::tool_versions().await,
        nodes: vec![],
        emulated: false,
        images: BTreeMap::new(),
        gateway_invocations: BTreeMap::new(),
        seed: scenario.experiment.seed,
        options: [("quick".to_string(), opts.quick.to_string())]
            .into_iter()
            .collect(),
        started_at: rfc3339(SystemTime::now()),
        ended_at: None,
        status: "running".into(),
    };
    store.write_json(files::RUN, &m)?;
    progress.step(&format!(
        "run {run_id}: results in {}",
        store.dir().display()
    ));

    // Ctrl-C during `up` abandons what it started (processes of the run, the run's cluster);
    // a failed or interrupted `up` is recorded in run.json before the error returns.
    tokio::pin!(interrupt);
    // If this process dies without `down`, the gateway daemon ends the run and marks it killed.
    let run_json = store.path(files::RUN);
    let up = tokio::select! {
        r = AnyPlatform::up_watched(&opts.home, scenario, run_id, Some(&run_json)) => r.map_err(BenchError::from),
        _ = &mut interrupt => {
            AnyPlatform::abandon(&opts.home, scenario, run_id).await;
            Err(BenchError::Interrupted { dir: store.dir().to_path_buf() })
        }
    };
    let mut platform = match up {
        Ok(p) => p,
        Err(e) => {
            m.ended_at = Some(rfc3339(SystemTime::now()));
            m.status = match &e {
                BenchError::Interrupted { .. } => "interrupted".into(),
                e => format!("failed: {}", crate::output::error_chain(e)),
            };
            store.write_json(files::RUN, &m)?;
            return Err(e);
        }
    };
    // Ctrl-C asks the measurement to stop; it finishes the requests in flight and stores every
    // sample it holds before returning, so nothing measured is lost.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let outcome = {
        let work = measure(
            scenario,
            opts,
            &store,
            &mut m,
            &platform,
            progress,
            stop_rx,
            replay.as_ref(),
        );
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => r,
            _ = &mut interrupt => {
                let _ = stop_tx.send(true);
                let grace = scenario.experiment.warm.timeout + Duration::from_secs(5);
                let _ = tokio::time::timeout(grace, &mut work).await;
                Err(BenchError::Interrupted { dir: store.dir().to_path_buf() })
            }
        }
    };
    // Replica crashes and restarts the platform saw that are not stored yet.
    let events_stored = sync_events(&platform, &store, &mut EventLog::default()).await;
    // The gateway's own count of invocations, to check the stored samples against.
    if let Ok(fns) = platform.gateway().client().list().await {
        m.gateway_invocations = fns
            .iter()
            .map(|f| (f.name.clone(), f.invocation_count))
            .collect();
    }
    let down = platform.down().await;
    m.ended_at = Some(rfc3339(SystemTime::now()));
    m.status = match &outcome {
        Ok(_) => "complete".into(),
        Err(BenchError::Interrupted { .. }) => "interrupted".into(),
        Err(e) => format!("failed: {}", crate::output::error_chain(e)),
    };
    store.write_json(files::RUN, &m)?;
    // The run's one model is rebuilt from what was stored, whatever happened; the summary,
    // exports and reports all read it.
    let model = crate::report::data::read_store(store.dir())?;
    let summary = RunSummary::of(&model);
    store.write_json(files::SUMMARY, &summary)?;
    let exported = opts.exports.write(&summary);
    // Plots and tables come from the store alone; a failure here loses no measurement.
    let reported = model
        .with_tables()
        .and_then(|model| crate::report::write_model(store.dir(), &model));
    match reported {
        Ok(_) => progress.step(&format!(
            "report: {}",
            store.dir().join("report.html").display()
        )),
        Err(e) => progress.step(&format!(
            "warning: report: {e} (rebuild with `faasbed report {}`)",
            store.dir().display()
        )),
    }
    outcome?;
    down?;
    events_stored?;
    exported?;
    Ok((store, summary))
}

// One argument per thing the phases share; a struct of them would only move the list.
#[allow(clippy::too_many_arguments)]
async fn measure(
    scenario: &Scenario,
    opts: &BenchOpts,
    store: &RunStore,
    m: &mut RunManifest,
    platform: &AnyPlatform,
    progress: &mut dyn Progress,
    stop: tokio::sync::watch::Receiver<bool>,
    replay: Option<&crate::trace::run::Prepared>,
) -> Result<(), BenchError> {
    let stopped = || *stop.borrow();
    m.nodes = platform.node_provenance(scenario).await;
    m.emulated = m.nodes.iter().any(|n| n.emulated);
    store.write_json(files::RUN, &*m)?;

    progress.step("building and deploying functions");
    let built = platform.build(scenario, &mut |s| progress.step(s)).await?;
    m.images = built
        .iter()
        .map(|b| (b.function.clone(), manifest::or_unknown(&b.image)))
        .collect();
    store.write_json(files::RUN, &*m)?;
    platform
        .deploy(scenario, &built, crate::platform::deploy::READY_TIMEOUT)
        .await?;
    progress.step("placement verified for every function");

    let mut samples = SamplesFile::append(&store.path(files::SAMPLES))?;
    let mut events = EventLog::default();
    let gw = platform.gateway();
    if !opts.skip_warm {
        let n = scenario.functions.len();
        for (i, f) in scenario.functions.iter().enumerate() {
            if stopped() {
                break;
            }
            let url = format!(
                "{}/function/{}{}",
                gw.url,
                f.name,
                if f.path == "/" { "" } else { &f.path }
            );
            let mut target = Target::get(&url).map_err(|source| BenchError::Loadgen {
                function: f.name.clone(),
                source,
            })?;
            if let Some(b) = &f.body {
                target.method = http::Method::POST;
                target.body = bytes::Bytes::from(b.clone());
            }
            let w = &scenario.experiment.warm;
            let mut ro = RunOptions::new(&f.name);
            ro.connections = w.connections;
            ro.warmup = w.warmup;
            ro.timeout = w.timeout;
            ro.stop = Some(stop.clone());
            // With one eligible node, every request goes there: a failure that names no node
            // still counts against it.
            let eligible = scenario.eligible_nodes(f);
            ro.routed_node = match eligible.as_slice() {
                [only] => Some(only.name.clone()),
                _ => None,
            };
            ro.node_hint = ro
                .routed_node
                .clone()
                .unwrap_or_else(|| crate::report::rows::UNKNOWN_NODE.to_string());
            let live = Arc::new(Live::new(
                &f.name,
                w.warmup + w.duration,
                w.warmup,
                (w.mode == WarmMode::Open).then_some(w.rate),
            ));
            ro.live = Some(live.clone());
            progress.warm_start(i, n, &f.name);
            let started = SystemTime::now();
            let run = async {
                match w.mode {
                    WarmMode::Open => {
                        let seed = stream_seed(scenario.experiment.seed, &f.name);
                        let sched = Schedule::new(w.arrival, w.rate, w.warmup + w.duration, seed)
                            .map_err(|source| BenchError::Schedule {
                            function: f.name.clone(),
                            source,
                        })?;
                        loadgen::run_open(&target, sched, &ro, &mut samples).await
                    }
                    WarmMode::Closed => {
                        loadgen::run_closed(&target, w.duration, &ro, &mut samples).await
                    }
                }
                .map_err(|source| BenchError::Loadgen {
                    function: f.name.clone(),
                    source,
                })
            };
            tokio::pin!(run);
            let mut tick = tokio::time::interval(LIVE_TICK);
            let r = loop {
                tokio::select! {
                    r = &mut run => break r?,
                    _ = tick.tick() => progress.warm_tick(i, n, &live.snapshot()),
                }
            };
            write_hlogs(store, &r, started)?;
            progress.warm_done(i, n, &r);
            sync_events(platform, store, &mut events).await?;
            export_so_far(store, opts, progress);
        }
    }
    if !opts.skip_cold && !stopped() {
        let fns: Vec<_> = scenario.functions.iter().collect();
        let c = &scenario.experiment.cold;
        let total = fns.len() * c.repetitions as usize;
        let copts = ColdOpts {
            repetitions: c.repetitions,
            idle_gap: c.idle_gap,
            seed: stream_seed(scenario.experiment.seed, "cold"),
            stop: Some(stop.clone()),
        };
        let mut i = 0;
        let mut err = None;
        cold::run(platform, scenario, &fns, &copts, |s| {
            if let Err(e) = samples.cold(s) {
                err.get_or_insert(e);
            }
            progress.cold_sample(i, total, s);
            i += 1;
        })
        .await;
        if let Some(e) = err {
            return Err(e.into());
        }
        sync_events(platform, store, &mut events).await?;
        export_so_far(store, opts, progress);
    }
    if let Some(r) = replay.filter(|_| !stopped()) {
        let mut step = |s: &str| progress.step(s);
        crate::trace::run::replay(r, scenario, platform, store, stop.clone(), &mut step).await?;
        sync_events(platform, store, &mut events).await?;
    }
    Ok(())
}

/// The replica events already in `events.jsonl`.
#[derive(Debug, Default)]
struct EventLog {
    stored: usize,
}

/// Append the platform's replica events that are not stored yet to `events.jsonl` (`log`
/// counts what this call stored; a fresh log re-reads the file to know).
async fn sync_events(
    platform: &AnyPlatform,
    store: &RunStore,
    log: &mut EventLog,
) -> Result<(), StoreError> {
    let all = platform.replica_events().await;
    let path = store.path(files::EVENTS);
    let stored = crate::store::events::read(&path)?.0.len().max(log.stored);
    if all.len() <= stored {
        return Ok(());
    }
    let mut file = EventsFile::append(&path)?;
    for e in &all[stored..] {
        file.write(e)?;
    }
    log.stored = all.len();
    Ok(())
}

/// Rewrite the `--export-*` files with what is stored so far; a failure is a warning here (the
/// end of the run writes them once more and fails then).
fn export_so_far(store: &RunStore, opts: &BenchOpts, progress: &mut dyn Progress) {
    if opts.exports.is_empty() {
        return;
    }
    let written = summary::from_store(store)
        .map_err(|e| e.to_string())
        .and_then(|s| opts.exports.write(&s).map_err(|e| e.to_string()));
    if let Err(e) = written {
        progress.step(&format!("warning: export: {e}"));
    }
}

/// One HdrHistogram log per function × node, with corrected and uncorrected intervals.
fn write_hlogs(store: &RunStore, r: &WarmResult, started: SystemTime) -> Result<(), StoreError> {
    let start = Duration::from_nanos(r.warmup_ns);
    let dur = Duration::from_nanos(r.measured_wall_ns);
    for k in &r.keys {
        let comment = format!(
            "faasbed warm latency, ns; function {} node {}",
            k.function, k.node
        );
        hlog::write(
            &store.hlog_path(&k.function, &k.node),
            started,
            &comment,
            &[
                Interval {
                    tag: "corrected",
                    start,
                    duration: dur,
                    histogram: k.corrected_histogram(),
                },
                Interval {
                    tag: "uncorrected",
                    start,
                    duration: dur,
                    histogram: k.uncorrected_histogram(),
                },
            ],
        )?;
    }
    Ok(())
}
