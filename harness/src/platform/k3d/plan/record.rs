//! The recorded part of a plan: the live `up` (or `attach`), `build`, the one deploy loop, one
//! cold start of the measurement (`measure::cold::probe_once`) and `down`, run through [`crate::dryrun`]'s stand-ins in a scratch folder, then turned into
//! sections with the scratch paths and run-time values put back as the user will see them.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use super::answers;
use super::assets::VM_CACHE;
use super::{PlanError, PlanOpts, Section, Step, CONTENT_HASH};
use crate::dryrun::gateway::Change;
use crate::dryrun::kube::{PlaceholderCluster, PlaceholderHandle};
use crate::dryrun::runner::{map_text, Recording};
use crate::dryrun::{self, Journal};
use crate::measure::cold::probe_once;
use crate::platform::deploy::READY_TIMEOUT;
use crate::platform::existing::ExistingPlatform;
use crate::platform::k3d::config::ClusterPlan;
use crate::platform::k3d::{vms, K3dPlatform};
use crate::platform::Platform;
use crate::spec::Scenario;

/// What the gateway of an existing cluster prints as (the kubeconfig's server host).
pub const EXISTING_GATEWAY: &str = "http://<server host of the kubeconfig>:31112";

/// The recorded sections: the run up to the measurement, one cold start, and `down`.
pub struct Recorded {
    /// Up (or attach), images, functions.
    pub run: Vec<Section>,
    /// One cold start of the first function, as the measurement makes each (empty when the
    /// run stopped before it).
    pub cold: Vec<Step>,
    /// Down.
    pub down: Vec<Section>,
}

/// Record the k3d run of `scenario`.
pub async fn k3d(
    scenario: &Scenario,
    cp: &ClusterPlan,
    opts: &PlanOpts,
) -> Result<Recorded, PlanError> {
    let scratch = Scratch::new()?;
    let cache = scratch.path().join("vm");
    answers::seed_vm_cache(&cache, &vms::vm_arches(cp)).map_err(|source| PlanError::Scratch {
        what: format!("seed the VM cache stand-in {}", cache.display()),
        source,
    })?;
    let journal = Journal::default();
    // k3d containers and faasbed's VMs join with the scenario's labels (`--node-label`).
    let cluster = PlaceholderCluster::new(scenario)
        .with_join_labels(true)
        .shared();
    let kube = cluster.kube(journal.clone());
    let gateway = serve(scenario, &journal, cluster).await?;
    // The live code reaches the gateway at the scenario's port: point it at the stand-in.
    let mut live = scenario.clone();
    live.platform.k3d.gateway_port = port_of(&gateway.url);
    let runner = Recording::new(journal.clone(), answers::k3d(scenario, cp));
    let mut unplace = Unplace::default();
    unplace.swap(
        &scratch.run().display().to_string(),
        &opts.run_dir.display().to_string(),
    );
    unplace.swap(&cache.display().to_string(), VM_CACHE);
    unplace.swap(
        &gateway.url,
        &format!("http://127.0.0.1:{}", scenario.platform.k3d.gateway_port),
    );
    let up = journal
        .scope(K3dPlatform::up_with(
            &live,
            &opts.run_id,
            &scratch.run(),
            runner,
            Some(&cache),
            move |_| async move { Ok(kube) },
        ))
        .await;
    Ok(match up {
        Ok(mut platform) => drive(&mut platform, &live, &journal, &mut unplace).await,
        Err(e) => stopped(&journal, &e, &unplace),
    })
}

/// Record the run of `scenario` on the existing cluster of `kubeconfig`.
pub async fn existing(
    scenario: &Scenario,
    kubeconfig: &Path,
    opts: &PlanOpts,
) -> Result<Recorded, PlanError> {
    let scratch = Scratch::new()?;
    let journal = Journal::default();
    let cluster = PlaceholderCluster::new(scenario).shared();
    let kube = cluster.kube(journal.clone());
    let gateway = serve(scenario, &journal, cluster).await?;
    let runner = Recording::new(journal.clone(), answers::builds);
    let mut unplace = Unplace::default();
    unplace.swap(
        &scratch.run().display().to_string(),
        &opts.run_dir.display().to_string(),
    );
    unplace.swap(&gateway.url, EXISTING_GATEWAY);
    let attached = journal
        .scope(ExistingPlatform::attach_with(
            scenario,
            kubeconfig,
            &scratch.run(),
            runner,
            kube,
            gateway.url.clone(),
        ))
        .await;
    Ok(match attached {
        Ok(mut platform) => drive(&mut platform, scenario, &journal, &mut unplace).await,
        Err(e) => stopped(&journal, &e, &unplace),
    })
}

/// The placeholder gateway, followed by `cluster`: a deploy rewrites the function's Deployment
/// (faas-netes drops the nodeSelector patched in), a scale sets its replicas, and a call of a
/// function at 0 replicas scales it up, as OpenFaaS CE scales from zero.
async fn serve(
    scenario: &Scenario,
    journal: &Journal,
    cluster: PlaceholderHandle,
) -> Result<dryrun::gateway::PlaceholderGateway, PlanError> {
    let replicas: BTreeMap<String, u32> = scenario
        .functions
        .iter()
        .map(|f| (f.name.clone(), f.replicas))
        .collect();
    let follow = move |c: Change<'_>| match c {
        Change::Deployed(name) => {
            cluster.redeployed(name);
        }
        Change::Scaled(name, n) => {
            cluster.scale(name, u32::try_from(n).unwrap_or(u32::MAX));
        }
        Change::Called(name) => {
            if let Some(r) = replicas.get(name) {
                cluster.scale(name, *r);
            }
        }
        Change::Deleted(_) => {}
    };
    dryrun::gateway::serve_following(scenario, journal.clone(), follow)
        .await
        .map_err(|source| PlanError::Scratch {
            what: "serve the placeholder gateway on a loopback port".into(),
            source,
        })
}

