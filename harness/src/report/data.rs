//! The one model of a run: [`ReportData`], read once from a run directory. Every number any
//! output prints comes from it: summary.json, the console table, `--export-*` files and
//! thresholds read its function × node [`ReportData::results`]; report.md/html, summary.csv and
//! plots read its workload × class groups and [`Tables`]; `compare` reads its groups. Samples are
//! grouped by workload × node class (and counted per function × node) in one pass over
//! `samples.jsonl`, the HdrHistogram logs merged per group. Nothing here formats output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use hdrhistogram::Histogram;

use super::requests::{RequestCounts, RequestRow};
use super::tables::{self, Tables};
use super::ReportError;
use crate::measure::cold::ColdSample;
use crate::measure::record::Phase;
use crate::store::manifest::RunManifest;
use crate::store::samples::{self, View, WarmView};
use crate::store::{files, hlog, RunStore, StoreError};

/// One measured warm request, reduced to what reports need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmPoint {
    /// Intended send time, seconds since the first intended send of the function.
    pub t_s: f64,
    /// Corrected latency (intended send → end), ms.
    pub corrected_ms: f64,
    /// Uncorrected latency (actual send → end), ms.
    pub uncorrected_ms: f64,
    /// Whether the request failed.
    pub error: bool,
}

/// Everything measured for one workload on one node class.
#[derive(Debug, Clone)]
pub struct Group {
    /// Workload: the function's source, plus its path when that is not `/`.
    pub workload: String,
    /// Node class.
    pub class: String,
    /// Whether every node of the class was emulated.
    pub emulated: bool,
    /// Functions that ran this workload on this class.
    pub functions: BTreeSet<String>,
    /// Measured warm requests with their function, in file order.
    pub warm: Vec<(Arc<str>, WarmPoint)>,
    /// Cold samples (verified and not).
    pub cold: Vec<ColdSample>,
    /// Merged HdrHistogram logs (ns): corrected and uncorrected, when logs exist.
    pub hdr: Option<(Histogram<u64>, Histogram<u64>)>,
}

impl Group {
    /// Class name with "(emulated)" appended for emulated classes.
    pub fn class_label(&self) -> String {
        class_label(&self.class, self.emulated)
    }

    /// Corrected latencies of successful measured requests, ms.
    pub fn warm_ok_ms(&self) -> Vec<f64> {
        self.warm
            .iter()
            .filter(|(_, p)| !p.error)
            .map(|(_, p)| p.corrected_ms)
            .collect()
    }

    /// Time to first byte of verified cold starts, ms.
    pub fn cold_verified_ms(&self) -> Vec<f64> {
        self.cold
            .iter()
            .filter(|c| c.verified)
            .map(|c| c.first_byte_ns as f64 / 1e6)
            .collect()
    }
}

/// `class` or `class (emulated)`.
pub fn class_label(class: &str, emulated: bool) -> String {
    if emulated {
        format!("{class} (emulated)")
    } else {
        class.to_string()
    }
}

/// A run read from its store, with its tables computed.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Provenance (`run.json`).
    pub manifest: RunManifest,
    /// Groups sorted by workload, then class.
    pub groups: Vec<Group>,
    /// Computed statistics.
    pub tables: Tables,
    /// Measured warm requests per function × node (errors by kind, late sends, rate).
    pub requests: Vec<RequestRow>,
    /// Replica crashes and restarts (`events.jsonl`).
    pub events: Vec<crate::store::events::ReplicaEvent>,
    /// Per function × node, sorted: what summary.json, the console table, exports and
    /// thresholds print (see [`super::per_node`]).
    pub results: Vec<crate::report::rows::Entry>,
    /// A torn last line of samples.jsonl was skipped (the run crashed mid-write).
    pub torn_tail: bool,
    /// Chain functions' end-to-end latency split per hop and link (empty without chains).
    pub chains: Vec<super::chain::ChainRow>,
    /// The calibration the run applied (the report's fidelity section), or why none did.
    pub fidelity: super::fidelity::Fidelity,
    /// The trace replay, when the run replayed one (`trace-plan.json`, `trace.jsonl`).
    pub trace: Option<super::trace::TraceReport>,
}

