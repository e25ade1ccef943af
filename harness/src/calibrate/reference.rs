//! The published figures of real devices (`profiles/reference-devices.toml`): loading,
//! validation (errors name the file, line and field) and the choice of the figure a measured
//! program is compared against.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The reference file shipped with faasbed, relative to the repository root.
pub const DEFAULT_PATH: &str = "profiles/reference-devices.toml";

/// Errors of the reference file.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The file could not be read.
    #[error("cannot read reference figures {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a field of the wrong type.
    #[error("{path} is not a valid reference file")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    /// A field holds a value calibration cannot use.
    #[error("{path}:{line}: field `{field}` of [[{table}]] {what}")]
    Invalid {
        path: PathBuf,
        line: usize,
        table: &'static str,
        field: &'static str,
        what: String,
    },
    /// No figure (or more than one) fits what calibration needs.
    #[error("{path}: {what}; add the figure (with its source and quote) or pick another program")]
    Missing { path: PathBuf, what: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    figure: Vec<Spanned<RawFigure>>,
    #[serde(default)]
    isa: Vec<Spanned<RawIsa>>,
    #[serde(default)]
    missing: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFigure {
    device: String,
    program: String,
    metric: String,
    value: f64,
    unit: String,
    threads: u32,
    arch: String,
    software: String,
    command: String,
    #[serde(default)]
    method_note: Option<String>,
    source: String,
    quote: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIsa {
    device: String,
    soc: String,
    core: String,
    #[serde(default)]
    hwcaps_arm64: Option<String>,
    source: String,
    quote: String,
}

/// One published figure of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Device id (`pi3b`, `pi3bplus`, `pi4b`, `pi5`, `vps-1vcpu`).
    pub device: String,
    /// Program id (`7z-b`, `openssl-speed`, `sysbench-cpu`, ...).
    pub program: String,
    /// What was measured, as the file says it.
    pub metric: String,
    /// The number, in `unit`.
    pub value: f64,
    /// Unit of `value`.
    pub unit: String,
    /// Benchmark threads (0: not a measurement, e.g. a vendor spec).
    pub threads: u32,
    /// Userland arch the figure was measured on (`armhf`, `arm64`, `amd64`, `unknown ...`).
    pub arch: String,
    /// Software and version.
    pub software: String,
    /// Where the figure comes from.
    pub source: String,
    /// Line of the file (1-based) where the figure's table starts.
    pub line: usize,
}

/// The ISA facts of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Isa {
    /// Device id.
    pub device: String,
    /// The SoC.
    pub soc: String,
    /// Cores and extensions, as the file says it.
    pub core: String,
    /// The arm64 hwcaps (`lscpu` Flags) where published.
    pub hwcaps_arm64: Option<String>,
}

/// The validated reference file.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Where it was read from.
    pub path: PathBuf,
    /// Every figure.
    pub figures: Vec<Figure>,
    /// ISA facts per device.
    pub isa: Vec<Isa>,
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The reference file built into faasbed (the shipped `profiles/reference-devices.toml`).
pub fn shipped() -> Result<Reference, ReferenceError> {
    parse(
        Path::new(DEFAULT_PATH),
        include_str!("../../../profiles/reference-devices.toml"),
    )
}

/// Read and validate the reference file at `path`.
pub fn load(path: &Path) -> Result<Reference, ReferenceError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReferenceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Validate the text of a reference file (`path` only names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Reference, ReferenceError> {
    let raw: RawFile = toml::from_str(text).map_err(|source| ReferenceError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let _ = raw.missing;
    let mut figures = Vec::with_capacity(raw.figure.len());
    for f in raw.figure {
        let line = line_of(text, f.span().start);
        let f = f.into_inner();
        let invalid = |field: &'static str, what: String| ReferenceError::Invalid {
            path: path.to_path_buf(),
            line,
            table: "figure",
            field,
            what,
        };
        if !(f.value.is_finite() && f.value > 0.0) {
            return Err(invalid(
                "value",
                format!("is {}; a figure must be a positive number", f.value),
            ));
        }
        for (field, v) in [
            ("device", &f.device),
            ("program", &f.program),
            ("metric", &f.metric),
            ("unit", &f.unit),
            ("software", &f.software),
            ("source", &f.source),
            ("quote", &f.quote),
            ("command", &f.command),
            ("arch", &f.arch),
        ] {
            if v.trim().is_empty() {
                return Err(invalid(
                    field,
                    "is empty; every figure needs it (see the rules at the top of the file)".into(),
                ));
            }
        }
        let _ = f.method_note;
        figures.push(Figure {
            device: f.device,
            program: f.program,
            metric: f.metric,
            value: f.value,
            unit: f.unit,
            threads: f.threads,
            arch: f.arch,
            software: f.software,
            source: f.source,
            line,
        });
    }
    let mut isa = Vec::new();
    for i in raw.isa {
        let line = line_of(text, i.span().start);
        let i = i.into_inner();
        if i.source.trim().is_empty() || i.quote.trim().is_empty() {
            return Err(ReferenceError::Invalid {
                path: path.to_path_buf(),
                line,
                table: "isa",
                field: "source",
                what: "or `quote` is empty; every ISA fact needs both".into(),
            });
        }
        isa.push(Isa {
            device: i.device,
            soc: i.soc,
            core: i.core,
            hwcaps_arm64: i.hwcaps_arm64,
        });
    }
    Ok(Reference {
        path: path.to_path_buf(),
        figures,
        isa,
    })
}

/// What a measured program is compared against: device, program, metric prefix, arch, threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want<'a> {
    /// Device id.
    pub device: &'a str,
    /// Program id in the file.
    pub program: &'a str,
    /// The figure's `metric` must start with this.
    pub metric_prefix: &'a str,
    /// The figure's `arch` must start with this (`armhf`, `arm64`, `amd64`).
    pub arch: &'a str,
    /// Benchmark threads.
    pub threads: u32,
}

