//! The lifecycle of a topology on any platform, through the `Platform` seam: `up`, `deploy`,
//! `invoke`, `scale`, `status`, `down` and `clean`. `up` saves what it made in the home
//! (the local daemon's `gateway.json`, a cluster's `cluster.json`); the other commands
//! reconnect with `AnyPlatform::attach`.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use super::{interrupted, load_for, or_interrupt, CliError, StopSignals};
use crate::openfaas::headers;
use crate::output::{out, outln, say};
use crate::platform::cluster::{self, ClusterState};
use crate::platform::local::{self, LocalPlatform};
use crate::platform::{AnyPlatform, Platform, PlatformError};
use crate::spec::{self, PlatformKind};
use crate::store::home::Home;

/// What is up in `home`, for the commands that act on it: the platform and, on a cluster, the
/// state `up` saved.
struct Attached {
    platform: AnyPlatform,
    cluster: Option<ClusterState>,
}

async fn attach(home: &Home) -> Result<Attached, CliError> {
    let cluster = match home.current() {
        Some(dir) => cluster::load(&dir).map_err(PlatformError::from)?,
        None => None,
    };
    Ok(Attached {
        platform: AnyPlatform::attach(home).await?,
        cluster,
    })
}

/// `faasbed up`: bring up the topology of the scenario at `path` (moved to `platform` when
/// given) on its platform, and make it the home's current run.
pub async fn up(
    home: &Home,
    path: &Path,
    platform: Option<&str>,
    uncalibrated: bool,
) -> Result<(), CliError> {
    let scenario = load_for(path, platform)?;
    if let Some(dir) = home.current() {
        if let Some(st) = cluster::load(&dir).map_err(PlatformError::from)? {
            return Err(CliError::Failed(format!(
                "run {} is already up at {}; run `faasbed down` first",
                st.run_id, st.gateway_url
            )));
        }
    }
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
    let run_id = crate::store::home::new_run_id();
    // A stale calibration stops here with the command that recalibrates.
    if let crate::calibrate::apply::Decision::NotApplied(why) =
        crate::calibrate::apply::prepare(home, &scenario, &run_id, uncalibrated, None)
            .await
            .map_err(|e| CliError::Calibrate(Box::new(e.into())))?
    {
        say(&format!("not calibrated: {why}"));
    }
    let started = tokio::select! {
        r = AnyPlatform::up(home, &scenario, &run_id) => r,
        sig = stop.recv() => {
            AnyPlatform::abandon(home, &scenario, &run_id).await;
            let _ = std::fs::remove_file(home.root.join("current"));
            return Err(interrupted(sig));
        }
    };
    let mut started = match started {
        Ok(p) => p,
        Err(e) => {
            AnyPlatform::abandon(home, &scenario, &run_id).await;
            return Err(e.into());
        }
    };
    match started.save_cluster(home, &scenario, &run_id) {
        None => {
            if let Some(p) = started.local() {
                say(&format!(
                    "run {} up: gateway {} ({} nodes); credentials in {}",
                    p.state().run_id,
                    p.state().url,
                    p.state().nodes.len(),
                    p.run_dir()
                        .join(crate::store::home::PASSWORD_FILE)
                        .display()
                ))
            }
        }
        Some(Ok(st)) => say(&format!(
            "run {} up: gateway {} ({} nodes, {} cluster {}); credentials in {}",
            st.run_id,
            st.gateway_url,
            scenario.nodes.len(),
            st.kind,
            st.cluster.as_deref().unwrap_or("(existing)"),
            st.credentials.display()
        )),
        Some(Err(e)) => {
            let _ = started.down().await;
            return Err(PlatformError::from(e).into());
        }
    }
    Ok(())
}

/// The scenario the topology that is up was made from (or the file at `path`, which must be
/// the same), on the platform it runs on.
fn scenario_of(up: &Attached, path: Option<&Path>) -> Result<spec::Scenario, CliError> {
    let (made_from, hash, kind) = match (&up.platform, &up.cluster) {
        (AnyPlatform::Local(p), _) => (
            p.state().scenario.clone(),
            p.state().scenario_hash.clone(),
            PlatformKind::Local,
        ),
        (AnyPlatform::K3d(_) | AnyPlatform::Existing(_) | AnyPlatform::Ssh(_), Some(st)) => (
            st.scenario.clone(),
            st.scenario_hash.clone(),
            if st.cluster.is_some() {
                PlatformKind::K3d
            } else {
                PlatformKind::Existing
            },
        ),
        (AnyPlatform::K3d(_) | AnyPlatform::Existing(_) | AnyPlatform::Ssh(_), None) => {
            return Err(CliError::Failed(
                "the cluster that is up has no saved state; run `faasbed down` and `faasbed up`"
                    .into(),
            ))
        }
    };
    let path = path.map_or_else(|| made_from.clone(), Path::to_path_buf);
    let loaded = spec::load(&path)?;
    // The topology that is up runs on its platform, whatever platform the file names.
    let scenario = if loaded.platform.kind == kind || kind == PlatformKind::Existing {
        loaded
    } else {
        loaded.retarget(kind)?
    };
    if scenario.hash != hash {
        return Err(CliError::Failed(format!(
            "{} differs from the scenario the topology was made from ({}); run `faasbed down` and `faasbed up {}`",
            path.display(),
            made_from.display(),
            path.display()
        )));
    }
    Ok(scenario)
}

