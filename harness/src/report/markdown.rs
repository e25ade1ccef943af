//! `report.md`: the run's provenance and tables as Markdown. Also owns the neutral [`TextTable`]
//! model (and number formatting) that the HTML exporter renders too.

use std::fmt::Write as _;

use super::data::ReportData;
use super::tables::WithCi;
use crate::measure::cold::PHASES;

/// A titled table of preformatted cells.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTable {
    /// Heading above the table.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

/// A number with 3 decimals (fixed, so output is deterministic).
pub fn num(v: f64) -> String {
    format!("{v:.3}")
}

/// `value [lo, hi]`, or just the value when there is no interval.
pub fn with_ci(v: &WithCi) -> String {
    match v.ci {
        Some((lo, hi)) => format!("{} [{}, {}]", num(v.value), num(lo), num(hi)),
        None => num(v.value),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), num)
}

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The report's tables in display order: headline, nodes, warm, requests, cold, cold phases,
/// class ratios, replica crashes and restarts.
pub fn text_tables(d: &ReportData) -> Vec<TextTable> {
    let warm = TextTable {
        title: "Warm latency (corrected, successful requests), ms".into(),
        header: headers(&[
            "workload",
            "class",
            "requests",
            "errors",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "median [95% CI]",
            "mean [95% CI]",
            "CV",
        ]),
        rows: d
            .tables
            .warm
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.workload.clone(),
                    r.class.clone(),
                    r.requests.to_string(),
                    r.errors.to_string(),
                ];
                match &r.stats {
                    Some(s) => row.extend([
                        num(s.p50),
                        num(s.p90),
                        num(s.p99),
                        num(s.p999),
                        with_ci(&s.median),
                        with_ci(&s.mean),
                        opt(s.cv),
                    ]),
                    None => row.extend(std::iter::repeat_n("–".to_string(), 7)),
                }
                row
            })
            .collect(),
    };
    let cold_rows = |phases: bool| -> Vec<Vec<String>> {
        d.tables
            .cold
            .iter()
            .map(|r| {
                let mut row = vec![r.workload.clone(), r.class.clone()];
                match (&r.stats, phases) {
                    (Some(s), true) => row.extend(s.phases_ms.iter().map(|p| opt(*p))),
                    (None, true) => row.extend(std::iter::repeat_n("–".to_string(), 4)),
                    (s, false) => {
                        row.push(format!("{}/{}", r.verified, r.total));
                        match s {
                            Some(s) => row.extend([
                                with_ci(&s.median),
                                with_ci(&s.mean),
                                num(s.p90),
                                num(s.max),
                            ]),
                            None => row.extend(std::iter::repeat_n("–".to_string(), 4)),
                        }
                    }
                }
                row
            })
            .collect()
    };
    // k3d and existing clusters run OpenFaaS CE, with its probe floor and pod stamps.
    use crate::spec::PlatformKind::{Existing, K3d};
    let on_ce = [K3d, Existing]
        .iter()
        .any(|k| d.manifest.platform == k.as_str());
    let (cold_note, phase_source) = if on_ce {
        (
            format!(" — {}", crate::platform::kube::ce_probe_floor_note()),
            "; spawn and healthy from pod conditions, 1 s resolution",
        )
    } else {
        (String::new(), "")
    };
    let cold = TextTable {
        title: format!("Cold starts (verified, time to first byte), ms{cold_note}"),
        header: headers(&[
            "workload",
            "class",
            "verified/total",
            "median [95% CI]",
            "mean [95% CI]",
            "p90",
            "max",
        ]),
        rows: cold_rows(false),
    };
    let mut ph = headers(&["workload", "class"]);
    ph.extend(PHASES.iter().map(|p| p.to_string()));
    let phases = TextTable {
        title: format!("Cold-start phases (median of verified samples{phase_source}), ms"),
        header: ph,
        rows: cold_rows(true),
    };
    let ratios = TextTable {
        title: "Class ratios of median latency (95% bootstrap CI)".into(),
        header: headers(&["kind", "workload", "ratio", "value [95% CI]", "note"]),
        rows: d
            .tables
            .ratios
            .iter()
            .map(|r| {
                vec![
                    r.kind.to_string(),
                    r.workload.clone(),
                    format!("{} / {}", r.num, r.den),
                    with_ci(&r.ratio),
                    if r.mixes_emulation {
                        "mixes emulated and real nodes".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect(),
    };
    let mut out = vec![
        super::headline::headline_table(d),
        super::headline::nodes_table(d),
        warm,
        super::requests::requests_table(d),
        cold,
        phases,
    ];
    out.extend(super::container_phases::table(d));
    out.push(ratios);
    out.push(super::requests::events_table(d));
    if !d.chains.is_empty() {
        out.push(chains_table(d));
    }
    out.extend(super::trace::tables(d.trace.as_ref()));
    out.extend(super::fidelity::tables(&d.fidelity));
    out
}

/// Chains: end-to-end median and each segment's median and share (see `report::chain`).
fn chains_table(d: &ReportData) -> TextTable {
    let mut rows = Vec::new();
    for c in &d.chains {
        rows.push(vec![
            c.function.clone(),
            c.route.clone(),
            c.requests.to_string(),
            "end to end".into(),
            num(c.e2e_p50_ms),
            "100.0".into(),
        ]);
        for (name, p50, share) in &c.segments {
            rows.push(vec![
                String::new(),
                String::new(),
                String::new(),
                name.clone(),
                num(*p50),
                format!("{:.1}", share * 100.0),
            ]);
        }
    }
    TextTable {
        title: "Chains: end-to-end latency (send to end) and each hop's and link's share, ms"
            .into(),
        header: headers(&["function", "route", "requests", "segment", "p50", "share %"]),
        rows,
    }
}

/// The sentence that says how every percentile in the report is computed.
pub fn percentile_note() -> String {
    format!(
        "Percentiles (p50, p90, p99, p99.9, medians): {}; the same figures as summary.json, summary.csv and `faasbed compare`. The percentile spectrum plots are drawn from the HdrHistogram logs (3 significant digits).",
        crate::stats::PERCENTILE_DEFINITION
    )
}

/// Provenance lines (run, scenario, host, nodes), Markdown-formatted.
/// A fact an older run.json left empty reads `unknown`.
pub fn provenance(d: &ReportData) -> Vec<String> {
    let m = &d.manifest;
    let k = |s: &str| -> String { crate::store::manifest::or_unknown(s) };
    let mut out = vec![
        format!("run `{}`, status {}", k(&m.run_id), k(&m.status)),
        format!(
            "scenario `{}` (sha256 `{}`), seed {}",
            m.scenario_path.display(),
            k(&m.scenario_hash),
            m.seed
        ),
        format!(
            "faasbed {} (git `{}`), platform {}",
            k(&m.faasbed_version),
            k(&m.git_sha),
            k(&m.platform)
        ),
        format!(
            "host: {} ({} cores, {}), {}",
            k(&m.host.cpu_model),
            m.host.cores,
            k(&m.host.arch),
            k(&m.host.os)
        ),
        format!(
            "started {}, ended {}",
            m.started_at,
            m.ended_at.as_deref().unwrap_or("–")
        ),
    ];
    for n in &m.nodes {
        out.push(format!(
            "node {}: class {}, arch {}, backend {}{}",
            k(&n.name),
            k(&n.class),
            k(&n.arch),
            k(&n.backend),
            if n.emulated {
                " (emulated)".to_string()
            } else {
                real_hardware(&n.launcher).unwrap_or_default()
            }
        ));
    }
    if m.emulated {
        out.push(
            "**Emulated nodes ran under QEMU on the host CPU: their figures describe the emulation, not real boards.**"
                .into(),
        );
    }
    out
}

/// `, real hardware: board, CPU MHz, throttling, SD card, kernel` for a node faasbed probed
/// over SSH (its launcher says `"hardware": "real"`); a fact the host did not give is
/// `unknown`.
pub fn real_hardware(launcher: &serde_json::Value) -> Option<String> {
    if launcher.get("hardware").and_then(|h| h.as_str()) != Some("real") {
        return None;
    }
    let host = launcher.get("host").cloned().unwrap_or_default();
    let s = |key: &str| {
        host.get(key)
            .and_then(|v| v.as_str())
            .map_or_else(|| "unknown".to_string(), str::to_string)
    };
    let mhz = |key: &str| {
        host.get(key)
            .and_then(|v| v.as_u64())
            .map_or_else(|| "unknown".to_string(), |k| (k / 1000).to_string())
    };
    let throttled = host
        .get("throttled")
        .and_then(|v| v.as_u64())
        .map_or_else(|| "unknown".to_string(), |t| format!("0x{t:x}"));
    Some(format!(
        ", real hardware: board {}, CPU max {} MHz (then {} MHz), throttled {throttled}, SD card {}, kernel {}",
        s("model"),
        mhz("cpu_max_khz"),
        mhz("cpu_cur_khz"),
        s("sd_card"),
        s("kernel")
    ))
}

fn md_table(out: &mut String, t: &TextTable) {
    let _ = writeln!(out, "## {}\n", t.title);
    let _ = writeln!(out, "| {} |", t.header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        t.header.iter().map(|_| "---|").collect::<String>()
    );
    for r in &t.rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

/// Render `report.md`.
pub fn render(d: &ReportData) -> Vec<u8> {
    let mut out = format!("# faasbed report: run {}\n\n", d.manifest.run_id);
    let tables = text_tables(d);
    // The headline opens the report; provenance and the details follow.
    let (headline, rest) = tables.split_at(1.min(tables.len()));
    for t in headline {
        md_table(&mut out, t);
    }
    for line in provenance(d) {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    for t in rest {
        md_table(&mut out, t);
    }
    let _ = writeln!(out, "{}\n", percentile_note());
    out.push_str("Plots: see `plots/` (SVG and PNG) and `report.html`.\n");
    out.into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    #[test]
    fn a_real_host_shows_its_board_and_an_unprobed_fact_is_unknown() {
        let l = serde_json::json!({"hardware": "real", "host": {
            "model": "Raspberry Pi 3 Model B Rev 1.2", "cpu_max_khz": 1200000,
            "throttled": 327685, "kernel": "6.1.21-v7+"}});
        let line = super::real_hardware(&l).unwrap();
        assert!(
            line.contains("board Raspberry Pi 3 Model B Rev 1.2"),
            "{line}"
        );
        assert!(
            line.contains("CPU max 1200 MHz (then unknown MHz)"),
            "{line}"
        );
        assert!(
            line.contains("throttled 0x50005") && line.contains("SD card unknown"),
            "{line}"
        );
        assert!(super::real_hardware(&serde_json::json!({"k3s": "x"})).is_none());
    }

    use super::*;

    /// A run.json whose facts are empty (written before provenance said `unknown`) renders
    /// them as `unknown`, never as a blank.
    #[test]
    fn empty_provenance_renders_unknown() {
        let run = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/runs/quick-local");
        let mut d = super::super::data::read(&run).unwrap();
        d.manifest.git_sha = String::new();
        d.manifest.host.cpu_model = " ".into();
        d.manifest.host.os = String::new();
        d.manifest.nodes[0].backend = String::new();
        let lines = provenance(&d);
        assert!(lines[2].contains("(git `unknown`)"), "{}", lines[2]);
        assert!(lines[3].starts_with("host: unknown ("), "{}", lines[3]);
        assert!(lines[3].ends_with(", unknown"), "{}", lines[3]);
        assert!(lines[5].contains("backend unknown"), "{}", lines[5]);
    }
}
