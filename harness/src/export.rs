//! `--export-json`, `--export-csv` and `--export-markdown` (as hyperfine has them): the run's
//! summary per function × node, rewritten after every result of `bench` and at its end, and by
//! `faasbed report`. Exporters return bytes; [`Exports::write`] puts them in place atomically.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::report::rows::PercentilesUs;
use crate::store::StoreError;
use crate::summary::RunSummary;

/// Errors writing an export file; each names the file and the flag it came from.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The file could not be written.
    #[error("{flag} {}: {source}; pick a writable path", path.display())]
    Write {
        /// The flag that named the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: StoreError,
    },
}

/// The `--export-*` flags of `bench` and `report`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExportArgs {
    /// Write the summary per function × node as JSON to FILE (after every result, and at the end).
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Write the summary per function × node as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,
    /// Write the summary per function × node as a Markdown table to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
}

impl From<ExportArgs> for Exports {
    fn from(a: ExportArgs) -> Exports {
        Exports {
            json: a.export_json,
            csv: a.export_csv,
            markdown: a.export_markdown,
        }
    }
}

/// An exporter: the summary → the file's bytes.
type Render = fn(&RunSummary) -> Vec<u8>;

/// Where each export goes (none: not exported).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exports {
    /// `--export-json FILE`: the summary as JSON (the shape of `summary.json`).
    pub json: Option<PathBuf>,
    /// `--export-csv FILE`: one row per function × node.
    pub csv: Option<PathBuf>,
    /// `--export-markdown FILE`: one table row per function × node.
    pub markdown: Option<PathBuf>,
}

impl Exports {
    /// No export asked for.
    pub fn is_empty(&self) -> bool {
        self.json.is_none() && self.csv.is_none() && self.markdown.is_none()
    }

    /// Write every asked-for export of `s`; returns the files written.
    pub fn write(&self, s: &RunSummary) -> Result<Vec<PathBuf>, ExportError> {
        let mut out = Vec::new();
        let jobs: [(&Option<PathBuf>, &'static str, Render); 3] = [
            (&self.json, "--export-json", json),
            (&self.csv, "--export-csv", csv),
            (&self.markdown, "--export-markdown", markdown),
        ];
        for (path, flag, render) in jobs {
            let Some(path) = path else { continue };
            crate::store::write_atomic(path, &render(s)).map_err(|source| ExportError::Write {
                flag,
                path: path.clone(),
                source,
            })?;
            out.push(path.clone());
        }
        Ok(out)
    }
}

/// The summary as pretty JSON (the shape of `summary.json`).
pub fn json(s: &RunSummary) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(s).unwrap_or_default();
    v.push(b'\n');
    v
}

