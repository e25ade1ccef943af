//! The Azure Functions 2019 trace (Shahrad et al., ATC '20, `AzurePublicDataset`): per-function
//! invocations per minute (`HashOwner,HashApp,HashFunction,Trigger,1..1440`), per-function
//! duration percentiles and per-app memory percentiles. Pure parsers of the file text.

use std::collections::BTreeMap;
use std::path::Path;

use super::TraceFunction;
use super::{
    data_lines, fields, non_negative, Arrivals, DurationStats, Trace, TraceError, TraceFormat,
};

/// Columns before the per-minute counts.
const KEYS: [&str; 4] = ["HashOwner", "HashApp", "HashFunction", "Trigger"];
/// Minutes in one day file.
pub const MAX_MINUTES: usize = 1440;

/// `(HashOwner, HashApp, HashFunction)`.
type Key = (String, String, String);

fn header<'a>(text: &'a str, path: &Path) -> Result<(usize, Vec<&'a str>), TraceError> {
    let Some((line, h)) = data_lines(text).next() else {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
        });
    };
    Ok((line, fields(h)))
}

fn need_columns(path: &Path, line: usize, h: &[&str], want: &[&str]) -> Result<(), TraceError> {
    for (i, w) in want.iter().enumerate() {
        if h.get(i) != Some(w) {
            return Err(TraceError::row(
                path,
                line,
                &format!("column {}", i + 1),
                format!(
                    "header is {:?}, expected {w:?}: the header must start with {}",
                    h.get(i).copied().unwrap_or(""),
                    want.join(",")
                ),
            ));
        }
    }
    Ok(())
}

fn hash<'a>(path: &Path, line: usize, field: &str, v: &'a str) -> Result<&'a str, TraceError> {
    if v.is_empty() {
        return Err(TraceError::row(path, line, field, "is empty"));
    }
    Ok(v)
}

/// Parse an `invocations_per_function_md.anon.dNN.csv` file. The header's minute columns must
/// be `1..N` in order, N at most 1440; each row must have exactly that many counts.
pub fn parse_invocations(text: &str, path: &Path) -> Result<Trace, TraceError> {
    let (hline, h) = header(text, path)?;
    need_columns(path, hline, &h, &KEYS)?;
    let minutes = h.len() - KEYS.len();
    if minutes == 0 || minutes > MAX_MINUTES {
        return Err(TraceError::row(
            path,
            hline,
            "minutes",
            format!(
                "has {minutes} minute columns; a day file has 1 to {MAX_MINUTES} (1,2,...,1440)"
            ),
        ));
    }
    for (i, col) in h[KEYS.len()..].iter().enumerate() {
        if *col != (i + 1).to_string() {
            return Err(TraceError::row(
                path,
                hline,
                &format!("column {}", KEYS.len() + i + 1),
                format!("header is {col:?}, expected minute {:?}", i + 1),
            ));
        }
    }
    let mut seen: BTreeMap<Key, usize> = BTreeMap::new();
    let mut functions = Vec::new();
    for (line, l) in data_lines(text).skip(1) {
        let f = fields(l);
        if f.len() != h.len() {
            return Err(TraceError::row(
                path,
                line,
                "row",
                format!(
                    "has {} fields, the header has {} ({} keys + {minutes} minutes)",
                    f.len(),
                    h.len(),
                    KEYS.len()
                ),
            ));
        }
        let owner = hash(path, line, KEYS[0], f[0])?;
        let app = hash(path, line, KEYS[1], f[1])?;
        let func = hash(path, line, KEYS[2], f[2])?;
        let trigger = hash(path, line, KEYS[3], f[3])?;
        let mut counts = Vec::with_capacity(minutes);
        for (m, v) in f[KEYS.len()..].iter().enumerate() {
            let n = v.parse::<u32>().map_err(|_| {
                TraceError::row(
                    path,
                    line,
                    &format!("minute {}", m + 1),
                    format!("{v:?} is not a count of invocations (a whole number ≥ 0)"),
                )
            })?;
            counts.push(n);
        }
        let key = (owner.to_string(), app.to_string(), func.to_string());
        if let Some(first) = seen.insert(key, line) {
            return Err(TraceError::row(
                path,
                line,
                KEYS[2],
                format!(
                    "function {func} of app {app} repeats line {first}; each function has one row"
                ),
            ));
        }
        functions.push(TraceFunction {
            id: func.to_string(),
            app: app.to_string(),
            trigger: Some(trigger.to_string()),
            arrivals: Arrivals::PerMinute(counts),
            duration: None,
            memory_mb: None,
        });
    }
    Ok(Trace {
        format: TraceFormat::Azure2019,
        span_s: minutes as f64 * 60.0,
        functions,
    })
}

