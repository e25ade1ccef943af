//! `[experiment.thresholds]`: scope = list of threshold expressions (see [`crate::thresholds`]).
//! The key `all` applies to every function × node; any other key is a function name or
//! `class=NAME`, and its expressions must not name a scope of their own.
//!
//! ```toml
//! [experiment.thresholds]
//! all = ["errors<1%"]
//! echo-pi3 = ["p99<200ms"]
//! "class=vps" = ["p50<5ms"]
//! ```

use std::collections::BTreeMap;

use toml::Spanned;

use super::{Cx, R};
use crate::spec::{Function, Node};
use crate::thresholds::{self, Scope, Threshold};

impl crate::spec::Scenario {
    /// The scenario's thresholds followed by those of the command line (`--threshold`), each
    /// checked against the scenario's functions and classes; an error names the flag, the
    /// expression and the column.
    pub fn thresholds_with_cli(&self, exprs: &[String]) -> Result<Vec<Threshold>, String> {
        let fns: Vec<&str> = self.functions.iter().map(|f| f.name.as_str()).collect();
        let classes: Vec<&str> = self.nodes.iter().map(|n| n.class.as_str()).collect();
        let mut out = self.experiment.thresholds.clone();
        for e in exprs {
            let t = thresholds::parse(e).map_err(|pe| format!("--threshold: {pe}"))?;
            t.check_scope(&fns, &classes)
                .map_err(|m| format!("--threshold: {m}"))?;
            out.push(t);
        }
        Ok(out)
    }
}

/// The checked thresholds, in file order of their keys.
pub(super) fn thresholds(
    cx: &Cx,
    raw: &BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    nodes: &[Node],
    functions: &[Function],
) -> R<Vec<Threshold>> {
    let fns: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
    let mut classes: Vec<&str> = nodes.iter().map(|n| n.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    let mut out = Vec::new();
    for (key, exprs) in raw {
        let field = format!("experiment.thresholds.{}", key.get_ref());
        let keyed = match key.get_ref().as_str() {
            "all" => Scope::All,
            k => {
                let probe = thresholds::parse(&format!("{k}:p50<1ms")).map_err(|_| {
                    cx.err(
                        key.span(),
                        &field,
                        "a key is `all`, a function name, or \"class=NAME\"",
                    )
                })?;
                probe.scope
            }
        };
        for e in exprs {
            // The string's characters start one byte after its opening quote.
            let at = |offset: usize| e.span().start + 1 + offset..e.span().end;
            let mut t = thresholds::parse(e.get_ref())
                .map_err(|pe| cx.err(at(pe.offset), &field, pe.to_string()))?;
            if keyed != Scope::All {
                if t.scope != Scope::All {
                    return Err(cx.err(
                        at(0),
                        &field,
                        format!(
                            "threshold {:?} names a scope under a key that already names one; put it under `all`",
                            e.get_ref()
                        ),
                    ));
                }
                t.scope = keyed.clone();
                t.expr = format!("{}:{}", key.get_ref(), t.expr);
            }
            t.check_scope(&fns, &classes)
                .map_err(|m| cx.err(key.span(), &field, m))?;
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use std::path::Path;

    const BASE: &str = "[[node]]\nname = \"vps-1\"\nclass = \"vps\"\n\n[[function]]\nname = \"echo-vps\"\nsource = \"echo\"\n\n[experiment.thresholds]\n";

    fn p(extra: &str) -> Result<crate::spec::Scenario, String> {
        super::super::parse(&format!("{BASE}{extra}"), Path::new("s.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn scenario_thresholds_take_their_key_as_scope() {
        let s = p(
            "all = [\"errors<1%\"]\necho-vps = [\"p99<200ms\"]\n\"class=vps\" = [\"p50 < 5ms\"]\n",
        )
        .unwrap();
        let exprs: Vec<&str> = s
            .experiment
            .thresholds
            .iter()
            .map(|t| t.expr.as_str())
            .collect();
        assert_eq!(
            exprs,
            ["errors<1%", "class=vps:p50 < 5ms", "echo-vps:p99<200ms"]
        );
    }

    #[test]
    fn a_bad_scenario_threshold_names_file_line_column_and_expression() {
        // Line 10 of the file; the second `<` sits at column 13 (the string opens at 8).
        let e = p("all = [\"p99<<50ms\"]\n").unwrap_err();
        assert_eq!(
            e,
            "s.toml:10:13: experiment.thresholds.all: threshold \"p99<<50ms\", column 5: expected a number, e.g. 50ms, 1% or 45"
        );
        let e = p("echo-pi9 = [\"p99<1ms\"]\n").unwrap_err();
        assert!(e.contains("no function \"echo-pi9\""), "{e}");
        let e = p("echo-vps = [\"class=vps:p99<1ms\"]\n").unwrap_err();
        assert!(e.contains("put it under `all`"), "{e}");
    }
}
