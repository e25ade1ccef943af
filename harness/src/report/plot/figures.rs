//! The five charts as data (prepared from [`ReportData`](crate::report::ReportData) by pure functions) plus one generic
//! `draw` each, so the same figure renders to SVG and to PNG.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::data::Group;

mod cold;
mod timeline;
mod warm;

pub use cold::{ColdPhases, ColdStrip};
pub use timeline::Timeline;
pub use warm::{Cdf, Spectrum};

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
    draw_legend(&mut chart, legend)
}

/// The legend box every figure draws: label text at [`LABEL_PX`], on a translucent white box.
fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(("sans-serif", LABEL_PX))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
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
    fn classes_keep_their_colours() {
        assert_eq!(class_color("vps"), 0);
        assert_eq!(class_color("pi4"), 1);
        assert_eq!(class_color("pi3"), 2);
        assert!(class_color("edge") >= 3);
    }
}
