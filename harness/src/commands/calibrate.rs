//! `faasbed calibrate [SCENARIO]`: build the Debian sysroots, run the reference programs on one
//! node of every class, derive each class's quota and write `calibration.json` in the home.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::calibrate::programs::{self, OPENSSL_ARMCAP_NO_CRYPTO};
use crate::calibrate::reference::{self, Reference};
use crate::calibrate::runner::SysrootRunner;
use crate::calibrate::session::{self, CalibrateError, Launch, Options, Target};
use crate::calibrate::store::{self, Enforced};
use crate::calibrate::{host, render, sysroot};
use crate::exec::{self, Cmd};
use crate::output::say;
use crate::platform::local::node::GODEBUG_NO_CRYPTO;
use crate::platform::local::qemu_user::find_qemu;
use crate::spec::{Arch, Backend, Node};
use crate::store::home::Home;

/// Flags of `faasbed calibrate`.
#[derive(Debug, Clone)]
pub struct CalibrateOpts {
    /// The reference figures.
    pub reference: PathBuf,
    /// Repetitions per program and phase.
    pub repetitions: u32,
    /// Programs that decide the quota.
    pub calibrate_on: Vec<String>,
}

impl From<CalibrateError> for CliError {
    fn from(e: CalibrateError) -> Self {
        CliError::Calibrate(Box::new(e))
    }
}

/// Run `faasbed calibrate`.
pub async fn calibrate(home: &Home, scenario: &Path, opts: &CalibrateOpts) -> Result<(), CliError> {
    let sc = super::load_for(scenario, Some("local"))?;
    let reference = reference::load(&opts.reference).map_err(CalibrateError::from)?;
    let facts = host::facts().await;
    let cache = home.root.join("cache").join("calibrate");
    let mut sysroots = BTreeMap::new();
    let mut targets = Vec::new();
    let mut seen = Vec::new();
    for node in &sc.nodes {
        if seen.contains(&node.class) {
            continue;
        }
        seen.push(node.class.clone());
        if !sysroots.contains_key(node.arch.as_str()) {
            say(&format!(
                "building the {} sysroot (Debian {})",
                node.arch.as_str(),
                sysroot::PACKAGES.join(", ")
            ));
            let s = sysroot::ensure(&cache, node.arch)
                .await
                .map_err(CalibrateError::from)?;
            sysroots.insert(node.arch.as_str(), s);
        }
        let root = &sysroots[node.arch.as_str()];
        targets.push(target(node, &reference, root, &facts.cpu_model, &home.root).await?);
    }
    let run_id = format!("calibrate-{}", std::process::id());
    let runner = SysrootRunner {
        sysroots,
        run_id,
        home: std::path::absolute(&home.root).unwrap_or_else(|_| home.root.clone()),
    };
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let o = Options {
        repetitions: opts.repetitions.max(1),
        calibrate_on: opts.calibrate_on.clone(),
        host_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        raw_dir: cache.join("raw").join(created.replace(':', "")),
        scenario: scenario.display().to_string(),
        created,
    };
    say(&format!(
        "calibrating {} class(es) on {} (QEMU {}, kernel {}); raw outputs in {}",
        targets.len(),
        facts.cpu_model,
        facts.qemu_version,
        facts.kernel,
        o.raw_dir.display()
    ));
    let mut stop = super::StopSignals::install()?;
    let mut progress = |l: &str| say(l);
    let cal = tokio::select! {
        r = session::calibrate(&runner, &reference, facts, &targets, &o, &mut progress) => r?,
        sig = stop.recv() => return Err(super::interrupted(sig)),
    };
    let path = store::path_in(&home.root);
    store::save(&path, &cal).map_err(CalibrateError::from)?;
    say(&render::markdown(&cal));
    say(&format!("wrote {}", path.display()));
    Ok(())
}