impl ReportData {
    /// Workloads, sorted.
    pub fn workloads(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.groups.iter().map(|g| &g.workload).collect();
        set.into_iter().cloned().collect()
    }

    /// Functions with warm samples, sorted.
    pub fn warm_functions(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .groups
            .iter()
            .flat_map(|g| g.warm.iter().map(|(f, _)| &**f))
            .collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// The group of `workload` on `class`.
    pub fn group(&self, workload: &str, class: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.workload == workload && g.class == class)
    }
}

/// Workload name of each function in the manifest's scenario.
fn workloads(m: &RunManifest) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let fns = m.scenario.get("functions").and_then(|f| f.as_array());
    for f in fns.into_iter().flatten() {
        let s = |k: &str| f.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let (Some(name), Some(source)) = (s("name"), s("source")) else {
            continue;
        };
        // A Go function keeps the bare source as its workload; another runtime is named in it,
        // so Go and Python twins of one source never share a group.
        let source = match s("runtime").as_deref() {
            None | Some("go") => source,
            Some(r) => format!("{source} ({r})"),
        };
        let w = match s("path").as_deref() {
            None | Some("/") | Some("") => source,
            Some(p) => format!("{source} {p}"),
        };
        out.insert(name, w);
    }
    out
}

struct Acc<'m> {
    /// Groups in the order first met; `index` finds one by (workload, class).
    groups: Vec<Group>,
    index: BTreeMap<(String, String), usize>,
    nodes: &'m BTreeMap<String, (String, bool)>,
    workloads: &'m BTreeMap<String, String>,
    /// Per function: its shared name, its earliest measured intended send (ns), and the nodes
    /// that answered it.
    functions: BTreeMap<String, WarmFunction>,
    /// Hops of chain functions' successful measured requests.
    chains: super::chain::ChainAcc,
}

/// What [`Acc`] keeps per function while reading warm samples.
struct WarmFunction {
    name: Arc<str>,
    t0_ns: u64,
    /// Node → index of its group in `Acc::groups`.
    nodes: BTreeMap<String, usize>,
    /// Node (`""`: unknown) → request counters and latencies.
    counts: BTreeMap<String, NodeWarm>,
}

/// The measured warm requests of one function on one node.
#[derive(Debug, Clone, Default)]
pub(super) struct NodeWarm {
    /// Counters.
    pub counts: RequestCounts,
    /// Corrected latency of each successful request, ms, in file order.
    pub corrected_ms: Vec<f64>,
    /// Uncorrected latency of each successful request, ms, in file order.
    pub uncorrected_ms: Vec<f64>,
}

impl NodeWarm {
    fn observe(&mut self, s: &WarmView<'_>) {
        self.counts.observe(s);
        if s.error.is_none() {
            self.corrected_ms.push(s.corrected_ns() as f64 / 1e6);
            self.uncorrected_ms.push(s.uncorrected_ns() as f64 / 1e6);
        }
    }

    fn append(&mut self, later: NodeWarm) {
        self.counts.merge(&later.counts);
        self.corrected_ms.extend(later.corrected_ms);
        self.uncorrected_ms.extend(later.uncorrected_ms);
    }
}

impl<'m> Acc<'m> {
    fn new(
        nodes: &'m BTreeMap<String, (String, bool)>,
        workloads: &'m BTreeMap<String, String>,
    ) -> Self {
        Acc {
            groups: Vec::new(),
            index: BTreeMap::new(),
            nodes,
            workloads,
            functions: BTreeMap::new(),
            chains: Default::default(),
        }
    }