const CSV_HEADER: &str = "function,node,class,arch,emulated,requests,ok,errors,error_kinds,late_sends,target_rps,achieved_rps,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,cold_verified,cold_total,cold_median_ms,cold_p90_ms";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `timeout 3; status_5xx 1`: the non-zero error kinds.
fn kinds(errors: &std::collections::BTreeMap<String, u64>) -> String {
    errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cells of one function × node, in [`CSV_HEADER`] order (empty when not measured).
fn cells(e: &crate::report::rows::Entry) -> Vec<String> {
    let f3 = |v: f64| format!("{v:.3}");
    let ms = |p: Option<&PercentilesUs>, f: fn(&PercentilesUs) -> f64| {
        p.map(|p| f3(f(p) / 1e3)).unwrap_or_default()
    };
    let mut row = vec![
        e.function.clone(),
        e.node.clone(),
        e.class.clone(),
        e.arch.clone(),
        e.emulated.to_string(),
    ];
    match &e.warm {
        Some(w) => {
            let c = w.corrected_us.as_ref();
            row.extend([
                w.requests.to_string(),
                w.ok.to_string(),
                w.errors.values().sum::<u64>().to_string(),
                kinds(&w.errors),
                w.late_sends.to_string(),
                w.target_rps.map(f3).unwrap_or_default(),
                f3(w.achieved_rps),
                ms(c, |p| p.p50),
                ms(c, |p| p.p90),
                ms(c, |p| p.p99),
                ms(c, |p| p.p999),
                ms(c, |p| p.max),
            ]);
        }
        None => row.extend(std::iter::repeat_n(String::new(), 12)),
    }
    match &e.cold {
        Some(c) => row.extend([
            c.verified.to_string(),
            c.total.to_string(),
            c.first_byte_ms
                .as_ref()
                .map(|s| f3(s.p50))
                .unwrap_or_default(),
            c.first_byte_ms
                .as_ref()
                .map(|s| f3(s.p90))
                .unwrap_or_default(),
        ]),
        None => row.extend(std::iter::repeat_n(String::new(), 4)),
    }
    row
}

/// One CSV row per function × node; latencies are corrected, ms.
pub fn csv(s: &RunSummary) -> Vec<u8> {
    let mut out = format!("{CSV_HEADER}\n");
    for e in &s.results {
        let row: Vec<String> = cells(e).iter().map(|c| csv_field(c)).collect();
        let _ = writeln!(out, "{}", row.join(","));
    }
    out.into_bytes()
}

/// A Markdown table, one row per function × node; latencies are corrected, ms.
pub fn markdown(s: &RunSummary) -> Vec<u8> {
    let header: Vec<&str> = CSV_HEADER.split(',').collect();
    let mut out = format!(
        "# faasbed run {} ({})\n\n| {} |\n|{}\n",
        s.run_id,
        s.status,
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for e in &s.results {
        let row: Vec<String> = cells(e)
            .iter()
            .map(|c| {
                if c.is_empty() {
                    "–".into()
                } else {
                    c.replace('|', "\\|")
                }
            })
            .collect();
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if s.emulated {
        out.push_str(
            "\nEmulated rows ran under QEMU on the host CPU: not a measurement of real boards.\n",
        );
    }
    out.into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::report::rows::{Entry, WarmSummary};

    fn summary() -> RunSummary {
        RunSummary {
            format: 1,
            run_id: "r1".into(),
            scenario_hash: "h".into(),
            status: "complete".into(),
            emulated: false,
            torn_tail: false,
            fidelity: None,
            trace: None,
            results: vec![Entry {
                runtime: None,
                function: "echo-vps".into(),
                node: "vps-1".into(),
                class: "vps".into(),
                arch: "amd64".into(),
                emulated: false,
                warm: Some(WarmSummary {
                    requests: 100,
                    ok: 97,
                    errors: [("timeout".to_string(), 2), ("status_5xx".to_string(), 1)]
                        .into_iter()
                        .collect(),
                    late_sends: 4,
                    target_rps: Some(50.0),
                    achieved_rps: 49.5,
                    corrected_us: Some(PercentilesUs {
                        p50: 1_000.0,
                        p90: 2_000.0,
                        p99: 3_000.0,
                        p999: 4_000.0,
                        max: 5_000.0,
                        mean: 1_200.0,
                    }),
                    uncorrected_us: None,
                }),
                cold: None,
            }],
        }
    }

    #[test]
    fn csv_has_one_row_per_function_and_node_with_errors_by_kind() {
        let text = String::from_utf8(csv(&summary())).unwrap();
        assert_eq!(
            text,
            format!("{CSV_HEADER}\necho-vps,vps-1,vps,amd64,false,100,97,3,status_5xx 1; timeout 2,4,50.000,49.500,1.000,2.000,3.000,4.000,5.000,,,,\n")
        );
    }

    #[test]
    fn markdown_and_json_carry_the_same_row() {
        let md = String::from_utf8(markdown(&summary())).unwrap();
        assert!(md.contains("| echo-vps | vps-1 | vps | amd64 | false | 100 | 97 | 3 | status_5xx 1; timeout 2 | 4 |"), "{md}");
        let back: RunSummary = serde_json::from_slice(&json(&summary())).unwrap();
        assert_eq!(back.results[0].warm.as_ref().unwrap().late_sends, 4);
    }

    #[test]
    fn write_puts_each_asked_file_and_names_the_flag_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let ex = Exports {
            json: Some(dir.path().join("s.json")),
            csv: None,
            markdown: Some(dir.path().join("s.md")),
        };
        assert_eq!(ex.write(&summary()).unwrap().len(), 2);
        assert!(dir.path().join("s.md").is_file());
        let bad = Exports {
            csv: Some(dir.path().join("no/such/dir/s.csv")),
            ..Exports::default()
        };
        let e = bad.write(&summary()).unwrap_err().to_string();
        assert!(e.starts_with("--export-csv "), "{e}");
    }
}
