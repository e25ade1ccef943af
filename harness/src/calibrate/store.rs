//! `calibration.json` in the faasbed home: what calibration measured and decided, the host it
//! was measured on, and the staleness rules that decide whether a later run may apply it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::arith::{Quota, RatioCheck};

/// The file name inside the faasbed home.
pub const FILE: &str = "calibration.json";
/// The format version written by this build.
pub const SCHEMA: u32 = 1;

/// What the emulation speed depends on: calibration is only valid on the same host CPU model,
/// QEMU version and kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// `qemu-aarch64 --version` (and qemu-arm's, which comes from the same package).
    pub qemu_version: String,
    /// `uname -r` (/proc/sys/kernel/osrelease).
    pub kernel: String,
}

/// One program's figures on one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramResult {
    /// Program and metric (`7z-b total_mips_1t`).
    pub program: String,
    /// `calibration` (used to derive the quota) or `held-out` (only checked).
    pub role: String,
    /// Unit of the figures.
    pub unit: String,
    /// The device's published figure.
    pub published: f64,
    /// Where `published` comes from (file:line and the source it cites).
    pub published_source: String,
    /// The software version the device figure was measured with.
    pub published_software: String,
    /// The software version that ran here (the Debian package).
    pub measured_software: String,
    /// Each repetition, unthrottled on one host core.
    pub measured_unthrottled: Vec<f64>,
    /// Each repetition, under the calibrated quota.
    pub measured_calibrated: Vec<f64>,
    /// Each calibrated repetition's figure per CPU second, where the program prints it
    /// (7-Zip's R/U); times the quota, the speed on a host with a free core.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured_calibrated_per_cpu: Vec<f64>,
}

/// Something of the device that faasbed enforces or does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enforced {
    /// Whether it is enforced on this host.
    pub enforced: bool,
    /// What is enforced, or why not.
    pub detail: String,
}

/// Calibration of one node class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCalibration {
    /// The scenario's class (`pi3`).
    pub class: String,
    /// The reference device (`pi3bplus`).
    pub device: String,
    /// The userland arch of the node (`armhf`).
    pub arch: String,
    /// `qemu-user` or `native`.
    pub backend: String,
    /// The QEMU `-cpu` model (empty for native nodes).
    pub qemu_cpu: String,
    /// What calibration decided; `None` when no program had a published figure.
    pub quota: Option<Quota>,
    /// Why the class is not calibrated, when `quota` is `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_calibrated: Option<String>,
    /// ISA features: whether the QEMU model matches the device's.
    pub isa: Enforced,
    /// SD-card-like I/O limits for the replica's files.
    pub storage: Enforced,
    /// The NIC limit.
    pub nic: Enforced,
    /// Every program's figures.
    pub programs: Vec<ProgramResult>,
}

/// The whole calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Format version ([`SCHEMA`]).
    pub schema: u32,
    /// When it was measured, RFC 3339 UTC.
    pub created: String,
    /// The scenario it was made for.
    pub scenario: String,
    /// The host it is valid on.
    pub host: HostFacts,
    /// The common scale `t`: every class runs at `t` times its device's speed.
    pub scale: f64,
    /// Repetitions per program.
    pub repetitions: u32,
    /// Per class.
    pub classes: Vec<ClassCalibration>,
    /// pi3 : pi4 (or other pairs) ratio checks after calibration, per program.
    pub ratio_checks: Vec<RatioCheckRecord>,
}

/// A ratio check between two classes, with its role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatioCheckRecord {
    /// `pi3:pi4`.
    pub pair: String,
    /// `calibration` or `held-out`.
    pub role: String,
    /// The numbers.
    #[serde(flatten)]
    pub check: RatioCheck,
}

/// Errors of the calibration file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// It could not be read or written.
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// It is not a calibration this build understands.
    #[error("{path} is not a calibration this faasbed can read; run `{command}` again")]
    Format {
        path: PathBuf,
        command: String,
        #[source]
        source: serde_json::Error,
    },
    /// It was measured on another host CPU, QEMU or kernel.
    #[error(
        "{path} is stale: {reasons}; recalibrate with `{command}` (or run with --uncalibrated)"
    )]
    Stale {
        path: PathBuf,
        reasons: String,
        command: String,
    },
}