    /// One sample of `samples.jsonl`.
    fn view(&mut self, v: View<'_>) {
        match v {
            View::Warm(s) if s.phase == Phase::Measure => {
                if let (Some(h), None) = (s.hops, s.error) {
                    self.chains.observe(s.function, s.uncorrected_ns(), h);
                }
                self.warm(&s)
            }
            View::Warm(_) => {}
            View::Cold(c) => {
                let i = self.group(&c.function, c.node.as_deref());
                self.groups[i].cold.push(c);
            }
        }
    }

    /// Append what `later` read (the next part of the file) after what this one read.
    fn append(&mut self, later: Acc<'m>) {
        self.chains.append(later.chains);
        let mut moved = Vec::with_capacity(later.groups.len());
        for g in later.groups {
            let key = (g.workload.clone(), g.class.clone());
            match self.index.get(&key) {
                Some(&i) => {
                    let mine = &mut self.groups[i];
                    mine.functions.extend(g.functions);
                    mine.warm.extend(g.warm);
                    mine.cold.extend(g.cold);
                    moved.push(i);
                }
                None => {
                    self.index.insert(key, self.groups.len());
                    moved.push(self.groups.len());
                    self.groups.push(g);
                }
            }
        }
        for (name, mut f) in later.functions {
            for i in f.nodes.values_mut() {
                *i = moved[*i];
            }
            match self.functions.entry(name) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(f);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    let mine = e.get_mut();
                    mine.t0_ns = mine.t0_ns.min(f.t0_ns);
                    mine.nodes.extend(f.nodes);
                    for (node, w) in f.counts {
                        mine.counts.entry(node).or_default().append(w);
                    }
                }
            }
        }
    }

    /// Add one measured warm sample; allocates only for the first sample of a function × node.
    fn warm(&mut self, s: &WarmView<'_>) {
        let node = s.attributed_node().unwrap_or("");
        let known = self
            .functions
            .get(s.function)
            .and_then(|f| f.nodes.get(node))
            .copied();
        let i = match known {
            Some(i) => i,
            None => {
                let i = self.group(s.function, s.attributed_node());
                self.functions
                    .entry(s.function.to_string())
                    .or_insert_with(|| WarmFunction {
                        name: Arc::from(s.function),
                        t0_ns: s.intended_ns,
                        nodes: BTreeMap::new(),
                        counts: BTreeMap::new(),
                    })
                    .nodes
                    .insert(node.to_string(), i);
                i
            }
        };
        let Some(f) = self.functions.get_mut(s.function) else {
            return;
        };
        f.t0_ns = f.t0_ns.min(s.intended_ns);
        match f.counts.get_mut(node) {
            Some(w) => w.observe(s),
            None => {
                let mut w = NodeWarm::default();
                w.observe(s);
                f.counts.insert(node.to_string(), w);
            }
        }
        // `t_s` holds the raw intended ns until every sample is read (rebased in `read`).
        let p = WarmPoint {
            t_s: s.intended_ns as f64,
            corrected_ms: s.corrected_ns() as f64 / 1e6,
            uncorrected_ms: s.uncorrected_ns() as f64 / 1e6,
            error: s.error.is_some(),
        };
        self.groups[i].warm.push((f.name.clone(), p));
    }

    /// The index of the group of `function` on `node`, made on first use.
    fn group(&mut self, function: &str, node: Option<&str>) -> usize {
        let (class, emulated) = node
            .and_then(|n| self.nodes.get(n).cloned())
            .unwrap_or_else(|| ("unknown".into(), false));
        let workload = self
            .workloads
            .get(function)
            .cloned()
            .unwrap_or_else(|| function.to_string());
        let next = self.groups.len();
        let i = *self
            .index
            .entry((workload.clone(), class.clone()))
            .or_insert(next);
        if i == next {
            self.groups.push(Group {
                workload,
                class,
                emulated,
                functions: BTreeSet::new(),
                warm: Vec::new(),
                cold: Vec::new(),
                hdr: None,
            });
        }
        let g = &mut self.groups[i];
        if !g.functions.contains(function) {
            g.functions.insert(function.to_string());
        }
        i
    }
}

