//! What calibration runs and compares: the reference programs (command line, parser, the
//! published figure they match) and the device each node class stands for.

use super::parse::{self, ParseError};
use super::reference::Want;

/// Reads a figure from a program's output.
pub type Parser = fn(&str) -> Result<f64, ParseError>;

/// How a program's figure is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Its measured / published ratio decides the class's quota.
    Calibration,
    /// Only checked after calibration (the error on a program calibration did not use).
    HeldOut,
}

impl Role {
    /// `calibration` or `held-out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Calibration => "calibration",
            Role::HeldOut => "held-out",
        }
    }
}

/// One reference program.
#[derive(Debug, Clone)]
pub struct Program {
    /// Id used on the command line and in `calibration.json` (`7z-b`).
    pub id: &'static str,
    /// The metric, as shown in reports (`total MIPS, 1 thread`).
    pub label: &'static str,
    /// The Debian package that ships it.
    pub package: &'static str,
    /// The binary in `usr/bin`.
    pub bin: &'static str,
    /// Its arguments (one thread), measuring wall-clock speed: what a replica under a quota
    /// experiences (the calibrated phase).
    pub args: &'static [&'static str],
    /// Its arguments for the unthrottled phase, measuring speed per CPU second where the
    /// program can (so that other load on the host does not bias the speed factor).
    pub args_free: &'static [&'static str],
    /// The reference file's `program`.
    pub ref_program: &'static str,
    /// The reference file's `metric` prefix.
    pub ref_metric: &'static str,
    /// Whether the published figure must be of the node's arch (`false`: the sources do not
    /// say their arch, and any figure of the device is taken, marked so).
    pub same_arch: bool,
    /// Unit of the figure.
    pub unit: &'static str,
    /// Reads the figure from the program's output.
    pub parse: Parser,
    /// Reads the figure from the output of an unthrottled run (`args_free`).
    pub parse_free: Parser,
    /// How the unthrottled figure is normalised, for reports.
    pub free_note: &'static str,
    /// Reads the figure per CPU second from a calibrated (wall-clock) run, where the output
    /// has it (7-Zip's R/U): with the quota it gives the speed on a host with a free core.
    pub parse_per_cpu: Option<Parser>,
}

fn seven_zip_total(out: &str) -> Result<f64, ParseError> {
    parse::seven_zip(out).map(|s| s.total_mips)
}

fn seven_zip_total_per_usage(out: &str) -> Result<f64, ParseError> {
    parse::seven_zip(out).map(|s| s.total_ru_mips)
}

fn aes_128_cbc_16k(out: &str) -> Result<f64, ParseError> {
    parse::openssl_speed(out, "aes-128-cbc", 16384)
}

/// Every program calibration knows, in run order.
pub fn all() -> Vec<Program> {
    vec![
        Program {
            id: "7z-b",
            label: "7-Zip benchmark, total rating, 1 thread (MIPS)",
            package: "7zip",
            bin: "7zz",
            args: &["b", "1", "-mmt1", "-md22"],
            args_free: &["b", "1", "-mmt1", "-md22"],
            ref_program: "7z-b",
            ref_metric: "total_mips_1t",
            same_arch: true,
            unit: "MIPS",
            parse: seven_zip_total,
            parse_free: seven_zip_total_per_usage,
            free_note: "7-Zip's R/U column (rating at 100 % of one core)",
            parse_per_cpu: Some(seven_zip_total_per_usage),
        },
        Program {
            id: "openssl-speed",
            label: "openssl speed aes-128-cbc, 16 KiB blocks (1000 bytes/s)",
            package: "openssl",
            bin: "openssl",
            args: &[
                "speed",
                "-elapsed",
                "-seconds",
                "3",
                "-bytes",
                "16384",
                "-evp",
                "aes-128-cbc",
            ],
            args_free: &[
                "speed",
                "-seconds",
                "3",
                "-bytes",
                "16384",
                "-evp",
                "aes-128-cbc",
            ],
            ref_program: "openssl-speed",
            ref_metric: "aes-128-cbc, 16384",
            same_arch: true,
            unit: "1000 bytes/s",
            parse: aes_128_cbc_16k,
            parse_free: aes_128_cbc_16k,
            free_note: "openssl speed without -elapsed (per user CPU second)",
            parse_per_cpu: None,
        },
        Program {
            id: "sysbench-cpu",
            label: "sysbench cpu, 1 thread, prime 10000 (events/s)",
            package: "sysbench",
            bin: "sysbench",
            args: &["cpu", "--threads=1", "--time=5", "run"],
            args_free: &["cpu", "--threads=1", "--time=5", "run"],
            ref_program: "sysbench-cpu",
            ref_metric: "events/s, 1 thread",
            same_arch: false,
            unit: "events/s",
            parse: parse::sysbench_cpu,
            parse_free: parse::sysbench_cpu,
            free_note: "wall clock (sysbench has no CPU-time figure; host load lowers it)",
            parse_per_cpu: None,
        },
    ]
}

