//! The embedded platform for real: functions built for three architectures, placed by
//! constraint, invoked through the gateway; scale to and from zero; replicas killed from outside.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{http, OpenApi, Topology};
use faasbed::openfaas::headers;
use faasbed::platform::Platform;

#[tokio::test]
async fn every_function_answers_from_the_node_its_constraints_name() {
    let t = Topology::deploy("scenarios/local.toml").await;
    let api = OpenApi::load();
    let gw = t.platform.gateway().clone();
    let auth = Some((gw.user.as_str(), gw.password.as_str()));
    let client = gw.client();
    for f in &t.scenario.functions {
        let nodes = t.scenario.eligible_nodes(f);
        assert_eq!(nodes.len(), 1, "local.toml pins each function to one class");
        let node = nodes[0];
        let inv = client.invoke(&f.name, &f.path, None).await.unwrap();
        assert_eq!(
            inv.status,
            200,
            "{}: {}",
            f.name,
            String::from_utf8_lossy(&inv.body)
        );
        assert_eq!(
            inv.header(headers::NODE),
            Some(node.name.as_str()),
            "{}",
            f.name
        );
        assert_eq!(
            inv.header(headers::ARCH),
            Some(node.arch.reported()),
            "{}",
            f.name
        );
        assert!(inv.header(headers::INSTANCE).is_some_and(|i| i.len() >= 8));
        assert!(inv
            .header(headers::DURATION)
            .is_some_and(|d| d.parse::<f64>().is_ok()));
        let (s, _, b) = http(
            "GET",
            &format!("{}/system/function/{}", gw.url, f.name),
            auth,
            None,
        )
        .await;
        assert_eq!(s, 200);
        let st = api.check("FunctionStatus", &b);
        assert_eq!(st["availableReplicas"], 1);
        assert_eq!(st["constraints"][0], f.constraints[0].to_string());
    }
    let (s, _, b) = http("GET", &format!("{}/system/functions", gw.url), auth, None).await;
    assert_eq!(s, 200);
    let list = api.check_array("FunctionStatus", &b);
    assert_eq!(list.as_array().unwrap().len(), t.scenario.functions.len());
    t.down().await;
}

#[tokio::test]
async fn scale_to_zero_then_invoke_starts_a_new_instance_and_scale_to_three_spreads() {
    let t = Topology::deploy("harness/tests/fixtures/scenarios/spread.toml").await;
    let c = t.platform.gateway().client();
    let before = c.invoke("echo", "/", None).await.unwrap();
    let old = before.header(headers::INSTANCE).unwrap().to_string();

    t.platform.force_cold("echo").await.unwrap();
    assert!(t.platform.placement("echo").await.unwrap().is_empty());
    let st = c.status("echo").await.unwrap();
    assert_eq!((st.replicas, st.available_replicas), (0, 0));

    let cold = c.invoke("echo", "/", None).await.unwrap();
    assert_eq!(cold.status, 200);
    let new = cold.header(headers::INSTANCE).unwrap().to_string();
    assert_ne!(new, old, "a call after scale to 0 must hit a new process");
    let spawned: u64 = cold.header(headers::SPAWNED).unwrap().parse().unwrap();
    let started: u64 = cold.header(headers::STARTED).unwrap().parse().unwrap();
    let healthy: u64 = cold.header(headers::HEALTHY).unwrap().parse().unwrap();
    assert!(
        spawned <= started && started <= healthy,
        "{spawned} {started} {healthy}"
    );
    assert_eq!(
        c.status("echo").await.unwrap().replicas,
        1,
        "scale from zero sets 1 replica"
    );
    let warm = c.invoke("echo", "/", None).await.unwrap();
    assert!(
        warm.header(headers::SPAWNED).is_none(),
        "a warm call carries no cold-start stamps"
    );

    c.scale("echo", 3).await.unwrap();
    faasbed::platform::deploy::wait_ready(&c, &faasbed_fn(&t, "echo", 3), Duration::from_secs(60))
        .await
        .unwrap();
    let reps = t.platform.placement("echo").await.unwrap();
    assert_eq!(reps.len(), 3);
    let instances: BTreeSet<_> = reps.iter().filter_map(|r| r.instance.clone()).collect();
    assert_eq!(instances.len(), 3, "three distinct instances: {reps:?}");
    let nodes: BTreeSet<_> = reps.iter().map(|r| r.node.as_str()).collect();
    assert_eq!(
        nodes,
        BTreeSet::from(["vps-a", "vps-b"]),
        "spread over both vps nodes, never the pi4"
    );
    // calls are balanced over the replicas
    let mut seen = BTreeSet::new();
    for _ in 0..12 {
        let r = c.invoke("echo", "/", None).await.unwrap();
        seen.insert(r.header(headers::INSTANCE).unwrap().to_string());
    }
    assert_eq!(seen, instances);
    let e = c.scale("echo", 6).await.unwrap_err().to_string();
    assert!(e.contains("at most 5 replicas"), "{e}");
    t.down().await;
}

fn faasbed_fn(t: &Topology, name: &str, replicas: u32) -> faasbed::spec::Function {
    let mut f = t
        .scenario
        .functions
        .iter()
        .find(|f| f.name == name)
        .unwrap()
        .clone();
    f.replicas = replicas;
    f
}

