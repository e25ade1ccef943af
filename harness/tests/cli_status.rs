//! `faasbed status` shows each node's labels (text and `--json`), so a user writing a
//! constraint sees the values to use.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

fn faasbed(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .args(args)
        .env("FAASBED_HOME", home)
        .current_dir(common::repo())
        .output()
        .unwrap()
}

#[test]
fn status_lists_every_node_label_in_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let up = faasbed(home, &["up", "scenarios/local.toml"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let text = faasbed(home, &["status"]);
    let json = faasbed(home, &["status", "--json"]);
    let down = faasbed(home, &["down"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );

    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(
        out.contains("labels faasbed.io/class=pi3, faasbed.io/site=edge, kubernetes.io/arch=arm, kubernetes.io/hostname=pi3-1"),
        "{out}"
    );
    assert!(out.contains("kubernetes.io/arch=arm64"), "{out}");
    assert!(out.contains("kubernetes.io/arch=amd64"), "{out}");

    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let nodes = v["run"]["nodes"].as_array().unwrap();
    let pi3 = nodes.iter().find(|n| n["name"] == "pi3-1").unwrap();
    assert_eq!(pi3["labels"]["kubernetes.io/arch"], "arm");
    assert_eq!(pi3["labels"]["faasbed.io/class"], "pi3");
    assert!(nodes
        .iter()
        .all(|n| n["labels"]["kubernetes.io/hostname"] == n["name"]));
}
