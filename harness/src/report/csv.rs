//! `summary.csv`: one row per workload × class with warm and cold statistics in ms.

use std::fmt::Write as _;

use super::data::ReportData;
use super::markdown::num;

const HEADER: &str = "workload,class,emulated,warm_requests,warm_errors,warm_p50_ms,warm_p90_ms,warm_p99_ms,warm_p999_ms,warm_median_ms,warm_median_lo_ms,warm_median_hi_ms,warm_mean_ms,warm_mean_lo_ms,warm_mean_hi_ms,warm_cv,cold_verified,cold_total,cold_median_ms,cold_median_lo_ms,cold_median_hi_ms,cold_mean_ms,cold_p90_ms,cold_max_ms";

/// Quote a CSV field when it needs it (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

/// Render `summary.csv`.
pub fn render(d: &ReportData) -> Vec<u8> {
    let mut out = String::from(HEADER);
    out.push('\n');
    for g in &d.groups {
        let label = g.class_label();
        let (warm, cold) = d.tables.rows_of(&g.workload, &label);
        let ws = warm.and_then(|r| r.stats.as_ref());
        let cs = cold.and_then(|r| r.stats.as_ref());
        let cells = [
            field(&g.workload),
            field(&g.class),
            g.emulated.to_string(),
            warm.map(|r| r.requests.to_string()).unwrap_or_default(),
            warm.map(|r| r.errors.to_string()).unwrap_or_default(),
            opt(ws.map(|s| s.p50)),
            opt(ws.map(|s| s.p90)),
            opt(ws.map(|s| s.p99)),
            opt(ws.map(|s| s.p999)),
            opt(ws.map(|s| s.median.value)),
            opt(ws.and_then(|s| s.median.ci).map(|c| c.0)),
            opt(ws.and_then(|s| s.median.ci).map(|c| c.1)),
            opt(ws.map(|s| s.mean.value)),
            opt(ws.and_then(|s| s.mean.ci).map(|c| c.0)),
            opt(ws.and_then(|s| s.mean.ci).map(|c| c.1)),
            opt(ws.and_then(|s| s.cv)),
            cold.map(|r| r.verified.to_string()).unwrap_or_default(),
            cold.map(|r| r.total.to_string()).unwrap_or_default(),
            opt(cs.map(|s| s.median.value)),
            opt(cs.and_then(|s| s.median.ci).map(|c| c.0)),
            opt(cs.and_then(|s| s.median.ci).map(|c| c.1)),
            opt(cs.map(|s| s.mean.value)),
            opt(cs.map(|s| s.p90)),
            opt(cs.map(|s| s.max)),
        ];
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("echo"), "echo");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
