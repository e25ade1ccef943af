//! (e) The timeline of one function's warm run.

use super::*;
use crate::report::data::ReportData;

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
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_keep_median_and_max_and_skip_empty_bins() {
        let pts = [(0.0, 1.0), (0.001, 3.0), (0.002, 2.0), (10.0, 7.0)];
        let (med, max) = bin(&pts, 10.0);
        assert_eq!(med.len(), 2);
        assert_eq!(med[0].1, 2.0);
        assert_eq!(max[0].1, 3.0);
        assert_eq!(max[1].1, 7.0);
    }
}
