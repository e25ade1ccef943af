//! The fidelity section (Markdown) of a calibration: per class, emulated / real for each
//! reference program, what is enforced, the held-out error and the pi3 : pi4 ratio checks.
//! `faasbed calibrate` prints it and every report embeds it.

use std::fmt::Write;

use super::arith;
use super::store::Calibration;

/// The tolerance of the ratio check (±15 %).
pub const RATIO_TOLERANCE: f64 = 0.15;

fn pct(x: f64) -> String {
    format!("{:+.1} %", x * 100.0)
}

/// The Markdown body of the fidelity section (no heading).
pub fn markdown(cal: &Calibration) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Calibrated {} for `{}` on {} (QEMU {}, kernel {}), {} repetition(s) per program. \
         Every calibrated class runs at {:.3} × its device's speed{}.\n",
        cal.created,
        cal.scenario,
        cal.host.cpu_model,
        cal.host.qemu_version,
        cal.host.kernel,
        cal.repetitions,
        cal.scale,
        if cal.scale < 1.0 {
            " (emulation is slower than at least one device, so every class is slowed to the same fraction, which keeps the ratios between classes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "| class | device | arch / CPU model | speed unthrottled / device | CPU quota (cores) | shortfall |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for c in &cal.classes {
        let (f, q, short) = match &c.quota {
            Some(q) => (
                format!("{:.3}", q.speed_factor),
                format!(
                    "{:.3} (device cores {}, node cores {})",
                    q.cpus,
                    device_cores(&c.device),
                    q.cores
                ),
                q.shortfall_pct.map_or_else(
                    || "none".into(),
                    |p| format!("{p:.1} % slower than the device"),
                ),
            ),
            None => (
                "–".into(),
                "not calibrated".into(),
                c.not_calibrated.clone().unwrap_or_default(),
            ),
        };
        let cpu = if c.qemu_cpu.is_empty() {
            "native".to_string()
        } else {
            c.qemu_cpu.clone()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} / {} | {f} | {q} | {short} |",
            c.class, c.device, c.arch, cpu
        );
    }
    let _ = writeln!(
        s,
        "\n| class | program | role | published | emulated (calibrated, median) | emulated / real | error vs target | spread | versions (device → here) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for c in &cal.classes {
        for p in &c.programs {
            let m = arith::median(&p.measured_calibrated);
            let (emu, ratio, err) = match m {
                Some(m) => (
                    format!("{m:.2}"),
                    format!("{:.3}", m / p.published),
                    if c.quota.is_some() {
                        pct(arith::rel_error(m, arith::target(p.published, cal.scale)))
                    } else {
                        "–".into()
                    },
                ),
                None => ("–".into(), "–".into(), "–".into()),
            };
            let spread = arith::spread(&p.measured_calibrated)
                .map_or_else(|| "–".into(), |x| format!("{:.1} %", x * 100.0));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} {} | {emu} | {ratio} | {err} | {spread} | {} → {} |",
                c.class,
                p.program,
                p.role,
                p.published,
                p.unit,
                p.published_software,
                p.measured_software
            );
        }
    }
    if !cal.ratio_checks.is_empty() {
        let _ = writeln!(
            s,
            "\n| pair | program | role | emulated ratio | published ratio | error | within ±{:.0} % |",
            RATIO_TOLERANCE * 100.0
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for r in &cal.ratio_checks {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.3} | {:.3} | {} | {} |",
                r.pair,
                r.check.program,
                r.role,
                r.check.emulated,
                r.check.published,
                pct(r.check.error),
                if arith::within(r.check.error, RATIO_TOLERANCE) {
                    "yes"
                } else {
                    "no"
                }
            );
        }
    }
    let _ = writeln!(s, "\nEnforced per class:\n");
    for c in &cal.classes {
        let yn = |b: bool| if b { "enforced" } else { "NOT enforced" };
        let _ = writeln!(
            s,
            "- **{}**: ISA {}: {}",
            c.class,
            yn(c.isa.enforced),
            c.isa.detail
        );
        let _ = writeln!(
            s,
            "  - storage {}: {}",
            yn(c.storage.enforced),
            c.storage.detail
        );
        let _ = writeln!(s, "  - NIC {}: {}", yn(c.nic.enforced), c.nic.detail);
    }
    s
}

fn device_cores(device: &str) -> u32 {
    match device {
        "vps-1vcpu" => 1,
        "none" => 0,
        _ => 4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::calibrate::arith::{Quota, RatioCheck};
    use crate::calibrate::store::*;

    #[test]
    fn the_section_shows_ratios_errors_and_what_is_enforced() {
        let e = |b, d: &str| Enforced {
            enforced: b,
            detail: d.into(),
        };
        let prog = |name: &str, role: &str, publ: f64, m: f64| ProgramResult {
            program: name.into(),
            role: role.into(),
            unit: "MIPS".into(),
            published: publ,
            published_source: "ref:1".into(),
            published_software: "p7zip 16.02".into(),
            measured_software: "Debian 7zip 26.02".into(),
            measured_unthrottled: vec![m * 2.0],
            measured_calibrated: vec![m * 0.9, m, m * 1.1],
            measured_calibrated_per_cpu: vec![],
        };
        let cal = Calibration {
            schema: SCHEMA,
            created: "2026-12-03T04:00:00Z".into(),
            scenario: "s.toml".into(),
            host: HostFacts {
                cpu_model: "cpu".into(),
                qemu_version: "7.2.22".into(),
                kernel: "k".into(),
            },
            scale: 0.5,
            repetitions: 3,
            classes: vec![ClassCalibration {
                class: "pi3".into(),
                device: "pi3bplus".into(),
                arch: "armhf".into(),
                backend: "qemu-user".into(),
                qemu_cpu: "cortex-a7".into(),
                quota: Some(Quota {
                    speed_factor: 0.5,
                    cpus: 1.0,
                    shortfall_pct: Some(50.0),
                    cores: 2,
                }),
                not_calibrated: None,
                isa: e(false, "qemu has no aes=off"),
                storage: e(false, "no block device"),
                nic: e(true, "100 Mbit/s"),
                programs: vec![
                    prog("7z-b", "calibration", 1000.0, 500.0),
                    prog("openssl-speed", "held-out", 100.0, 60.0),
                ],
            }],
            ratio_checks: vec![RatioCheckRecord {
                pair: "pi3:pi4".into(),
                role: "calibration".into(),
                check: RatioCheck {
                    program: "7z-b".into(),
                    emulated: 0.6,
                    published: 0.59,
                    error: 0.017,
                },
            }],
        };
        let md = markdown(&cal);
        assert!(
            md.contains("| pi3 | 7z-b | calibration | 1000 MIPS | 500.00 | 0.500 | +0.0 % |"),
            "{md}"
        );
        assert!(
            md.contains("| pi3 | openssl-speed | held-out | 100 MIPS | 60.00 | 0.600 | +20.0 % |"),
            "{md}"
        );
        assert!(md.contains("50.0 % slower than the device"));
        assert!(
            md.contains("| pi3:pi4 | 7z-b | calibration | 0.600 | 0.590 | +1.7 % | yes |"),
            "{md}"
        );
        assert!(md.contains("ISA NOT enforced: qemu has no aes=off"));
        assert!(md.contains("NIC enforced: 100 Mbit/s"));
        assert!(md.contains("20.0 %"), "spread of 0.9..1.1 is 20 %");
    }
}