/// Columns a table needs, located by header name.
fn locate(path: &Path, line: usize, h: &[&str], want: &[&str]) -> Result<Vec<usize>, TraceError> {
    want.iter()
        .map(|w| {
            h.iter().position(|c| c == w).ok_or_else(|| {
                TraceError::row(
                    path,
                    line,
                    w,
                    format!("column {w:?} is missing from the header"),
                )
            })
        })
        .collect()
}

/// Rows of a keyed table: the key columns' text and the named number columns.
type Rows = Vec<(Vec<String>, Vec<f64>)>;

/// Parse a table keyed by the first `keys` columns, taking the named number columns.
fn table(text: &str, path: &Path, keys: &[&str], cols: &[&str]) -> Result<Rows, TraceError> {
    let (hline, h) = header(text, path)?;
    need_columns(path, hline, &h, keys)?;
    let at = locate(path, hline, &h, cols)?;
    let mut rows = Vec::new();
    for (line, l) in data_lines(text).skip(1) {
        let f = fields(l);
        if f.len() != h.len() {
            return Err(TraceError::row(
                path,
                line,
                "row",
                format!("has {} fields, the header has {}", f.len(), h.len()),
            ));
        }
        let k = keys
            .iter()
            .enumerate()
            .map(|(i, name)| hash(path, line, name, f[i]).map(str::to_string))
            .collect::<Result<Vec<_>, _>>()?;
        let v = cols
            .iter()
            .zip(&at)
            .map(|(name, i)| non_negative(path, line, name, f[*i], "a number"))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push((k, v));
    }
    Ok(rows)
}

/// Per-function execution times, keyed by `(HashOwner, HashApp, HashFunction)`.
pub type Durations = BTreeMap<(String, String, String), DurationStats>;

/// Parse a `function_durations_percentiles.anon.dNN.csv` file (milliseconds).
pub fn parse_durations(text: &str, path: &Path) -> Result<Durations, TraceError> {
    let rows = table(
        text,
        path,
        &KEYS[..3],
        &["Average", "percentile_Average_50", "percentile_Average_99"],
    )?;
    Ok(rows
        .into_iter()
        .map(|(k, v)| {
            (
                (k[0].clone(), k[1].clone(), k[2].clone()),
                DurationStats {
                    average_ms: v[0],
                    p50_ms: v[1],
                    p99_ms: v[2],
                },
            )
        })
        .collect())
}

/// Per-app average allocated memory, MB, keyed by `(HashOwner, HashApp)`.
pub type Memory = BTreeMap<(String, String), f64>;

/// Parse an `app_memory_percentiles.anon.dNN.csv` file.
pub fn parse_memory(text: &str, path: &Path) -> Result<Memory, TraceError> {
    let rows = table(text, path, &KEYS[..2], &["AverageAllocatedMb"])?;
    Ok(rows
        .into_iter()
        .map(|(k, v)| ((k[0].clone(), k[1].clone()), v[0]))
        .collect())
}

/// Give each function its execution times. The invocation file's owner is not kept on the
/// function, so the join is on `(HashApp, HashFunction)`, which the dataset keeps unique.
pub fn attach_durations(t: &mut Trace, d: &Durations) {
    for f in &mut t.functions {
        f.duration = d
            .iter()
            .find(|((_, app, func), _)| *app == f.app && *func == f.id)
            .map(|(_, s)| s.clone());
    }
}