/// The calibration target of `node`'s class: its launcher, ISA and storage facts.
async fn target(
    node: &Node,
    reference: &Reference,
    root: &sysroot::Sysroot,
    host_cpu: &str,
    files: &Path,
) -> Result<Target, CliError> {
    let device = programs::device_of(&node.class).map(|(d, _)| d);
    let isa_ref = device.and_then(|d| reference.isa(d));
    let no_crypto = isa_ref.is_some_and(|i| !programs::device_has_crypto(i));
    let (launch, isa) = match node.backend {
        Backend::Native => (
            Launch::Native,
            Enforced {
                enforced: false,
                detail: format!("runs natively on the host CPU ({host_cpu}), not the device's"),
            },
        ),
        _ => {
            let qemu = find_qemu(node.arch)?;
            let cpu = node.qemu_cpu().unwrap_or("max").to_string();
            let (armcap, isa) = isa_of(&qemu, &cpu, node.arch, no_crypto, isa_ref, root).await;
            (
                Launch::Qemu {
                    qemu,
                    cpu,
                    openssl_armcap: armcap,
                },
                isa,
            )
        }
    };
    let storage = crate::calibrate::storage::record(reference, device, files);
    Ok(Target {
        class: node.class.clone(),
        node: node.name.clone(),
        arch: node.arch,
        launch,
        nic_mbit: node.profile.nic_mbit,
        isa,
        storage,
    })
}

/// Whether the QEMU model can match the device's ISA. A device without the ARMv8 crypto
/// extensions on an arm64 model that has them: try `-cpu MODEL,aes=off`; QEMU 7.2 has no such
/// property, so OpenSSL is told through `OPENSSL_armcap` and the ISA is recorded as not enforced.
async fn isa_of(
    qemu: &Path,
    cpu: &str,
    arch: Arch,
    no_crypto: bool,
    isa: Option<&reference::Isa>,
    root: &sysroot::Sysroot,
) -> (Option<&'static str>, Enforced) {
    let device = isa.map_or_else(
        || "no ISA facts for this class's device".to_string(),
        |i| format!("{}: {}", i.soc, i.core),
    );
    match (arch, no_crypto) {
        (Arch::Armhf, _) => (
            None,
            Enforced {
                enforced: no_crypto,
                detail: format!(
                    "`qemu-arm -cpu {cpu}` (ARMv7) has no ARMv8 crypto instructions{}; it is not the device's ARMv8 core in AArch32 (qemu-arm has no cortex-a53 model). Device: {device}",
                    if no_crypto { ", like the device" } else { ", unlike the device" }
                ),
            },
        ),
        (Arch::Arm64, true) => {
            let probe = Cmd::new(qemu)
                .args(["-cpu", &format!("{cpu},aes=off"), "-L"])
                .arg(&root.root)
                .arg("-E")
                .arg(format!("LD_LIBRARY_PATH={}", root.library_path()))
                .arg(root.bin("openssl"))
                .arg("version")
                .timeout(std::time::Duration::from_secs(30));
            let why = match exec::run(&probe).await {
                Ok(_) => "QEMU accepted `aes=off` but has no switch for pmull/sha1/sha2".to_string(),
                Err(exec::ExecError::NonZeroExit { stderr, .. }) => stderr.trim().to_string(),
                Err(e) => e.to_string(),
            };
            (
                Some(OPENSSL_ARMCAP_NO_CRYPTO),
                Enforced {
                    enforced: false,
                    detail: format!(
                        "QEMU's {cpu} exposes aes/pmull/sha1/sha2, which the device lacks, and cannot hide them (`-cpu {cpu},aes=off`: {why}); openssl runs with OPENSSL_armcap={OPENSSL_ARMCAP_NO_CRYPTO} (no crypto instructions) as on the device; enforced for Go functions via GODEBUG={GODEBUG_NO_CRYPTO}; other programs (Python functions) still see the instructions. Device: {device}"
                    ),
                },
            )
        }
        _ => (
            None,
            Enforced {
                enforced: isa.is_some(),
                detail: format!("`-cpu {cpu}`; device: {device}"),
            },
        ),
    }
}
