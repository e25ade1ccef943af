//! A run isolates itself and survives faults visibly: `clean` sweeps only its own home; replicas
//! bind loopback with a scrubbed environment and no loader variables; a SIGKILLed bench does
//! not leave its gateway behind; signals give 130/143; a closed stdout never panics.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{http, Topology};
use faasbed::platform::Platform;
use serde_json::Value;

fn faasbed(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faasbed"));
    c.env("FAASBED_HOME", home).current_dir(common::repo());
    c
}

/// Poll `cond` until it holds; panic with `what` after `within`.
fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn current_run(home: &Path) -> String {
    std::fs::read_to_string(home.join("current"))
        .unwrap()
        .trim()
        .to_string()
}

/// Cgroup directories of `run` in the cpu and memory hierarchies (empty without cgroups).
fn cgroups_of(run: &str) -> Vec<PathBuf> {
    let h = faasbed::platform::local::cgroup::detect();
    faasbed::platform::local::cleanup::bases(h.as_ref())
        .into_iter()
        .flat_map(|b| std::fs::read_dir(b).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("faasbed-{run}-")))
        })
        .collect()
}

#[test]
fn clean_sweeps_only_its_own_home_and_reports_what_it_removed() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for h in [a.path(), b.path()] {
        let out = faasbed(h).arg("up").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (run_a, run_b) = (current_run(a.path()), current_run(b.path()));
    let groups_a = cgroups_of(&run_a).len();
    let out = faasbed(a.path()).arg("clean").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        faasbed::exec::labelled_pids(Some(&run_a)).is_empty(),
        "{err}"
    );
    assert!(cgroups_of(&run_a).is_empty(), "{err}");
    assert!(
        err.contains("killed 1 process(es)")
            && err.contains(&format!("removed {groups_a} cgroup(s)")),
        "{err}"
    );
    // the other home's run is untouched and still answers
    assert_eq!(faasbed::exec::labelled_pids(Some(&run_b)).len(), 1, "{err}");
    assert!(faasbed(b.path()).arg("status").status().unwrap().success());
    // `--home` names the home just as FAASBED_HOME does
    let out = Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .current_dir(common::repo())
        .env_remove("FAASBED_HOME")
        .arg("--home")
        .arg(b.path())
        .arg("clean")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(faasbed::exec::labelled_pids(Some(&run_b)).is_empty());
    assert!(cgroups_of(&run_b).is_empty());
}

#[tokio::test]
async fn a_crashed_run_with_nested_function_groups_leaves_no_cgroup_behind() {
    use faasbed::platform::local::cleanup::{self, Scope};
    let t = Topology::deploy("harness/tests/fixtures/scenarios/limits.toml").await;
    let run = t.platform.state().run_id.clone();
    let top = cgroups_of(&run);
    let nested: Vec<PathBuf> = top
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    if nested.is_empty() {
        eprintln!("skipped: no writable cgroup hierarchy here (run as root on a cgroup host)");
        return;
    }
    // The daemon dies as in a crash: its replicas live on in the function's nested group.
    faasbed::exec::kill_group(t.platform.state().pid, libc::SIGKILL).unwrap();
    let r = cleanup::sweep(&Scope::Run(run.clone()));
    assert!(r.left.is_empty(), "{:?}", r.left);
    assert_eq!(r.cgroups, top.len() + nested.len(), "{r:?}");
    assert!(cgroups_of(&run).is_empty(), "{:?}", cgroups_of(&run));
    assert!(faasbed::exec::labelled_pids(Some(&run)).is_empty());
}

/// The listening TCP sockets on `port`: (IPv4 sockets, IPv6 sockets) with their local address.
fn listeners(port: u16) -> (Vec<String>, Vec<String>) {
    let read = |f: &str| -> Vec<String> {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                let (addr, p) = cols.get(1)?.rsplit_once(':')?;
                (u16::from_str_radix(p, 16).ok()? == port && cols.get(3)? == &"0A")
                    .then(|| addr.to_string())
            })
            .collect()
    };
    (read("/proc/net/tcp"), read("/proc/net/tcp6"))
}

fn environ(pid: u64) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