/// `faasbed deploy`: build and deploy the functions of the scenario that is up (or of `path`,
/// which must be the same file) and print where each replica runs.
pub async fn deploy(home: &Home, path: Option<&Path>) -> Result<(), CliError> {
    let mut up = attach(home).await?;
    let scenario = scenario_of(&up, path)?;
    let p2 = attach(home).await?.platform;
    let fut = async {
        let built = p2.build(&scenario, &mut |s| say(s)).await?;
        p2.deploy(&scenario, &built, Duration::from_secs(60))
            .await?;
        Ok(())
    };
    or_interrupt(&mut up.platform, fut).await?;
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

/// `faasbed invoke`: call `function` through the gateway and show what answered.
pub async fn invoke(
    home: &Home,
    function: &str,
    data: Option<String>,
    path: &str,
) -> Result<(), CliError> {
    let p = attach(home).await?.platform;
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

/// `faasbed scale`: set `function`'s replicas through the gateway.
pub async fn scale(home: &Home, function: &str, replicas: u64) -> Result<(), CliError> {
    let p = attach(home).await?.platform;
    p.gateway().client().scale(function, replicas).await?;
    say(&format!("{function}: scaled to {replicas}"));
    Ok(())
}

/// `faasbed down`: stop everything the topology that is up started (on k3d: its VMs and its
/// cluster; an existing cluster is left as it was).
pub async fn down(home: &Home) -> Result<(), CliError> {
    let mut up = attach(home).await?;
    up.platform.down().await?;
    let id = match (&up.platform, &up.cluster) {
        (AnyPlatform::Local(p), _) => p.state().run_id.clone(),
        (_, Some(st)) => {
            cluster::forget(home, st, &crate::exec::System).await;
            st.run_id.clone()
        }
        (_, None) => String::from("?"),
    };
    say(&format!("run {id}: down; no process of it is left"));
    Ok(())
}

/// `faasbed status`: the topology that is up, and every function's replicas and placement.
pub async fn status(home: &Home, json: bool) -> Result<(), CliError> {
    let up = attach(home).await?;
    let p = &up.platform;
    let c = p.gateway().client();
    let fns = c.list().await?;
    let mut placements = Vec::new();
    for f in &fns {
        placements.push((f.name.clone(), p.placement(&f.name).await?));
    }
    let run = match (p, &up.cluster) {
        (AnyPlatform::Local(l), _) => serde_json::to_value(l.state()),
        (_, st) => serde_json::to_value(st),
    }
    .unwrap_or_default();
    if json {
        let v = serde_json::json!({
            "run": run,
            "functions": fns,
            "placement": placements.iter().map(|(n, r)| (n.clone(), r.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        });
        outln(&serde_json::to_string_pretty(&v).unwrap_or_default())?;
        return Ok(());
    }
    let mut text = match (p, &up.cluster) {
        (AnyPlatform::Local(l), _) => local_topology(l),
        (_, Some(st)) => format!(
            "run {}  gateway {}  scenario {}
  {} cluster {}  kubeconfig {}
",
            st.run_id,
            st.gateway_url,
            st.scenario.display(),
            st.kind,
            st.cluster.as_deref().unwrap_or("(existing)"),
            st.kubeconfig.display()
        ),
        (_, None) => String::new(),
    };
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

/// The embedded topology's run line and nodes, with their labels.
fn local_topology(p: &LocalPlatform) -> String {
    let st = p.state();
    let mut text = format!(
        "run {}  gateway {}  scenario {}\n",
        st.run_id,
        st.url,
        st.scenario.display()
    );
    for n in &st.nodes {
        text += &format!(
            "  node {:<16} class {:<5} arch {:<6} {:<10} site {:<10} runtime {} launcher {} cgroup {}\n",
            n.name,
            n.class,
            n.arch,
            n.backend,
            n.site,
            if n.runtime.is_empty() { "process" } else { &n.runtime },
            n.launcher,
            n.enforcement
        );
        let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text += &format!("       labels {}\n", labels.join(", "));
    }
    text
}

/// `faasbed clean`: sweep this home's runs (every run with `all`) and say what was removed.
pub async fn clean(home: &Home, all: bool) -> Result<(), CliError> {
    use crate::nodes::qemu::net;
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
    // Containers of this home's runs (their processes are gone now, so their containerd can
    // be started again to remove them).
    let (containers, container_failed) =
        cleanup::sweep_containers(&home.runs(), runs.as_ref()).await;
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
        crate::platform::k3d::sweep_clusters(&crate::exec::System, &ours)
            .await
            .map_err(|e| {
                CliError::Failed(format!(
                    "sweeping k3d clusters: {}",
                    crate::output::error_chain(&e)
                ))
            })?
    } else {
        Vec::new()
    };
    say(&format!(
        "clean ({whose}): killed {} process(es), removed {} cgroup(s), {} container(s), deleted {} TAP device(s) and {} k3d cluster(s){}",
        r.processes,
        r.cgroups,
        containers,
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
    left.extend(container_failed);
    if !left.is_empty() {
        return Err(CliError::Failed(format!(
            "could not remove:\n  {}",
            left.join("\n  ")
        )));
    }
    Ok(())
}
