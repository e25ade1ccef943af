//! The k3s cluster faasbed builds over SSH (`[platform.k3s]`), against real `sshd`s (Debian's
//! openssh-server) that the test starts, each in its own network namespace and its own mount
//! namespace whose `/etc`, `/usr/local` and `/var/lib` are overlays: every host has its own
//! file tree, and what a run leaves behind is exactly the overlay's upper layer. k3s's
//! installer and binary are stand-ins (shell scripts supplied as the scenario's offline
//! `files`) that do what the real ones do to the file tree, record their argv and environment,
//! and answer `k3s kubectl get nodes`. The path after the kubeconfig (OpenFaaS by helm) needs
//! real hosts and internet and is not run here.
//!
//! Checked: the exact remote command sequence per host (recorded by sshd's ForceCommand), the
//! plan equal to it, the token on no command line nor in any log or run file, a changed host
//! key and an unreachable host failing before anything is installed, a host that has k3s
//! refused and untouched, and `down` leaving every host's tree as it was.
//!
//! Needs root, `sshd`, `ssh`, `ssh-keygen`, `ssh-keyscan`, `ip`, `unshare`, `nsenter` and
//! overlayfs; otherwise the tests are reported as *ignored* with the reason (own harness).
#![allow(clippy::unwrap_used)]

#[path = "common/gated.rs"]
mod gated;
use gated::block_on;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use faasbed::exec::{self, Cmd, ExecError, Output, Runner};
use faasbed::nodes::ssh::SshError;
use faasbed::platform::k3d::plan::{plan, PlanOpts};
use faasbed::platform::ssh::{self, plan as ssh_plan, SshPlatformError};

fn missing_prerequisites() -> Option<String> {
    let mut why = Vec::new();
    if !faasbed::doctor::is_root() {
        why.push("not root: run the tests with sudo".to_string());
    }
    let missing: Vec<&str> = [
        "ssh",
        "ssh-keygen",
        "ssh-keyscan",
        "ip",
        "unshare",
        "nsenter",
    ]
    .into_iter()
    .filter(|p| exec::which(p).is_none())
    .collect();
    if !missing.is_empty() || !Path::new("/usr/sbin/sshd").is_file() {
        why.push(format!(
            "missing {missing:?} or /usr/sbin/sshd: apt-get install -y openssh-server openssh-client iproute2 util-linux"
        ));
    }
    if !std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.contains("overlay")) {
        why.push("the kernel has no overlayfs".into());
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn sh(line: &str) -> String {
    exec::run_blocking(&Cmd::new("sh").arg("-c").arg(line))
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .stdout
}

/// The overlaid trees of every host.
const TREES: [&str; 3] = ["/etc", "/usr/local", "/var/lib"];

/// The stand-in k3s installer: what get.k3s.io's install.sh does with
/// INSTALL_K3S_SKIP_DOWNLOAD=true (service file, env file, uninstaller, kubectl link), then it
/// "starts" k3s by running the binary with INSTALL_K3S_EXEC.
const INSTALLER: &str = r#"#!/bin/sh
set -eu
REC=@REC@
name=$(printf '%s\n' "$INSTALL_K3S_EXEC" | sed -n 's/.*--node-name \([^ ]*\).*/\1/p')
env | grep -E '^(K3S_|INSTALL_K3S_)' | sort > "$REC/install-env.$name"
[ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" = true ] && [ -x /usr/local/bin/k3s ] || { echo "no k3s binary" >&2; exit 1; }
if [ -n "${K3S_URL:-}" ]; then svc=k3s-agent; un=/usr/local/bin/k3s-agent-uninstall.sh; else svc=k3s; un=/usr/local/bin/k3s-uninstall.sh; fi
printf '[Service]\nExecStart=/usr/local/bin/k3s %s\n' "$INSTALL_K3S_EXEC" > /etc/systemd/system/$svc.service
(umask 077; env | grep '^K3S_' > /etc/systemd/system/$svc.service.env || true)
ln -sf /usr/local/bin/k3s /usr/local/bin/kubectl
printf '#!/bin/sh\ntrue\n' > /usr/local/bin/k3s-killall.sh
cat > $un <<EOF
#!/bin/sh
rm -f /etc/systemd/system/$svc.service /etc/systemd/system/$svc.service.env /usr/local/bin/kubectl /usr/local/bin/k3s-killall.sh
rm -rf /etc/rancher/k3s /var/lib/rancher/k3s /run/k3s
rm -f /usr/local/bin/k3s $un
EOF
chmod 755 $un /usr/local/bin/k3s-killall.sh
/usr/local/bin/k3s $INSTALL_K3S_EXEC
"#;

/// The stand-in k3s: a server keeps the token and writes the kubeconfig; an agent joins only
/// with the server's token; `kubectl get nodes` lists who joined.
const K3S: &str = r#"#!/bin/sh
set -eu
REC=@REC@; CL=@CL@
printf '%s\n' "$*" >> "$REC/k3s-argv"
case "$1" in
--version) echo "k3s version @VERSION@ (stand-in)";;
server)
  tf=$(printf '%s\n' "$*" | sed -n 's/.*--token-file \([^ ]*\).*/\1/p')
  name=$(printf '%s\n' "$*" | sed -n 's/.*--node-name \([^ ]*\).*/\1/p')
  [ "$(stat -c %a "$tf")" = 600 ] || { echo "token file not 0600" >&2; exit 1; }
  cp "$tf" "$CL/token"
  mkdir -p /etc/rancher/k3s /var/lib/rancher/k3s/server
  (umask 077; printf 'apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\nusers:\n- name: default\n  user:\n    client-key-data: STANDIN\n' > /etc/rancher/k3s/k3s.yaml)
  echo "$name amd64 True" > "$CL/nodes/$name";;