#[tokio::test]
async fn replicas_bind_loopback_with_a_scrubbed_environment_and_refuse_loader_variables() {
    // Whatever the invoking shell exports must not reach a replica.
    std::env::set_var("FAASBED_TEST_CANARY", "leaked");
    let t = Topology::deploy("scenarios/local.toml").await;
    let gw = t.platform.gateway().clone();
    let c = gw.client();
    for f in &t.scenario.functions {
        let reps: Vec<Value> = c
            .get_json(&format!("/system/faasbed/replicas/{}", f.name))
            .await
            .unwrap();
        let (pid, port) = (
            reps[0]["pid"].as_u64().unwrap(),
            reps[0]["port"].as_u64().unwrap() as u16,
        );
        let env = environ(pid);
        let names: Vec<&str> = env
            .iter()
            .filter_map(|v| v.split_once('=').map(|(k, _)| k))
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        // Every replica is told the gateway (`gateway_url`); Go replicas on the pi4 node (an
        // arm64 device without crypto extensions) also get GODEBUG hiding them.
        let mut want = vec![
            "FAASBED_HOME",
            "FAASBED_RUN_ID",
            "HOST",
            "NODE_NAME",
            "PORT",
            "gateway_url",
        ];
        if env.iter().any(|v| v.starts_with("NODE_NAME=pi4")) {
            want.push("GODEBUG");
            want.sort_unstable();
        }
        assert_eq!(sorted, want, "{}: {env:?}", f.name);
        assert!(env.contains(&"HOST=127.0.0.1".to_string()), "{env:?}");
        let (v4, v6) = listeners(port);
        assert_eq!(v4, ["0100007F"], "{}: binds 127.0.0.1 only", f.name);
        assert!(v6.is_empty(), "{}: listens on IPv6 too: {v6:?}", f.name);
    }
    // A deploy that sets a loader, path or emulator variable is refused and names it.
    let auth = Some((gw.user.as_str(), gw.password.as_str()));
    let image = c.status(&t.scenario.functions[0].name).await.unwrap().image;
    for var in [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "PATH",
        "QEMU_LD_PREFIX",
    ] {
        let body = serde_json::json!({
            "service": "evil", "image": image, "envVars": { var: "/tmp/x" },
        })
        .to_string();
        let (s, _, b) = http(
            "POST",
            &format!("{}/system/functions", gw.url),
            auth,
            Some(&body),
        )
        .await;
        let b = String::from_utf8_lossy(&b);
        assert_eq!(s, 400, "{var}: {b}");
        assert!(b.contains(var), "{var}: {b}");
    }
    assert!(
        c.status("evil").await.is_err(),
        "nothing of a refused deploy runs"
    );
    t.down().await;
}

fn bench(home: &Path, results: &Path) -> Child {
    faasbed(home)
        .args(["bench", "--quick", "--skip-cold", "--results"])
        .arg(results)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The run directory, once `n` measured warm samples are stored.
fn run_with_samples(results: &Path, n: usize, child: &mut Child) -> PathBuf {
    let mut run = None;
    wait_until("warm samples", Duration::from_secs(240), || {
        assert!(child.try_wait().unwrap().is_none(), "bench ended early");
        run = std::fs::read_dir(results)
            .ok()
            .and_then(|mut rd| rd.next())
            .map(|e| e.unwrap().path());
        run.as_ref().is_some_and(|r| {
            std::fs::read_to_string(r.join("samples.jsonl"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("\"warm\"") && !l.contains("warmup"))
                .count()
                >= n
        })
    });
    run.unwrap()
}

fn status_of(run: &Path) -> String {
    std::fs::read_to_string(run.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["status"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn a_sigkilled_bench_leaves_no_process_and_its_run_says_killed() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let mut child = bench(&home.root, &results);
    let run = run_with_samples(&results, 10, &mut child);
    let run_id = run.file_name().unwrap().to_string_lossy().into_owned();
    assert!(faasbed::exec::labelled_pids(Some(&run_id)).len() > 1);
    child.kill().unwrap(); // SIGKILL: no handler runs in bench
    child.wait().unwrap();
    wait_until(
        "the run's gateway and replicas ending",
        Duration::from_secs(30),
        || faasbed::exec::labelled_pids(Some(&run_id)).is_empty(),
    );
    wait_until("run.json saying killed", Duration::from_secs(30), || {
        status_of(&run) == "killed"
    });
    assert!(cgroups_of(&run_id).is_empty(), "{:?}", cgroups_of(&run_id));
    let log = std::fs::read_to_string(home.runs().join(&run_id).join("logs/gateway.log")).unwrap();
    assert!(log.contains("died; ended the run"), "{log}");
    assert!(!home.root.join("current").exists());
}

#[test]
fn sigterm_mid_run_exits_143_and_keeps_what_was_measured() {
    let (tmp, home) = common::temp_home();
    let results = tmp.path().join("results");
    let mut child = bench(&home.root, &results);
    let run = run_with_samples(&results, 10, &mut child);
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted; partial results are in"), "{err}");
    assert_eq!(status_of(&run), "interrupted");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert!(!summary["results"].as_array().unwrap().is_empty());
    let run_id = run.file_name().unwrap().to_string_lossy().into_owned();
    assert!(faasbed::exec::labelled_pids(Some(&run_id)).is_empty());
}

/// A pipe whose reader is already gone, as `faasbed ... | head -0` leaves it.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0i32; 2];
    // SAFETY: pipe writes two new descriptors into `fds`.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(r);
    w
}

#[test]
fn a_closed_stdout_ends_every_command_quietly_with_141() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let run = tmp.path().join("run");
    let fixture = common::repo().join("harness/tests/fixtures/runs/quick-local");
    std::fs::create_dir_all(&run).unwrap();
    for e in std::fs::read_dir(&fixture).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), run.join(e.file_name())).unwrap();
        } else {
            let d = run.join(e.file_name());
            std::fs::create_dir_all(&d).unwrap();
            for f in std::fs::read_dir(e.path()).unwrap().flatten() {
                std::fs::copy(f.path(), d.join(f.file_name())).unwrap();
            }
        }
    }
    let up = faasbed(&home).arg("up").output().unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let fx = fixture.to_string_lossy().into_owned();
    let r = run.to_string_lossy().into_owned();
    let commands: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--json"],
        vec!["validate", "scenarios/local.toml"],
        vec!["plan", "scenarios/thesis.toml"],
        vec!["report", &r],
        vec!["compare", &fx, &fx],
    ];
    for args in &commands {
        let out = faasbed(&home)
            .args(args)
            .stdout(Stdio::from(closed_pipe()))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    }
    assert!(faasbed(&home).arg("down").status().unwrap().success());
}