/// Read the run in `run_dir` (`run.json`, `samples.jsonl`, `hdr/*.hlog`) and compute its tables.
pub fn load(run_dir: &Path) -> Result<ReportData, ReportError> {
    let mut d = read(run_dir)?;
    d.tables = tables::compute(&d.manifest, &d.groups)?;
    Ok(d)
}

/// Files larger than this (bytes) are read on every core.
const PARALLEL_READ_BYTES: u64 = 8 << 20;

/// Read the run in `run_dir` without computing tables (`tables` stays empty).
pub fn read(run_dir: &Path) -> Result<ReportData, ReportError> {
    read_store(run_dir).map_err(|source| ReportError::Store {
        dir: run_dir.to_path_buf(),
        source,
    })
}

/// [`read`], failing with the store's own error.
pub fn read_store(run_dir: &Path) -> Result<ReportData, StoreError> {
    read_in_parts(run_dir, None)
}

impl ReportData {
    /// Compute the tables of a model that was [`read`] without them.
    pub fn with_tables(mut self) -> Result<ReportData, ReportError> {
        self.tables = tables::compute(&self.manifest, &self.groups)?;
        Ok(self)
    }
}

/// [`read`], with `samples.jsonl` read in `parts` parts (`None`: one per core for a large file).
fn read_in_parts(run_dir: &Path, parts: Option<usize>) -> Result<ReportData, StoreError> {
    let store = RunStore::open(run_dir);
    let manifest: RunManifest = store.read_json(files::RUN)?;
    let nodes: BTreeMap<String, (String, bool)> = manifest
        .nodes
        .iter()
        .map(|n| (n.name.clone(), (n.class.clone(), n.emulated)))
        .collect();
    let workloads = workloads(&manifest);
    let mut acc = Acc::new(&nodes, &workloads);
    let mut torn_tail = false;
    let path = store.path(files::SAMPLES);
    if path.exists() {
        // Parsing dominates a large run's report: one part per core, appended in file order.
        let big = path.metadata().map_or(0, |m| m.len()) > PARALLEL_READ_BYTES;
        let parts = parts.unwrap_or(if big {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        });
        let (read, stats) = samples::read_views_parallel(
            &path,
            parts,
            || Acc::new(&nodes, &workloads),
            |a, v| a.view(v),
        )?;
        torn_tail = stats.torn_tail;
        for part in read {
            acc.append(part);
        }
    }
    // Rebase intended send times on each function's earliest measured send, in seconds.
    for g in &mut acc.groups {
        for (f, p) in &mut g.warm {
            let t0 = acc.functions.get(&**f).map_or(0, |w| w.t0_ns) as f64;
            p.t_s = (p.t_s - t0) / 1e9;
        }
    }
    let pairs: Vec<(String, String)> = acc
        .functions
        .iter()
        .flat_map(|(f, w)| w.nodes.keys().map(move |n| (f.clone(), n.clone())))
        .filter(|(_, n)| !n.is_empty())
        .collect();
    for (function, node) in &pairs {
        let path = store.hlog_path(function, node);
        if !path.exists() {
            continue;
        }
        let logged = hlog::read(&path)?;
        let i = acc.group(function, Some(node));
        merge_hdr(&mut acc.groups[i], logged);
    }
    let mut groups = acc.groups;
    groups.sort_by(|a, b| (&a.workload, &a.class).cmp(&(&b.workload, &b.class)));
    let requests = acc
        .functions
        .iter()
        .flat_map(|(f, w)| {
            w.counts.iter().map(|(node, nw)| {
                let (node, class) = match nodes.get(node) {
                    Some((class, emulated)) => (node.clone(), class_label(class, *emulated)),
                    None if node.is_empty() => (
                        crate::report::rows::UNKNOWN_NODE.to_string(),
                        "unknown".into(),
                    ),
                    None => (node.clone(), "unknown".into()),
                };
                RequestRow {
                    function: f.clone(),
                    node,
                    class,
                    counts: nw.counts.clone(),
                }
            })
        })
        .collect();
    let events = crate::store::events::read(&store.path(files::EVENTS))?.0;
    let warm = acc
        .functions
        .into_iter()
        .flat_map(|(f, w)| {
            w.counts
                .into_iter()
                .map(move |(n, nw)| ((f.clone(), n), nw))
        })
        .collect();
    let results = super::per_node::entries(&manifest, warm, &groups);
    let trace = super::trace::read(run_dir)?;
    Ok(ReportData {
        trace,
        manifest,
        groups,
        tables: Tables::default(),
        requests,
        events,
        results,
        torn_tail,
        chains: acc.chains.rows(),
        fidelity: super::fidelity::read(run_dir),
    })
}

