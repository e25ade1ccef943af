//! Cold-start figures: (c) verified cold starts per workload × class and (d) their phases.

use super::*;
use crate::measure::cold::PHASES;
use crate::report::data::ReportData;
use crate::report::tables::phase_medians;

/// (c) Verified cold starts per workload × class as a strip plot with the median marked.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdStrip {
    /// Title.
    pub title: String,
    /// Per column: label, colour, values (ms).
    pub columns: Vec<(String, usize, Vec<f64>)>,
    /// Log y axis: the values span more than [`LOG_AXIS_SPAN`] (the VPS would be flattened).
    pub log: bool,
}

impl ColdStrip {
    /// Prepare from every group with a verified cold start.
    pub fn new(d: &ReportData) -> Option<ColdStrip> {
        let columns: Vec<_> = d
            .groups
            .iter()
            .map(|g| {
                (
                    short_label(&g.workload, &g.class, g.emulated),
                    class_color(&g.class),
                    g.cold_verified_ms(),
                )
            })
            .filter(|c| !c.2.is_empty())
            .collect();
        let emulated = d.groups.iter().any(|g| g.emulated && !g.cold.is_empty());
        let all = || {
            columns
                .iter()
                .flat_map(|c: &(String, usize, Vec<f64>)| c.2.iter().copied())
        };
        let lo = all().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        let hi = all().fold(0.0, f64::max);
        let log = lo.is_finite() && hi / lo > LOG_AXIS_SPAN;
        (!columns.is_empty()).then(|| ColdStrip {
            title: format!(
                "Cold starts, time to first byte (verified{}){}",
                if log { "; log axis" } else { "" },
                if emulated {
                    "; * = emulated (QEMU)"
                } else {
                    ""
                }
            ),
            columns,
            log,
        })
    }
}

/// Chart coordinates of a column chart: one column per label at x = 0, 1, ...; y as `Y`.
type Columns<'a, DB, Y> =
    ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

/// A value in ms as a tick label: `20`, `150`, `1.5`, `0.25`.
fn ms_label(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A white column chart titled `title` with one labelled column per entry of `labels`
/// (x axis "workload · class") and the y axis `y` (linear or log), described as `y_desc`.
fn column_chart<'a, DB, Y>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    labels: &[String],
    y: Y,
    y_desc: &str,
) -> Result<Columns<'a, DB, Y::CoordDescType>, String>
where
    DB: DrawingBackend,
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    Y::CoordDescType: plotters::coord::ranged1d::Ranged<ValueType = f64>
        + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    root.fill(&WHITE).map_err(err)?;
    let n = labels.len() as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5..n - 0.5, y)
        .map_err(err)?;
    let fmt = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len().max(1) * 4 + 1)
        .x_label_formatter(&fmt)
        .y_label_formatter(&|v: &f64| ms_label(*v))
        .label_style(("sans-serif", LABEL_PX))
        .axis_desc_style(("sans-serif", DESC_PX))
        .x_label_style(("sans-serif", 15))
        .x_desc("workload · class (* = emulated, QEMU)")
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    Ok(chart)
}

impl Figure for ColdStrip {
    fn title(&self) -> &str {
        &self.title
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let values = || self.columns.iter().flat_map(|c| c.2.iter().copied());
        let y_max = values().fold(0.0, f64::max) * 1.1;
        let labels: Vec<String> = self.columns.iter().map(|c| c.0.clone()).collect();
        if self.log {
            // Whole decades, so the axis labels its powers of ten at both ends (a range that
            // starts just below the VPS values left them without a labelled tick).
            let decade = |v: f64, round: fn(f64) -> f64| 10f64.powf(round(v.max(1e-3).log10()));
            let lo = decade(
                values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min) * 0.95,
                f64::floor,
            );
            let hi = decade(y_max, f64::ceil).max(lo * 10.0);
            let range = (lo..hi).log_scale();
            let mut chart = column_chart(
                root,
                &self.title,
                &labels,
                range,
                "first byte (ms, log scale)",
            )?;
            return self.draw_points(&mut chart);
        }
        let mut chart = column_chart(
            root,
            &self.title,
            &labels,
            0.0..y_max.max(1e-3),
            "first byte (ms)",
        )?;
        self.draw_points(&mut chart)
    }
}

impl ColdStrip {
    /// The points (jittered) and a median bar per column, on either y axis.
    fn draw_points<DB, Y>(&self, chart: &mut Columns<'_, DB, Y>) -> Result<(), String>
    where
        DB: DrawingBackend,
        Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    {
        for (i, (_, c, values)) in self.columns.iter().enumerate() {
            let col = color(*c);
            let x0 = i as f64;
            // Deterministic jitter (golden-ratio sequence) spreads equal values apart.
            let pts = values.iter().enumerate().map(|(k, v)| {
                let j = ((k as f64 * 0.618_034) % 1.0 - 0.5) * 0.4;
                Circle::new((x0 + j, *v), 4, col.filled())
            });
            chart.draw_series(pts).map_err(err)?;
            let mut sorted = values.clone();
            let med = crate::stats::select_quantile(&mut sorted, 0.5);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x0 - 0.3, med), (x0 + 0.3, med)],
                    BLACK.stroke_width(2),
                )))
                .map_err(err)?;
        }
        Ok(())
    }
}

/// (d) Cold-start phases as stacked bars (median of each phase) per workload × class.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdPhases {
    /// Title.
    pub title: String,
    /// Per bar: label and the four phase medians (ms; missing = 0).
    pub bars: Vec<(String, [f64; 4])>,
}

impl ColdPhases {
    /// Prepare from every group with a verified cold start that has phase stamps.
    pub fn new(d: &ReportData) -> Option<ColdPhases> {
        let bars: Vec<_> = d
            .groups
            .iter()
            .filter_map(|g| {
                let p = phase_medians(g);
                p.iter().any(Option::is_some).then(|| {
                    (
                        short_label(&g.workload, &g.class, g.emulated),
                        p.map(|v| v.unwrap_or(0.0)),
                    )
                })
            })
            .collect();
        let emulated = d.groups.iter().any(|g| g.emulated && !g.cold.is_empty());
        (!bars.is_empty()).then(|| ColdPhases {
            title: format!(
                "Cold-start phases, median ms{}",
                if emulated {
                    "; * = emulated (QEMU)"
                } else {
                    ""
                }
            ),
            bars,
        })
    }
}

impl Figure for ColdPhases {
    fn title(&self) -> &str {
        &self.title
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let y_max = self
            .bars
            .iter()
            .map(|b| b.1.iter().sum::<f64>())
            .fold(0.0, f64::max)
            * 1.25;
        let labels: Vec<String> = self.bars.iter().map(|b| b.0.clone()).collect();
        let mut chart = column_chart(
            root,
            &self.title,
            &labels,
            0.0..y_max.max(1e-3),
            "median (ms)",
        )?;
        for (k, name) in PHASES.iter().enumerate() {
            let col = color(k + 3);
            let rects = self.bars.iter().enumerate().map(|(i, (_, p))| {
                let lo: f64 = p[..k].iter().sum();
                let x = i as f64;
                Rectangle::new([(x - 0.3, lo), (x + 0.3, lo + p[k])], col.filled())
            });
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], col.filled()));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}
