//! k3s on a real host: every remote line faasbed runs to install, join, read and remove it,
//! as data ([`RemoteStep`]), so that `faasbed plan` prints exactly what `up` and `down` run.
//!
//! The install goes through k3s's own installer (`install.sh` from get.k3s.io, or the copy in
//! the scenario's offline folder with the binary and airgap images uploaded first and
//! `INSTALL_K3S_SKIP_DOWNLOAD=true`). The join token travels on stdin to a 0600 file and only
//! its path is ever on a command line (`--token-file`, `K3S_TOKEN_FILE`). Before installing,
//! faasbed writes a manifest ([`MANIFEST`]): the run, the role and which directories did not
//! exist; `down` acts only on a host whose manifest names its run, runs the k3s uninstaller and
//! removes those directories, and nothing else.

use std::path::{Path, PathBuf};

use super::probe::HostFacts;
use super::upload_line;
use crate::exec::shell_quote;
use crate::spec::{labels, Arch, Node};

/// faasbed's own directory on a host.
pub const STATE_DIR: &str = "/var/lib/faasbed";
/// What faasbed installed on the host, for `down`.
pub const MANIFEST: &str = "/var/lib/faasbed/installed";
/// The k3s join token (mode 0600).
pub const TOKEN_FILE: &str = "/var/lib/faasbed/token";
/// k3s's installer, as uploaded or downloaded.
pub const INSTALLER: &str = "/var/lib/faasbed/install.sh";
/// Where the k3s binary goes (the installer's default `INSTALL_K3S_BIN_DIR`).
pub const BINARY: &str = "/usr/local/bin/k3s";
/// k3s imports image tarballs from here on start (its airgap folder).
pub const AIRGAP_DIR: &str = "/var/lib/rancher/k3s/agent/images";
/// The server's admin kubeconfig.
pub const KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";
/// k3s's installer online.
pub const INSTALLER_URL: &str = "https://get.k3s.io";
/// The Kubernetes API port of the k3s server.
pub const API_PORT: u16 = 6443;
/// Directories that faasbed's install (k3s and its installer) creates when absent; `down`
/// removes those that were absent before, after k3s's uninstaller ran.
pub const CREATED_DIRS: [&str; 5] = [
    STATE_DIR,
    "/etc/rancher",
    "/var/lib/rancher",
    "/var/lib/kubelet",
    "/var/lib/cni",
];

/// The part a host plays in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The k3s server (API, OpenFaaS core).
    Server,
    /// A k3s agent joining the server.
    Agent,
}

impl Role {
    /// `server` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Agent => "agent",
        }
    }
    /// The uninstaller k3s's installer writes for this role.
    pub fn uninstaller(self) -> &'static str {
        match self {
            Role::Server => "/usr/local/bin/k3s-uninstall.sh",
            Role::Agent => "/usr/local/bin/k3s-agent-uninstall.sh",
        }
    }
}

/// What a remote step reads on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Nothing.
    None,
    /// Text shown in full by the plan (a script, the manifest).
    Text(String),
    /// A file of this machine.
    File(PathBuf),
    /// A secret made at run time, never shown (what it is).
    Secret(&'static str),
}

/// One command on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStep {
    /// The shell line run on the host.
    pub remote: String,
    /// Its stdin.
    pub input: Input,
    /// Why, for the plan and for errors.
    pub what: String,
}

impl RemoteStep {
    fn new(remote: impl Into<String>, input: Input, what: impl Into<String>) -> Self {
        RemoteStep {
            remote: remote.into(),
            input,
            what: what.into(),
        }
    }
}

/// How one host's install is made.
#[derive(Debug, Clone)]
pub struct Install<'a> {
    /// Run id, recorded in the manifest.
    pub run_id: &'a str,
    /// Pinned k3s release.
    pub version: &'a str,
    /// The offline folder of release files (`None`: the host downloads).
    pub files: Option<&'a Path>,
    /// The server's host name or address, as agents and this machine reach it.
    pub server_host: &'a str,
}

/// The release file names of the k3s binary and airgap images for `arch`.
pub fn release_names(arch: Arch) -> (&'static str, [String; 3]) {
    let (bin, tag) = match arch {
        Arch::Amd64 => ("k3s", "amd64"),
        Arch::Arm64 => ("k3s-arm64", "arm64"),
        Arch::Armhf => ("k3s-armhf", "arm"),
    };
    let images = ["tar.zst", "tar.gz", "tar"].map(|x| format!("k3s-airgap-images-{tag}.{x}"));
    (bin, images)
}

/// The probe, with its script on stdin.
pub fn probe_step() -> RemoteStep {
    RemoteStep::new(
        super::probe::REMOTE,
        Input::Text(super::probe::SCRIPT.to_string()),
        "probe the host (arch, kernel, memory, cgroups, disk, clock, board, k3s)",
    )
}

/// The URL agents join and the kubeconfig points at.
pub fn server_url(server_host: &str) -> String {
    if server_host.contains(':') {
        format!("https://[{server_host}]:{API_PORT}")
    } else {
        format!("https://{server_host}:{API_PORT}")
    }
}