/// Build, deploy and bring down `platform` as `faasbed bench` does, recording into `journal`.
/// A failing step ends the recording of the run as it ends the run: with its error, then `down`.
async fn drive<P: Platform>(
    platform: &mut P,
    scenario: &Scenario,
    journal: &Journal,
    unplace: &mut Unplace,
) -> Recorded {
    let mut cold_start = None;
    let built = journal.scope(platform.build(scenario, &mut |_| {})).await;
    match built {
        Ok(images) => {
            for d in &images {
                if let Some(tag) = d.hash.get(..16) {
                    unplace.swap(tag, CONTENT_HASH);
                }
            }
            let deployed = journal
                .scope(platform.deploy(scenario, &images, READY_TIMEOUT))
                .await;
            match deployed {
                Ok(()) => cold_start = Some(journal.events().len()),
                Err(e) => stop_note(journal, &e),
            }
        }
        Err(e) => stop_note(journal, &e),
    }
    let mark = journal.events().len();
    if let (Some(_), Some(f)) = (cold_start, scenario.functions.first()) {
        let allowed: BTreeSet<String> = scenario
            .eligible_nodes(f)
            .iter()
            .map(|n| n.name.clone())
            .collect();
        let client = platform.gateway().client();
        let idle_gap = scenario.experiment.cold.idle_gap;
        let mut seen = HashSet::new();
        let probe = probe_once(&*platform, &client, f, 0, &allowed, &mut seen, idle_gap);
        journal.scope(probe).await;
    }
    let cold_end = journal.events().len();
    if let Err(e) = journal.scope(platform.down()).await {
        stop_note(journal, &e);
    }
    let events = journal.events();
    let cold = unplace
        .sections(&events[mark..cold_end])
        .into_iter()
        .flat_map(|s| s.steps)
        .collect();
    Recorded {
        run: unplace.sections(&events[..mark]),
        cold,
        down: unplace.sections(&events[cold_end..]),
    }
}

fn stop_note(journal: &Journal, e: &dyn std::error::Error) {
    journal.step(Step::Note(format!(
        "the run stops here: {}",
        crate::output::error_chain(e)
    )));
}

fn stopped(journal: &Journal, e: &dyn std::error::Error, unplace: &Unplace) -> Recorded {
    stop_note(journal, e);
    Recorded {
        run: unplace.sections(&journal.events()),
        cold: Vec::new(),
        down: Vec::new(),
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(0)
}

/// The scratch folder a recording runs in (its run directory and VM cache), removed on drop.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Result<Self, PlanError> {
        tempfile::Builder::new()
            .prefix("faasbed-dry-run-")
            .tempdir()
            .map(Scratch)
            .map_err(|source| PlanError::Scratch {
                what: "make a scratch folder".into(),
                source,
            })
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn run(&self) -> PathBuf {
        self.0.path().join("run")
    }
}

/// Text put back into recorded steps: scratch paths become the user's, run-time values their
/// placeholders. Longer texts are replaced first, so a path and its prefix cannot clash.
#[derive(Default)]
struct Unplace(Vec<(String, String)>);

impl Unplace {
    fn swap(&mut self, from: &str, to: &str) {
        if !from.is_empty() {
            self.0.push((from.to_string(), to.to_string()));
            self.0.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        }
    }

    fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (from, to) in &self.0 {
            out = out.replace(from.as_str(), to);
        }
        out
    }

    fn json(&self, v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => serde_json::Value::String(self.text(s)),
            serde_json::Value::Array(a) => a.iter().map(|x| self.json(x)).collect(),
            serde_json::Value::Object(o) => o
                .iter()
                .map(|(k, x)| (self.text(k), self.json(x)))
                .collect(),
            other => other.clone(),
        }
    }

    fn step(&self, s: &Step) -> Step {
        match s {
            Step::Command { cmd, on } => Step::Command {
                cmd: map_text(cmd, |t| self.text(t)),
                on: on.clone(),
            },
            Step::Probe { cmd, skip_when } => Step::Probe {
                cmd: map_text(cmd, |t| self.text(t)),
                skip_when: self.text(skip_when),
            },
            Step::Api { method, path, body } => Step::Api {
                method,
                path: self.text(path),
                body: body.as_ref().map(|b| self.json(b)),
            },
            Step::KubePatch {
                path,
                content_type,
                body,
            } => Step::KubePatch {
                path: self.text(path),
                content_type,
                body: self.json(body),
            },
            Step::KubeCreate { path, body } => Step::KubeCreate {
                path: self.text(path),
                body: self.json(body),
            },
            Step::Check { reads, what } => Step::Check {
                reads: reads.iter().map(|r| self.text(r)).collect(),
                what: self.text(what),
            },
            Step::Read { via, path } => Step::Read {
                via,
                path: self.text(path),
            },
            Step::Wait {
                condition,
                deadline,
                polls,
            } => Step::Wait {
                condition: self.text(condition),
                deadline: *deadline,
                polls: polls.iter().map(|p| self.text(p)).collect(),
            },
            Step::Note(t) => Step::Note(self.text(t)),
        }
    }

    fn sections(&self, events: &[dryrun::Event]) -> Vec<Section> {
        dryrun::sections(events)
            .into_iter()
            .map(|(title, steps)| Section {
                title: self.text(&title),
                steps: steps.iter().map(|s| self.step(s)).collect(),
            })
            .collect()
    }
}
