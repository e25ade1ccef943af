//! Applying a calibration to a run: `bench` and `up` check `calibration.json` against this
//! host (refusing a stale one with the command that recalibrates), copy the one they apply
//! into the run's state folder and its results, and the local gateway daemon sets each
//! calibrated class's CPU quota from that copy.

use std::path::Path;

use super::store::{self, Calibration, StoreError};
use crate::spec::{PlatformKind, Scenario};
use crate::store::home::Home;

/// The applied calibration's file name in a run's state folder and in its results.
pub const RUN_FILE: &str = "calibration.json";

/// What a run does about calibration.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Applied (the calibration is fresh).
    Applied(Box<Calibration>),
    /// Not applied, with the reason (no calibration, `--uncalibrated`, another platform).
    NotApplied(String),
}

/// Decide for a run of `scenario` on this host (pure apart from the file read): fresh → apply;
/// stale → refuse with the recalibrate command, unless `uncalibrated`.
pub fn decide(
    home: &Home,
    scenario: &Scenario,
    now: &store::HostFacts,
    uncalibrated: bool,
) -> Result<Decision, StoreError> {
    if scenario.platform.kind != PlatformKind::Local {
        return Ok(Decision::NotApplied(format!(
            "calibration applies to the local platform; this run is on {}",
            scenario.platform.kind.as_str()
        )));
    }
    if uncalibrated {
        return Ok(Decision::NotApplied("run with --uncalibrated".into()));
    }
    let path = store::path_in(&home.root);
    match store::applicable(&path, &scenario.path.display().to_string(), now)? {
        Some(c) => Ok(Decision::Applied(Box::new(c))),
        None => Ok(Decision::NotApplied(format!(
            "no {} in {}; run `{}` to calibrate",
            store::FILE,
            home.root.display(),
            store::recalibrate_command(&scenario.path.display().to_string())
        ))),
    }
}

/// Write the applied calibration (if any) into `dir` (the run's state folder or results).
pub fn record(dir: &Path, decision: &Decision) -> Result<(), StoreError> {
    match decision {
        Decision::Applied(c) => store::save(&dir.join(RUN_FILE), c),
        Decision::NotApplied(_) => Ok(()),
    }
}

/// Check the home's calibration for a run (see [`decide`]) and record the applied one in the
/// run's state folder (`<home>/runs/<run>/`), where the gateway daemon reads it, and in
/// `results_dir` when given.
pub async fn prepare(
    home: &Home,
    scenario: &Scenario,
    run_id: &str,
    uncalibrated: bool,
    results_dir: Option<&Path>,
) -> Result<Decision, StoreError> {
    // Reading the host facts runs QEMU: only when there is a calibration to check.
    let now = if store::path_in(&home.root).exists() {
        super::host::facts().await
    } else {
        store::HostFacts {
            cpu_model: String::new(),
            qemu_version: String::new(),
            kernel: String::new(),
        }
    };
    let d = decide(home, scenario, &now, uncalibrated)?;
    record(&home.runs().join(run_id), &d)?;
    if let Some(r) = results_dir {
        record(r, &d)?;
    }
    Ok(d)
}

/// Set the CPU quota of every node whose class the calibration covers with the same arch and
/// QEMU CPU model; returns the classes it changed.
pub fn apply_to(scenario: &mut Scenario, cal: &Calibration) -> Vec<String> {
    let mut changed = Vec::new();
    for n in &mut scenario.nodes {
        let Some(c) = cal.classes.iter().find(|c| c.class == n.class) else {
            continue;
        };
        let Some(q) = &c.quota else { continue };
        let cpu = n.qemu_cpu().unwrap_or("").to_string();
        if c.arch != n.arch.as_str() || c.qemu_cpu != cpu {
            continue;
        }
        n.profile.cpus = q.cpus;
        if !changed.contains(&n.class) {
            changed.push(n.class.clone());
        }
    }
    changed
}