impl Reference {
    /// The first figure (the file's order: the first run of a source comes first) that fits
    /// `want`, or an error naming what is missing.
    pub fn figure(&self, want: &Want<'_>) -> Result<&Figure, ReferenceError> {
        self.figures
            .iter()
            .find(|f| {
                f.device == want.device
                    && f.program == want.program
                    && f.metric.starts_with(want.metric_prefix)
                    && f.arch.starts_with(want.arch)
                    && f.threads == want.threads
            })
            .ok_or_else(|| ReferenceError::Missing {
                path: self.path.clone(),
                what: format!(
                    "no figure for device {:?}, program {:?}, metric {:?}..., arch {:?}, {} thread(s)",
                    want.device, want.program, want.metric_prefix, want.arch, want.threads
                ),
            })
    }

    /// The ISA facts of `device`, if the file has them.
    pub fn isa(&self, device: &str) -> Option<&Isa> {
        self.isa.iter().find(|i| i.device == device)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn shipped() -> Reference {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/reference-devices.toml");
        load(&p).unwrap()
    }

    #[test]
    fn the_shipped_file_loads_and_has_the_calibration_figures() {
        let r = shipped();
        assert!(r.figures.len() >= 80, "{}", r.figures.len());
        let f = r
            .figure(&Want {
                device: "pi3bplus",
                program: "7z-b",
                metric_prefix: "total_mips_1t",
                arch: "armhf",
                threads: 1,
            })
            .unwrap();
        assert_eq!(f.value, 1046.0);
        assert!(f.line > 1 && f.source.contains("1isD"));
        assert!(
            r.isa("pi4b").unwrap().hwcaps_arm64.as_deref() == Some("fp asimd evtstrm crc32 cpuid")
        );
    }

    const GOOD: &str = r#"
[[figure]]
device = "pi4b"
program = "7z-b"
metric = "total_mips_1t"
value = 1606
unit = "MIPS"
threads = 1
arch = "armhf"
software = "p7zip 16.02"
command = "7z b"
source = "here"
quote = "Tot: 1606"
"#;

    #[test]
    fn a_bad_value_names_the_line_and_field() {
        let bad = GOOD.replace("value = 1606", "value = -3");
        let e = parse(Path::new("ref.toml"), &bad).unwrap_err().to_string();
        assert!(e.starts_with("ref.toml:2: field `value`"), "{e}");
        let bad = GOOD.replace("source = \"here\"", "source = \" \"");
        let e = parse(Path::new("ref.toml"), &bad).unwrap_err().to_string();
        assert!(e.contains("field `source`") && e.contains(":2:"), "{e}");
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused_with_the_position() {
        let chain = |e: ReferenceError| {
            let src = std::error::Error::source(&e).map(ToString::to_string);
            format!("{e}: {}", src.unwrap_or_default())
        };
        let e = chain(parse(Path::new("ref.toml"), &GOOD.replace("quote", "qoute")).unwrap_err());
        assert!(e.contains("ref.toml") && e.contains("qoute"), "{e}");
        let e = chain(
            parse(
                Path::new("ref.toml"),
                &GOOD.replace("threads = 1", "threads = \"one\""),
            )
            .unwrap_err(),
        );
        assert!(e.contains("line 8"), "{e}");
    }

    #[test]
    fn a_missing_figure_says_what_is_missing() {
        let r = parse(Path::new("ref.toml"), GOOD).unwrap();
        let e = r
            .figure(&Want {
                device: "pi4b",
                program: "7z-b",
                metric_prefix: "total_mips_1t",
                arch: "arm64",
                threads: 1,
            })
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"arm64\"") && e.contains("add the figure"),
            "{e}"
        );
    }
}
