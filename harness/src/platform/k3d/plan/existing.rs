//! The dry-run plan on an existing cluster (`kind = "existing"`): attach through the
//! scenario's kubeconfig, label, install OpenFaaS CE only when absent, build and push the
//! images to the scenario's `[platform.registry]`, deploy them by its pull name. Nothing is
//! created and nothing is deleted: the cluster is not faasbed's.

use std::path::Path;

use super::{
    functions_section, images_section, labels_section, measure_section, openfaas_section, Plan,
    PlanOpts, Section, Step,
};
use crate::pins;
use crate::spec::Scenario;

use super::super::config::GATEWAY_NODE_PORT;
use crate::platform::kube::api::{CORE_NAMESPACE, GATEWAY_DEPLOYMENT};

/// What a function image's registry prints as when the scenario names none.
const NO_REGISTRY: &str = "<no registry>";

/// The plan of `faasbed bench` on the existing cluster of `scenario`.
pub(super) fn plan(scenario: &Scenario, opts: &PlanOpts) -> Plan {
    let run = &opts.run_dir;
    let kubeconfig = scenario
        .platform
        .kubeconfig
        .as_deref()
        .unwrap_or(Path::new("<kubeconfig>"));
    let header = vec![
        format!(
            "plan of `faasbed bench {}` (dry run: nothing is executed)",
            scenario.path.display()
        ),
        format!(
            "platform existing, kubeconfig {}, run {}",
            kubeconfig.display(),
            opts.run_id
        ),
        format!("run directory {}", run.display()),
        format!(
            "pins: helm {}, openfaas chart {} (installed only when absent)",
            pins::HELM_VERSION,
            scenario.platform.k3d.openfaas_chart_version
        ),
    ];
    let registry = scenario.platform.registry.as_ref();
    let mut images = images_section(
        scenario,
        registry,
        run,
        &format!("registry {}", registry.map_or(NO_REGISTRY, |r| &r.push)),
    );
    if let Some(r) = registry {
        images.steps.push(Step::Note(format!(
            "the nodes pull them as {}/faasbed/<source>:<content-hash>@<digest>, anonymously and \
             with imagePullPolicy Always (OpenFaaS CE); a plain-HTTP registry must be a mirror \
             with an http:// endpoint in /etc/rancher/k3s/registries.yaml on every node",
            r.pull
        )));
    }
    let gateway = format!("http://<server host of the kubeconfig>:{GATEWAY_NODE_PORT}");
    let mut labels = labels_section(scenario);
    // The nodes joined without faasbed: the patches are what gives them the labels.
    labels.steps.retain(|s| !matches!(s, Step::Note(_)));
    let sections = vec![
        attach_section(scenario, kubeconfig),
        labels,
        openfaas_section(
            scenario,
            super::core_node(scenario),
            run,
            kubeconfig,
            &gateway,
        ),
        images,
        functions_section(scenario, registry.map_or(NO_REGISTRY, |r| &r.pull)),
        measure_section(scenario),
        Section {
            title: "down".into(),
            steps: vec![Step::Note(
                "nothing is deleted: the cluster is not faasbed's (OpenFaaS and the functions \
                 stay deployed)"
                    .into(),
            )],
        },
    ];
    Plan { header, sections }
}

fn attach_section(scenario: &Scenario, kubeconfig: &Path) -> Section {
    let nodes: Vec<&str> = scenario.nodes.iter().map(|n| n.name.as_str()).collect();
    Section {
        title: "existing cluster".into(),
        steps: vec![
            Step::Note(format!(
                "attach through {}: no cluster is created and no node is joined; nodes {} must \
                 be in the cluster already, under these names",
                kubeconfig.display(),
                nodes.join(", ")
            )),
            Step::Check {
                reads: vec![format!(
                    "/apis/apps/v1/namespaces/{CORE_NAMESPACE}/deployments/{GATEWAY_DEPLOYMENT}"
                )],
                what: "OpenFaaS CE is installed when it exists: then the helm steps and the \
                       namespace of section 3 are skipped and the chart is left as it is"
                    .into(),
            },
        ],
    }
}
