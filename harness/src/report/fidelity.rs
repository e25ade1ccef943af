//! The emulation-fidelity section of every report: which calibration the run applied (the copy
//! in the run's results, `calibration.json`) and, per class, emulated / real for each
//! reference program, what was enforced and the error on the programs calibration did not use;
//! "not calibrated" when none applied. Part of the one report model ([`super::ReportData`]).

use std::path::Path;

use serde::Serialize;

use super::markdown::TextTable;
use crate::calibrate::arith;
use crate::calibrate::render::RATIO_TOLERANCE;
use crate::calibrate::store::Calibration;

/// The run's fidelity facts.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Fidelity {
    /// No calibration applied, with the reason.
    NotCalibrated(String),
    /// The calibration the run applied.
    Calibrated(Box<Calibration>),
    /// A run read without its folder (tests).
    #[default]
    Unknown,
}

/// Read the fidelity facts of the run in `run_dir`.
pub fn read(run_dir: &Path) -> Fidelity {
    let path = run_dir.join(crate::calibrate::apply::RUN_FILE);
    match crate::calibrate::store::read(&path, "SCENARIO") {
        Ok(Some(c)) => Fidelity::Calibrated(Box::new(c)),
        Ok(None) => Fidelity::NotCalibrated(
            "no calibration was applied to this run (run `faasbed calibrate SCENARIO` before `faasbed bench`)".into(),
        ),
        Err(e) => Fidelity::NotCalibrated(format!("the run's {} is unreadable: {e}", path.display())),
    }
}

/// One program on one class, for summary.json.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramFidelity {
    /// Class.
    pub class: String,
    /// Program id.
    pub program: String,
    /// `calibration` or `held-out`.
    pub role: String,
    /// The device's published figure.
    pub published: f64,
    /// Median under the calibrated quota.
    pub emulated: Option<f64>,
    /// emulated / published.
    pub emulated_over_real: Option<f64>,
    /// emulated / (scale × published) - 1.
    pub error_vs_target: Option<f64>,
}

/// The fidelity part of summary.json.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FidelitySummary {
    /// Whether a calibration applied.
    pub calibrated: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The common scale (every calibrated class runs at `scale` × its device's speed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Per class and program.
    pub programs: Vec<ProgramFidelity>,
}

fn rows(c: &Calibration) -> Vec<ProgramFidelity> {
    let mut out = Vec::new();
    for k in &c.classes {
        for p in &k.programs {
            let m = arith::median(&p.measured_calibrated);
            out.push(ProgramFidelity {
                class: k.class.clone(),
                program: p.program.clone(),
                role: p.role.clone(),
                published: p.published,
                emulated: m,
                emulated_over_real: m.map(|m| m / p.published),
                error_vs_target: m
                    .filter(|_| k.quota.is_some())
                    .map(|m| arith::rel_error(m, arith::target(p.published, c.scale))),
            });
        }
    }
    out
}

/// The summary.json view of `f`.
pub fn summary(f: &Fidelity) -> FidelitySummary {
    match f {
        Fidelity::Calibrated(c) => FidelitySummary {
            calibrated: true,
            reason: None,
            scale: Some(c.scale),
            programs: rows(c),
        },
        Fidelity::NotCalibrated(why) => FidelitySummary {
            calibrated: false,
            reason: Some(why.clone()),
            scale: None,
            programs: vec![],
        },
        Fidelity::Unknown => FidelitySummary {
            calibrated: false,
            reason: Some("not known".into()),
            scale: None,
            programs: vec![],
        },
    }
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "–".into(), f)
}

/// The report tables of `f` (Markdown and HTML render them like every other table).
pub fn tables(f: &Fidelity) -> Vec<TextTable> {
    let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let c = match f {
        Fidelity::Calibrated(c) => c,
        Fidelity::NotCalibrated(why) => {
            return vec![TextTable {
                title: "Emulation fidelity: not calibrated".into(),
                header: h(&["classes", "why"]),
                rows: vec![vec!["all".into(), why.clone()]],
            }]
        }
        Fidelity::Unknown => return vec![],
    };
    let classes = TextTable {
        title: format!(
            "Emulation fidelity: calibration of {} on {} (QEMU {}, kernel {}); every calibrated class runs at {:.3} × its device",
            c.created, c.host.cpu_model, c.host.qemu_version, c.host.kernel, c.scale
        ),
        header: h(&[
            "class", "device", "arch / CPU model", "unthrottled / device", "CPU quota (cores)", "shortfall", "ISA", "storage", "NIC",
        ]),
        rows: c
            .classes
            .iter()
            .map(|k| {
                let yn = |b: bool, d: &str| format!("{}: {d}", if b { "enforced" } else { "not enforced" });
                vec![
                    k.class.clone(),
                    k.device.clone(),
                    format!("{} / {}", k.arch, if k.qemu_cpu.is_empty() { "native" } else { &k.qemu_cpu }),
                    opt(k.quota.as_ref().map(|q| q.speed_factor), |x| format!("{x:.3}")),
                    k.quota.as_ref().map_or_else(
                        || format!("not calibrated: {}", k.not_calibrated.clone().unwrap_or_default()),
                        |q| format!("{:.3}", q.cpus),
                    ),
                    opt(k.quota.as_ref().and_then(|q| q.shortfall_pct), |p| format!("{p:.1} % slower than the device")),
                    yn(k.isa.enforced, &k.isa.detail),
                    yn(k.storage.enforced, &k.storage.detail),
                    yn(k.nic.enforced, &k.nic.detail),
                ]
            })
            .collect(),
    };
    let programs = TextTable {
        title:
            "Emulation fidelity per program: emulated (under the calibrated quota) / real device"
                .into(),
        header: h(&[
            "class",
            "program",
            "role",
            "published",
            "emulated (median)",
            "emulated / real",
            "error vs target",
        ]),
        rows: rows(c)
            .into_iter()
            .map(|r| {
                vec![
                    r.class,
                    r.program,
                    r.role,
                    format!("{}", r.published),
                    opt(r.emulated, |x| format!("{x:.2}")),
                    opt(r.emulated_over_real, |x| format!("{x:.3}")),
                    opt(r.error_vs_target, |x| format!("{:+.1} %", x * 100.0)),
                ]
            })
            .collect(),
    };
    let ratios = TextTable {
        title: format!(
            "Emulation fidelity: ratios between classes (within ±{:.0} %?)",
            RATIO_TOLERANCE * 100.0
        ),
        header: h(&[
            "pair",
            "program",
            "role",
            "emulated",
            "published",
            "error",
            "within",
        ]),
        rows: c
            .ratio_checks
            .iter()
            .map(|r| {
                vec![
                    r.pair.clone(),
                    r.check.program.clone(),
                    r.role.clone(),
                    format!("{:.3}", r.check.emulated),
                    format!("{:.3}", r.check.published),
                    format!("{:+.1} %", r.check.error * 100.0),
                    if arith::within(r.check.error, RATIO_TOLERANCE) {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                ]
            })
            .collect(),
    };
    vec![classes, programs, ratios]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn a_run_without_calibration_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let f = read(dir.path());
        let t = tables(&f);
        assert_eq!(t.len(), 1);
        assert!(t[0].title.contains("not calibrated"));
        assert!(t[0].rows[0][1].contains("faasbed calibrate"));
        let s = summary(&f);
        assert!(!s.calibrated && s.programs.is_empty());
        std::fs::write(dir.path().join("calibration.json"), "[]").unwrap();
        assert!(matches!(read(dir.path()), Fidelity::NotCalibrated(w) if w.contains("unreadable")));
    }
}
