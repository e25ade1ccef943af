//! Node labels through the kube API: read every node, decide its labels with
//! [`label::desired_labels`] (the scenario's for the nodes it names, the rule table's class for
//! the others) and patch only what a node lacks. `faasbed label` and the cluster platforms' `up`
//! both use it.

use std::fmt::Write as _;

use super::api::{Kube, KubeError};
use super::error::KubePlatformError;
use super::label::{self, LabelChange, LabelError, Rule};
use super::parse::NodeFacts;
use crate::spec::Scenario;

/// What labelling decided for one node.
#[derive(Debug)]
pub struct NodeLabels {
    /// Node name.
    pub node: String,
    /// Does the scenario name this node?
    pub in_scenario: bool,
    /// Its class and the rule that decided it (`None` when no rule applies).
    pub class: Option<(String, Rule)>,
    /// Labels to set (empty: up to date, or undecided).
    pub changes: Vec<LabelChange>,
    /// Why nothing could be decided.
    pub problem: Option<LabelError>,
}

/// Decide every node's labels (pure): `scenario` names nodes by their Kubernetes name.
pub fn decide_for(nodes: &[NodeFacts], scenario: Option<&Scenario>) -> Vec<NodeLabels> {
    nodes
        .iter()
        .map(|facts| {
            let named = scenario.and_then(|s| s.node(&facts.name));
            let mut row = NodeLabels {
                node: facts.name.clone(),
                in_scenario: named.is_some(),
                class: None,
                changes: Vec::new(),
                problem: None,
            };
            match label::desired_labels(facts, named) {
                Ok((c, wanted)) => {
                    row.class = Some((c.class, c.rule));
                    row.changes = label::changes(facts, &wanted);
                }
                Err(e) => row.problem = Some(e),
            }
            row
        })
        .collect()
}

/// Read the nodes and decide their labels.
pub async fn decide(
    kube: &Kube,
    scenario: Option<&Scenario>,
) -> Result<Vec<NodeLabels>, KubeError> {
    Ok(decide_for(&kube.node_facts().await?, scenario))
}

/// Patch every node that has changes (one merge patch per node); returns how many were patched.
pub async fn apply(kube: &Kube, rows: &[NodeLabels]) -> Result<usize, KubeError> {
    let mut patched = 0;
    for r in rows.iter().filter(|r| !r.changes.is_empty()) {
        let labels = r
            .changes
            .iter()
            .map(|c| (c.key.clone(), c.value.clone()))
            .collect();
        kube.label_node(&r.node, &labels).await?;
        patched += 1;
    }
    Ok(patched)
}

/// A cluster platform's labelling in `up`: every node the scenario names must be labellable (else the
/// first problem is the error); nodes it does not name get the rule table's class when one
/// matches and are left alone otherwise.
pub async fn apply_scenario_labels(
    kube: &Kube,
    scenario: &Scenario,
) -> Result<Vec<NodeLabels>, KubePlatformError> {
    crate::dryrun::check(
        "label::auto_label per node: the scenario's labels for the nodes it names, the rule \
         table's class for the others; only labels a node lacks are patched",
    );
    let mut rows = decide(kube, Some(scenario)).await?;
    if let Some(e) = rows
        .iter_mut()
        .filter(|r| r.in_scenario)
        .find_map(|r| r.problem.take())
    {
        return Err(e.into());
    }
    apply(kube, &rows).await?;
    Ok(rows)
}

fn rule_name(r: Rule) -> &'static str {
    match r {
        Rule::Amd64IsVps => "1 amd64",
        Rule::SmallArmIsPi3 => "2 small arm",
        Rule::MidArmIsPi4 => "3 mid arm",
        Rule::Scenario => "scenario",
    }
}

/// The decisions as a table: one line per label change, or one line per node without any.
pub fn table(rows: &[NodeLabels]) -> String {
    let mut out = format!(
        "{:<20} {:<6} {:<12} {}\n",
        "NODE", "CLASS", "RULE", "CHANGE"
    );
    for r in rows {
        let (class, rule) = r
            .class
            .as_ref()
            .map_or(("-", "-"), |(c, rule)| (c.as_str(), rule_name(*rule)));
        let mut line = |what: String| {
            let _ = writeln!(out, "{:<20} {:<6} {:<12} {what}", r.node, class, rule);
        };
        if let Some(p) = &r.problem {
            line(format!("none: {p}"));
        } else if r.changes.is_empty() {
            line("up to date".into());
        }
        for c in &r.changes {
            line(match &c.previous {
                Some(old) => format!("{}={} (was {old})", c.key, c.value),
                None => format!("{}={} (new)", c.key, c.value),
            });
        }
    }
    out
}