/// For the gateway daemon: apply the calibration recorded in `run_dir`, if any.
pub fn apply_recorded(scenario: &mut Scenario, run_dir: &Path) -> Result<Vec<String>, StoreError> {
    let path = run_dir.join(RUN_FILE);
    match store::read(&path, &scenario.path.display().to_string())? {
        Some(c) => Ok(apply_to(scenario, &c)),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::calibrate::arith::Quota;
    use crate::calibrate::store::*;

    fn host() -> HostFacts {
        HostFacts {
            cpu_model: "cpu".into(),
            qemu_version: "7.2.22".into(),
            kernel: "k".into(),
        }
    }

    fn scenario() -> Scenario {
        let p =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pi3-pi4-vps.toml");
        crate::spec::load(&p)
            .unwrap()
            .retarget(PlatformKind::Local)
            .unwrap()
    }

    fn cal(pi4_cpu: &str) -> Calibration {
        let e = Enforced {
            enforced: false,
            detail: String::new(),
        };
        let class = |class: &str, arch: &str, cpu: &str, q: Option<f64>| ClassCalibration {
            class: class.into(),
            device: "d".into(),
            arch: arch.into(),
            backend: "qemu-user".into(),
            qemu_cpu: cpu.into(),
            quota: q.map(|cpus| Quota {
                speed_factor: 1.0,
                cpus,
                shortfall_pct: None,
                cores: 2,
            }),
            not_calibrated: None,
            isa: e.clone(),
            storage: e.clone(),
            nic: e.clone(),
            programs: vec![],
        };
        Calibration {
            schema: SCHEMA,
            created: "t".into(),
            scenario: "scenarios/pi3-pi4-vps.toml".into(),
            host: host(),
            scale: 1.0,
            repetitions: 1,
            classes: vec![
                class("pi3", "armhf", "cortex-a7", Some(0.41)),
                class("pi4", "arm64", pi4_cpu, Some(0.27)),
                class("vps", "amd64", "", None),
            ],
            ratio_checks: vec![],
        }
    }

    #[test]
    fn a_fresh_calibration_sets_the_quota_of_matching_classes_only() {
        let mut s = scenario();
        let vps_before = s
            .nodes
            .iter()
            .find(|n| n.class == "vps")
            .unwrap()
            .profile
            .cpus;
        let changed = apply_to(&mut s, &cal("cortex-a72"));
        assert_eq!(changed, ["pi3", "pi4"]);
        let cpus =
            |s: &Scenario, c: &str| s.nodes.iter().find(|n| n.class == c).unwrap().profile.cpus;
        assert_eq!(cpus(&s, "pi3"), 0.41);
        assert_eq!(cpus(&s, "pi4"), 0.27);
        assert_eq!(
            cpus(&s, "vps"),
            vps_before,
            "an uncalibrated class keeps its profile"
        );
        // Calibrated for another CPU model: the pi4 quota does not apply.
        let mut s = scenario();
        assert_eq!(apply_to(&mut s, &cal("cortex-a53")), ["pi3"]);
    }

    #[test]
    fn decide_applies_fresh_refuses_stale_and_honours_the_escape() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            root: dir.path().to_path_buf(),
        };
        let s = scenario();
        let d = decide(&home, &s, &host(), false).unwrap();
        assert!(
            matches!(&d, Decision::NotApplied(w) if w.contains("faasbed calibrate")),
            "{d:?}"
        );
        save(&path_in(&home.root), &cal("cortex-a72")).unwrap();
        assert!(matches!(
            decide(&home, &s, &host(), false).unwrap(),
            Decision::Applied(_)
        ));
        let other = HostFacts {
            qemu_version: "9.0.0".into(),
            ..host()
        };
        let e = decide(&home, &s, &other, false).unwrap_err().to_string();
        assert!(
            e.contains("QEMU version")
                && e.contains("faasbed calibrate scenarios/pi3-pi4-vps.toml"),
            "{e}"
        );
        assert!(matches!(
            decide(&home, &s, &other, true).unwrap(),
            Decision::NotApplied(_)
        ));
        // The recorded copy is what the daemon applies.
        let run = dir.path().join("runs/r1");
        record(&run, &Decision::Applied(Box::new(cal("cortex-a72")))).unwrap();
        let mut s2 = scenario();
        assert_eq!(apply_recorded(&mut s2, &run).unwrap(), ["pi3", "pi4"]);
        assert!(apply_recorded(&mut s2, &dir.path().join("runs/none"))
            .unwrap()
            .is_empty());
    }
}