fn merge_hdr(g: &mut Group, logged: Vec<(String, Histogram<u64>)>) {
    for (tag, h) in logged {
        let slot = match &mut g.hdr {
            Some(pair) => pair,
            None => {
                let empty = Histogram::new_from(&h);
                g.hdr.insert((empty.clone(), empty))
            }
        };
        let target = if tag == "uncorrected" {
            &mut slot.1
        } else {
            &mut slot.0
        };
        // Histograms of one run share bounds, so adding cannot fail; a mismatch drops the log.
        let _ = target.add(&h);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    /// The function × node rows (summary.json, console, exports, thresholds) and the workload ×
    /// class tables (report.md, summary.csv) come from one read: where a group holds one
    /// function on one node, both give the same counts and the same percentiles.
    #[test]
    fn per_node_rows_and_class_tables_agree_where_they_describe_the_same_samples() {
        let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs/quick-local");
        let d = load(&run).unwrap();
        assert!(!d.results.is_empty());
        let mut checked = 0;
        for e in &d.results {
            let Some(w) = &e.warm else { continue };
            let label = class_label(&e.class, e.emulated);
            let nodes_of_function = d
                .results
                .iter()
                .filter(|o| o.function == e.function)
                .count();
            let Some(g) = d
                .groups
                .iter()
                .find(|g| g.functions.contains(&e.function) && g.class == e.class)
            else {
                panic!("{} on {}: no group", e.function, e.node);
            };
            if nodes_of_function != 1 || g.functions.len() != 1 {
                continue;
            }
            let (row, _) = d.tables.rows_of(&g.workload, &label);
            let row = row.unwrap();
            assert_eq!(row.requests as u64, w.requests, "{}", e.function);
            assert_eq!(row.errors as u64, w.requests - w.ok, "{}", e.function);
            let (p, t) = (
                w.corrected_us.as_ref().unwrap(),
                row.stats.as_ref().unwrap(),
            );
            let same = |us: f64, ms: f64| (us / 1e3 - ms).abs() <= 1e-9 * ms.abs();
            assert!(same(p.p50, t.p50), "{}: {} vs {}", e.function, p.p50, t.p50);
            assert!(same(p.p99, t.p99), "{}: {} vs {}", e.function, p.p99, t.p99);
            checked += 1;
        }
        assert!(checked > 0);
    }

    #[test]
    fn reading_in_parts_gives_what_reading_in_one_gives() {
        let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs/quick-local");
        let one = read_in_parts(&run, Some(1)).unwrap();
        for parts in [2, 3, 7] {
            let many = read_in_parts(&run, Some(parts)).unwrap();
            assert_eq!(one.groups.len(), many.groups.len());
            for (a, b) in one.groups.iter().zip(&many.groups) {
                assert_eq!(
                    (&a.workload, &a.class, &a.functions),
                    (&b.workload, &b.class, &b.functions)
                );
                assert_eq!(
                    a.warm, b.warm,
                    "{parts} parts: {} on {}",
                    a.workload, a.class
                );
                assert_eq!(a.cold, b.cold);
                assert_eq!(a.hdr.is_some(), b.hdr.is_some());
            }
        }
    }
}
