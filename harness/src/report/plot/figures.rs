//! The five charts as data (prepared from [`ReportData`] by pure functions) plus one generic
//! `draw` each, so the same figure renders to SVG and to PNG.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::measure::cold::PHASES;
use crate::report::data::{Group, ReportData};
use crate::report::tables::phase_medians;

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (960, 560);
/// Raw points drawn per timeline before it switches to per-bin median and max lines.
pub const TIMELINE_MAX_POINTS: usize = 5000;
/// Bins of a decimated timeline.
pub const TIMELINE_BINS: usize = 400;
/// Points per CDF line.
pub const CDF_POINTS: usize = 400;
/// Top of the spectrum's x axis, as log10(1/(1-q)): 4 = 99.99 %. Each line stops earlier, at
/// the percentile its sample count supports (see [`spectrum_cap`]).
pub const SPECTRUM_MAX_X: f64 = 4.0;
/// Tick label text, px (the page never shows a chart below its drawn size).
pub const LABEL_PX: u32 = 16;
/// Axis description text, px.
pub const DESC_PX: u32 = 18;
/// A cold-start strip whose values span more than this ratio (a decade) gets a log axis.
pub const LOG_AXIS_SPAN: f64 = 10.0;

/// The highest spectrum x = log10(1/(1-q)) that `n` samples support: q = 1 − 1/n (beyond it
/// the percentile is just the maximum), capped at [`SPECTRUM_MAX_X`].
pub fn spectrum_cap(n: u64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    (n as f64).log10().min(SPECTRUM_MAX_X)
}

/// A drawable figure.
pub trait Figure {
    /// The title drawn on top.
    fn title(&self) -> &str;
    /// Draw on `root`; plotters errors come back as text.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// One named line or point set.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Colour index (see [`color`]).
    pub color: usize,
    /// Dashed line (uncorrected latency).
    pub dashed: bool,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// Stable colour per class: vps blue, pi4 green, pi3 red, others from a palette.
pub fn class_color(class: &str) -> usize {
    match class {
        "vps" => 0,
        "pi4" => 1,
        "pi3" => 2,
        other => 3 + other.bytes().map(usize::from).sum::<usize>() % 4,
    }
}

/// The colour of index `i`.
pub fn color(i: usize) -> RGBColor {
    const P: [RGBColor; 7] = [
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
        RGBColor(23, 190, 207),
    ];
    P[i % P.len()]
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// A column label short enough for its column: `cpu /?kib=64 · pi3*` (* = emulated).
fn short_label(workload: &str, class: &str, emulated: bool) -> String {
    format!("{workload} · {class}{}", if emulated { "*" } else { "" })
}

fn classes_title(groups: &[&Group]) -> String {
    groups
        .iter()
        .map(|g| g.class_label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn max_y(series: &[Series]) -> f64 {
    series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.05
}

/// Percentile label of spectrum x = log10(1/(1-q)): 0.301 → "50%", 2 → "99%".
pub fn percentile_label(x: f64) -> String {
    let pct = (1.0 - 10f64.powf(-x)) * 100.0;
    let s = format!("{pct:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// Axis settings of a line chart.
struct Axes<'a> {
    x_desc: &'a str,
    y_desc: &'a str,
    x: std::ops::Range<f64>,
    /// Number of x labels to ask plotters for.
    x_labels: usize,
    x_fmt: &'a dyn Fn(&f64) -> String,
    /// Extra labelled vertical marks (x, text).
    marks: &'a [(f64, String)],
}

/// The corner of the plot (x in `x`, y in `0..y_max`) where a legend box of `w` × `h` (fractions
/// of the plot) covers the least of the lines: each segment is sampled at 9 points, so a long
/// flat stretch counts as much as a steep run of vertices.
fn quietest_corner(
    series: &[Series],
    x: &std::ops::Range<f64>,
    y_max: f64,
    (w, h): (f64, f64),
) -> SeriesLabelPosition {
    let span = x.end - x.start;
    let samples: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.windows(2))
        .flat_map(|p| {
            let ((x0, y0), (x1, y1)) = (p[0], p[1]);
            (0..=8).map(move |i| {
                let t = f64::from(i) / 8.0;
                (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
            })
        })
        .map(|(px, py)| ((px - x.start) / span, py / y_max))
        .collect();
    let covered = |left: bool, top: bool| {
        samples
            .iter()
            .filter(|(fx, fy)| {
                (if left { *fx <= w } else { *fx >= 1.0 - w })
                    && (if top { *fy >= 1.0 - h } else { *fy <= h })
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperLeft, covered(true, true)),
        (SeriesLabelPosition::UpperRight, covered(false, true)),
        (SeriesLabelPosition::LowerRight, covered(false, false)),
        (SeriesLabelPosition::LowerLeft, covered(true, false)),
    ]
    .into_iter()
    .min_by_key(|(_, n)| *n)
    .map_or(SeriesLabelPosition::UpperLeft, |(p, _)| p)
}

/// The legend's size as fractions of a plot area of `plot_px` pixels: 9 px per label character
/// plus the sample line, 20 px per row (the [`LABEL_PX`] label font), plus padding.
fn legend_fraction(series: &[Series], plot_px: (u32, u32)) -> (f64, f64) {
    let chars = series
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(0);
    let w_px = chars as f64 * 9.0 + 50.0;
    let h_px = series.len() as f64 * 20.0 + 16.0;
    (
        (w_px / f64::from(plot_px.0.max(1))).min(1.0),
        (h_px / f64::from(plot_px.1.max(1))).min(1.0),
    )
}

fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    axes: &Axes<'_>,
    series: &[Series],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let y_max = max_y(series);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(axes.x.clone(), 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", LABEL_PX))
        .axis_desc_style(("sans-serif", DESC_PX))
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_labels(axes.x_labels)
        .x_label_formatter(axes.x_fmt)
        .draw()
        .map_err(err)?;
    for (x, text) in axes.marks {
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(DashedLineSeries::new(
                [(*x, 0.0), (*x, y_max)],
                4,
                4,
                grey.stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                text.clone(),
                (*x, y_max * 0.04),
                ("sans-serif", LABEL_PX).into_font().color(&grey),
            )))
            .map_err(err)?;
    }
    let plot_px = chart.plotting_area().dim_in_pixel();
    let legend = quietest_corner(series, &axes.x, y_max, legend_fraction(series, plot_px));
    for s in series {
        let c = color(s.color);
        let style = c.stroke_width(2);
        let legend = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 20, y)], c);
        if s.dashed {
            // Two short strokes, so the legend shows the line as dashed too.
            let dashed = move |(x, y): (i32, i32)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (7, 0)], c)
                    + PathElement::new(vec![(12, 0), (20, 0)], c)
            };
            chart
                .draw_series(DashedLineSeries::new(s.points.iter().copied(), 6, 4, style))
                .map_err(err)?
                .label(&s.label)
                .legend(dashed);
        } else {
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(err)?
                .label(&s.label)
                .legend(legend);
        }
    }
    chart
        .configure_series_labels()
        .position(legend)
        .label_font(("sans-serif", LABEL_PX))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

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
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", LABEL_PX))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)
    }
}

