//! Reports rebuilt from a run directory alone: tables, Markdown/HTML/CSV exporters, plots, and
//! the comparison of two runs with its regression gate.
//!
//! [`load`] reads the store into a [`ReportData`], the run's one model (see [`data`]); exporters are pure `fn(&ReportData) -> Vec<u8>`;
//! charts go through the [`plot::Plotter`] trait; [`write_all`] writes every file into the run dir.

pub mod chain;
pub mod compare;
pub mod compare_out;
pub mod container_phases;
pub mod csv;
pub mod data;
pub mod fidelity;
pub mod font;
pub mod headline;
pub mod html;
pub mod markdown;
pub mod per_node;
pub mod plot;
pub mod requests;
pub mod rows;
pub mod tables;
pub mod trace;

use std::path::{Path, PathBuf};

pub use data::{load, ReportData};
pub use plot::{Chart, Plotter, PlottersPlotter};

/// Errors building a report; each names the run directory or file involved.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store could not be read.
    #[error("cannot read run {}: {source}", dir.display())]
    Store {
        dir: PathBuf,
        #[source]
        source: crate::store::StoreError,
    },
    /// A statistic could not be computed.
    #[error("statistics of {what} in run {run}: {source}")]
    Stats {
        run: String,
        what: String,
        #[source]
        source: crate::stats::StatsError,
    },
    /// A chart could not be drawn.
    #[error("cannot draw chart {chart}: {message}")]
    Plot { chart: String, message: String },
    /// A report file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: crate::store::StoreError,
    },
    /// Runs cannot be compared (different scenario, emulation, `--quick` or experiment
    /// settings); `--force` overrides.
    #[error("runs {base} and {new} are not comparable: {reason}; compare runs of the same scenario and settings, or pass --force")]
    Incomparable {
        base: String,
        new: String,
        reason: String,
    },
    /// A path named as a run holds no run.
    #[error("{} holds no run (no run.json in it or in its subfolders); pass a run directory such as results/<run-id>, or a folder of them", path.display())]
    NoRuns { path: PathBuf },
    /// A noise file (`compare --noise`) could not be read.
    #[error("noise file {}: {reason}; write one with `faasbed compare --learn-noise RUN RUN RUN > noise.json`", path.display())]
    NoiseFile { path: PathBuf, reason: String },
}

/// Files written by [`write_all`].
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
    /// Whether the PNG plots carry text (a TrueType font was found; see [`font`]).
    pub png_text: bool,
}

/// Report file names inside a run directory.
pub mod files {
    /// Markdown report.
    pub const MARKDOWN: &str = "report.md";
    /// Self-contained HTML report (inline SVG plots).
    pub const HTML: &str = "report.html";
    /// Summary table as CSV.
    pub const CSV: &str = "summary.csv";
    /// Plot folder (SVG and PNG).
    pub const PLOTS: &str = "plots";
}

/// Rebuild every report of the run in `run_dir` from its store: `report.md`, `report.html`,
/// `summary.csv`, and `plots/*.svg` + `plots/*.png`.
pub fn write_all(run_dir: &Path) -> Result<Written, ReportError> {
    write_model(run_dir, &load(run_dir)?)
}

/// [`write_all`] from a model already built from `run_dir` (with its tables).
pub fn write_model(run_dir: &Path, data: &ReportData) -> Result<Written, ReportError> {
    let font = font::find();
    let mut plotter = PlottersPlotter::new(font.as_ref());
    let charts = plot::all(&mut plotter, data)?;
    let mut out = Written {
        files: Vec::new(),
        png_text: font.is_some(),
    };
    let plots = run_dir.join(files::PLOTS);
    std::fs::create_dir_all(&plots).map_err(|e| ReportError::Write {
        path: plots.clone(),
        source: crate::store::StoreError::Io {
            what: "create",
            path: plots.clone(),
            source: e,
        },
    })?;
    let mut put = |path: PathBuf, bytes: &[u8]| -> Result<(), ReportError> {
        crate::store::write_atomic(&path, bytes).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        out.files.push(path);
        Ok(())
    };
    for c in &charts {
        put(plots.join(format!("{}.svg", c.name)), c.svg.as_bytes())?;
        if let Some(png) = &c.png {
            put(plots.join(format!("{}.png", c.name)), png)?;
        }
    }
    put(run_dir.join(files::MARKDOWN), &markdown::render(data))?;
    put(run_dir.join(files::CSV), &csv::render(data))?;
    put(run_dir.join(files::HTML), &html::render(data, &charts))?;
    Ok(out)
}