/// The program calibration uses by default; the others are held out.
pub const DEFAULT_CALIBRATION: &[&str] = &["7z-b"];

/// The published figure a program on a node of `arch` is compared against.
pub fn want<'a>(p: &'a Program, device: &'a str, arch: &'a str) -> Want<'a> {
    Want {
        device,
        program: p.ref_program,
        metric_prefix: p.ref_metric,
        arch: if p.same_arch { arch } else { "" },
        threads: 1,
    }
}

/// The reference device a class stands for, and the device's cores.
///
/// `pi3` is the Pi 3 B+ (the only Pi 3 with complete armhf logs; the Pi 3 B has totals only).
pub fn device_of(class: &str) -> Option<(&'static str, u32)> {
    match class {
        "pi3" => Some(("pi3bplus", 4)),
        "pi4" => Some(("pi4b", 4)),
        "pi5" => Some(("pi5", 4)),
        "vps" => Some(("vps-1vcpu", 1)),
        _ => None,
    }
}

/// `OPENSSL_armcap` that hides the ARMv8 crypto extensions from OpenSSL (NEON only), for
/// devices without them when QEMU's CPU model cannot hide them.
pub const OPENSSL_ARMCAP_NO_CRYPTO: &str = "0x1";

/// Whether the device has the ARMv8 crypto extensions, from its ISA table (`hwcaps_arm64`
/// lists `aes`, or `core` says "with ... Crypto").
pub fn device_has_crypto(isa: &super::reference::Isa) -> bool {
    isa.hwcaps_arm64
        .as_deref()
        .is_some_and(|h| h.split_whitespace().any(|f| f == "aes"))
        || (isa.core.contains("with") && isa.core.contains("Crypto"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::calibrate::reference;

    fn shipped() -> reference::Reference {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../profiles/reference-devices.toml");
        reference::load(&p).unwrap()
    }

    #[test]
    fn the_pi_classes_have_their_calibration_figures() {
        let r = shipped();
        let sz = &all()[0];
        assert_eq!(
            r.figure(&want(sz, "pi3bplus", "armhf")).unwrap().value,
            1046.0
        );
        assert_eq!(r.figure(&want(sz, "pi4b", "arm64")).unwrap().value, 1769.0);
        let ssl = &all()[1];
        assert_eq!(
            r.figure(&want(ssl, "pi3bplus", "armhf")).unwrap().value,
            56743.25
        );
        assert_eq!(
            r.figure(&want(ssl, "pi4b", "arm64")).unwrap().value,
            50626.56
        );
        let sb = &all()[2];
        assert_eq!(r.figure(&want(sb, "pi4b", "arm64")).unwrap().value, 1477.83);
        // The VPS has no 7-Zip figure: its class cannot be calibrated on 7z-b.
        assert!(r.figure(&want(sz, "vps-1vcpu", "amd64")).is_err());
    }

    #[test]
    fn crypto_per_device() {
        let r = shipped();
        assert!(!device_has_crypto(r.isa("pi4b").unwrap()));
        assert!(!device_has_crypto(r.isa("pi3bplus").unwrap()));
        assert!(device_has_crypto(r.isa("pi5").unwrap()));
        assert_eq!(device_of("pi3"), Some(("pi3bplus", 4)));
        assert_eq!(device_of("control"), None);
    }
}
