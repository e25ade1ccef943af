//! One calibration: run every program on every node class, unthrottled and then under the
//! derived quota, and assemble `calibration.json`. The programs run through the [`Run`] trait
//! (QEMU or native in [`super::runner`], a fake in tests); the deciding is pure arithmetic.

// A calibration error ends the command; its size does not matter on that path.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::arith::{self, Pair};
use super::programs::{self, Program, Role};
use super::reference::Reference;
use super::store::{
    Calibration, ClassCalibration, Enforced, HostFacts, ProgramResult, RatioCheckRecord, SCHEMA,
};
use crate::spec::Arch;

/// Errors of a calibration.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The reference file.
    #[error(transparent)]
    Reference(#[from] super::reference::ReferenceError),
    /// Building a sysroot.
    #[error(transparent)]
    Sysroot(#[from] super::sysroot::SysrootError),
    /// The calibration file.
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    /// Running a program.
    #[error("running {program} on node {node} (class {class})")]
    Run {
        class: String,
        node: String,
        program: String,
        #[source]
        source: crate::exec::ExecError,
    },
    /// Reading its output.
    #[error("node {node} (class {class}), raw output kept in {raw}")]
    Parse {
        class: String,
        node: String,
        raw: PathBuf,
        #[source]
        source: super::parse::ParseError,
    },
    /// Saving a raw output.
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A flag names a program calibration does not know.
    #[error("unknown program {name:?} in --calibrate-on; known: {known}")]
    UnknownProgram { name: String, known: String },
}

/// How a node runs the programs.
#[derive(Debug, Clone, PartialEq)]
pub enum Launch {
    /// Under QEMU user mode.
    Qemu {
        /// `qemu-aarch64[-static]` / `qemu-arm[-static]`.
        qemu: PathBuf,
        /// The `-cpu` model.
        cpu: String,
        /// `OPENSSL_armcap` to hide crypto instructions QEMU's model cannot hide.
        openssl_armcap: Option<&'static str>,
    },
    /// Natively (amd64).
    Native,
}

/// One node class to calibrate (its first node in the scenario).
#[derive(Debug, Clone)]
pub struct Target {
    /// The class.
    pub class: String,
    /// The node the programs stand in for.
    pub node: String,
    /// Its arch.
    pub arch: Arch,
    /// How it runs programs.
    pub launch: Launch,
    /// The class profile's NIC limit, Mbit/s.
    pub nic_mbit: f64,
    /// ISA: whether the QEMU model matches the device.
    pub isa: Enforced,
    /// SD-card-like I/O limits.
    pub storage: Enforced,
}

/// Runs one program once on a target, with a CPU quota in host cores (`None`: unthrottled);
/// returns its stdout.
#[allow(async_fn_in_trait)]
pub trait Run {
    /// Run `program` on `target`.
    async fn run(
        &self,
        target: &Target,
        program: &Program,
        cpus: Option<f64>,
    ) -> Result<String, CalibrateError>;
    /// The Debian version of the package that ships `program` on `arch`.
    fn version(&self, arch: Arch, program: &Program) -> String;
}

/// Options of a calibration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Repetitions of every program in each phase.
    pub repetitions: u32,
    /// Program ids whose figures decide the quota; the others are held out.
    pub calibrate_on: Vec<String>,
    /// Host cores.
    pub host_cores: u32,
    /// Where raw outputs are kept.
    pub raw_dir: PathBuf,
    /// The scenario (for the recalibrate command).
    pub scenario: String,
    /// RFC 3339 time of the calibration.
    pub created: String,
}

