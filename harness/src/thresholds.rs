//! Pass/fail thresholds on a run's results, as k6 has them: `p99<50ms`, `errors<1%`, optionally
//! scoped to a function (`echo-pi3:p99<200ms`) or a node class (`class=pi3:p50<20ms`). They come
//! from `[experiment.thresholds]` and `--threshold`, and are checked after the run against the
//! stored summary (per function × node); a failed threshold makes `bench` exit with
//! [`EXIT_THRESHOLDS`].
//!
//! Grammar: `[SCOPE ':'] METRIC OP VALUE`, spaces allowed between tokens, where SCOPE is a
//! function name or `class=NAME`; METRIC is `p50 p90 p99 p99.9 max mean` (warm latency,
//! corrected), `errors` and `late` (percent of measured requests with `%`, else a count), `rps`
//! (achieved rate), `cold_p50 cold_p90` (verified cold starts, time to first byte); OP is
//! `< <= > >=`; a latency VALUE needs a unit (`ns us µs ms s`).

use std::fmt;

use serde::Serialize;

use crate::summary::{Entry, RunSummary};

/// Exit status of `faasbed bench` when the run completed but a threshold failed (k6's).
pub const EXIT_THRESHOLDS: u8 = 99;

/// A threshold that could not be parsed: the expression, the 1-based column and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("threshold {expr:?}, column {column}: {message}")]
pub struct ParseError {
    /// The expression as given.
    pub expr: String,
    /// 1-based column (in characters) of the problem.
    pub column: usize,
    /// Byte offset of the problem in `expr`.
    pub offset: usize,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Which rows a threshold applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every function × node.
    All,
    /// The rows of one function.
    Function(String),
    /// The rows on nodes of one class.
    Class(String),
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Warm corrected latency percentile, per mille (500 = p50, 999 = p99.9).
    Latency(u16),
    /// Warm corrected maximum.
    Max,
    /// Warm corrected mean.
    Mean,
    /// Failed measured requests.
    Errors,
    /// Late sends.
    Late,
    /// Achieved rate, requests per second.
    Rps,
    /// Verified cold starts' median time to first byte.
    ColdP50,
    /// Verified cold starts' 90th percentile time to first byte.
    ColdP90,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
        }
    }
}

/// The limit's unit: latency in ms, a percent, or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Milliseconds (latency limits are kept in ms whatever unit was written).
    Ms,
    /// Percent of measured requests.
    Percent,
    /// A count or a rate.
    Plain,
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// The expression as written (with its scope).
    pub expr: String,
    /// Rows it applies to.
    pub scope: Scope,
    /// What it measures.
    pub metric: Metric,
    /// Comparison.
    pub op: Op,
    /// Limit, in `unit`.
    pub limit: f64,
    /// Unit of `limit`.
    pub unit: Unit,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        while self.s[self.at..].starts_with(char::is_whitespace) {
            self.at += self.s[self.at..].chars().next().map_or(1, char::len_utf8);
        }
    }
    fn rest(&self) -> &str {
        &self.s[self.at..]
    }
}

fn fail(expr: &str, offset: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        expr: expr.to_string(),
        column: expr[..offset.min(expr.len())].chars().count() + 1,
        offset,
        message: message.into(),
    }
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

const METRICS: &str = "p50, p90, p99, p99.9, max, mean, errors, late, rps, cold_p50, cold_p90";

