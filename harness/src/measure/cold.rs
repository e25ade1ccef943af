//! Cold starts: force every replica away through the platform, wait the idle gap, invoke once,
//! and keep the sample only if it really was cold — a new instance id, on a node the
//! function's constraints allow. Rejected samples are kept in the raw data and counted.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::openfaas::{headers, Client};
use crate::platform::Platform;
use crate::spec::{Function, Scenario};

/// Why a cold sample was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reject {
    /// The answer came from an instance seen before: the call was not cold.
    ReusedInstance,
    /// The replica ran on a node the constraints do not allow.
    WrongNode,
    /// The function did not answer 2xx.
    Status,
    /// The call failed (transport, timeout) or forcing cold failed.
    Error,
    /// The response lacked the `X-Faasbed-*` headers needed to verify it.
    MissingHeaders,
}

/// One cold invocation, raw: absolute unix-ns stamps from one host clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdSample {
    /// Function name.
    pub function: String,
    /// Repetition index.
    pub rep: u32,
    /// Node that answered (`X-Faasbed-Node`).
    pub node: Option<String>,
    /// Arch the function reported (`X-Faasbed-Arch`).
    pub arch: Option<String>,
    /// Instance id (`X-Faasbed-Instance`).
    pub instance: Option<String>,
    /// HTTP status.
    pub status: Option<u16>,
    /// Error text when the call or the forcing failed.
    pub error: Option<String>,
    /// Counted as a verified cold start.
    pub verified: bool,
    /// Why not, when not.
    pub reject: Option<Reject>,
    /// When the request was sent, unix ns.
    pub invoked_unix_ns: u64,
    /// Time to the response head, ns since `invoked_unix_ns`.
    pub first_byte_ns: u64,
    /// Time to the end of the body, ns since `invoked_unix_ns`.
    pub total_ns: u64,
    /// When the platform started the replica, unix ns (local: process spawn).
    pub spawned_unix_ns: Option<u64>,
    /// When the function process started (`X-Faasbed-Started`), unix ns.
    pub started_unix_ns: Option<u64>,
    /// When the replica's health check first passed, unix ns.
    pub healthy_unix_ns: Option<u64>,
    /// Idle gap waited after forcing cold.
    pub idle_gap_ns: u64,
    /// How the local gateway started the replica (`X-Faasbed-Phases`): container phases,
    /// first probe pass, when the gateway noticed it. `None` from gateways that do not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_phases: Option<Box<crate::openfaas::ColdPhases>>,
}

impl ColdSample {
    /// Phase durations in ns: invoke→spawn, spawn→process start, start→healthy, healthy→first byte.
    /// A phase is `None` when a stamp is missing or the stamps are out of order.
    pub fn phases(&self) -> [Option<u64>; 4] {
        let fb = self.invoked_unix_ns + self.first_byte_ns;
        let d = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b >= a => Some(b - a),
            _ => None,
        };
        [
            d(Some(self.invoked_unix_ns), self.spawned_unix_ns),
            d(self.spawned_unix_ns, self.started_unix_ns),
            d(self.started_unix_ns, self.healthy_unix_ns),
            d(self.healthy_unix_ns, Some(fb)),
        ]
    }
}

/// Names of the phases returned by [`ColdSample::phases`].
pub const PHASES: [&str; 4] = [
    "gateway→spawn",
    "spawn→process start",
    "process start→healthy",
    "healthy→first byte",
];

