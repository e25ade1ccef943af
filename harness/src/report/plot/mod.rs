//! Charts: the [`Plotter`] trait (one method per chart, criterion style) and its plotters
//! implementation, which renders every chart to SVG and PNG.

pub mod figures;
pub mod png;

use plotters::prelude::*;

use self::figures::{Cdf, ColdPhases, ColdStrip, Figure, Spectrum, Timeline, SIZE};
use super::data::ReportData;
use super::font::Font;
use super::ReportError;

/// One rendered chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File stem under `plots/` (e.g. `spectrum-echo`).
    pub name: String,
    /// Title as drawn.
    pub title: String,
    /// SVG document.
    pub svg: String,
    /// PNG bytes, when the plotter renders PNG.
    pub png: Option<Vec<u8>>,
}

/// One method per chart; each returns `None` when the run has no data for it.
pub trait Plotter {
    /// (a) Warm latency percentile spectrum of `workload` from the HDR logs.
    fn spectrum(&mut self, d: &ReportData, workload: &str) -> Result<Option<Chart>, ReportError>;
    /// (b) Warm latency CDF of `workload`, one line per class.
    fn warm_cdf(&mut self, d: &ReportData, workload: &str) -> Result<Option<Chart>, ReportError>;
    /// (c) Verified cold starts per workload × class.
    fn cold_starts(&mut self, d: &ReportData) -> Result<Option<Chart>, ReportError>;
    /// (d) Cold-start phases as stacked bars.
    fn cold_phases(&mut self, d: &ReportData) -> Result<Option<Chart>, ReportError>;
    /// (d') The gateway's cold-start steps (container phases, probe, notice) as stacked bars.
    fn gateway_phases(&mut self, d: &ReportData) -> Result<Option<Chart>, ReportError>;
    /// (e) Latency over time of `function`'s warm run.
    fn timeline(&mut self, d: &ReportData, function: &str) -> Result<Option<Chart>, ReportError>;
}

/// A file-name-safe form of `s` (`cpu /?kib=64` → `cpu-kib-64`).
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Every chart of the run, in report order.
pub fn all(p: &mut impl Plotter, d: &ReportData) -> Result<Vec<Chart>, ReportError> {
    let mut out = Vec::new();
    for w in d.workloads() {
        out.extend(p.spectrum(d, &w)?);
        out.extend(p.warm_cdf(d, &w)?);
    }
    out.extend(p.cold_starts(d)?);
    out.extend(p.cold_phases(d)?);
    out.extend(p.gateway_phases(d)?);
    for f in d.warm_functions() {
        out.extend(p.timeline(d, &f)?);
    }
    Ok(out)
}

/// Renders with plotters: SVG always, PNG when built with `png` (text only with a font).
pub struct PlottersPlotter<'f> {
    font: Option<&'f Font>,
    png: bool,
}

impl<'f> PlottersPlotter<'f> {
    /// Render SVG and PNG; PNG text uses `font` (none: PNG without text).
    pub fn new(font: Option<&'f Font>) -> Self {
        PlottersPlotter { font, png: true }
    }

    /// Render SVG only (tests, previews).
    pub fn svg_only() -> Self {
        PlottersPlotter {
            font: None,
            png: false,
        }
    }

    fn render<F: Figure>(
        &self,
        name: String,
        fig: Option<F>,
    ) -> Result<Option<Chart>, ReportError> {
        let Some(fig) = fig else { return Ok(None) };
        let perr = |message: String| ReportError::Plot {
            chart: name.clone(),
            message,
        };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            fig.draw(&root).map_err(perr)?;
            root.present().map_err(|e| perr(format!("{e:?}")))?;
        }
        let png = if self.png {
            let mut buf = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
            {
                let backend = png::TextBitmap::new(&mut buf, SIZE, self.font.map(|f| &f.font));
                let root = backend.into_drawing_area();
                fig.draw(&root).map_err(perr)?;
                root.present().map_err(|e| perr(format!("{e:?}")))?;
            }
            Some(png::encode(&buf, SIZE).map_err(perr)?)
        } else {
            None
        };
        Ok(Some(Chart {
            title: fig.title().to_string(),
            name,
            svg,
            png,
        }))
    }
}

impl Plotter for PlottersPlotter<'_> {
    fn spectrum(&mut self, d: &ReportData, workload: &str) -> Result<Option<Chart>, ReportError> {
        self.render(
            format!("spectrum-{}", slug(workload)),
            Spectrum::new(d, workload),
        )
    }
    fn warm_cdf(&mut self, d: &ReportData, workload: &str) -> Result<Option<Chart>, ReportError> {
        self.render(format!("cdf-{}", slug(workload)), Cdf::new(d, workload))
    }
    fn cold_starts(&mut self, d: &ReportData) -> Result<Option<Chart>, ReportError> {
        self.render("cold-starts".into(), ColdStrip::new(d))
    }
    fn cold_phases(&mut self, d: &ReportData) -> Result<Option<Chart>, ReportError> {
        self.render("cold-phases".into(), ColdPhases::new(d))
    }
    fn gateway_phases(&mut self, d: &ReportData) -> Result<Option<Chart>, ReportError> {
        self.render("cold-steps".into(), ColdPhases::gateway(d))
    }
    fn timeline(&mut self, d: &ReportData, function: &str) -> Result<Option<Chart>, ReportError> {
        self.render(
            format!("timeline-{}", slug(function)),
            Timeline::new(d, function),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_are_file_name_safe() {
        assert_eq!(slug("cpu /?kib=64"), "cpu-kib-64");
        assert_eq!(slug("echo-pi3"), "echo-pi3");
        assert_eq!(slug("a..b"), "a-b");
    }
}