/// The k3s flags for `node`: its name, the token file, the labels faasbed gives (those kubelet
/// may set on itself: class, site and the scenario's own; arch and hostname are kubelet's).
fn k3s_exec(node: &Node, role: Role, server_host: &str) -> String {
    let mut a = vec![
        role.as_str().to_string(),
        "--node-name".into(),
        node.name.clone(),
    ];
    if role == Role::Server {
        a.extend([
            "--token-file".into(),
            TOKEN_FILE.into(),
            "--write-kubeconfig-mode".into(),
            "0600".into(),
            "--tls-san".into(),
            server_host.to_string(),
        ]);
    }
    for (k, v) in node.labels() {
        if k == labels::ARCH || k == labels::HOSTNAME {
            continue;
        }
        a.push("--node-label".into());
        a.push(format!("{k}={v}"));
    }
    a.join(" ")
}

/// Every step that installs k3s on `node` as `role`, in order: the manifest, the installer
/// (and offline, the binary and airgap images), the token, the installer run.
pub fn install_steps(node: &Node, role: Role, x: &Install<'_>) -> Vec<RemoteStep> {
    let mut s = Vec::new();
    let probe_absent = CREATED_DIRS
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    s.push(RemoteStep::new(
        format!(
            "umask 077 && a=$(for d in {probe_absent}; do [ -e \"$d\" ] || echo \"absent=$d\"; done) && \
             mkdir -p {STATE_DIR} && {{ cat; printf '%s\\n' \"$a\"; }} > {MANIFEST}.faasbed-tmp && \
             mv -f {MANIFEST}.faasbed-tmp {MANIFEST}"
        ),
        Input::Text(format!(
            "faasbed=1\nrun={}\nrole={}\nk3s={}\n",
            x.run_id,
            role.as_str(),
            x.version
        )),
        "record what faasbed installs here (read by `down`)",
    ));
    match x.files {
        Some(dir) => {
            s.push(RemoteStep::new(
                upload_line(INSTALLER, 0o700),
                Input::File(dir.join("install.sh")),
                "upload k3s's installer",
            ));
            let (bin, images) = release_names(node.arch);
            s.push(RemoteStep::new(
                upload_line(BINARY, 0o755),
                Input::File(dir.join(bin)),
                format!("upload the k3s {} binary", node.arch),
            ));
            if let Some(img) = images.iter().map(|i| dir.join(i)).find(|p| p.is_file()) {
                let name = img.file_name().map_or_else(String::new, |n| {
                    n.to_string_lossy().into_owned()
                });
                s.push(RemoteStep::new(
                    upload_line(&format!("{AIRGAP_DIR}/{name}"), 0o644),
                    Input::File(img),
                    "upload the airgap images",
                ));
            }
        }
        None => s.push(RemoteStep::new(
            format!(
                "umask 077 && curl -sfL {INSTALLER_URL} -o {INSTALLER}.faasbed-tmp && mv -f {INSTALLER}.faasbed-tmp {INSTALLER}"
            ),
            Input::None,
            "download k3s's installer",
        )),
    }
    s.push(RemoteStep::new(
        upload_line(TOKEN_FILE, 0o600),
        Input::Secret("the k3s join token"),
        "write the join token (0600, through stdin)",
    ));
    let mut env = Vec::new();
    if x.files.is_some() {
        env.push("INSTALL_K3S_SKIP_DOWNLOAD=true".to_string());
    }
    env.push(format!("INSTALL_K3S_VERSION={}", shell_quote(x.version)));
    if role == Role::Agent {
        env.push(format!(
            "K3S_URL={}",
            shell_quote(&server_url(x.server_host))
        ));
        env.push(format!("K3S_TOKEN_FILE={TOKEN_FILE}"));
    }
    env.push(format!(
        "INSTALL_K3S_EXEC={}",
        shell_quote(&k3s_exec(node, role, x.server_host))
    ));
    s.push(RemoteStep::new(
        format!("{} sh {INSTALLER}", env.join(" ")),
        Input::None,
        format!("install and start the k3s {}", role.as_str()),
    ));
    s
}

/// The server's view of every node: name, `kubernetes.io/arch` label, Ready status.
pub fn nodes_step() -> RemoteStep {
    let jsonpath = r#"jsonpath={range .items[*]}{.metadata.name}{" "}{.metadata.labels.kubernetes\.io/arch}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#;
    RemoteStep::new(
        format!("k3s kubectl get nodes -o {}", shell_quote(jsonpath)),
        Input::None,
        "list the nodes (name, arch, Ready)",
    )
}

/// The server's admin kubeconfig (its client key: never logged, saved 0600).
pub fn kubeconfig_step() -> RemoteStep {
    RemoteStep::new(
        format!("cat {KUBECONFIG}"),
        Input::None,
        "fetch the kubeconfig",
    )
}