/// (e) Corrected latency over intended send time of one function's warm run, errors marked.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Title.
    pub title: String,
    /// Point sets (raw) or lines (per-bin median and max when decimated), x = s, y = ms.
    pub series: Vec<Series>,
    /// Whether `series` are per-bin lines rather than raw points.
    pub binned: bool,
    /// Failed requests (x = s, y = ms).
    pub errors: Vec<(f64, f64)>,
}

/// Points of a line: (x, y).
type Line = Vec<(f64, f64)>;

/// Per-bin (median, max) of `points` over [0, t_max], skipping empty bins.
fn bin(points: &[(f64, f64)], t_max: f64) -> (Line, Line) {
    let width = (t_max / TIMELINE_BINS as f64).max(1e-9);
    let mut bins: Vec<Vec<f64>> = vec![Vec::new(); TIMELINE_BINS];
    for (t, y) in points {
        let i = ((t / width) as usize).min(TIMELINE_BINS - 1);
        bins[i].push(*y);
    }
    let (mut med, mut max) = (Vec::new(), Vec::new());
    for (i, mut b) in bins.into_iter().enumerate() {
        if b.is_empty() {
            continue;
        }
        let t = (i as f64 + 0.5) * width;
        max.push((t, b.iter().copied().fold(0.0, f64::max)));
        med.push((t, crate::stats::select_quantile(&mut b, 0.5)));
    }
    (med, max)
}

impl Timeline {
    /// Prepare for `function`; `None` when it has no warm sample.
    pub fn new(d: &ReportData, function: &str) -> Option<Timeline> {
        let mut groups = Vec::new();
        let mut series = Vec::new();
        let mut errors = Vec::new();
        let mut total = 0;
        let mut per_group = Vec::new();
        for g in &d.groups {
            let ok: Vec<(f64, f64)> = g
                .warm
                .iter()
                .filter(|(f, _)| &**f == function)
                .map(|(_, p)| (p.t_s, p.corrected_ms))
                .collect();
            let before = errors.len();
            errors.extend(
                g.warm
                    .iter()
                    .filter(|(f, p)| &**f == function && p.error)
                    .map(|(_, p)| (p.t_s, p.corrected_ms)),
            );
            if ok.is_empty() && errors.len() == before {
                continue;
            }
            total += ok.len();
            groups.push(g);
            per_group.push((g, ok));
        }
        if groups.is_empty() {
            return None;
        }
        let binned = total > TIMELINE_MAX_POINTS;
        let t_max = per_group
            .iter()
            .flat_map(|(_, v)| v.iter().map(|p| p.0))
            .fold(0.0, f64::max);
        for (g, pts) in per_group {
            let c = class_color(&g.class);
            if binned {
                let (med, max) = bin(&pts, t_max);
                series.push(Series {
                    label: format!("{} median per bin", g.class_label()),
                    color: c,
                    dashed: false,
                    points: med,
                });
                series.push(Series {
                    label: format!("{} max per bin", g.class_label()),
                    color: c,
                    dashed: true,
                    points: max,
                });
            } else {
                series.push(Series {
                    label: g.class_label(),
                    color: c,
                    dashed: false,
                    points: pts,
                });
            }
        }
        Some(Timeline {
            title: format!(
                "{function}: corrected latency over time on {}",
                classes_title(&groups)
            ),
            series,
            binned,
            errors,
        })
    }
}