/// Why a calibration does not apply to `now` (empty: it applies).
pub fn staleness(cal: &Calibration, now: &HostFacts) -> Vec<String> {
    let mut why = Vec::new();
    if cal.schema != SCHEMA {
        why.push(format!(
            "it has format {} and this faasbed writes {SCHEMA}",
            cal.schema
        ));
    }
    let mut cmp = |what: &str, then: &str, now: &str| {
        if then != now {
            why.push(format!("the {what} changed from {then:?} to {now:?}"));
        }
    };
    cmp("host CPU model", &cal.host.cpu_model, &now.cpu_model);
    cmp("QEMU version", &cal.host.qemu_version, &now.qemu_version);
    cmp("kernel", &cal.host.kernel, &now.kernel);
    why
}

/// The command that (re)calibrates for `scenario`.
pub fn recalibrate_command(scenario: &str) -> String {
    format!("faasbed calibrate {scenario}")
}

/// Path of the calibration file in `home`.
pub fn path_in(home: &Path) -> PathBuf {
    home.join(FILE)
}

/// Write `cal` (pretty JSON) to `path`, creating its folder.
pub fn save(path: &Path, cal: &Calibration) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut text = serde_json::to_string_pretty(cal).map_err(|e| io(std::io::Error::other(e)))?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Read the calibration at `path`; `Ok(None)` when there is none.
pub fn read(path: &Path, scenario: &str) -> Result<Option<Calibration>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| StoreError::Format {
            path: path.to_path_buf(),
            command: recalibrate_command(scenario),
            source,
        })
}

/// The calibration a run applies: `Ok(None)` when there is none, the calibration when it is
/// fresh for `now`, and [`StoreError::Stale`] (naming the command to recalibrate) otherwise.
pub fn applicable(
    path: &Path,
    scenario: &str,
    now: &HostFacts,
) -> Result<Option<Calibration>, StoreError> {
    let Some(cal) = read(path, scenario)? else {
        return Ok(None);
    };
    let why = staleness(&cal, now);
    if why.is_empty() {
        Ok(Some(cal))
    } else {
        Err(StoreError::Stale {
            path: path.to_path_buf(),
            reasons: why.join("; "),
            command: recalibrate_command(&cal.scenario),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn host() -> HostFacts {
        HostFacts {
            cpu_model: "AMD EPYC 7B13".into(),
            qemu_version: "7.2.22".into(),
            kernel: "6.1.0-28-amd64".into(),
        }
    }

    fn cal() -> Calibration {
        Calibration {
            schema: SCHEMA,
            created: "2026-12-03T04:00:00Z".into(),
            scenario: "scenarios/pi3-pi4-vps.toml".into(),
            host: host(),
            scale: 0.8,
            repetitions: 3,
            classes: vec![],
            ratio_checks: vec![],
        }
    }

    #[test]
    fn the_same_host_is_fresh() {
        assert!(staleness(&cal(), &host()).is_empty());
    }

    #[test]
    fn another_cpu_model_is_stale() {
        let now = HostFacts {
            cpu_model: "Intel Xeon".into(),
            ..host()
        };
        let w = staleness(&cal(), &now);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("host CPU model") && w[0].contains("Intel Xeon"));
    }

    #[test]
    fn another_qemu_version_is_stale() {
        let now = HostFacts {
            qemu_version: "8.2.0".into(),
            ..host()
        };
        let w = staleness(&cal(), &now);
        assert!(w.len() == 1 && w[0].contains("QEMU version"), "{w:?}");
    }

    #[test]
    fn another_kernel_is_stale() {
        let now = HostFacts {
            kernel: "6.12.0".into(),
            ..host()
        };
        let w = staleness(&cal(), &now);
        assert!(w.len() == 1 && w[0].contains("kernel"), "{w:?}");
    }

    #[test]
    fn another_format_is_stale_and_every_reason_is_listed() {
        let mut c = cal();
        c.schema = 0;
        let now = HostFacts {
            kernel: "x".into(),
            qemu_version: "y".into(),
            cpu_model: "z".into(),
        };
        assert_eq!(staleness(&c, &now).len(), 4);
    }

    #[test]
    fn applicable_reads_none_fresh_or_refuses_with_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        assert!(applicable(&p, "s.toml", &host()).unwrap().is_none());
        save(&p, &cal()).unwrap();
        assert_eq!(applicable(&p, "s.toml", &host()).unwrap(), Some(cal()));
        let now = HostFacts {
            kernel: "6.12.0".into(),
            ..host()
        };
        let e = applicable(&p, "s.toml", &now).unwrap_err().to_string();
        assert!(
            e.contains("stale") && e.contains("`faasbed calibrate scenarios/pi3-pi4-vps.toml`"),
            "{e}"
        );
        std::fs::write(&p, "{\"schema\": 1}").unwrap();
        let e = applicable(&p, "s.toml", &host()).unwrap_err().to_string();
        assert!(e.contains("faasbed calibrate s.toml"), "{e}");
    }
}