/// Parse one threshold expression (`[SCOPE:]METRIC OP VALUE`).
pub fn parse(expr: &str) -> Result<Threshold, ParseError> {
    let mut c = Cursor { s: expr, at: 0 };
    c.skip_ws();
    if c.rest().is_empty() {
        return Err(fail(
            expr,
            c.at,
            format!("empty; write e.g. \"p99<50ms\" (metrics: {METRICS})"),
        ));
    }
    let scope = match expr.find(':') {
        None => Scope::All,
        Some(colon) => {
            let raw = &expr[c.at..colon];
            let name = raw.trim_end();
            let scope = match name.strip_prefix("class=") {
                Some(class) => {
                    if class.is_empty() || !class.chars().all(is_name) {
                        return Err(fail(
                            expr,
                            c.at + 6,
                            "expected a class name after \"class=\"",
                        ));
                    }
                    Scope::Class(class.to_string())
                }
                None => {
                    if let Some(bad) = name.char_indices().find(|(_, ch)| !is_name(*ch)) {
                        return Err(fail(
                            expr,
                            c.at + bad.0,
                            format!(
                                "{:?} cannot be in a scope; a scope is a function name or class=NAME",
                                bad.1
                            ),
                        ));
                    }
                    if name.is_empty() {
                        return Err(fail(
                            expr,
                            c.at,
                            "expected a function name or class=NAME before \":\"",
                        ));
                    }
                    Scope::Function(name.to_string())
                }
            };
            c.at = colon + 1;
            c.skip_ws();
            scope
        }
    };
    let metric_at = c.at;
    let metric_len = c
        .rest()
        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
        .unwrap_or(c.rest().len());
    let metric = match &c.rest()[..metric_len] {
        "p50" => Metric::Latency(500),
        "p90" => Metric::Latency(900),
        "p99" => Metric::Latency(990),
        "p99.9" | "p999" => Metric::Latency(999),
        "max" => Metric::Max,
        "mean" => Metric::Mean,
        "errors" => Metric::Errors,
        "late" => Metric::Late,
        "rps" => Metric::Rps,
        "cold_p50" | "cold_median" => Metric::ColdP50,
        "cold_p90" => Metric::ColdP90,
        "" => {
            return Err(fail(
                expr,
                metric_at,
                format!("expected a metric ({METRICS})"),
            ))
        }
        other => {
            return Err(fail(
                expr,
                metric_at,
                format!("unknown metric {other:?}; use one of {METRICS}"),
            ))
        }
    };
    c.at += metric_len;
    c.skip_ws();
    let op_at = c.at;
    let (op, len) = if c.rest().starts_with("<=") {
        (Op::Le, 2)
    } else if c.rest().starts_with(">=") {
        (Op::Ge, 2)
    } else if c.rest().starts_with('<') {
        (Op::Lt, 1)
    } else if c.rest().starts_with('>') {
        (Op::Gt, 1)
    } else {
        return Err(fail(expr, op_at, "expected an operator: <, <=, > or >="));
    };
    c.at += len;
    c.skip_ws();
    let num_at = c.at;
    let num_len = c
        .rest()
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(c.rest().len());
    let number: f64 = c.rest()[..num_len]
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| fail(expr, num_at, "expected a number, e.g. 50ms, 1% or 45"))?;
    c.at += num_len;
    c.skip_ws();
    let unit_at = c.at;
    let unit_text = c.rest().trim_end();
    let latency = matches!(
        metric,
        Metric::Latency(_) | Metric::Max | Metric::Mean | Metric::ColdP50 | Metric::ColdP90
    );
    let (limit, unit) = if latency {
        let scale = match unit_text {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "" => {
                return Err(fail(
                    expr,
                    unit_at,
                    "a latency needs a unit: ns, us, ms or s",
                ))
            }
            other => {
                return Err(fail(
                    expr,
                    unit_at,
                    format!("unknown unit {other:?} for a latency; use ns, us, ms or s"),
                ))
            }
        };
        (number * scale, Unit::Ms)
    } else {
        match (metric, unit_text) {
            (Metric::Errors | Metric::Late, "%") => (number, Unit::Percent),
            (Metric::Rps, "" | "rps") => (number, Unit::Plain),
            (_, "") => (number, Unit::Plain),
            (_, other) => {
                return Err(fail(
                    expr,
                    unit_at,
                    format!(
                        "unexpected {other:?} after the number; errors and late take a count or a percent (1%), rps a plain number"
                    ),
                ))
            }
        }
    };
    Ok(Threshold {
        expr: expr.trim().to_string(),
        scope,
        metric,
        op,
        limit,
        unit,
    })
}

impl Threshold {
    /// Check the scope against the run's functions and classes: an error names what exists.
    pub fn check_scope(&self, functions: &[&str], classes: &[&str]) -> Result<(), String> {
        match &self.scope {
            Scope::All => Ok(()),
            Scope::Function(f) if functions.contains(&f.as_str()) => Ok(()),
            Scope::Class(c) if classes.contains(&c.as_str()) => Ok(()),
            Scope::Function(f) => Err(format!(
                "threshold {:?}: no function {f:?}; functions: {}",
                self.expr,
                functions.join(", ")
            )),
            Scope::Class(c) => Err(format!(
                "threshold {:?}: no node of class {c:?}; classes: {}",
                self.expr,
                classes.join(", ")
            )),
        }
    }

