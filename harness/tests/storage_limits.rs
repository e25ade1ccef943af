//! SD-card-like storage of Pi-class nodes on the local platform: a running node's cgroup holds
//! the device's published limits for the block device backing the run's files, and its
//! provenance says so; a node of a class without SD-card limits (vps) gets none.
//!
//! Needs root and the cgroup v1 `blkio` controller (or v2 `io`) with the run folder on a block
//! device. Where any of it is missing the test is reported as *ignored* with the reason (own
//! harness, `libtest-mimic`, since libtest cannot ignore a test at run time).
#![allow(clippy::unwrap_used)]

#[path = "common/gated.rs"]
mod gated;

use std::path::{Path, PathBuf};

use faasbed::calibrate::storage::{backing_device, io_controller};
use faasbed::platform::local::blkio::blkio_base;

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn missing_prerequisites() -> Option<String> {
    if !faasbed::doctor::is_root() {
        return Some("not root: run the tests with sudo".into());
    }
    if io_controller(
        &read("/proc/self/cgroup"),
        &read("/sys/fs/cgroup/cgroup.controllers"),
    ) != Some("blkio (v1)")
    {
        return Some("no cgroup v1 blkio controller (this test reads v1 throttle files)".into());
    }
    if let Err(why) = backing_device(&std::env::temp_dir()) {
        return Some(why);
    }
    None
}

async fn a_running_pi_node_has_its_sd_card_limits_in_its_blkio_group() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pi3-pi4-vps.toml");
    let s = faasbed::spec::load(&p)
        .unwrap()
        .retarget(faasbed::spec::PlatformKind::Local)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = format!("cal2-sd-{}", std::process::id());
    let served = faasbed::platform::local::serve(
        &s,
        &run,
        "pw",
        &dir.path().join("images"),
        &dir.path().join("logs"),
    )
    .await
    .unwrap();
    let (major, minor) = backing_device(dir.path()).unwrap();
    let base: PathBuf =
        blkio_base(&read("/proc/self/cgroup"), &read("/proc/self/mountinfo")).unwrap();
    let mut checked = Vec::new();
    for n in &served.nodes {
        let group = base.join(format!("faasbed-{run}-{}", n.name));
        let file = |f: &str| std::fs::read_to_string(group.join(f)).unwrap_or_default();
        match n.class.as_str() {
            "pi3" => {
                assert_eq!(n.enforcement["storage"], true, "{}", n.enforcement);
                // Published for the Pi 3 B+: 23.4 MB/s read, 22.5 MB/s write.
                assert!(
                    file("blkio.throttle.read_bps_device")
                        .contains(&format!("{major}:{minor} 23400000")),
                    "{}",
                    file("blkio.throttle.read_bps_device")
                );
                assert!(file("blkio.throttle.write_bps_device")
                    .contains(&format!("{major}:{minor} 22500000")));
                checked.push("pi3");
            }
            "pi4" => {
                assert_eq!(n.enforcement["storage"], true, "{}", n.enforcement);
                let iops = file("blkio.throttle.read_iops_device");
                assert!(iops.starts_with(&format!("{major}:{minor} ")), "{iops}");
                checked.push("pi4");
            }
            _ => {
                assert!(n.enforcement.get("storage").is_none(), "{}", n.enforcement);
                assert!(!group.exists(), "{}", group.display());
            }
        }
    }
    assert_eq!(checked, ["pi3", "pi4"]);
    served.stop().await;
    for n in ["pi3", "pi4"] {
        let _ = std::fs::remove_dir(base.join(format!("faasbed-{run}-{n}")));
    }
}

fn main() -> std::process::ExitCode {
    gated::main(
        "storage_limits",
        "the SD-card limit tests",
        missing_prerequisites(),
        false,
        vec![gated::async_test(
            "a_running_pi_node_has_its_sd_card_limits_in_its_blkio_group",
            a_running_pi_node_has_its_sd_card_limits_in_its_blkio_group,
        )],
    )
}
