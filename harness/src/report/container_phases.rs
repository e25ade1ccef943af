//! Cold-start phases as the local gateway timed them (`X-Faasbed-Phases`): per workload and
//! class, the median of each consecutive step of a verified cold start, from the call to the
//! first byte. All stamps come from the gateway host's clock. Present only when some cold sample
//! carries gateway phases (the local platform).

use super::data::{Group, ReportData};
use super::markdown::{num, TextTable};
use crate::measure::cold::ColdSample;
use crate::stats;

/// The steps, in time order. Each ends where the next begins; a step a start did not take
/// (import when the image was present, noticed without `openfaas-ce`) is absent from it.
pub const STEPS: [&str; 8] = [
    "gateway → start",
    "image import",
    "network attach",
    "container create",
    "task start",
    "→ first probe pass",
    "→ gateway notices",
    "→ first byte",
];

/// Each step's length in ns for one cold sample (see [`STEPS`]); `None` where the sample has no
/// gateway phases.
pub fn steps_ns(s: &ColdSample) -> Option<[Option<u64>; 8]> {
    let p = s.gateway_phases.as_ref()?;
    let d = |a: u64, b: u64| b.checked_sub(a);
    let span =
        |x: &Option<crate::openfaas::PhaseSpan>| x.map(|x| x.end_ns.saturating_sub(x.start_ns));
    let first_byte = s.invoked_unix_ns + s.first_byte_ns;
    // Where the replica was up: the end of the task start (container) or the spawn (process).
    let up = p.task_start.map_or(p.spawned_ns, |t| t.end_ns);
    let ready_seen = p.noticed_ns.or(p.probe_pass_ns);
    Some([
        d(s.invoked_unix_ns, p.spawned_ns),
        span(&p.import),
        span(&p.network),
        span(&p.create),
        span(&p.task_start),
        p.probe_pass_ns.and_then(|t| d(up, t)),
        match (p.probe_pass_ns, p.noticed_ns) {
            (Some(a), Some(b)) => d(a, b),
            _ => None,
        },
        ready_seen.and_then(|t| d(t, first_byte)),
    ])
}

/// Median of each step over the verified samples of `g`, ms.
pub fn step_medians_ms(g: &Group) -> [Option<f64>; 8] {
    let all: Vec<[Option<u64>; 8]> = g
        .cold
        .iter()
        .filter(|c| c.verified)
        .filter_map(steps_ns)
        .collect();
    let mut out = [None; 8];
    for (i, slot) in out.iter_mut().enumerate() {
        let mut v: Vec<f64> = all
            .iter()
            .filter_map(|s| s[i])
            .map(|ns| ns as f64 / 1e6)
            .collect();
        if !v.is_empty() {
            *slot = Some(stats::select_quantile(&mut v, 0.5));
        }
    }
    out
}

/// How the groups' replicas ran: `runtime` or `runtime + model`, from the first sample that says.
fn how(g: &Group) -> String {
    g.cold
        .iter()
        .find_map(|c| c.gateway_phases.as_ref())
        .map(|p| match p.model.as_str() {
            "" | "none" => p.runtime.clone(),
            m => format!("{} + {m}", p.runtime),
        })
        .unwrap_or_default()
}

/// The table, when any cold sample has gateway phases.
pub fn table(d: &ReportData) -> Option<TextTable> {
    let groups: Vec<&Group> = d
        .groups
        .iter()
        .filter(|g| g.cold.iter().any(|c| c.gateway_phases.is_some()))
        .collect();
    if groups.is_empty() {
        return None;
    }
    let mut header: Vec<String> = ["workload", "class", "runtime", "verified"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(STEPS.iter().map(|s| s.to_string()));
    let rows = groups
        .iter()
        .map(|g| {
            let verified = g.cold.iter().filter(|c| c.verified).count();
            let mut row = vec![
                g.workload.clone(),
                g.class_label(),
                how(g),
                format!("{verified}/{}", g.cold.len()),
            ];
            row.extend(
                step_medians_ms(g)
                    .iter()
                    .map(|v| v.map_or("–".to_string(), num)),
            );
            row
        })
        .collect();
    Some(TextTable {
        title: "Cold-start steps as the gateway timed them (median of verified samples, gateway host clock), ms".into(),
        header,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openfaas::{ColdPhases, PhaseSpan};

    fn span(a: u64, b: u64) -> Option<PhaseSpan> {
        Some(PhaseSpan {
            start_ns: a,
            end_ns: b,
        })
    }

    #[test]
    fn steps_follow_the_stamps_and_skip_what_did_not_happen() {
        let mut s: ColdSample = serde_json::from_value(serde_json::json!({
            "function": "f", "rep": 0, "node": "n", "arch": null, "instance": "i",
            "status": 200, "error": null, "verified": true, "reject": null,
            "invoked_unix_ns": 1000, "first_byte_ns": 9000, "total_ns": 9100,
            "spawned_unix_ns": null, "started_unix_ns": null, "healthy_unix_ns": null,
            "idle_gap_ns": 0
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        s.gateway_phases = Some(Box::new(ColdPhases {
            runtime: "containerd".into(),
            model: "openfaas-ce".into(),
            container: Some("c".into()),
            spawned_ns: 1100,
            import: None,
            network: span(1100, 1300),
            create: span(1300, 1600),
            task_start: span(1600, 2000),
            probe_pass_ns: Some(4000),
            noticed_ns: Some(4100),
        }));
        let st = steps_ns(&s).unwrap_or_else(|| panic!("phases"));
        assert_eq!(
            st,
            [
                Some(100),
                None,
                Some(200),
                Some(300),
                Some(400),
                Some(2000),
                Some(100),
                Some(5900)
            ]
        );
        // the steps that happened add up to invoke → first byte
        assert_eq!(st.iter().flatten().sum::<u64>(), 9000);
        s.gateway_phases = None;
        assert_eq!(steps_ns(&s), None);
    }
}