    fn applies(&self, e: &Entry) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Function(f) => &e.function == f,
            Scope::Class(c) => &e.class == c,
        }
    }

    /// The row's value of this metric, in the threshold's unit; `None` when the row has none.
    fn value(&self, e: &Entry) -> Option<f64> {
        let w = e.warm.as_ref();
        let lat = |f: fn(&crate::summary::PercentilesUs) -> f64| {
            w.and_then(|w| w.corrected_us.as_ref()).map(|p| f(p) / 1e3)
        };
        let share = |n: u64, requests: u64| match self.unit {
            Unit::Percent => (requests > 0).then(|| n as f64 * 100.0 / requests as f64),
            _ => Some(n as f64),
        };
        match self.metric {
            Metric::Latency(500) => lat(|p| p.p50),
            Metric::Latency(900) => lat(|p| p.p90),
            Metric::Latency(990) => lat(|p| p.p99),
            Metric::Latency(_) => lat(|p| p.p999),
            Metric::Max => lat(|p| p.max),
            Metric::Mean => lat(|p| p.mean),
            Metric::Errors => w.and_then(|w| share(w.errors.values().sum(), w.requests)),
            Metric::Late => w.and_then(|w| share(w.late_sends, w.requests)),
            Metric::Rps => w.map(|w| w.achieved_rps),
            Metric::ColdP50 => e
                .cold
                .as_ref()
                .and_then(|c| c.first_byte_ms.as_ref())
                .map(|s| s.p50),
            Metric::ColdP90 => e
                .cold
                .as_ref()
                .and_then(|c| c.first_byte_ms.as_ref())
                .map(|s| s.p90),
        }
    }

    fn format(&self, v: f64) -> String {
        match self.unit {
            Unit::Ms => format!("{v:.3} ms"),
            Unit::Percent => format!("{v:.2}%"),
            Unit::Plain => format!("{v:.2}"),
        }
    }
}

/// Thresholds from the command line (`--threshold`), checked against `scenario`'s functions and
/// classes, after the scenario's own; an error names the flag, the expression and the column.
pub fn with_cli(
    scenario: &crate::spec::Scenario,
    exprs: &[String],
) -> Result<Vec<Threshold>, String> {
    let fns: Vec<&str> = scenario.functions.iter().map(|f| f.name.as_str()).collect();
    let classes: Vec<&str> = scenario.nodes.iter().map(|n| n.class.as_str()).collect();
    let mut out = scenario.experiment.thresholds.clone();
    for e in exprs {
        let t = parse(e).map_err(|pe| format!("--threshold: {pe}"))?;
        t.check_scope(&fns, &classes)
            .map_err(|m| format!("--threshold: {m}"))?;
        out.push(t);
    }
    Ok(out)
}

/// The outcome of one threshold on one function × node (or on nothing, when no row had data).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The threshold as written.
    pub threshold: String,
    /// `function on node`, or `no data` when no row in scope had the metric.
    pub row: String,
    /// The measured value with its unit, when there was one.
    pub actual: Option<String>,
    /// Whether the threshold held.
    pub ok: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}{}",
            if self.ok { "ok  " } else { "FAIL" },
            self.threshold,
            self.row,
            self.actual
                .as_ref()
                .map_or_else(String::new, |a| format!(" = {a}"))
        )
    }
}

