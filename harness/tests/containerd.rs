//! Replicas as real containers: faasbed's own containerd, OCI images written by faasbed and
//! imported without a registry, one network namespace per replica on a CNI bridge, runc applying
//! the CPU quota and memory limit, an arm64 image run through binfmt's qemu-user-static; and
//! nothing left behind by `down`: no container, task, snapshot, network namespace, bridge,
//! cgroup or containerd process.
//!
//! Needs root, `containerd runc containernetworking-plugins` and binfmt's `qemu-aarch64` with
//! the `F` flag (`.ci/run` sets all of that up). Where any of it is missing, the tests are
//! reported as *ignored* with the reason and the command that fixes it (own harness,
//! `libtest-mimic`, since libtest cannot ignore a test at run time).
#![allow(clippy::unwrap_used)]

#[path = "common/gated.rs"]
mod gated;
#[path = "common/leftovers.rs"]
mod leftovers;

mod common;

use std::time::Duration;

use faasbed::doctor;
use faasbed::exec;
use faasbed::nodes::containerd::{ctr, Image, ReplicaSpec, Runtime};
use faasbed::spec::Arch;

fn missing_prerequisites() -> Option<String> {
    let mut why = Vec::new();
    if !doctor::is_root() {
        why.push("not root: run the tests with sudo".to_string());
    }
    let mut missing = faasbed::spec::missing_containerd_tools();
    if exec::which("ip").is_none() {
        missing.push("ip");
    }
    if !missing.is_empty() {
        why.push(format!(
            "missing {missing:?}: {} iproute2",
            faasbed::spec::CONTAINERD_APT
        ));
    }
    if !faasbed::spec::binfmt_fixed("qemu-aarch64") {
        why.push("binfmt has no enabled qemu-aarch64 with flag F: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-aarch64 (package qemu-user-static)".to_string());
    }
    (!why.is_empty()).then(|| why.join("; "))
}

async fn get(addr: std::net::Ipv4Addr) -> (u16, http::HeaderMap) {
    let url = format!("http://{addr}:8080/");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        if let Ok(r) = client.get(url.parse().unwrap()).await {
            return (r.status().as_u16(), r.headers().clone());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GET `path` of the replica at `addr` (answering already): status and body.
async fn get_body(addr: std::net::Ipv4Addr, path: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let r = client
        .get(format!("http://{addr}:8080{path}").parse().unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn cgroup_value(pid: u32, controller: &str, file: &str) -> Option<String> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = cg.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })?;
    std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}{path}/{file}"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The CPU model the test gives an arch's container, as the local platform does from a Pi 4's
/// profile.
fn qemu_cpu(arch: Arch) -> Option<&'static str> {
    (arch == Arch::Arm64).then_some("cortex-a72")
}