/// Options of the cold phase.
#[derive(Debug, Clone)]
pub struct ColdOpts {
    /// Repetitions per function.
    pub repetitions: u32,
    /// Idle time after forcing cold.
    pub idle_gap: Duration,
    /// Seed for the order of functions within each repetition.
    pub seed: u64,
    /// When this turns `true`, no further cold start is begun.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

fn header_u64(inv: &crate::openfaas::Invocation, h: &str) -> Option<u64> {
    inv.header(h).and_then(|v| v.trim().parse().ok())
}

/// Judge one answer: is it a verified cold start of `function` on an allowed node?
pub fn verify(
    status: Option<u16>,
    node: Option<&str>,
    instance: Option<&str>,
    allowed: &BTreeSet<String>,
    seen: &HashSet<String>,
) -> Option<Reject> {
    match (status, node, instance) {
        (None, _, _) => Some(Reject::Error),
        (Some(s), _, _) if !(200..300).contains(&s) => Some(Reject::Status),
        (_, None, _) | (_, _, None) => Some(Reject::MissingHeaders),
        (_, Some(n), _) if !allowed.contains(n) => Some(Reject::WrongNode),
        (_, _, Some(i)) if seen.contains(i) => Some(Reject::ReusedInstance),
        _ => None,
    }
}

/// One cold start of `f`.
pub async fn probe_once<P: Platform>(
    platform: &P,
    client: &Client,
    f: &Function,
    rep: u32,
    allowed: &BTreeSet<String>,
    seen: &mut HashSet<String>,
    idle_gap: Duration,
) -> ColdSample {
    let mut s = ColdSample {
        function: f.name.clone(),
        rep,
        node: None,
        arch: None,
        instance: None,
        status: None,
        error: None,
        verified: false,
        reject: None,
        invoked_unix_ns: 0,
        first_byte_ns: 0,
        total_ns: 0,
        spawned_unix_ns: None,
        started_unix_ns: None,
        healthy_unix_ns: None,
        idle_gap_ns: idle_gap.as_nanos() as u64,
        gateway_phases: None,
    };
    // Every instance alive before forcing cold counts as seen.
    crate::dryrun::check(format!(
        "the replicas of {} alive now: their instances count as seen (a cold answer must come \
         from a new one)",
        f.name
    ));
    if let Ok(reps) = platform.placement(&f.name).await {
        seen.extend(reps.into_iter().filter_map(|r| r.instance));
    }
    if let Err(e) = platform.force_cold(&f.name).await {
        s.error = Some(format!("force cold: {e}"));
        s.reject = Some(Reject::Error);
        return s;
    }
    crate::dryrun::wait(
        format!(
            "the idle gap ({idle_gap:?}) and the platform's cold settle ({:?}: the gateway's \
             replica cache) pass",
            platform.cold_settle()
        ),
        idle_gap + platform.cold_settle(),
    );
    crate::dryrun::sleep(idle_gap + platform.cold_settle()).await;
    let body = f.body.as_ref().map(|b| Bytes::from(b.clone()));
    match client.invoke(&f.name, &f.path, body).await {
        Err(e) => {
            s.error = Some(e.to_string());
        }
        Ok(inv) => {
            s.status = Some(inv.status.as_u16());
            s.node = inv.header(headers::NODE).map(str::to_string);
            s.arch = inv.header(headers::ARCH).map(str::to_string);
            s.instance = inv.header(headers::INSTANCE).map(str::to_string);
            s.invoked_unix_ns = crate::store::clock::unix_ns(inv.sent_at);
            s.first_byte_ns = inv.first_byte.as_nanos() as u64;
            s.total_ns = inv.total.as_nanos() as u64;
            s.spawned_unix_ns = header_u64(&inv, headers::SPAWNED);
            s.started_unix_ns = header_u64(&inv, headers::STARTED);
            s.healthy_unix_ns = header_u64(&inv, headers::HEALTHY);
            s.gateway_phases = inv
                .header(crate::openfaas::PHASES_HEADER)
                .and_then(crate::openfaas::ColdPhases::parse)
                .map(Box::new);
            // The function stamps its start with its node's clock.
            let offset = s.node.as_deref().and_then(|n| platform.clock_offset_ns(n));
            s.started_unix_ns = s
                .started_unix_ns
                .map(|t| crate::platform::on_host_clock(t, offset));
            if s.spawned_unix_ns.is_none() && s.healthy_unix_ns.is_none() {
                // A gateway that does not stamp them (OpenFaaS CE): ask the platform.
                crate::dryrun::check(
                    "the answer's X-Faasbed-Instance is new and its node is allowed; the pod the \
                     call started gives its phases from pod conditions (1 s resolution)",
                );
                let seen = platform.cold_phases(&f.name).await;
                s.spawned_unix_ns = seen.spawned_ns;
                s.healthy_unix_ns = seen.healthy_ns;
            }
        }
    }
    s.reject = verify(
        s.status,
        s.node.as_deref(),
        s.instance.as_deref(),
        allowed,
        seen,
    );
    if s.reject.is_none() {
        s.reject = verify_container(s.gateway_phases.as_deref(), seen);
    }
    s.verified = s.reject.is_none();
    if let Some(i) = &s.instance {
        seen.insert(i.clone());
    }
    if let Some(c) = s.gateway_phases.as_ref().and_then(|p| p.container.as_ref()) {
        seen.insert(container_key(c));
    }
    s
}

fn container_key(id: &str) -> String {
    format!("container:{id}")
}

/// A container replica's cold start must come from a container not seen before (a reused one
/// counts as a reused instance), and a `containerd` start must name its container.
pub fn verify_container(
    phases: Option<&crate::openfaas::ColdPhases>,
    seen: &HashSet<String>,
) -> Option<Reject> {
    let p = phases?;
    match &p.container {
        None if p.runtime == "containerd" => Some(Reject::MissingHeaders),
        Some(c) if seen.contains(&container_key(c)) => Some(Reject::ReusedInstance),
        _ => None,
    }
}

/// Run the cold phase: `repetitions` rounds; in each, every function once, in an order shuffled
/// with the seed so that drift does not favour one class. `on_sample` sees each sample as soon as
/// it is measured (to store it before the next one starts).
pub async fn run<P: Platform>(
    platform: &P,
    scenario: &Scenario,
    functions: &[&Function],
    opts: &ColdOpts,
    mut on_sample: impl FnMut(&ColdSample),
) -> Vec<ColdSample> {
    let client = platform.gateway().client();
    let allowed: BTreeMap<&str, BTreeSet<String>> = functions
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                scenario
                    .eligible_nodes(f)
                    .iter()
                    .map(|n| n.name.clone())
                    .collect(),
            )
        })
        .collect();
    let mut seen: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let mut order: Vec<&Function> = functions.to_vec();
    let mut out = Vec::new();
    let stopped = || opts.stop.as_ref().is_some_and(|rx| *rx.borrow());
    'reps: for rep in 0..opts.repetitions {
        order.shuffle(&mut rng);
        for f in &order {
            if stopped() {
                break 'reps;
            }
            let s = probe_once(
                platform,
                &client,
                f,
                rep,
                &allowed[f.name.as_str()],
                seen.entry(f.name.as_str()).or_default(),
                opts.idle_gap,
            )
            .await;
            on_sample(&s);
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn verification_rules() {
        let allowed = set(&["pi3-1"]);
        let mut seen = HashSet::new();
        seen.insert("old".to_string());
        assert_eq!(
            verify(Some(200), Some("pi3-1"), Some("new"), &allowed, &seen),
            None
        );
        assert_eq!(
            verify(Some(200), Some("pi3-1"), Some("old"), &allowed, &seen),
            Some(Reject::ReusedInstance)
        );
        assert_eq!(
            verify(Some(200), Some("vps-1"), Some("new"), &allowed, &seen),
            Some(Reject::WrongNode)
        );
        assert_eq!(
            verify(Some(502), Some("pi3-1"), Some("new"), &allowed, &seen),
            Some(Reject::Status)
        );
        assert_eq!(
            verify(Some(200), None, Some("new"), &allowed, &seen),
            Some(Reject::MissingHeaders)
        );
        assert_eq!(
            verify(None, None, None, &allowed, &seen),
            Some(Reject::Error)
        );
    }

    #[test]
    fn a_container_cold_start_needs_a_new_container_id() {
        let mut seen = HashSet::new();
        let p = crate::openfaas::ColdPhases {
            runtime: "containerd".into(),
            container: Some("abc-echo-0".into()),
            ..Default::default()
        };
        assert_eq!(verify_container(Some(&p), &seen), None);
        seen.insert(container_key("abc-echo-0"));
        assert_eq!(
            verify_container(Some(&p), &seen),
            Some(Reject::ReusedInstance)
        );
        let unnamed = crate::openfaas::ColdPhases {
            runtime: "containerd".into(),
            ..Default::default()
        };
        assert_eq!(
            verify_container(Some(&unnamed), &seen),
            Some(Reject::MissingHeaders)
        );
        let process = crate::openfaas::ColdPhases {
            runtime: "process".into(),
            ..Default::default()
        };
        assert_eq!(verify_container(Some(&process), &seen), None);
        assert_eq!(verify_container(None, &seen), None);
    }

    #[test]
    fn phases_need_ordered_stamps() {
        let mut s = ColdSample {
            function: "f".into(),
            rep: 0,
            node: None,
            arch: None,
            instance: None,
            status: Some(200),
            error: None,
            verified: true,
            reject: None,
            invoked_unix_ns: 1_000,
            first_byte_ns: 900,
            total_ns: 950,
            spawned_unix_ns: Some(1_100),
            started_unix_ns: Some(1_300),
            healthy_unix_ns: Some(1_600),
            idle_gap_ns: 0,
            gateway_phases: None,
        };
        assert_eq!(s.phases(), [Some(100), Some(200), Some(300), Some(300)]);
        s.started_unix_ns = Some(1_050); // before the spawn: a clock problem, not a phase
        assert_eq!(s.phases()[1], None);
        assert_eq!(s.phases()[2], Some(550));
    }
}
