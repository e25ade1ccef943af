//! Topology lifecycle through the CLI: `up` then `down` leaves no process of the run; Ctrl-C at
//! any moment of `up` leaves either a working topology or nothing; a second `up` is refused.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn faasbed(home: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faasbed"));
    c.env("FAASBED_HOME", home).current_dir(common::repo());
    c
}

fn run_id(home: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(home.join("current"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn wait(mut child: Child) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        assert!(Instant::now() < deadline, "faasbed did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every process labelled with a run id starting with `prefix`'s runs under `home`.
fn processes_of(home: &std::path::Path) -> Vec<(u32, String)> {
    let runs: Vec<String> = std::fs::read_dir(home.join("runs"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    faasbed::exec::labelled_pids(None)
        .into_iter()
        .filter(|(_, r)| runs.contains(r))
        .collect()
}

#[test]
fn up_then_down_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let out = faasbed(home).arg("up").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = run_id(home).expect("current run recorded");
    let procs = processes_of(home);
    assert_eq!(procs.len(), 1, "exactly the gateway daemon runs: {procs:?}");
    let again = faasbed(home).arg("up").output().unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already up"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let st = faasbed(home).arg("status").output().unwrap();
    assert!(st.status.success());
    let text = String::from_utf8_lossy(&st.stdout);
    for n in ["vps-1", "pi4-1", "pi3-1"] {
        assert!(text.contains(n), "{text}");
    }
    let out = faasbed(home).arg("down").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        processes_of(home).is_empty(),
        "left behind: {:?}",
        processes_of(home)
    );
    assert!(run_id(home).is_none());
    let log =
        std::fs::read_to_string(home.join("runs").join(&id).join("logs/gateway.log")).unwrap();
    assert!(
        log.contains("stopping"),
        "the daemon shut down cleanly: {log}"
    );
    let pw = home.join("runs").join(&id).join("password");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(pw).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!log
        .contains(&std::fs::read_to_string(home.join("runs").join(&id).join("password")).unwrap()));
}

#[test]
fn ctrl_c_during_up_leaves_a_topology_or_nothing() {
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80] {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path();
        let child = faasbed(home)
            .arg("up")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let out = wait(child);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => {
                // up finished before the signal: the topology must work and go down cleanly
                assert!(
                    faasbed(home).arg("status").status().unwrap().success(),
                    "{err}"
                );
                assert!(faasbed(home).arg("down").status().unwrap().success());
            }
            Some(130) => assert!(err.contains("interrupted"), "{err}"),
            other => {
                // killed by the signal before the handler existed: then nothing can have started
                assert!(
                    other.is_none() || other == Some(1),
                    "delay {delay_ms} ms: exit {other:?}: {err}"
                );
            }
        }
        let left = processes_of(home);
        assert!(
            left.is_empty(),
            "delay {delay_ms} ms left processes {left:?}; stderr: {err}"
        );
    }
}
