//! What a containerd run must not leave behind, asserted the same way by every containerd
//! test: no process labelled with the run, no network namespace or link of it, no runc cgroup
//! of it, and, asked of containerd restarted on the run's state, no container or snapshot.
//! Included with `#[path = "common/leftovers.rs"] mod leftovers;`.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use faasbed::exec::{self, Cmd};
use faasbed::nodes::containerd::{ctr, short_id, Runtime};

/// Assert that run `run` left nothing; `state` is its containerd state folder and `home` the
/// home label its containerd is started with.
pub async fn assert_nothing_left(run: &str, state: &Path, home: &str) {
    let left = exec::labelled_pids(Some(run));
    assert!(left.is_empty(), "processes of the run remain: {left:?}");
    let short = short_id(run);
    let netns = exec::run(&Cmd::new("ip").args(["netns", "list"]))
        .await
        .unwrap()
        .stdout;
    assert!(!netns.contains(&format!("fb{short}")), "{netns}");
    let links = exec::run(&Cmd::new("ip").args(["-o", "link"]))
        .await
        .unwrap()
        .stdout;
    assert!(!links.contains(&format!("fb{short}")), "{links}");
    for controller in ["memory", "cpu"] {
        let dir = Path::new("/sys/fs/cgroup").join(controller).join("faasbed");
        let groups: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&short))
            .collect();
        assert!(
            groups.is_empty(),
            "runc cgroups remain in {}: {groups:?}",
            dir.display()
        );
    }
    // containerd's own store holds no container or snapshot of the run: start it and ask.
    let rt = Runtime::start(state, run, home, None).await.unwrap();
    let left = exec::run(&ctr::list_labelled(rt.socket(), ctr::RUN_LABEL, run))
        .await
        .unwrap();
    assert!(ctr::parse_ids(&left.stdout).is_empty(), "{}", left.stdout);
    let snaps = exec::run(&ctr::ctr(rt.socket()).args(["snapshots", "ls"]))
        .await
        .unwrap()
        .stdout;
    assert!(!snaps.contains(&short), "{snaps}");
    rt.down().await.unwrap();
}
