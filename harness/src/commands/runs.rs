//! Runs and their analysis: `bench` (and its dry-run plan), `report`, `compare`, `label`,
//! `doctor` and `validate`.

use std::path::{Path, PathBuf};

use super::{ensure_prerequisites, load_for, CliError, StopSignals};
use crate::doctor;
use crate::output::{out, outln, say};
use crate::platform::local::LocalPlatform;
use crate::spec::{self, PlatformKind};

/// `faasbed bench`: run the scenario at `path` (moved to `platform` when given), print the
/// summary (JSON with `json`) and check the thresholds.
pub async fn bench(
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
    let thresholds = scenario
        .thresholds_with_cli(thresholds)
        .map_err(CliError::Failed)?;
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
        _ => crate::platform::kube::preflight(&scenario.platform, crate::exec::which)?,
    }
    let mut stop = StopSignals::install()?;
    let run_id = crate::store::home::new_run_id();
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
        for t in crate::report::trace::tables(summary.trace.as_ref()) {
            outln(&crate::report::trace::console(&t))?;
        }
        let (events, _) = crate::store::events::read(&store.path(crate::store::files::EVENTS))?;
        for ((f, n), (crashed, restarted, last)) in crate::report::requests::event_counts(&events) {
            outln(&format!("{f} on {n}: replica crashed {crashed} time(s) (last: {last}), restarted {restarted} time(s)"))?;
        }
        outln(&format!("results: {}", store.dir().display()))?;
    }
    let mut empty = summary.empty_results();
    // A function answered under the trace replay has samples, in trace.jsonl.
    let traced = |f: &str| {
        summary
            .trace
            .as_ref()
            .is_some_and(|t| t.by_function.iter().any(|r| r.name == f && r.ok > 0))
    };
    for f in &scenario.functions {
        if !summary.results.iter().any(|e| e.function == f.name) && !traced(&f.name) {
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
    let verdicts = crate::thresholds::check(&thresholds, &summary.results);
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

/// Print the dry-run plan of a scenario on stdout (k3d and existing-cluster scenarios).
pub async fn print_plan(path: &Path, home: &crate::store::home::Home) -> Result<(), CliError> {
    let scenario = spec::load(path)?;
    if scenario.platform.kind == PlatformKind::Local {
        return Err(CliError::Unsupported(format!(
            "{}: a dry-run plan exists only for k3d and existing-cluster scenarios so far; the \
             local platform runs `faasbed bench` directly",
            path.display()
        )));
    }
    let run_id = crate::store::home::new_run_id();
    let opts = crate::platform::k3d::PlanOpts {
        run_dir: home.runs().join(&run_id),
        run_id,
    };
    let mut plan = crate::platform::k3d::plan::plan(&scenario, &opts).await?;
    crate::platform::ssh::plan::extend(&mut plan, &scenario, &opts.run_id, &opts.run_dir)
        .map_err(|e| crate::platform::PlatformError::Ssh(Box::new(e)))?;
    out(&plan.render())?;
    Ok(())
}

/// `faasbed report`: rebuild a run's reports from its store, and the asked exports.
pub fn report(run_dir: &Path, exports: crate::export::Exports) -> Result<(), CliError> {
    let model = crate::report::load(run_dir)?;
    let w = crate::report::write_model(run_dir, &model)?;
    for f in &w.files {
        outln(&f.display().to_string())?;
    }
    if !exports.is_empty() {
        let summary = crate::summary::RunSummary::of(&model);
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
pub struct CompareSides {
    /// BASE runs.
    pub base: Vec<PathBuf>,
    /// NEW runs (none: learn noise from BASE).
    pub new: Vec<PathBuf>,
}

/// The flags of `compare` besides the runs.
pub struct CompareFlags {
    /// See `faasbed compare --help`.
    pub gate: bool,
    /// See `faasbed compare --help`.
    pub allow_missing: bool,
    /// See `faasbed compare --help`.
    pub noise: Option<PathBuf>,
    /// See `faasbed compare --help`.
    pub force: bool,
    /// See `faasbed compare --help`.
    pub json: bool,
    /// See `faasbed compare --help`.
    pub threshold: f64,
}

/// Sort `compare`'s arguments into BASE and NEW runs (see its `--help` for the forms).
pub fn compare_sides(
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

/// `faasbed compare`: compare NEW runs against BASE runs (or learn noise from BASE alone).
pub fn compare(sides: CompareSides, f: CompareFlags) -> Result<(), CliError> {
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

/// `faasbed label`: decide every node's labels, print them, apply them unless `dry_run`.
pub async fn label(
    kubeconfig: &Path,
    scenario: Option<&Path>,
    dry_run: bool,
) -> Result<(), CliError> {
    use crate::platform::kube::{relabel, Kube};
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

/// `faasbed doctor`: print every prerequisite check and its fix; fail when a required one fails.
pub async fn doctor() -> Result<(), CliError> {
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

/// `faasbed validate`: check each scenario file and print what it resolves to.
pub fn validate(scenarios: &[PathBuf]) -> Result<(), CliError> {
    let mut bad = 0;
    for p in scenarios {
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