/// Remove what run `run_id` installed on a host that played `role`: only where the manifest
/// names that run; the k3s uninstaller, faasbed's files, and the directories that were absent.
pub fn uninstall_step(role: Role, run_id: &str) -> RemoteStep {
    let un = role.uninstaller();
    RemoteStep::new(
        format!(
            "if grep -qx {run} {MANIFEST} 2>/dev/null; then a=$(sed -n 's/^absent=//p' {MANIFEST}); \
             if [ -x {un} ]; then {un}; fi; rm -f {BINARY} {TOKEN_FILE} {INSTALLER} {MANIFEST}; \
             for d in $a; do rm -rf \"$d\"; done; fi",
            run = shell_quote(&format!("run={run_id}")),
        ),
        Input::None,
        format!("uninstall the k3s {} faasbed installed", role.as_str()),
    )
}

/// Why `facts` forbid installing here: k3s is there already (faasbed never wipes a host).
pub fn refuse_existing(facts: &HostFacts) -> Option<String> {
    if let Some(run) = &facts.faasbed_run {
        return Some(format!(
            "faasbed's run {run} installed k3s here and was never brought down; run `faasbed down` for it (or `{}` on the host)",
            Role::Server.uninstaller()
        ));
    }
    let found: Vec<&str> = [&facts.k3s, &facts.k3s_version, &facts.k3s_unit]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    (!found.is_empty()).then(|| {
        format!(
            "k3s is already installed here ({}); faasbed never wipes a host: use its cluster with \
             `kubeconfig = ...` instead of [platform.k3s], or uninstall it yourself \
             (k3s-uninstall.sh / k3s-agent-uninstall.sh)",
            found.join(", ")
        )
    })
}

/// One node as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenNode {
    /// Node name.
    pub name: String,
    /// `kubernetes.io/arch` (`amd64`, `arm64`, `arm`).
    pub arch: String,
    /// Whether its Ready condition is `True`.
    pub ready: bool,
}

/// Read [`nodes_step`]'s output (`name arch status` lines).
pub fn parse_nodes(out: &str) -> Vec<SeenNode> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?.to_string();
            let arch = f.next().unwrap_or_default().to_string();
            let ready = f.next() == Some("True");
            Some(SeenNode { name, arch, ready })
        })
        .collect()
}

/// What keeps `want` from being all Ready with the right arch (empty: ready).
pub fn not_ready(want: &[&Node], seen: &[SeenNode]) -> Vec<String> {
    want.iter()
        .filter_map(|n| match seen.iter().find(|s| s.name == n.name) {
            None => Some(format!("{} has not joined", n.name)),
            Some(s) if s.arch != n.arch.k8s() => Some(format!(
                "{} joined as {}, the scenario says {}",
                n.name,
                s.arch,
                n.arch.k8s()
            )),
            Some(s) if !s.ready => Some(format!("{} is not Ready", n.name)),
            Some(_) => None,
        })
        .collect()
}

/// The server's kubeconfig with its API address (`127.0.0.1` or `localhost`) replaced by
/// `server_host`, as this machine reaches it; `None` when no such `server:` line is there.
pub fn rewrite_kubeconfig(yaml: &str, server_host: &str) -> Option<String> {
    let mut changed = false;
    let url = server_url(server_host);
    let out: Vec<String> = yaml
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let local = [
                format!("server: https://127.0.0.1:{API_PORT}"),
                format!("server: https://localhost:{API_PORT}"),
                format!("server: https://[::1]:{API_PORT}"),
            ];
            if local.iter().any(|x| t == x) {
                changed = true;
                format!("{}server: {url}", &l[..l.len() - t.len()])
            } else {
                l.to_string()
            }
        })
        .collect();
    changed.then(|| out.join("\n") + "\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn nodes_and_kubeconfig_are_read() {
        let seen = parse_nodes("fra-1 amd64 True\npi-1 arm False\npi-2 arm\n");
        assert_eq!(seen.len(), 3);
        assert!(seen[0].ready && !seen[1].ready && !seen[2].ready);
        let kc = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: AAA\n    server: https://127.0.0.1:6443\n  name: default\n";
        let out = rewrite_kubeconfig(kc, "10.0.0.1").unwrap();
        assert!(out.contains("    server: https://10.0.0.1:6443\n"), "{out}");
        assert!(rewrite_kubeconfig("server: https://x:6443\n", "h").is_none());
        assert_eq!(server_url("fd00::1"), "https://[fd00::1]:6443");
    }

    #[test]
    fn an_installed_k3s_is_refused() {
        let mut f = HostFacts::default();
        assert!(refuse_existing(&f).is_none());
        f.k3s_unit = Some("/etc/systemd/system/k3s.service".into());
        let why = refuse_existing(&f).unwrap();
        assert!(
            why.contains("never wipes") && why.contains("k3s.service"),
            "{why}"
        );
        f.faasbed_run = Some("r1".into());
        assert!(refuse_existing(&f).unwrap().contains("run r1"));
    }
}