async fn replicas_run_limited_on_the_bridge_and_down_leaves_nothing() {
    let (_home_dir, home) = common::temp_home();
    let root = faasbed::build::functions_root(&common::repo()).unwrap();
    let state = tempfile::Builder::new()
        .prefix("fbctd")
        .tempdir_in("/tmp")
        .unwrap();
    let run_id = format!("ctd-test-{}", std::process::id());
    let rt = Runtime::start(state.path(), &run_id, "test-home", None)
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}", std::error::Error::source(&e)));
    let daemon_pid: Vec<u32> = exec::labelled_pids(Some(&run_id))
        .iter()
        .map(|p| p.0)
        .collect();
    assert!(
        !daemon_pid.is_empty(),
        "containerd is labelled with the run id"
    );

    // A secret as the local platform keeps a function's copy: a private folder, a 0600 file.
    let secrets = tempfile::Builder::new()
        .prefix("fbctdsec")
        .tempdir_in("/tmp")
        .unwrap();
    let secret_value = format!("s3cret-{}", std::process::id());
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(secrets.path().join("api-key"))
            .unwrap()
            .write_all(secret_value.as_bytes())
            .unwrap();
    }
    let secret_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(secret_value.as_bytes()))
    };
    let mut pids = Vec::new();
    for (i, arch) in [Arch::Amd64, Arch::Arm64].into_iter().enumerate() {
        let built = faasbed::build::build(&root, "echo", arch, &home.images())
            .await
            .unwrap();
        let binary = std::fs::read(&built.path).unwrap();
        let reference = format!("faasbed.local/echo:{}-{}", &built.hash[..12], arch.as_str());
        let imported = rt
            .import(
                &Image {
                    reference: &reference,
                    arch,
                    binary: &binary,
                },
                false,
            )
            .await
            .unwrap();
        assert!(imported.is_some_and(|s| s.ns() > 0));
        // present now: a second import does nothing
        assert!(rt
            .import(
                &Image {
                    reference: &reference,
                    arch,
                    binary: &binary
                },
                false
            )
            .await
            .unwrap()
            .is_none());
        let c = rt
            .run(&ReplicaSpec {
                name: format!("echo-{i}"),
                image: reference.clone(),
                site: 0,
                cpus: Some(0.5),
                memory_bytes: Some(64 << 20),
                env: [
                    ("PORT".to_string(), "8080".to_string()),
                    ("NODE_NAME".to_string(), format!("node-{i}")),
                ]
                .into_iter()
                .chain(qemu_cpu(arch).map(|m| ("QEMU_CPU".to_string(), m.to_string())))
                .collect(),
                log: None,
                binds_ro: vec![(secrets.path().to_path_buf(), "/var/openfaas/secrets".into())],
            })
            .await
            .unwrap_or_else(|e| panic!("{e}: {:?}", std::error::Error::source(&e)));
        let p = &c.phases;
        assert!(
            p.create.ns() > 0 && p.network.ns() > 0 && p.start.ns() > 0,
            "{p:?}"
        );
        assert!(
            p.network.start_ns <= p.create.start_ns && p.create.end_ns <= p.start.start_ns,
            "{p:?}"
        );
        let asked = std::time::SystemTime::now();
        let (status, headers) = get(c.addr).await;
        let answered_ns = faasbed::store::clock::unix_ns(std::time::SystemTime::now());
        let ms = |ns: u64| ns as f64 / 1e6;
        println!(
            "{} container: import {:.1} ms, create {:.1} ms, network {:.1} ms, start {:.1} ms, \
             start to first answer {:.1} ms (asked {:.1} ms after start)",
            arch.as_str(),
            ms(imported.map_or(0, |s| s.ns())),
            ms(p.create.ns()),
            ms(p.network.ns()),
            ms(p.start.ns()),
            ms(answered_ns.saturating_sub(p.start.start_ns)),
            ms(faasbed::store::clock::unix_ns(asked).saturating_sub(p.start.end_ns)),
        );
        assert_eq!(status, 200);
        assert_eq!(headers["x-faasbed-arch"], arch.goarch());
        assert_eq!(headers["x-faasbed-node"], format!("node-{i}").as_str());
        assert!(c.pid > 0);
        assert_eq!(
            cgroup_value(c.pid, "cpu", "cpu.cfs_quota_us").as_deref(),
            Some("50000")
        );
        assert_eq!(
            cgroup_value(c.pid, "memory", "memory.limit_in_bytes").as_deref(),
            Some((64u64 << 20).to_string().as_str())
        );
        // The secret is read inside at OpenFaaS's path (echo answers its sha256), read-only,
        // and is in neither the spec's environment nor its command line.
        let (status, body) = get_body(c.addr, "/?secret=api-key").await;
        assert_eq!((status, body.trim()), (200, secret_sha.as_str()));
        // The CPU model reaches qemu-user (binfmt runs it as the container's process) through
        // the OCI spec's environment, and only there.
        let environ = std::fs::read(format!("/proc/{}/environ", c.pid)).unwrap();
        let environ: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        let info = exec::run(&ctr::ctr(rt.socket()).args(["containers", "info", c.id.as_str()]))
            .await
            .unwrap()
            .stdout;
        let info: serde_json::Value = serde_json::from_str(&info).unwrap();
        let spec_env: Vec<&str> = info["Spec"]["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let spec_text = info["Spec"].to_string();
        assert!(!spec_text.contains(&secret_value), "{spec_text}");
        let mounts = info["Spec"]["mounts"].as_array().unwrap();
        let m = mounts
            .iter()
            .find(|m| m["destination"] == "/var/openfaas/secrets")
            .unwrap_or_else(|| panic!("no secrets mount: {mounts:?}"));
        assert!(
            m["options"].as_array().unwrap().iter().any(|o| o == "ro"),
            "{m}"
        );
        match qemu_cpu(arch) {
            Some(model) => {
                let want = format!("QEMU_CPU={model}");
                assert!(spec_env.contains(&want.as_str()), "{spec_env:?}");
                assert!(environ.contains(&want.as_bytes()), "pid {}", c.pid);
            }
            None => assert!(
                !spec_env.iter().any(|e| e.starts_with("QEMU_CPU=")),
                "{spec_env:?}"
            ),
        }
        pids.push(c.pid);
    }

    let removed = rt.down().await.unwrap();
    assert_eq!(removed, 2);
    for pid in pids {
        assert!(!exec::pid_alive(pid), "replica {pid} still runs");
    }
    for pid in daemon_pid {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while exec::pid_alive(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!exec::pid_alive(pid), "containerd {pid} still runs");
    }
    leftovers::assert_nothing_left(&run_id, state.path(), "test-home").await;
}

fn main() -> std::process::ExitCode {
    gated::main(
        "containerd",
        "the container runtime tests",
        missing_prerequisites(),
        false,
        vec![gated::async_test(
            "replicas_run_limited_on_the_bridge_and_down_leaves_nothing",
            replicas_run_limited_on_the_bridge_and_down_leaves_nothing,
        )],
    )
}
