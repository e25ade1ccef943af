//! The k3d config generated from the shipped scenarios validates against k3d's own JSON schema
//! (`schemas/upstream/k3d-config-v1alpha5.schema.json`, vendored), and a broken config does not.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use faasbed::platform::k3d::{config, plan, ClusterPlan};
use faasbed::spec::{self, Backend, Scenario};
use serde_json::Value;

const RUN_ID: &str = "run-20261127-0931";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The upstream schema, vendored under `schemas/upstream/` (see its SOURCES.md).
fn schema() -> Value {
    let path = repo().join("schemas/upstream/k3d-config-v1alpha5.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the k3d config schema at {}: {e}; it is part of the repository: restore it with `git checkout -- schemas/upstream`",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn scenario(rel: &str) -> Scenario {
    spec::load(&repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every schema error, one per line; empty when the config is valid.
fn schema_errors(config: &Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(config)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// The YAML as written to disk, read back as JSON values (what k3d validates).
fn as_written(p: &ClusterPlan) -> Value {
    let yaml = p.config_yaml().unwrap();
    serde_yaml::from_str(&yaml).unwrap()
}

const MINIMAL: &str = r#"
[platform]
kind = "k3d"

[[node]]
name = "solo"
class = "vps"
arch = "amd64"
backend = "server"
"#;

#[test]
fn shipped_scenarios_parse() {
    for rel in ["scenarios/thesis.toml", "scenarios/pi3-pi4-vps.toml"] {
        let s = scenario(rel);
        assert_eq!(s.platform.kind.as_str(), "k3d", "{rel}");
        assert!(
            s.functions.len() <= 15,
            "{rel}: OpenFaaS CE allows 15 functions"
        );
        for f in &s.functions {
            assert_eq!(
                s.eligible_nodes(f).len(),
                1,
                "{rel}: {} must pin one node",
                f.name
            );
        }
    }
}

#[test]
fn generated_configs_match_the_k3d_schema() {
    let minimal = spec::parse(MINIMAL, Path::new("minimal.toml")).unwrap();
    let cases = [
        ("thesis", scenario("scenarios/thesis.toml")),
        ("pi3-pi4-vps", scenario("scenarios/pi3-pi4-vps.toml")),
        ("minimal", minimal),
    ];
    for (name, s) in &cases {
        let p = plan(s, RUN_ID).unwrap();
        let errors = schema_errors(&as_written(&p));
        assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    }
}

#[test]
fn broken_configs_fail_the_schema() {
    let p = plan(&scenario("scenarios/thesis.toml"), RUN_ID).unwrap();
    let good = as_written(&p);

    let mut wrong_type = good.clone();
    wrong_type["servers"] = Value::from("one");
    let errors = schema_errors(&wrong_type);
    assert!(
        errors.iter().any(|e| e.starts_with("/servers")),
        "{errors:?}"
    );

    let mut unknown_key = good.clone();
    unknown_key["nodeLabels"] = Value::from("misplaced: belongs under options.k3s");
    assert!(!schema_errors(&unknown_key).is_empty());

    let mut bad_api = good;
    bad_api["apiVersion"] = Value::from("k3d.io/v1alpha4");
    assert!(!schema_errors(&bad_api).is_empty());
}

#[test]
fn thesis_plan_puts_each_node_where_it_belongs() {
    let s = scenario("scenarios/thesis.toml");
    let p = plan(&s, RUN_ID).unwrap();
    let k3d: Vec<(&str, &str, &str)> = p
        .k3d_nodes
        .iter()
        .map(|n| (n.node.as_str(), n.filter.as_str(), n.container.as_str()))
        .collect();
    assert_eq!(
        k3d,
        [
            ("faas-cluster-01", "server:0", "k3d-faasbed-server-0"),
            ("faas-cluster-02", "agent:0", "k3d-faasbed-agent-0"),
            ("faas-cluster-03", "agent:1", "k3d-faasbed-agent-1"),
        ]
    );
    assert_eq!(p.config.agents, 2);
    let ext: Vec<(&str, Backend)> = p
        .external_agents
        .iter()
        .map(|a| (a.node.as_str(), a.backend))
        .collect();
    assert_eq!(
        ext,
        [
            ("raspberrypi-01", Backend::Qemu),
            ("raspberrypi-02", Backend::Qemu)
        ]
    );
    assert_eq!(
        p.external_agents[0].k3s_args,
        [
            "--node-name=raspberrypi-01",
            "--node-label=faasbed.io/class=pi3",
            "--node-label=faasbed.io/site=italy",
            "--node-label=type=rsbpi-01",
        ]
    );
    // The Pis are QEMU VMs on the cluster's Docker network: they reach the API and the
    // registry at their container addresses, so nothing is published beyond loopback.
    assert_eq!(p.config.kube_api.host_ip, "127.0.0.1");
    assert_eq!(p.config.registries.create.host, "127.0.0.1");
    let labels: Vec<&str> = p
        .config
        .options
        .k3s
        .node_labels
        .iter()
        .map(|l| l.value.label.as_str())
        .collect();
    assert!(labels.contains(&"type=faas-03"));
    assert!(
        labels.iter().all(|l| !l.starts_with("kubernetes.io/")),
        "kubelet sets kubernetes.io/arch and /hostname itself: {labels:?}"
    );
}

#[test]
fn a_lone_server_binds_to_loopback() {
    let s = spec::parse(MINIMAL, Path::new("minimal.toml")).unwrap();
    let p = plan(&s, RUN_ID).unwrap();
    assert_eq!(p.config.agents, 0);
    assert_eq!(p.config.kube_api.host_ip, "127.0.0.1");
    assert_eq!(p.config.registries.create.host, "127.0.0.1");
    assert_eq!(
        p.config.ports[0].port,
        format!("8081:{}", config::GATEWAY_NODE_PORT)
    );
}

#[test]
fn refusals_say_why() {
    let local = spec::parse(
        "[[node]]\nname = \"a\"\nclass = \"vps\"\narch = \"amd64\"\n",
        Path::new("local.toml"),
    )
    .unwrap();
    let e = plan(&local, RUN_ID).unwrap_err().to_string();
    assert!(e.contains("not k3d"), "{e}");

    let s = spec::parse(MINIMAL, Path::new("minimal.toml")).unwrap();
    let e = plan(&s, "run id with spaces").unwrap_err().to_string();
    assert!(e.contains("run id"), "{e}");

    let restricted =
        MINIMAL.to_string() + "labels = { \"node-role.kubernetes.io/worker\" = \"true\" }\n";
    let s = spec::parse(&restricted, Path::new("restricted.toml")).unwrap();
    let e = plan(&s, RUN_ID).unwrap_err().to_string();
    assert!(e.contains("node-role.kubernetes.io/worker"), "{e}");
}

#[test]
fn thesis_config_snapshot() {
    let p = plan(&scenario("scenarios/thesis.toml"), RUN_ID).unwrap();
    insta::assert_snapshot!("thesis_k3d_config", p.config_yaml().unwrap());
}