impl Figure for Timeline {
    fn title(&self) -> &str {
        &self.title
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let pts = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .chain(self.errors.iter())
        };
        let x_max = pts().map(|p| p.0).fold(0.0, f64::max).max(1e-3);
        let y_max = pts().map(|p| p.1).fold(0.0, f64::max).max(1e-3) * 1.05;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", LABEL_PX))
            .axis_desc_style(("sans-serif", DESC_PX))
            .x_desc("intended send time (s)")
            .y_desc("corrected latency (ms)")
            .draw()
            .map_err(err)?;
        for s in &self.series {
            let c = color(s.color);
            let legend = move |(x, y): (i32, i32)| Circle::new((x + 10, y), 3, c.filled());
            if self.binned {
                let style = c.stroke_width(if s.dashed { 1 } else { 2 });
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), style))
                    .map_err(err)?
                    .label(&s.label)
                    .legend(legend);
            } else {
                chart
                    .draw_series(
                        s.points
                            .iter()
                            .map(|p| Circle::new(*p, 2, c.mix(0.6).filled())),
                    )
                    .map_err(err)?
                    .label(&s.label)
                    .legend(legend);
            }
        }
        if !self.errors.is_empty() {
            let red = RGBColor(200, 0, 0);
            chart
                .draw_series(
                    self.errors
                        .iter()
                        .map(|p| Cross::new(*p, 5, red.stroke_width(2))),
                )
                .map_err(err)?
                .label(format!("errors ({})", self.errors.len()))
                .legend(move |(x, y)| Cross::new((x + 10, y), 5, red.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", LABEL_PX))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(points: &[(f64, f64)]) -> Series {
        Series {
            label: "x".into(),
            color: 0,
            dashed: false,
            points: points.to_vec(),
        }
    }

    #[test]
    fn the_legend_goes_where_the_lines_are_not() {
        let pos =
            |s: &[Series]| format!("{:?}", quietest_corner(s, &(0.0..10.0), 10.0, (0.3, 0.3)));
        // A CDF-like rise on the left and a flat top: the lower right is free.
        let rise = [line(&[(0.0, 0.0), (1.0, 9.0), (10.0, 10.0)])];
        assert_eq!(pos(&rise), format!("{:?}", SeriesLabelPosition::LowerRight));
        // A spectrum: low on the left, high on the right; the upper left is free.
        let spectrum = [line(&[(0.0, 1.0), (9.0, 2.0), (9.5, 9.5), (10.0, 10.0)])];
        assert_eq!(
            pos(&spectrum),
            format!("{:?}", SeriesLabelPosition::UpperLeft)
        );
        // A long flat segment counts though it has only two vertices.
        let flat = [
            line(&[(0.0, 9.5), (10.0, 9.5)]),
            line(&[(0.0, 0.5), (2.0, 0.5)]),
        ];
        assert_eq!(pos(&flat), format!("{:?}", SeriesLabelPosition::LowerRight));
    }

    #[test]
    fn percentile_labels_follow_the_log_axis() {
        let labels: Vec<String> = [0.0, 2f64.log10(), 1.0, 2.0, 3.0, 4.0]
            .iter()
            .map(|x| percentile_label(*x))
            .collect();
        assert_eq!(labels, ["0%", "50%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn bins_keep_median_and_max_and_skip_empty_bins() {
        let pts = [(0.0, 1.0), (0.001, 3.0), (0.002, 2.0), (10.0, 7.0)];
        let (med, max) = bin(&pts, 10.0);
        assert_eq!(med.len(), 2);
        assert_eq!(med[0].1, 2.0);
        assert_eq!(max[0].1, 3.0);
        assert_eq!(max[1].1, 7.0);
    }

    #[test]
    fn classes_keep_their_colours() {
        assert_eq!(class_color("vps"), 0);
        assert_eq!(class_color("pi4"), 1);
        assert_eq!(class_color("pi3"), 2);
        assert!(class_color("edge") >= 3);
    }
}
