//! `faasbed bench --quick` on scenarios/containerd.toml (vps, pi4, pi3 as containerd replicas,
//! the OpenFaaS CE cold-start model), judged by what it stored: every cold sample verified on
//! its class's node with a new container id and the gateway's phases; the report shows them.
//! And nothing leaks: after every process of a running bench is SIGKILLed and `faasbed clean`
//! runs, no container, task, snapshot, network namespace, bridge, runc cgroup or containerd
//! process of that run remains.
//!
//! Needs root, `containerd runc containernetworking-plugins` and binfmt's qemu-aarch64 and
//! qemu-arm with flag `F` (`.ci/run` sets it up). Where any of it is missing, the tests are
//! reported as *ignored* with the reason (own harness, `libtest-mimic`).
#![allow(clippy::unwrap_used)]

#[path = "common/gated.rs"]
mod gated;
#[path = "common/leftovers.rs"]
mod leftovers;

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use faasbed::exec;
use faasbed::nodes::containerd::ctr;
use serde_json::Value;

fn missing_prerequisites() -> Option<String> {
    let mut why = Vec::new();
    if !faasbed::doctor::is_root() {
        why.push("not root: run the tests with sudo".to_string());
    }
    let missing = faasbed::spec::missing_containerd_tools();
    if !missing.is_empty() {
        why.push(format!(
            "missing {missing:?}: {}",
            faasbed::spec::CONTAINERD_APT
        ));
    }
    for entry in ["qemu-aarch64", "qemu-arm"] {
        if !faasbed::spec::binfmt_fixed(entry) {
            why.push(format!("binfmt has no enabled {entry} with flag F: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable {entry} (package qemu-user-static)"));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn bench_cmd(home: &Path, results: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faasbed"));
    c.env("FAASBED_HOME", home)
        .current_dir(common::repo())
        .args(["bench", "--quick", "--results"])
        .arg(results)
        .args(extra)
        .arg("scenarios/containerd.toml");
    c
}

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn bench_verifies_every_container_cold_start_and_reports_its_phases() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let out = bench_cmd(&home.root, &results, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let run: PathBuf = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let samples = lines(&run.join("samples.jsonl"));
    let colds: Vec<&Value> = samples.iter().filter(|s| s["kind"] == "cold").collect();
    assert_eq!(colds.len(), 15, "3 classes × 5 repetitions");
    let mut containers = HashSet::new();
    for c in &colds {
        assert_eq!(c["verified"], true, "{c}");
        let f = c["function"].as_str().unwrap();
        let class = f.rsplit('-').next().unwrap();
        assert_eq!(c["node"], format!("{class}-1"), "{c}");
        let p = &c["gateway_phases"];
        assert_eq!(p["runtime"], "containerd", "{c}");
        assert_eq!(p["model"], "openfaas-ce", "{c}");
        let id = p["container"].as_str().unwrap();
        assert!(containers.insert(id.to_string()), "container {id} reused");
        for step in ["create", "network", "task_start"] {
            let s = &p[step];
            assert!(
                s["end_ns"].as_u64().unwrap() > s["start_ns"].as_u64().unwrap(),
                "{step}: {c}"
            );
        }
        // CE: the first probe passes after the chart's 2 s initial delay, and the gateway
        // notices it on a later poll, before the first byte.
        let task_end = p["task_start"]["end_ns"].as_u64().unwrap();
        let probe = p["probe_pass_ns"].as_u64().unwrap();
        let noticed = p["noticed_ns"].as_u64().unwrap();
        assert!(probe >= task_end + 2_000_000_000, "{c}");
        assert!(noticed >= probe, "{c}");
        let first_byte =
            c["invoked_unix_ns"].as_u64().unwrap() + c["first_byte_ns"].as_u64().unwrap();
        assert!(first_byte >= noticed, "{c}");
    }
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.contains("Cold-start steps as the gateway timed them"),
        "{report}"
    );
    assert!(report.contains("containerd + openfaas-ce"), "{report}");
    assert!(run.join("plots/cold-steps.svg").is_file());
}

fn run_id(home: &Path) -> Option<String> {
    std::fs::read_to_string(home.join("current"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

async fn running_tasks(socket: &Path) -> Vec<ctr::Task> {
    match exec::run(&ctr::tasks(socket)).await {
        Ok(o) => ctr::parse_tasks(&o.stdout)
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.status == "RUNNING" && t.pid > 0)
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn a_killed_bench_leaves_nothing_after_clean() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let mut bench = bench_cmd(&home.root, &results, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a running container of the run (the deploy starts one per function).
    let deadline = Instant::now() + Duration::from_secs(180);
    let (run, tasks) = loop {
        assert!(Instant::now() < deadline, "no container ran within 180 s");
        if let Some(run) = run_id(&home.root) {
            let sock = home.runs().join(&run).join("containerd/containerd.sock");
            if sock.exists() {
                let t = running_tasks(&sock).await;
                if !t.is_empty() {
                    break (run, t);
                }
            }
        }
        assert!(bench.try_wait().unwrap().is_none(), "bench ended early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A crash of everything faasbed started: the bench, its gateway daemon, containerd and
    // the shims (every process labelled with the run). The containers' own processes stay.
    let _ = exec::kill_pid(bench.id(), libc::SIGKILL);
    for (pid, _) in exec::labelled_pids(Some(&run)) {
        let _ = exec::kill_pid(pid, libc::SIGKILL);
    }
    let _ = bench.wait();
    let out = Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .env("FAASBED_HOME", &home.root)
        .arg("clean")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "clean failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in &tasks {
        let gone = Instant::now() + Duration::from_secs(10);
        while exec::pid_alive(t.pid) && Instant::now() < gone {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            !exec::pid_alive(t.pid),
            "container {} (pid {}) still runs",
            t.id,
            t.pid
        );
    }
    // containerd's own store is asked once the sweep marker is gone (the sweep ran: `clean`).
    let state = home.runs().join(&run);
    std::fs::remove_file(
        state
            .join("containerd")
            .join(faasbed::nodes::containerd::SWEPT_MARKER),
    )
    .unwrap();
    leftovers::assert_nothing_left(&run, &state, "test").await;
    drop(tmp);
}

/// The gateway of scenarios/containerd.toml served in-process: each function's container
/// logs its "listening on" line, and `GET /system/logs` serves it as a process replica's, with
/// the replica's instance, and the function's log file holds it; a secret the function names is
/// read inside at `/var/openfaas/secrets/<name>`.
async fn container_output_is_served_by_system_logs_and_secrets_are_mounted() {
    let (tmp, home) = common::temp_home();
    let scenario = faasbed::spec::load(&common::repo().join("scenarios/containerd.toml")).unwrap();
    // Under its own run directory: containerd's state goes beside `logs/`.
    let logs = tmp.path().join("run/logs");
    std::fs::create_dir_all(&logs).unwrap();
    let run_id = format!("ctdlogs-{}", std::process::id());
    let served = faasbed::platform::local::serve(&scenario, &run_id, "pw", &home.images(), &logs)
        .await
        .unwrap_or_else(|e| panic!("serve: {e}"));
    let built = common::build(&scenario, &home).await;
    let f = scenario
        .functions
        .iter()
        .zip(&built)
        .find(|(f, _)| f.name == "echo-pi4")
        .unwrap();
    // A secret, named by the function: its container reads it at OpenFaaS's path.
    let secret = format!("v-{}", std::process::id());
    let mut d = faasbed::platform::deploy::deployment(f.0, &f.1.image);
    d.secrets = vec!["api-key".into()];
    let deployed = match served.registry.secrets() {
        Ok(store) => store
            .create("api-key", secret.as_bytes())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let deployed = match deployed {
        Ok(()) => served.registry.deploy(d).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let result = async {
        deployed.map_err(|e| format!("deploy: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = get(&served.url, "/system/logs?name=echo-pi4&follow=false").await;
            if status != 200 {
                return Err(format!("GET /system/logs: {status} {body}"));
            }
            let lines: Vec<Value> = body
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if let Some(l) = lines.iter().find(|l| {
                l["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("listening on"))
            }) {
                let instance = l["instance"].as_str().unwrap_or_default();
                if !instance.starts_with("echo-pi4-pi4-1-") {
                    return Err(format!("instance {instance}"));
                }
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("no container line served within 120 s: {body}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, body) = get(&served.url, "/function/echo-pi4?secret=api-key").await;
        let want = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(secret.as_bytes()))
        };
        if (status, body.trim()) != (200, want.as_str()) {
            return Err(format!("secret read in the container: {status} {body}"));
        }
        let on_disk = std::fs::read_to_string(logs.join("echo-pi4.pi4-1.log")).unwrap_or_default();
        if !on_disk.contains("listening on") {
            return Err(format!("function log file: {on_disk:?}"));
        }
        Ok(())
    }
    .await;
    served.stop().await;
    if let Err(e) = result {
        panic!("{e}");
    }
    drop(tmp);
}

/// GET `path` of the gateway at `base` with its basic auth: status and body.
async fn get(base: &str, path: &str) -> (u16, String) {
    use base64::Engine;
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let req = http::Request::get(format!("{base}{path}"))
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("admin:pw")
            ),
        )
        .body(http_body_util::Empty::new())
        .unwrap();
    let r = client.request(req).await.unwrap();
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn main() -> std::process::ExitCode {
    // Each test runs a whole bench: one at a time on small hosts.
    gated::main(
        "containerd_bench",
        "the container bench tests",
        missing_prerequisites(),
        true,
        vec![
            gated::test(
                "bench_verifies_every_container_cold_start_and_reports_its_phases",
                bench_verifies_every_container_cold_start_and_reports_its_phases,
            ),
            gated::async_test(
                "container_output_is_served_by_system_logs_and_secrets_are_mounted",
                container_output_is_served_by_system_logs_and_secrets_are_mounted,
            ),
            gated::async_test(
                "a_killed_bench_leaves_nothing_after_clean",
                a_killed_bench_leaves_nothing_after_clean,
            ),
        ],
    )
}
