//! The Azure Functions 2021 trace (Zhang et al., SOSP '21, `AzureFunctionsInvocationTrace2021`):
//! one row per invocation, `app,func,end_timestamp,duration`, both in seconds from the trace
//! start. An invocation starts at `end_timestamp - duration` (clamped at 0: it began before the
//! trace window). A pure parser of the file text.

use std::collections::BTreeMap;
use std::path::Path;

use super::TraceFunction;
use super::{data_lines, fields, Arrivals, DurationStats, Trace, TraceError, TraceFormat};

/// The header, in order.
const COLUMNS: [&str; 4] = ["app", "func", "end_timestamp", "duration"];

fn seconds(path: &Path, line: usize, field: &str, v: &str) -> Result<f64, TraceError> {
    super::non_negative(path, line, field, v, "a number of seconds")
}

/// The `q`-quantile of sorted values (nearest rank).
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Parse the per-invocation file: functions in order of first appearance, starts sorted.
pub fn parse(text: &str, path: &Path) -> Result<Trace, TraceError> {
    let mut lines = data_lines(text);
    let Some((hline, h)) = lines.next() else {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
        });
    };
    let h = fields(h);
    if h != COLUMNS {
        return Err(TraceError::row(
            path,
            hline,
            "header",
            format!("is {:?}, expected {}", h.join(","), COLUMNS.join(",")),
        ));
    }
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by_fn: BTreeMap<(String, String), (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut span_s: f64 = 0.0;
    for (line, l) in lines {
        let f = fields(l);
        if f.len() != COLUMNS.len() {
            return Err(TraceError::row(
                path,
                line,
                "row",
                format!("has {} fields, expected 4 ({})", f.len(), COLUMNS.join(",")),
            ));
        }
        for (i, name) in COLUMNS[..2].iter().enumerate() {
            if f[i].is_empty() {
                return Err(TraceError::row(path, line, name, "is empty"));
            }
        }
        let end = seconds(path, line, COLUMNS[2], f[2])?;
        let duration = seconds(path, line, COLUMNS[3], f[3])?;
        let start = (end - duration).max(0.0);
        span_s = span_s.max(start);
        let key = (f[0].to_string(), f[1].to_string());
        let e = by_fn.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (Vec::new(), Vec::new())
        });
        e.0.push(start);
        e.1.push(duration * 1000.0);
    }
    let functions = order
        .into_iter()
        .filter_map(|key| {
            let (mut starts, mut durs) = by_fn.remove(&key)?;
            starts.sort_by(f64::total_cmp);
            durs.sort_by(f64::total_cmp);
            let average_ms = durs.iter().sum::<f64>() / durs.len() as f64;
            Some(TraceFunction {
                id: format!("{}/{}", key.0, key.1),
                app: key.0,
                trigger: None,
                arrivals: Arrivals::At(starts),
                duration: Some(DurationStats {
                    average_ms,
                    p50_ms: nearest_rank(&durs, 0.5),
                    p99_ms: nearest_rank(&durs, 0.99),
                }),
                memory_mb: None,
            })
        })
        .collect();
    Ok(Trace {
        format: TraceFormat::Azure2021,
        // The last start is inside the trace; a window ends just after it.
        span_s: span_s + 1e-9,
        functions,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("inv2021.csv")
    }

    #[test]
    fn groups_rows_by_function_with_sorted_starts() {
        let text = "app,func,end_timestamp,duration\n\
                    a1,f1,10.5,0.5\n\
                    a2,f9,3.0,1.0\n\
                    a1,f1,4.25,0.25\n\
                    a1,f1,0.1,0.3\n";
        let t = parse(text, p()).unwrap();
        assert_eq!(t.functions.len(), 2);
        assert_eq!(t.functions[0].id, "a1/f1");
        assert_eq!(t.functions[0].arrivals, Arrivals::At(vec![0.0, 4.0, 10.0]));
        assert_eq!(t.functions[1].arrivals, Arrivals::At(vec![2.0]));
        let d = t.functions[0].duration.clone().unwrap();
        assert_eq!(d.p50_ms, 300.0);
        assert_eq!(d.p99_ms, 500.0);
        assert!(t.span_s > 10.0 && t.span_s < 10.001);
    }

    fn err(text: &str) -> String {
        parse(text, p()).unwrap_err().to_string()
    }

    #[test]
    fn rejects_malformed_rows_with_line_and_field() {
        let h = "app,func,end_timestamp,duration\n";
        assert_eq!(
            err(&format!("{h}a,f,1.0,0.1\na,f,soon,0.1\n")),
            "inv2021.csv:3: end_timestamp: \"soon\" is not a number of seconds ≥ 0"
        );
        assert_eq!(
            err(&format!("{h}a,f,1.0,-2\n")),
            "inv2021.csv:2: duration: \"-2\" is not a number of seconds ≥ 0"
        );
        assert!(err(&format!("{h}a,f,1.0\n")).starts_with("inv2021.csv:2: row: has 3 fields"));
        assert_eq!(
            err(&format!("{h},f,1.0,0.1\n")),
            "inv2021.csv:2: app: is empty"
        );
        assert!(err("app,function,end,duration\n").starts_with("inv2021.csv:1: header:"));
    }
}