agent)
  name=$(printf '%s\n' "$*" | sed -n 's/.*--node-name \([^ ]*\).*/\1/p')
  cmp -s "$K3S_TOKEN_FILE" "$CL/token" || { echo "wrong token" >&2; exit 1; }
  mkdir -p /var/lib/rancher/k3s/agent /etc/rancher/node
  echo "node password" > /etc/rancher/node/password
  echo "$name amd64 True" > "$CL/nodes/$name";;
kubectl) cat "$CL"/nodes/*;;
*) echo "stand-in k3s: unknown $1" >&2; exit 1;;
esac
"#;

/// The sshd ForceCommand: record the remote line, then run it.
const RECORDER: &str = "#!/bin/sh\nprintf '%s\\0' \"$SSH_ORIGINAL_COMMAND\" >> @DIR@/commands\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n";

/// One host: an sshd in its own network and mount namespace.
struct Host {
    ns: String,
    veth: String,
    dir: PathBuf,
    addr: String,
    sshd: Option<std::process::Child>,
}

impl Host {
    fn new(root: &Path, tag: u8) -> Host {
        let pid = std::process::id() % 10_000;
        let ns = format!("fbk3s{pid}-{tag}");
        let veth = format!("fbk{pid}{tag}");
        let net = 230 + u32::from(tag);
        let (host_ip, lab_ip) = (format!("10.{net}.78.1"), format!("10.{net}.78.2"));
        sh(&format!(
            "ip netns add {ns} && ip link add {veth} type veth peer name {veth}p && \
             ip link set {veth}p netns {ns} && ip addr add {host_ip}/30 dev {veth} && \
             ip link set {veth} up && ip -n {ns} addr add {lab_ip}/30 dev {veth}p && \
             ip -n {ns} link set {veth}p up && ip -n {ns} link set lo up"
        ));
        let dir = root.join(format!("host{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        sh(&format!(
            "mkdir -p /run/sshd && ssh-keygen -q -t ed25519 -N '' -f {d}/host_a && \
             ssh-keygen -q -t ed25519 -N '' -f {d}/host_b && cp {}/client.pub {d}/authorized_keys",
            root.display()
        ));
        std::fs::write(
            dir.join("record.sh"),
            RECORDER.replace("@DIR@", &d.to_string()),
        )
        .unwrap();
        sh(&format!("chmod 755 {d}/record.sh"));
        for (i, _) in TREES.iter().enumerate() {
            std::fs::create_dir_all(dir.join(format!("upper{i}"))).unwrap();
            std::fs::create_dir_all(dir.join(format!("work{i}"))).unwrap();
        }
        Host {
            ns,
            veth,
            dir,
            addr: lab_ip,
            sshd: None,
        }
    }

    fn serve(&mut self, key: &str) {
        let d = self.dir.display();
        std::fs::write(
            self.dir.join("sshd_config"),
            format!(
                "ListenAddress {}\nPort 22\nHostKey {d}/{key}\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {d}/sshd.pid\n\
                 ForceCommand {d}/record.sh\n",
                self.addr
            ),
        )
        .unwrap();
        let mounts: Vec<String> = TREES
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!("mount -t overlay overlay -o lowerdir={t},upperdir={d}/upper{i},workdir={d}/work{i} {t}")
            })
            .collect();
        let line = format!(
            "{} && exec /usr/sbin/sshd -D -e -f {d}/sshd_config -E {d}/sshd.log",
            mounts.join(" && ")
        );
        let child = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &line,
            ])
            .spawn()
            .unwrap();
        self.sshd = Some(child);
        // Wait until it listens (no timing is asserted; the loop gives up after 20 s).
        for _ in 0..200 {
            if sh(&format!("ip netns exec {} ss -ltn", self.ns))
                .contains(&format!("{}:22", self.addr))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "sshd never listened: {}",
            std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
        );
    }

    /// Run `line` in the host's mount namespace (as the host's own root would).
    fn on_host(&self, line: &str) -> String {
        let pid = self.sshd.as_ref().unwrap().id();
        sh(&format!(
            "nsenter -t {pid} -m sh -c {}",
            exec::shell_quote(line)
        ))
    }

    fn fingerprint(&self, key: &str) -> String {
        sh(&format!("ssh-keygen -lf {}/{key}.pub", self.dir.display()))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    /// The remote lines sshd ran, in order, consecutive repeats (the Ready poll) once.
    fn commands(&self) -> Vec<String> {
        let raw = std::fs::read_to_string(self.dir.join("commands")).unwrap_or_default();
        let mut v: Vec<String> = raw
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        v.dedup();
        v
    }

    /// What the host's trees hold beyond the machine's own: files, links and whiteouts in the
    /// overlays' upper layers, and directories there that the lower tree lacks.
    fn left_behind(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, t) in TREES.iter().enumerate() {
            let upper = self.dir.join(format!("upper{i}"));
            let found = sh(&format!(
                "cd {} && find . -mindepth 1 -printf '%y %p\\n'",
                upper.display()
            ));
            for l in found.lines() {
                let (kind, rel) = l.split_once(' ').unwrap();
                let real = Path::new(t).join(rel.trim_start_matches("./"));
                if kind != "d" || !real.is_dir() {
                    out.push(format!("{kind} {}", real.display()));
                }
            }
        }
        out
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = exec::run_blocking(&Cmd::new("ip").args(["link", "del", &self.veth]));
        let _ = exec::run_blocking(&Cmd::new("ip").args(["netns", "del", &self.ns]));
    }
}

/// A lab: hosts, the offline release folder with the stand-ins, and the scenario.
struct Lab {
    root: tempfile::TempDir,
    hosts: Vec<Host>,
}

impl Lab {
    fn new(n: u8, first_tag: u8) -> Lab {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        sh(&format!(
            "ssh-keygen -q -t ed25519 -N '' -f {}/client",
            r.display()
        ));
        for d in ["rec", "cluster/nodes", "files", "run"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        let subst = |s: &str| {
            s.replace("@REC@", &r.join("rec").display().to_string())
                .replace("@CL@", &r.join("cluster").display().to_string())
                .replace("@VERSION@", faasbed::pins::K3S_VERSION)
        };
        std::fs::write(r.join("files/install.sh"), subst(INSTALLER)).unwrap();
        std::fs::write(r.join("files/k3s"), subst(K3S)).unwrap();
        std::fs::write(
            r.join("files/k3s-airgap-images-amd64.tar.zst"),
            b"stand-in images",
        )
        .unwrap();
        let hosts = (0..n).map(|i| Host::new(r, first_tag + i)).collect();
        Lab { root, hosts }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    /// The scenario: host 0 is the server, the others agents; `pins[i]` is host i's pin.
    fn scenario(&self, pins: &[String], ports: &[u16]) -> faasbed::spec::Scenario {
        let mut t = format!(
            "[platform]\nkind = \"existing\"\ngateway_site = \"lab\"\n[platform.k3s]\nserver = \"srv\"\nfiles = \"{}\"\n",
            self.path("files").display()
        );
        for (i, h) in self.hosts.iter().enumerate() {
            let name = if i == 0 {
                "srv".to_string()
            } else {
                format!("ag{i}")
            };
            t.push_str(&format!(
                "[[node]]\nname = \"{name}\"\nclass = \"vps\"\narch = \"amd64\"\nsite = \"lab\"\nbackend = \"ssh\"\n\
                 address = \"root@{}:{}\"\nhost_key = \"{}\"\nkey = \"{}\"\n",
                h.addr,
                ports[i],
                pins[i],
                self.path("client").display()
            ));
        }
        t.push_str("[[function]]\nname = \"echo\"\nsource = \"echo\"\nconstraints = [\"faasbed.io/class=vps\"]\n");
        let p = self.path("scenario.toml");
        std::fs::write(&p, t).unwrap();
        faasbed::spec::load(&p).unwrap()
    }

    fn pins(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.fingerprint("host_a")).collect()
    }
}

/// The real runner, keeping every command line it ran.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Runner for Recorder {
    async fn run(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        self.0.lock().unwrap().push(cmd.display());
        exec::run(cmd).await
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    sh(&format!("find {} -type f", dir.display()))
        .lines()
        .map(PathBuf::from)
        .collect()
}

fn up_plan_and_down_on_three_hosts() {
    let mut lab = Lab::new(3, 1);
    for h in &mut lab.hosts {
        h.serve("host_a");
    }
    let scenario = lab.scenario(&lab.pins(), &[22, 22, 22]);
    let run_id = "sshtest-1";
    let run_dir = lab.path("run");
    let expected = ssh_plan::host_lines(&scenario, run_id, &run_dir).unwrap();
    let mut p = block_on(plan(
        &scenario,
        &PlanOpts {
            run_id: run_id.into(),
            run_dir: run_dir.clone(),
        },
    ))
    .unwrap();
    ssh_plan::extend(&mut p, &scenario, run_id, &run_dir).unwrap();
    let rendered = p.render();
    let hosts = ssh::hosts(&scenario, &run_dir).unwrap();

    let rec = Recorder::default();
    let built = block_on(ssh::build_cluster(&rec, &scenario, run_id, &run_dir)).unwrap();

    // The exact sequence per host, and the plan printing each of those commands in order.
    for (i, (node, lines)) in expected.iter().enumerate() {
        let h = &lab.hosts[i];
        assert_eq!(&h.commands(), lines, "host {node}");
        let mut at = 0;
        let sh_host = hosts.iter().find(|x| &x.node.name == node).unwrap();
        for l in lines {
            let shown = sh_host.ssh.command(l).display();
            let pos = rendered[at..]
                .find(&shown)
                .unwrap_or_else(|| panic!("plan lacks, in order, {shown}\n{rendered}"));
            at += pos + shown.len();
        }
    }
    assert_eq!(expected[0].0, "srv");
    assert!(
        expected[0].1.iter().any(|l| l.contains(
            "INSTALL_K3S_EXEC='server --node-name srv --token-file /var/lib/faasbed/token"
        )),
        "{:?}",
        expected[0].1
    );
    assert!(expected[1].1.iter().any(|l| l.contains(&format!(
        "K3S_URL=https://{}:6443 K3S_TOKEN_FILE=/var/lib/faasbed/token",
        lab.hosts[0].addr
    ))));

    // The kubeconfig points at the server and is private.
    use std::os::unix::fs::PermissionsExt;
    let kc = std::fs::read_to_string(&built.kubeconfig).unwrap();
    assert!(
        kc.contains(&format!("server: https://{}:6443", lab.hosts[0].addr)),
        "{kc}"
    );
    assert_eq!(
        std::fs::metadata(&built.kubeconfig)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Every node joined (the agents with the server's token) and was probed for provenance.
    let joined = std::fs::read_dir(lab.path("cluster/nodes"))
        .unwrap()
        .count();
    assert_eq!(joined, 3);
    assert_eq!(built.records.len(), 3);
    assert!(built.records.iter().all(|r| r.facts["kernel"].is_string()));
    // Installed: the binary, the service, the token 0600.
    assert!(!lab.hosts[1].left_behind().is_empty());
    assert_eq!(
        lab.hosts[1]
            .on_host("stat -c %a /var/lib/faasbed/token")
            .trim(),
        "600"
    );
    assert!(lab.hosts[0]
        .on_host("cat /etc/systemd/system/k3s.service")
        .contains("--node-label faasbed.io/class=vps"));

    // The token is on no command line and in no log or run file.
    let token = std::fs::read_to_string(lab.path("cluster/token")).unwrap();
    assert_eq!(token.len(), 64, "{token}");
    let mut texts: Vec<(String, String)> = rec
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|c| ("command".to_string(), c.clone()))
        .collect();
    for f in files_under(&lab.path("rec"))
        .into_iter()
        .chain(files_under(&run_dir))
    {
        texts.push((
            f.display().to_string(),
            std::fs::read_to_string(&f).unwrap_or_default(),
        ));
    }
    for h in &lab.hosts {
        for f in ["commands", "sshd.log"] {
            let p = h.dir.join(f);
            texts.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap_or_default(),
            ));
        }
    }
    for (what, text) in &texts {
        assert!(!text.contains(token.trim()), "the token is in {what}");
    }
    let env = std::fs::read_to_string(lab.path("rec/install-env.ag1")).unwrap();
    assert!(
        env.contains("K3S_TOKEN_FILE=/var/lib/faasbed/token") && !env.contains("K3S_TOKEN="),
        "{env}"
    );

    // down: the uninstall line last on each host, and every host's tree as it was.
    block_on(ssh::uninstall(&rec, &scenario, run_id, &run_dir)).unwrap();
    let (_, down) = ssh_plan::sections(&scenario, run_id, &run_dir).unwrap();
    for (i, h) in lab.hosts.iter().enumerate() {
        let last = h.commands().pop().unwrap();
        assert!(
            last.contains("k3s-") && last.contains("uninstall.sh"),
            "{last}"
        );
        let shown = hosts[i].ssh.command(&last).display();
        assert!(rendered.contains(&shown), "the plan's down lacks {shown}");
        assert_eq!(h.left_behind(), Vec::<String>::new(), "host {i} after down");
    }
    assert_eq!(
        down.iter()
            .filter(|s| matches!(s, faasbed::platform::k3d::Step::Command { .. }))
            .count(),
        3
    );
    // A second down finds nothing of this run and touches nothing.
    block_on(ssh::uninstall(&rec, &scenario, run_id, &run_dir)).unwrap();
    assert!(lab.hosts.iter().all(|h| h.left_behind().is_empty()));
}

/// Nothing but the probe (and, for an unreachable host, nothing at all) ran anywhere.
fn nothing_installed(lab: &Lab) {
    for h in &lab.hosts {
        let c = h.commands();
        assert!(c.iter().all(|l| l == "sh -s"), "{c:?}");
        assert_eq!(h.left_behind(), Vec::<String>::new());
    }
}

fn a_changed_host_key_fails_the_run_before_anything_is_installed() {
    let mut lab = Lab::new(2, 4);
    let pins = lab.pins();
    lab.hosts[0].serve("host_a");
    lab.hosts[1].serve("host_b");
    let scenario = lab.scenario(&pins, &[22, 22]);
    let e = block_on(ssh::build_cluster(
        &Recorder::default(),
        &scenario,
        "sshtest-2",
        &lab.path("run"),
    ))
    .unwrap_err();
    assert!(
        matches!(&e, SshPlatformError::Preflight { source } if matches!(&**source, SshError::HostKeyChanged { node, .. } if node == "ag1")),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("nothing was installed") && msg.contains(&pins[1]),
        "{msg}"
    );
    nothing_installed(&lab);
}

fn an_unreachable_host_fails_the_run_before_anything_is_installed() {
    let mut lab = Lab::new(2, 6);
    lab.hosts[0].serve("host_a");
    lab.hosts[1].serve("host_a");
    let scenario = lab.scenario(&lab.pins(), &[22, 2222]);
    let e = block_on(ssh::build_cluster(
        &Recorder::default(),
        &scenario,
        "sshtest-3",
        &lab.path("run"),
    ))
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(&e, SshPlatformError::Preflight { source } if matches!(**source, SshError::Unreachable { port: 2222, .. })),
        "{e}"
    );
    assert!(
        msg.contains("ag1") && msg.contains(&format!("{}:2222", lab.hosts[1].addr)),
        "{msg}"
    );
    nothing_installed(&lab);
}

fn a_host_with_k3s_is_refused_and_left_alone() {
    let mut lab = Lab::new(2, 8);
    for h in &mut lab.hosts {
        h.serve("host_a");
    }
    lab.hosts[1].on_host("printf '[Service]\\n' > /etc/systemd/system/k3s-agent.service");
    let scenario = lab.scenario(&lab.pins(), &[22, 22]);
    let e = block_on(ssh::build_cluster(
        &Recorder::default(),
        &scenario,
        "sshtest-4",
        &lab.path("run"),
    ))
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(&e, SshPlatformError::Unfit { node, .. } if node == "ag1"),
        "{e}"
    );
    assert!(
        msg.contains("never wipes") && msg.contains("k3s-agent.service"),
        "{msg}"
    );
    assert_eq!(
        lab.hosts[1].left_behind(),
        vec!["f /etc/systemd/system/k3s-agent.service".to_string()]
    );
    assert!(lab
        .hosts
        .iter()
        .all(|h| h.commands().iter().all(|l| l == "sh -s")));
    // down of that run touches neither host: no manifest names it.
    block_on(ssh::uninstall(
        &Recorder::default(),
        &scenario,
        "sshtest-4",
        &lab.path("run"),
    ))
    .unwrap();
    assert_eq!(
        lab.hosts[1].left_behind(),
        vec!["f /etc/systemd/system/k3s-agent.service".to_string()]
    );
    assert!(lab.hosts[0].left_behind().is_empty());
}

fn a_missing_release_file_fails_the_run_before_anything_is_installed() {
    let mut lab = Lab::new(1, 10);
    lab.hosts[0].serve("host_a");
    std::fs::remove_file(lab.path("files/k3s")).unwrap();
    let scenario = lab.scenario(&lab.pins(), &[22]);
    let e = block_on(ssh::build_cluster(
        &Recorder::default(),
        &scenario,
        "sshtest-5",
        &lab.path("run"),
    ))
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(&e, SshPlatformError::Files { .. }), "{e}");
    assert!(
        msg.contains(&lab.path("files/k3s").display().to_string()),
        "{msg}"
    );
    nothing_installed(&lab);
}

/// Past the install, the run fails (here: no Kubernetes API answers at the kubeconfig's
/// address); `up` takes k3s off every host again before it returns the error.
fn a_failure_after_the_install_takes_k3s_off_again() {
    let mut lab = Lab::new(2, 11);
    for h in &mut lab.hosts {
        h.serve("host_a");
    }
    let scenario = lab.scenario(&lab.pins(), &[22, 22]);
    let run_dir = lab.path("run");
    let e = block_on(ssh::SshPlatform::build_and_attach(
        &scenario,
        "sshtest-6",
        &run_dir,
    ));
    let Err(e) = e else {
        panic!("up succeeded without a Kubernetes API");
    };
    assert!(
        matches!(e, faasbed::platform::PlatformError::Existing(_)),
        "{e}"
    );
    for h in &lab.hosts {
        let c = h.commands();
        assert!(
            c.iter()
                .any(|l| l.contains("sh /var/lib/faasbed/install.sh")),
            "{c:?}"
        );
        assert!(c.last().unwrap().contains("uninstall.sh"), "{c:?}");
        assert_eq!(h.left_behind(), Vec::<String>::new());
    }
}

fn main() -> std::process::ExitCode {
    gated::main(
        "ssh_platform",
        "the sshd tests",
        missing_prerequisites(),
        false,
        vec![
            gated::test(
                "up_plan_and_down_on_three_hosts",
                up_plan_and_down_on_three_hosts,
            ),
            gated::test(
                "a_changed_host_key_fails_the_run_before_anything_is_installed",
                a_changed_host_key_fails_the_run_before_anything_is_installed,
            ),
            gated::test(
                "an_unreachable_host_fails_the_run_before_anything_is_installed",
                an_unreachable_host_fails_the_run_before_anything_is_installed,
            ),
            gated::test(
                "a_host_with_k3s_is_refused_and_left_alone",
                a_host_with_k3s_is_refused_and_left_alone,
            ),
            gated::test(
                "a_missing_release_file_fails_the_run_before_anything_is_installed",
                a_missing_release_file_fails_the_run_before_anything_is_installed,
            ),
            gated::test(
                "a_failure_after_the_install_takes_k3s_off_again",
                a_failure_after_the_install_takes_k3s_off_again,
            ),
        ],
    )
}