/// The programs with their roles, checked against `calibrate_on`.
pub fn roles(calibrate_on: &[String]) -> Result<Vec<(Program, Role)>, CalibrateError> {
    let all = programs::all();
    for name in calibrate_on {
        if !all.iter().any(|p| p.id == name) {
            return Err(CalibrateError::UnknownProgram {
                name: name.clone(),
                known: all.iter().map(|p| p.id).collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(all
        .into_iter()
        .map(|p| {
            let r = if calibrate_on.iter().any(|c| c == p.id) {
                Role::Calibration
            } else {
                Role::HeldOut
            };
            (p, r)
        })
        .collect())
}

type Samples = BTreeMap<(String, &'static str), Vec<f64>>;

#[allow(clippy::too_many_arguments)]
async fn phase<R: Run>(
    runner: &R,
    targets: &[Target],
    progs: &[(Program, Role)],
    opts: &Options,
    quotas: &BTreeMap<String, f64>,
    free: bool,
    name: &str,
    say: &mut dyn FnMut(&str),
) -> Result<(Samples, Samples), CalibrateError> {
    let mut out: Samples = BTreeMap::new();
    let mut per_cpu: Samples = BTreeMap::new();
    std::fs::create_dir_all(&opts.raw_dir).map_err(|source| CalibrateError::Io {
        path: opts.raw_dir.clone(),
        source,
    })?;
    // Repetition-major, so that a burst of load on the host hits every class alike. Classes
    // without a device are not run; in the calibrated phase, only classes with a quota.
    for rep in 1..=opts.repetitions {
        for t in targets {
            let cpus = quotas.get(&t.class).copied();
            if programs::device_of(&t.class).is_none() || (!free && cpus.is_none()) {
                continue;
            }
            for (p, _) in progs {
                let text = runner.run(t, p, cpus).await?;
                let raw = opts
                    .raw_dir
                    .join(format!("{name}-{}-{}-{rep}.txt", t.class, p.id));
                std::fs::write(&raw, &text).map_err(|source| CalibrateError::Io {
                    path: raw.clone(),
                    source,
                })?;
                let parse = if free { p.parse_free } else { p.parse };
                let v = parse(&text).map_err(|source| CalibrateError::Parse {
                    class: t.class.clone(),
                    node: t.node.clone(),
                    raw: raw.clone(),
                    source,
                })?;
                say(&format!(
                    "  {name} {rep}/{}: {} {}: {v:.2} {}{}",
                    opts.repetitions,
                    t.class,
                    p.id,
                    p.unit,
                    cpus.map(|c| format!(" (quota {c:.3} cores)"))
                        .unwrap_or_default()
                ));
                out.entry((t.class.clone(), p.id)).or_default().push(v);
                if let (false, Some(pc)) = (free, p.parse_per_cpu) {
                    if let Ok(x) = pc(&text) {
                        per_cpu.entry((t.class.clone(), p.id)).or_default().push(x);
                    }
                }
            }
        }
    }
    Ok((out, per_cpu))
}

/// Run the whole calibration and assemble its result.
pub async fn calibrate<R: Run>(
    runner: &R,
    reference: &Reference,
    host: HostFacts,
    targets: &[Target],
    opts: &Options,
    say: &mut dyn FnMut(&str),
) -> Result<Calibration, CalibrateError> {
    let progs = roles(&opts.calibrate_on)?;
    say("unthrottled (one host core per program):");
    let (free, _) = phase(
        runner,
        targets,
        &progs,
        opts,
        &BTreeMap::new(),
        true,
        "unthrottled",
        say,
    )
    .await?;
    let decided = decide(reference, targets, &progs, &free, opts.host_cores);
    let quotas: BTreeMap<String, f64> = decided
        .iter()
        .filter_map(|(c, q)| q.as_ref().map(|q| (c.clone(), q.cpus)))
        .collect();
    say("calibrated (under each class's quota):");
    let (after, per_cpu) = if quotas.is_empty() {
        (Samples::new(), Samples::new())
    } else {
        phase(
            runner,
            targets,
            &progs,
            opts,
            &quotas,
            false,
            "calibrated",
            say,
        )
        .await?
    };
    Ok(assemble(
        runner, reference, host, targets, &progs, opts, &free, &after, &per_cpu, &decided,
    ))
}

fn published<'r>(
    reference: &'r Reference,
    t: &Target,
    p: &Program,
) -> Option<&'r super::reference::Figure> {
    let (device, _) = programs::device_of(&t.class)?;
    reference
        .figure(&programs::want(p, device, t.arch.as_str()))
        .ok()
}

/// The quota of every class from unthrottled medians (pure): `None` for a class without a
/// device or without a published figure of any calibration program.
pub fn decide(
    reference: &Reference,
    targets: &[Target],
    progs: &[(Program, Role)],
    free: &Samples,
    host_cores: u32,
) -> BTreeMap<String, Option<arith::Quota>> {
    let mut factors = BTreeMap::new();
    for t in targets {
        let pairs: Vec<Pair> = progs
            .iter()
            .filter(|(_, r)| *r == Role::Calibration)
            .filter_map(|(p, _)| {
                let f = published(reference, t, p)?;
                let m = arith::median(free.get(&(t.class.clone(), p.id))?)?;
                Some(Pair {
                    program: p.id.into(),
                    measured: m,
                    published: f.value,
                })
            })
            .collect();
        if let Some(f) = arith::speed_factor(&pairs) {
            factors.insert(t.class.clone(), f);
        }
    }
    let t_scale = arith::common_scale(&factors.values().copied().collect::<Vec<_>>());
    targets
        .iter()
        .map(|t| {
            let q = factors.get(&t.class).map(|f| {
                let cores = programs::device_of(&t.class).map_or(1, |(_, c)| c);
                arith::quota(*f, t_scale, cores, host_cores)
            });
            (t.class.clone(), q)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn assemble<R: Run>(
    runner: &R,
    reference: &Reference,
    host: HostFacts,
    targets: &[Target],
    progs: &[(Program, Role)],
    opts: &Options,
    free: &Samples,
    after: &Samples,
    per_cpu: &Samples,
    decided: &BTreeMap<String, Option<arith::Quota>>,
) -> Calibration {
    let factors: Vec<f64> = decided.values().flatten().map(|q| q.speed_factor).collect();
    let scale = arith::common_scale(&factors);
    let mut classes = Vec::new();
    for t in targets {
        let device = programs::device_of(&t.class).map_or("none", |(d, _)| d);
        let quota = decided.get(&t.class).cloned().flatten();
        let programs = progs
            .iter()
            .filter_map(|(p, role)| {
                let f = published(reference, t, p)?;
                let key = (t.class.clone(), p.id);
                Some(ProgramResult {
                    program: p.id.into(),
                    role: role.as_str().into(),
                    unit: p.unit.into(),
                    published: f.value,
                    published_source: format!(
                        "{}:{} ({}; arch {})",
                        reference.path.display(),
                        f.line,
                        f.source,
                        f.arch
                    ),
                    published_software: f.software.clone(),
                    measured_software: format!(
                        "Debian {} {}",
                        p.package,
                        runner.version(t.arch, p)
                    ),
                    measured_unthrottled: free.get(&key).cloned().unwrap_or_default(),
                    measured_calibrated_per_cpu: per_cpu.get(&key).cloned().unwrap_or_default(),
                    measured_calibrated: after.get(&key).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let nic = match reference.figure(&super::reference::Want {
            device,
            program: "nic",
            metric_prefix: "wired Ethernet throughput",
            arch: "",
            threads: 1,
        }) {
            Ok(f) => Enforced {
                enforced: true,
                detail: format!(
                    "the gateway's user-space link emulation limits the node to the profile's {} Mbit/s; the device measured {} Mbit/s ({}:{})",
                    t.nic_mbit,
                    f.value,
                    reference.path.display(),
                    f.line
                ),
            },
            Err(_) => Enforced {
                enforced: true,
                detail: format!(
                    "the gateway's user-space link emulation limits the node to the profile's {} Mbit/s; no measured figure of the device",
                    t.nic_mbit
                ),
            },
        };
        let not_calibrated = quota.is_none().then(|| {
            if device == "none" {
                format!("no reference device for class {}", t.class)
            } else {
                format!(
                    "no published figure of {device} ({}) for the calibration program(s) {}",
                    t.arch.as_str(),
                    opts.calibrate_on.join(", ")
                )
            }
        });
        classes.push(ClassCalibration {
            class: t.class.clone(),
            device: device.into(),
            arch: t.arch.as_str().into(),
            backend: match t.launch {
                Launch::Qemu { .. } => "qemu-user".into(),
                Launch::Native => "native".into(),
            },
            qemu_cpu: match &t.launch {
                Launch::Qemu { cpu, .. } => cpu.clone(),
                Launch::Native => String::new(),
            },
            quota,
            not_calibrated,
            isa: t.isa.clone(),
            storage: t.storage.clone(),
            nic,
            programs,
        });
    }
    let ratio_checks = ratio_checks(&classes);
    Calibration {
        schema: SCHEMA,
        created: opts.created.clone(),
        scenario: opts.scenario.clone(),
        host,
        scale,
        repetitions: opts.repetitions,
        classes,
        ratio_checks,
    }
}

/// The a : b ratio checks after calibration for every pair of classes (scenario order) that
/// both have a published figure of a program.
pub fn ratio_checks(classes: &[ClassCalibration]) -> Vec<RatioCheckRecord> {
    let mut out = Vec::new();
    for (i, a) in classes.iter().enumerate() {
        for b in &classes[i + 1..] {
            for pa in &a.programs {
                let Some(pb) = b.programs.iter().find(|p| p.program == pa.program) else {
                    continue;
                };
                let (Some(ma), Some(mb)) = (
                    arith::median(&pa.measured_calibrated),
                    arith::median(&pb.measured_calibrated),
                ) else {
                    continue;
                };
                let check = arith::ratio_check(
                    &Pair {
                        program: pa.program.clone(),
                        measured: ma,
                        published: pa.published,
                    },
                    &Pair {
                        program: pb.program.clone(),
                        measured: mb,
                        published: pb.published,
                    },
                );
                out.push(RatioCheckRecord {
                    pair: format!("{}:{}", a.class, b.class),
                    role: pa.role.clone(),
                    check,
                });
                // The same ratio from the per-CPU-second figures times the quotas: what the
                // calibrated nodes give when each gets its whole quota (a host with free cores).
                if let (Some(ca), Some(cb), Some(qa), Some(qb)) = (
                    arith::median(&pa.measured_calibrated_per_cpu),
                    arith::median(&pb.measured_calibrated_per_cpu),
                    &a.quota,
                    &b.quota,
                ) {
                    let check = arith::ratio_check(
                        &Pair {
                            program: pa.program.clone(),
                            measured: ca * qa.cpus,
                            published: pa.published,
                        },
                        &Pair {
                            program: pb.program.clone(),
                            measured: cb * qb.cpus,
                            published: pb.published,
                        },
                    );
                    out.push(RatioCheckRecord {
                        pair: format!("{}:{}", a.class, b.class),
                        role: format!("{} (per CPU second × quota)", pa.role),
                        check,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::calibrate::reference;

    /// Each class runs at a fixed speed per program, scaled linearly by the quota.
    struct Fake(BTreeMap<(&'static str, &'static str), f64>);

    impl Run for Fake {
        async fn run(
            &self,
            t: &Target,
            p: &Program,
            cpus: Option<f64>,
        ) -> Result<String, CalibrateError> {
            let base = self.0[&(leak(&t.class), p.id)];
            let v = base * cpus.unwrap_or(1.0).min(1.0);
            Ok(match p.id {
                // R/U is the rating per CPU second: the unthrottled speed.
                "7z-b" => format!("Avr: 1 1 1 {v} | 1 1 1 {v}\nTot: 1 {base} {v}\n"),
                "openssl-speed" => format!("type 16384 bytes\nAES-128-CBC {v}k\n"),
                _ => format!("    events per second: {v}\n"),
            })
        }
        fn version(&self, _: Arch, _: &Program) -> String {
            "1.0".into()
        }
    }

    fn leak(s: &str) -> &'static str {
        match s {
            "pi3" => "pi3",
            "pi4" => "pi4",
            _ => "control",
        }
    }

    fn target(class: &str, arch: Arch) -> Target {
        let e = Enforced {
            enforced: false,
            detail: String::new(),
        };
        Target {
            class: class.into(),
            node: format!("{class}-a"),
            arch,
            launch: Launch::Native,
            nic_mbit: 100.0,
            isa: e.clone(),
            storage: e,
        }
    }

    #[tokio::test]
    async fn a_slow_pi3_slows_the_pi4_alike_and_the_ratio_holds() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../profiles/reference-devices.toml");
        let r = reference::load(&p).unwrap();
        // pi3 at 0.5 of its device on 7-Zip (523 / 1046), pi4 at 2× (3538 / 1769).
        let fake = Fake(BTreeMap::from([
            (("pi3", "7z-b"), 523.0),
            (("pi4", "7z-b"), 3538.0),
            (("control", "7z-b"), 9000.0),
            (("pi3", "openssl-speed"), 30000.0),
            (("pi4", "openssl-speed"), 60000.0),
            (("control", "openssl-speed"), 1e6),
            (("pi3", "sysbench-cpu"), 30.0),
            (("pi4", "sysbench-cpu"), 1500.0),
            (("control", "sysbench-cpu"), 3000.0),
        ]));
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            repetitions: 2,
            calibrate_on: vec!["7z-b".into()],
            host_cores: 2,
            raw_dir: dir.path().join("raw"),
            scenario: "s.toml".into(),
            created: "now".into(),
        };
        let host = HostFacts {
            cpu_model: "c".into(),
            qemu_version: "q".into(),
            kernel: "k".into(),
        };
        let targets = [
            target("pi3", Arch::Armhf),
            target("pi4", Arch::Arm64),
            target("control", Arch::Amd64),
        ];
        let cal = calibrate(&fake, &r, host, &targets, &opts, &mut |_| {})
            .await
            .unwrap();
        assert!((cal.scale - 0.5).abs() < 1e-9, "{}", cal.scale);
        let q3 = cal.classes[0].quota.as_ref().unwrap();
        let q4 = cal.classes[1].quota.as_ref().unwrap();
        assert_eq!(q3.cpus, 1.0);
        assert!((q3.shortfall_pct.unwrap() - 50.0).abs() < 1e-9);
        assert!((q4.cpus - 0.25).abs() < 1e-9, "{q4:?}");
        assert!(cal.classes[2].quota.is_none());
        assert!(cal.classes[2]
            .not_calibrated
            .as_deref()
            .unwrap()
            .contains("no reference device"));
        let sz = cal
            .ratio_checks
            .iter()
            .find(|c| c.pair == "pi3:pi4" && c.check.program == "7z-b")
            .unwrap();
        assert_eq!(sz.role, "calibration");
        assert!(sz.check.error.abs() < 1e-9, "{sz:?}");
        // The fake's R/U is the unthrottled speed, so per CPU second × quota matches too.
        let model = cal
            .ratio_checks
            .iter()
            .find(|c| c.role == "calibration (per CPU second × quota)")
            .unwrap();
        assert!(model.check.error.abs() < 1e-9, "{model:?}");
        assert_eq!(
            cal.classes[0].programs[0].measured_calibrated_per_cpu,
            vec![523.0, 523.0]
        );
        // The held-out openssl ratio is what the fake's speeds make it.
        let ssl = cal
            .ratio_checks
            .iter()
            .find(|c| c.check.program == "openssl-speed")
            .unwrap();
        assert_eq!(ssl.role, "held-out");
        let want = (30000.0 / (60000.0 * 0.25)) / (56743.25 / 50626.56) - 1.0;
        assert!((ssl.check.error - want).abs() < 1e-9, "{ssl:?}");
        // Every run's raw output was kept.
        // 2 phases × 2 repetitions × 2 classes with a device × 3 programs.
        assert_eq!(
            std::fs::read_dir(dir.path().join("raw")).unwrap().count(),
            2 * 2 * 2 * 3
        );
        assert_eq!(
            cal.classes[0].programs[0].measured_unthrottled,
            vec![523.0, 523.0]
        );
    }

    #[test]
    fn unknown_programs_are_refused_by_name() {
        let e = roles(&["7z".into()]).unwrap_err().to_string();
        assert!(
            e.contains("\"7z\"") && e.contains("7z-b, openssl-speed, sysbench-cpu"),
            "{e}"
        );
        let r = roles(&["openssl-speed".into()]).unwrap();
        assert_eq!(r[1].1, Role::Calibration);
        assert_eq!(r[0].1, Role::HeldOut);
    }
}