#[tokio::test]
async fn a_replica_killed_from_outside_is_noticed_and_replaced_on_the_next_call() {
    let t = Topology::deploy("harness/tests/fixtures/scenarios/spread.toml").await;
    let gw = t.platform.gateway().clone();
    let c = gw.client();
    let reps: Vec<serde_json::Value> = c.get_json("/system/faasbed/replicas/echo").await.unwrap();
    let pid = reps[0]["pid"].as_u64().unwrap() as u32;
    let old = reps[0]["instance"].as_str().unwrap().to_string();
    faasbed::exec::kill_group(pid, libc::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = c.status("echo").await.unwrap();
        if st.available_replicas == 0 {
            assert_eq!(st.replicas, 1, "desired replicas stay 1");
            break;
        }
        assert!(Instant::now() < deadline, "availableReplicas never dropped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = c.invoke("echo", "/", None).await.unwrap();
    assert_eq!(r.status, 200);
    assert_ne!(r.header(headers::INSTANCE).unwrap(), old);
    assert_eq!(c.status("echo").await.unwrap().available_replicas, 1);
    t.down().await;
}

#[tokio::test]
async fn update_keeps_placement_and_delete_removes_the_function() {
    let t = Topology::deploy("harness/tests/fixtures/scenarios/spread.toml").await;
    let c = t.platform.gateway().client();
    let mut d = c.status("echo").await.unwrap();
    d.env_vars.insert("GREETING".into(), "hi".into());
    let dep = faasbed::openfaas::FunctionDeployment {
        service: d.name.clone(),
        image: d.image.clone(),
        constraints: d.constraints.clone(),
        env_vars: d.env_vars.clone(),
        labels: d.labels.clone(),
        ..Default::default()
    };
    c.update(&dep).await.unwrap();
    faasbed::platform::deploy::verify_placement(&t.scenario, &t.platform, &t.scenario.functions[0])
        .await
        .unwrap();
    assert_eq!(c.status("echo").await.unwrap().env_vars["GREETING"], "hi");
    c.delete("echo").await.unwrap();
    let e = c.status("echo").await.unwrap_err().to_string();
    assert!(e.contains("404"), "{e}");
    t.down().await;
}

#[tokio::test]
async fn function_limits_are_set_in_a_cgroup_nested_in_the_node() {
    let t = Topology::deploy("harness/tests/fixtures/scenarios/limits.toml").await;
    let c = t.platform.gateway().client();
    let reps: Vec<serde_json::Value> = c.get_json("/system/faasbed/replicas/echo").await.unwrap();
    let limits = &reps[0]["limits"];
    let node_enf = &t.platform.state().nodes[0].enforcement;
    if node_enf["memory"] == true && node_enf["cpu"] == true {
        assert_eq!(limits["memory"], true, "{limits}");
        assert_eq!(limits["cpu"], true, "{limits}");
        // the replica's own cgroup holds the function's values
        let pid = reps[0]["pid"].as_u64().unwrap();
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let mem_path = cg.lines().find_map(|l| {
            l.split(':')
                .nth(1)
                .filter(|c| c.split(',').any(|x| x == "memory"))
                .map(|_| l.rsplit(':').next().unwrap().to_string())
        });
        if let Some(p) = mem_path {
            let limit =
                std::fs::read_to_string(format!("/sys/fs/cgroup/memory{p}/memory.limit_in_bytes"))
                    .unwrap();
            assert_eq!(limit.trim(), (64u64 << 20).to_string());
            assert!(p.ends_with(&format!("echo-{}", reps[0]["port"])), "{p}");
        }
    } else {
        // without cgroups the replica still runs, and says its limits are not enforced
        assert_eq!(limits["memory"], false, "{limits}");
        assert!(
            limits["notes"].as_array().is_some_and(|n| !n.is_empty()),
            "{limits}"
        );
    }
    assert_eq!(c.invoke("echo", "/", None).await.unwrap().status, 200);
    t.down().await;
}

#[tokio::test]
async fn the_openfaas_ce_model_probes_after_the_chart_delay_and_the_gateway_polls_for_it() {
    let t = Topology::deploy("harness/tests/fixtures/scenarios/ce-model.toml").await;
    let c = t.platform.gateway().client();
    t.platform.force_cold("echo").await.unwrap();
    let cold = c.invoke("echo", "/", None).await.unwrap();
    assert_eq!(cold.status, 200);
    let p = faasbed::openfaas::ColdPhases::parse(
        cold.header(faasbed::openfaas::PHASES_HEADER)
            .expect("a cold call carries X-Faasbed-Phases"),
    )
    .unwrap();
    assert_eq!(
        (p.runtime.as_str(), p.model.as_str()),
        ("process", "openfaas-ce")
    );
    assert!(p.container.is_none() && p.create.is_none(), "{p:?}");
    let probe = p.probe_pass_ns.unwrap();
    let noticed = p.noticed_ns.unwrap();
    // The readiness probe does not run before the chart's initialDelaySeconds (2 s), and the
    // gateway learns of the replica from its own poll, after the probe passed.
    assert!(probe >= p.spawned_ns + 2_000_000_000, "{p:?}");
    assert!(noticed >= probe, "{p:?}");
    let sent = faasbed::store::clock::unix_ns(cold.sent_at);
    assert!(
        sent <= p.spawned_ns && noticed <= sent + cold.first_byte.as_nanos() as u64,
        "{p:?}"
    );
    let warm = c.invoke("echo", "/", None).await.unwrap();
    assert!(warm.header(faasbed::openfaas::PHASES_HEADER).is_none());
    t.down().await;
}
