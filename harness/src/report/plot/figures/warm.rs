//! Warm-latency figures of one workload: (a) the percentile spectrum and (b) the CDF.

use super::*;
use crate::report::data::ReportData;

/// (a) Latency percentile spectrum of one workload from the HdrHistogram logs: one line per
/// class, corrected solid and uncorrected dashed, x = log10(1/(1-q)) labelled as percentiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// Title.
    pub title: String,
    /// Lines (y in ms).
    pub series: Vec<Series>,
    /// Right end of the x axis, log10(1/(1-q)): the highest cap of any line.
    pub x_max: f64,
    /// Says where the lines stop when the sample counts do not reach [`SPECTRUM_MAX_X`].
    pub tail_note: Option<String>,
}

impl Spectrum {
    /// Prepare from the groups of `workload` that have logs; `None` when none do.
    pub fn new(d: &ReportData, workload: &str) -> Option<Spectrum> {
        let groups: Vec<&Group> = d
            .groups
            .iter()
            .filter(|g| g.workload == workload && g.hdr.is_some())
            .collect();
        let mut series = Vec::new();
        let mut x_max: f64 = 0.0;
        let mut smallest_n = u64::MAX;
        for g in &groups {
            let Some((c, u)) = &g.hdr else { continue };
            for (h, dashed, what) in [(c, false, "corrected"), (u, true, "uncorrected")] {
                if h.is_empty() {
                    continue;
                }
                let cap = spectrum_cap(h.len());
                x_max = x_max.max(cap);
                smallest_n = smallest_n.min(h.len());
                let steps = (cap * 50.0).floor() as usize;
                let points = (0..=steps)
                    .map(|i| i as f64 / 50.0)
                    .chain((cap > steps as f64 / 50.0).then_some(cap))
                    .map(|x| {
                        let q = 1.0 - 10f64.powf(-x);
                        (x, h.value_at_quantile(q) as f64 / 1e6)
                    })
                    .collect();
                series.push(Series {
                    label: format!("{} {what}", g.class_label()),
                    color: class_color(&g.class),
                    dashed,
                    points,
                });
            }
        }
        (!series.is_empty()).then(|| Spectrum {
            title: format!(
                "{workload}: warm latency by percentile ({})",
                classes_title(&groups)
            ),
            series,
            x_max: x_max.max(0.5),
            tail_note: (x_max < SPECTRUM_MAX_X).then(|| {
                format!(
                    "each line ends at 1 − 1/n of its n samples (n = {smallest_n}: {})",
                    percentile_label(spectrum_cap(smallest_n))
                )
            }),
        })
    }
}

impl Figure for Spectrum {
    fn title(&self) -> &str {
        &self.title
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let desc = match &self.tail_note {
            Some(n) => format!("percentile (log scale of 1/(1-q)); {n}"),
            None => "percentile (log scale of 1/(1-q))".to_string(),
        };
        let axes = Axes {
            x_desc: &desc,
            y_desc: "latency (ms)",
            x: 0.0..self.x_max,
            x_labels: self.x_max.floor() as usize + 1,
            x_fmt: &|x| percentile_label(*x),
            marks: &[(2f64.log10(), "50%".to_string())],
        };
        draw_lines(root, &self.title, &axes, &self.series)
    }
}

/// (b) Warm latency CDF of one workload, one line per class (corrected latency of successes).
#[derive(Debug, Clone, PartialEq)]
pub struct Cdf {
    /// Title.
    pub title: String,
    /// Lines: x = latency ms, y = cumulative %.
    pub series: Vec<Series>,
    /// Right end of the x axis, ms.
    pub x_max: f64,
}

impl Cdf {
    /// Prepare from the warm samples of `workload`; `None` without successful requests.
    pub fn new(d: &ReportData, workload: &str) -> Option<Cdf> {
        let groups: Vec<&Group> = d
            .groups
            .iter()
            .filter(|g| g.workload == workload && g.warm.iter().any(|(_, p)| !p.error))
            .collect();
        let mut series = Vec::new();
        let mut x_max: f64 = 0.0;
        for g in &groups {
            let mut v = g.warm_ok_ms();
            v.sort_unstable_by(f64::total_cmp);
            let n = v.len();
            let points = (0..=CDF_POINTS)
                .map(|i| {
                    let q = i as f64 / CDF_POINTS as f64;
                    let idx = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
                    (v[idx], q * 100.0)
                })
                .collect();
            x_max = x_max.max(v[((0.999 * n as f64) as usize).min(n - 1)]);
            series.push(Series {
                label: g.class_label(),
                color: class_color(&g.class),
                dashed: false,
                points,
            });
        }
        (!series.is_empty()).then(|| Cdf {
            title: format!(
                "{workload}: warm latency CDF ({}; x to p99.9)",
                classes_title(&groups)
            ),
            series,
            x_max: x_max.max(1e-3) * 1.05,
        })
    }
}

impl Figure for Cdf {
    fn title(&self) -> &str {
        &self.title
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let axes = Axes {
            x_desc: "corrected latency (ms)",
            y_desc: "requests (%)",
            x: 0.0..self.x_max,
            x_labels: 10,
            x_fmt: &|x| format!("{x:.1}"),
            marks: &[],
        };
        draw_lines(root, &self.title, &axes, &self.series)
    }
}