/// Check every threshold on every function × node in its scope. A threshold whose scope has no
/// row with its metric fails (nothing measured cannot pass).
pub fn check(thresholds: &[Threshold], s: &RunSummary) -> Vec<Verdict> {
    let mut out = Vec::new();
    for t in thresholds {
        let mut any = false;
        for e in s.results.iter().filter(|e| t.applies(e)) {
            let Some(v) = t.value(e) else { continue };
            any = true;
            out.push(Verdict {
                threshold: t.expr.clone(),
                row: format!("{} on {}", e.function, e.node),
                actual: Some(t.format(v)),
                ok: t.op.holds(v, t.limit),
            });
        }
        if !any {
            out.push(Verdict {
                threshold: t.expr.clone(),
                row: "no data in scope".into(),
                actual: None,
                ok: false,
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::summary::{PercentilesUs, WarmSummary};

    #[test]
    fn expressions_parse_with_scope_unit_and_spaces() {
        let t = parse("p99<50ms").unwrap();
        assert_eq!(
            (t.scope.clone(), t.metric, t.op, t.limit, t.unit),
            (Scope::All, Metric::Latency(990), Op::Lt, 50.0, Unit::Ms)
        );
        let t = parse("echo-pi3: p99 <= 0.2 s").unwrap();
        assert_eq!(t.scope, Scope::Function("echo-pi3".into()));
        assert_eq!((t.op, t.limit), (Op::Le, 200.0));
        let t = parse("class=pi3:p50<20ms").unwrap();
        assert_eq!(t.scope, Scope::Class("pi3".into()));
        let t = parse("errors<1%").unwrap();
        assert_eq!(
            (t.metric, t.unit, t.limit),
            (Metric::Errors, Unit::Percent, 1.0)
        );
        let t = parse("rps>=45").unwrap();
        assert_eq!((t.metric, t.op), (Metric::Rps, Op::Ge));
        assert_eq!(parse("p99.9<500us").unwrap().limit, 0.5);
    }

    #[test]
    fn bad_expressions_name_the_expression_and_the_column() {
        let e = parse("p99<<50ms").unwrap_err();
        assert_eq!(e.column, 5);
        assert_eq!(
            e.to_string(),
            "threshold \"p99<<50ms\", column 5: expected a number, e.g. 50ms, 1% or 45"
        );
        assert_eq!(parse("p98<50ms").unwrap_err().column, 1);
        assert!(parse("p98<50ms")
            .unwrap_err()
            .message
            .contains("unknown metric \"p98\""));
        assert_eq!(parse("p99 50ms").unwrap_err().column, 5);
        assert_eq!(parse("p99<50").unwrap_err().column, 7);
        assert_eq!(parse("p99<50 parsecs").unwrap_err().column, 8);
        assert_eq!(parse("class=:p50<1ms").unwrap_err().column, 7);
        assert_eq!(parse("ec ho:p50<1ms").unwrap_err().column, 3);
        assert_eq!(parse("errors<1ms").unwrap_err().column, 9);
        assert_eq!(parse("  ").unwrap_err().column, 3);
    }

    fn entry(function: &str, node: &str, class: &str, p99_us: f64, errors: u64) -> Entry {
        Entry {
            function: function.into(),
            node: node.into(),
            class: class.into(),
            arch: "amd64".into(),
            emulated: false,
            warm: Some(WarmSummary {
                requests: 100,
                ok: 100 - errors,
                errors: [("timeout".to_string(), errors)].into_iter().collect(),
                late_sends: 0,
                target_rps: Some(50.0),
                achieved_rps: 50.0,
                corrected_us: Some(PercentilesUs {
                    p50: p99_us / 2.0,
                    p90: p99_us,
                    p99: p99_us,
                    p999: p99_us,
                    max: p99_us,
                    mean: p99_us / 2.0,
                }),
                uncorrected_us: None,
            }),
            cold: None,
        }
    }

    #[test]
    fn thresholds_are_checked_per_row_in_their_scope() {
        let s = RunSummary {
            format: 1,
            run_id: "r".into(),
            scenario_hash: String::new(),
            status: "complete".into(),
            emulated: false,
            torn_tail: false,
            trace: None,
            results: vec![
                entry("echo-vps", "vps-1", "vps", 2_000.0, 0),
                entry("echo-pi3", "pi3-1", "pi3", 80_000.0, 2),
            ],
        };
        let ts: Vec<Threshold> = [
            "p99<50ms",
            "echo-pi3:p99<100ms",
            "class=vps:errors<1%",
            "errors<1%",
            "class=pi4:p50<1ms",
        ]
        .iter()
        .map(|e| parse(e).unwrap())
        .collect();
        let v = check(&ts, &s);
        let got: Vec<(String, bool)> = v.iter().map(|v| (v.to_string(), v.ok)).collect();
        assert_eq!(
            got,
            [
                (
                    "ok   p99<50ms: echo-vps on vps-1 = 2.000 ms".to_string(),
                    true
                ),
                (
                    "FAIL p99<50ms: echo-pi3 on pi3-1 = 80.000 ms".to_string(),
                    false
                ),
                (
                    "ok   echo-pi3:p99<100ms: echo-pi3 on pi3-1 = 80.000 ms".to_string(),
                    true
                ),
                (
                    "ok   class=vps:errors<1%: echo-vps on vps-1 = 0.00%".to_string(),
                    true
                ),
                (
                    "ok   errors<1%: echo-vps on vps-1 = 0.00%".to_string(),
                    true
                ),
                (
                    "FAIL errors<1%: echo-pi3 on pi3-1 = 2.00%".to_string(),
                    false
                ),
                (
                    "FAIL class=pi4:p50<1ms: no data in scope".to_string(),
                    false
                ),
            ]
        );
    }

    #[test]
    fn scopes_are_checked_against_the_scenario() {
        let t = parse("echo-pi5:p99<1ms").unwrap();
        let e = t.check_scope(&["echo-pi3"], &["pi3"]).unwrap_err();
        assert!(
            e.contains("no function \"echo-pi5\"; functions: echo-pi3"),
            "{e}"
        );
        assert!(parse("class=pi3:p99<1ms")
            .unwrap()
            .check_scope(&[], &["pi3"])
            .is_ok());
    }
}
