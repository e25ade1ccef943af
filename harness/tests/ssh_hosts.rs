//! Real hosts over SSH, against a real `sshd` (Debian's openssh-server) that the test starts in
//! a network namespace it makes: host-key pinning, a changed key refused, an unknown host never
//! trusted on first use, an unreachable host told apart, a secret uploaded through stdin only,
//! and the host probe read from a real login.
//!
//! Needs root, `sshd`, `ssh`, `ssh-keygen`, `ssh-keyscan` and `ip`. Where any is missing the
//! tests are reported as *ignored* with the reason and the fixing command (own harness,
//! `libtest-mimic`, as tests/containerd.rs).
#![allow(clippy::unwrap_used)]

#[path = "common/gated.rs"]
mod gated;
use gated::block_on;

use std::path::{Path, PathBuf};
use std::time::Duration;

use faasbed::exec::{self, Cmd, System};
use faasbed::nodes::ssh::{self, SshError, SshHost};
use faasbed::spec::Arch;

fn missing_prerequisites() -> Option<String> {
    let mut why = Vec::new();
    if !faasbed::doctor::is_root() {
        why.push("not root: run the tests with sudo".to_string());
    }
    let missing: Vec<&str> = ["ssh", "ssh-keygen", "ssh-keyscan", "ip"]
        .into_iter()
        .filter(|p| exec::which(p).is_none())
        .collect();
    if !missing.is_empty() || !Path::new("/usr/sbin/sshd").is_file() {
        why.push(format!(
            "missing {missing:?} or /usr/sbin/sshd: apt-get install -y openssh-server openssh-client iproute2"
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn sh(line: &str) -> String {
    exec::run_blocking(&Cmd::new("sh").arg("-c").arg(line))
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .stdout
}

/// One sshd in its own network namespace, removed on drop.
struct Lab {
    ns: String,
    veth: String,
    dir: tempfile::TempDir,
    addr: String,
    sshd: Option<std::process::Child>,
}

impl Lab {
    fn new(tag: u8) -> Lab {
        let pid = std::process::id() % 10_000;
        let ns = format!("fbssh{pid}-{tag}");
        let veth = format!("fbs{pid}{tag}");
        let net = 200 + u32::from(tag);
        let (host_ip, lab_ip) = (format!("10.{net}.77.1"), format!("10.{net}.77.2"));
        sh(&format!(
            "ip netns add {ns} && ip link add {veth} type veth peer name {veth}p && \
             ip link set {veth}p netns {ns} && ip addr add {host_ip}/30 dev {veth} && \
             ip link set {veth} up && ip -n {ns} addr add {lab_ip}/30 dev {veth}p && \
             ip -n {ns} link set {veth}p up && ip -n {ns} link set lo up"
        ));
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        sh(&format!(
            "mkdir -p /run/sshd && ssh-keygen -q -t ed25519 -N '' -f {d}/host_a && \
             ssh-keygen -q -t ed25519 -N '' -f {d}/host_b && \
             ssh-keygen -q -t ed25519 -N '' -f {d}/client && cp {d}/client.pub {d}/authorized_keys"
        ));
        Lab {
            ns,
            veth,
            addr: lab_ip,
            dir,
            sshd: None,
        }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    /// (Re)start sshd with host key `key` (`host_a` or `host_b`).
    fn serve(&mut self, key: &str) {
        self.stop();
        let d = self.dir.path().display();
        std::fs::write(
            self.path("sshd_config"),
            format!(
                "ListenAddress {}\nPort 22\nHostKey {d}/{key}\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {d}/sshd.pid\n",
                self.addr
            ),
        )
        .unwrap();
        let child = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
            ])
            .arg(self.path("sshd_config"))
            .arg("-E")
            .arg(self.path("sshd.log"))
            .spawn()
            .unwrap();
        self.sshd = Some(child);
        // Wait until it listens (no timing is asserted; the loop only gives up after 20 s).
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
            std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn host(&self, port: u16, known_hosts: &str) -> SshHost {
        let mut h = SshHost::parse(
            "pi-01",
            &format!("root@{}:{port}", self.addr),
            &self.path(known_hosts),
        )
        .unwrap();
        h.identity = Some(self.path("client"));
        h
    }

    fn fingerprint(&self, key: &str) -> String {
        sh(&format!(
            "ssh-keygen -lf {}",
            self.path(&format!("{key}.pub")).display()
        ))
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop();
        let _ = exec::run_blocking(&Cmd::new("ip").args(["link", "del", &self.veth]));
        let _ = exec::run_blocking(&Cmd::new("ip").args(["netns", "del", &self.ns]));
    }
}

fn pinned_host_is_probed_and_a_changed_key_is_refused() {
    let mut lab = Lab::new(1);
    lab.serve("host_a");
    let host = lab.host(22, "known_hosts");
    let pin = lab.fingerprint("host_a");
    let kernel = sh("uname -r");
    block_on(async {
        ssh::trust_pinned(&System, &host, &pin).await.unwrap();
        let kh = std::fs::read_to_string(&host.known_hosts).unwrap();
        assert_eq!(kh.lines().count(), 1, "{kh}");
        let (facts, offset) = ssh::probe(&System, &host).await.unwrap();
        // The lab shares this machine's kernel and clock.
        assert_eq!(facts.kernel.as_deref(), Some(kernel.trim()));
        assert_eq!(facts.arch, Some(Arch::Amd64));
        let (off, bound) = offset.unwrap();
        assert!(
            off.unsigned_abs() <= bound + 1_000_000_000,
            "{off} ±{bound}"
        );
    });
    // The host now serves another key: the pinned file refuses it, and so does a new pin scan.
    lab.serve("host_b");
    let fp_b = lab.fingerprint("host_b");
    block_on(async {
        let e = ssh::run(&System, &host, "true").await.unwrap_err();
        assert!(matches!(e, SshError::HostKeyChanged { .. }), "{e}");
        let e = ssh::trust_pinned(&System, &host, &pin).await.unwrap_err();
        assert!(matches!(e, SshError::HostKeyChanged { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(&pin) && msg.contains(&fp_b), "{msg}");
    });
}

fn unknown_and_unreachable_hosts_fail_before_anything_runs() {
    let mut lab = Lab::new(2);
    lab.serve("host_a");
    block_on(async {
        std::fs::write(lab.path("empty_known_hosts"), "").unwrap();
        let host = lab.host(22, "empty_known_hosts");
        let e = ssh::run(&System, &host, "touch /tmp/never")
            .await
            .unwrap_err();
        assert!(matches!(e, SshError::HostKeyUnknown { .. }), "{e}");
        assert!(
            e.to_string().contains("never trusts a key on first use"),
            "{e}"
        );
        let host = lab.host(2222, "empty_known_hosts");
        let e = ssh::run(&System, &host, "true").await.unwrap_err();
        assert!(matches!(e, SshError::Unreachable { port: 2222, .. }), "{e}");
    });
}

fn a_secret_goes_through_stdin_only() {
    let mut lab = Lab::new(3);
    lab.serve("host_a");
    let host = lab.host(22, "known_hosts");
    let secret = "K10faasbedtest::server:0123456789abcdef";
    let target = lab.path("remote/etc/token");
    let pin = lab.fingerprint("host_a");
    block_on(async {
        ssh::trust_pinned(&System, &host, &pin).await.unwrap();
        let cmd = host.upload(
            &target.display().to_string(),
            0o600,
            secret.as_bytes().to_vec(),
        );
        assert!(!cmd.display().contains(secret));
        exec::run(&cmd).await.unwrap();
    });
    // The lab shares this machine's filesystem, so the "remote" file is readable here.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), secret);
    let log = std::fs::read_to_string(lab.path("sshd.log")).unwrap_or_default();
    assert!(!log.contains(secret), "{log}");
}

fn main() -> std::process::ExitCode {
    gated::main(
        "ssh_hosts",
        "the sshd tests",
        missing_prerequisites(),
        false,
        vec![
            gated::test(
                "pinned_host_is_probed_and_a_changed_key_is_refused",
                pinned_host_is_probed_and_a_changed_key_is_refused,
            ),
            gated::test(
                "unknown_and_unreachable_hosts_fail_before_anything_runs",
                unknown_and_unreachable_hosts_fail_before_anything_runs,
            ),
            gated::test(
                "a_secret_goes_through_stdin_only",
                a_secret_goes_through_stdin_only,
            ),
        ],
    )
}