/// Give each function its app's memory.
pub fn attach_memory(t: &mut Trace, m: &Memory) {
    for f in &mut t.functions {
        f.memory_mb = m
            .iter()
            .find(|((_, app), _)| *app == f.app)
            .map(|(_, mb)| *mb);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("inv.csv")
    }

    const OK: &str = "HashOwner,HashApp,HashFunction,Trigger,1,2,3\n\
                      o1,a1,f1,http,0,5,1\n\
                      o1,a1,f2,timer,1,1,1\n";

    #[test]
    fn reads_counts_per_minute() {
        let t = parse_invocations(OK, p()).unwrap();
        assert_eq!(t.span_s, 180.0);
        assert_eq!(t.functions.len(), 2);
        assert_eq!(t.functions[0].id, "f1");
        assert_eq!(t.functions[0].trigger.as_deref(), Some("http"));
        assert_eq!(t.functions[0].arrivals, Arrivals::PerMinute(vec![0, 5, 1]));
        assert_eq!(t.functions[1].arrivals.count_in(60.0, 180.0), 2);
    }

    fn err(text: &str) -> String {
        parse_invocations(text, p()).unwrap_err().to_string()
    }

    #[test]
    fn rejects_malformed_rows_with_line_and_field() {
        let bad_count = "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,x\n";
        assert_eq!(
            err(bad_count),
            "inv.csv:2: minute 2: \"x\" is not a count of invocations (a whole number ≥ 0)"
        );
        let short = "HashOwner,HashApp,HashFunction,Trigger,1,2\n\no,a,f,http,1\n";
        assert!(err(short).starts_with("inv.csv:3: row: has 5 fields, the header has 6"));
        let negative = "HashOwner,HashApp,HashFunction,Trigger,1\no,a,f,http,-1\n";
        assert!(err(negative).starts_with("inv.csv:2: minute 1:"));
        let empty_hash = "HashOwner,HashApp,HashFunction,Trigger,1\no,,f,http,1\n";
        assert_eq!(err(empty_hash), "inv.csv:2: HashApp: is empty");
        let dup = "HashOwner,HashApp,HashFunction,Trigger,1\no,a,f,http,1\no,a,f,http,2\n";
        assert!(err(dup).starts_with("inv.csv:3: HashFunction: function f of app a repeats line 2"));
    }

    #[test]
    fn rejects_a_wrong_header() {
        assert!(err("Owner,HashApp,HashFunction,Trigger,1\n")
            .starts_with("inv.csv:1: column 1: header is \"Owner\", expected \"HashOwner\""));
        assert!(err("HashOwner,HashApp,HashFunction,Trigger,1,3\n")
            .starts_with("inv.csv:1: column 6: header is \"3\", expected minute 2"));
        assert!(err("HashOwner,HashApp,HashFunction,Trigger\n").starts_with("inv.csv:1: minutes:"));
    }

    #[test]
    fn durations_and_memory_attach() {
        let mut t = parse_invocations(OK, p()).unwrap();
        let d = "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100\n\
                 o1,a1,f1,120,10,3,900,3,4,50,100,150,800,900\n";
        let d = parse_durations(d, Path::new("dur.csv")).unwrap();
        attach_durations(&mut t, &d);
        let s = t.functions[0].duration.clone().unwrap();
        assert_eq!((s.average_ms, s.p50_ms, s.p99_ms), (120.0, 100.0, 800.0));
        assert!(t.functions[1].duration.is_none());
        let m = "HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1\no1,a1,40,170,150\n";
        attach_memory(&mut t, &parse_memory(m, Path::new("mem.csv")).unwrap());
        assert_eq!(t.functions[1].memory_mb, Some(170.0));
    }

    #[test]
    fn rejects_malformed_duration_and_memory_rows() {
        let d = "HashOwner,HashApp,HashFunction,Average,percentile_Average_50,percentile_Average_99\no,a,f,1,2,nan\n";
        assert_eq!(
            parse_durations(d, Path::new("dur.csv"))
                .unwrap_err()
                .to_string(),
            "dur.csv:2: percentile_Average_99: \"nan\" is not a number ≥ 0"
        );
        let m = "HashOwner,HashApp,SampleCount\no,a,1\n";
        assert!(parse_memory(m, Path::new("mem.csv"))
            .unwrap_err()
            .to_string()
            .starts_with(
                "mem.csv:1: AverageAllocatedMb: column \"AverageAllocatedMb\" is missing"
            ));
    }
}
