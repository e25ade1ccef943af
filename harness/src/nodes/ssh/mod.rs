//! Real hosts reached over SSH: the connection, host-key trust and what a host is.
//!
//! Every remote command is an `ssh` child run through [`crate::exec`], with host-key checking
//! strict and against one known_hosts file ([`hostkey`]): the user's own, or a file faasbed
//! writes after matching a fingerprint pinned in the scenario. Secrets travel on stdin
//! ([`SshHost::upload`]), never on a command line. [`probe`] says what a host is (arch, kernel,
//! memory, cgroups, disk, clock, board) before anything is installed on it.

pub mod hostkey;
pub mod k3s;
pub mod probe;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::{shell_quote, Cmd, ExecError, Runner};

/// Errors reaching or trusting a host.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The scenario's address is not `[user@]host[:port]`.
    #[error("node {node}: address {address:?} is not [user@]host[:port] ({reason}); write it like root@pi-01.lab:22")]
    Address {
        node: String,
        address: String,
        reason: String,
    },
    /// The host presented a key that differs from the trusted one.
    #[error("node {node}: the host key of {host} changed: {detail}. This is either a reinstalled host or someone in the middle; check the host's key on its console (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then update the pinned host_key or your known_hosts entry (`ssh-keygen -R {host}`)")]
    HostKeyChanged {
        node: String,
        host: String,
        detail: String,
    },
    /// The host is not in the known_hosts file faasbed checks against.
    #[error("node {node}: {host} is not in {known_hosts}; faasbed never trusts a key on first use. Read the host's fingerprint on its console (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) and pin it in the scenario as host_key = \"SHA256:...\", or add the verified key to {known_hosts}")]
    HostKeyUnknown {
        node: String,
        host: String,
        known_hosts: String,
    },
    /// The host did not answer (refused, timed out, unresolvable, no route).
    #[error("node {node}: cannot reach {host}:{port}: {reason}; check the address, that sshd runs there, and the network between")]
    Unreachable {
        node: String,
        host: String,
        port: u16,
        reason: String,
    },
    /// The host refused the key or the agent's keys.
    #[error("node {node}: {user}@{host} refused our key ({reason}); add the public key to ~{user}/.ssh/authorized_keys there, or name the right key with `key = \"...\"`")]
    Auth {
        node: String,
        user: String,
        host: String,
        reason: String,
    },
    /// A command on the host failed.
    #[error("node {node}: `{remote}` failed on {host}: {source}")]
    Remote {
        node: String,
        host: String,
        remote: String,
        #[source]
        source: Box<ExecError>,
    },
    /// The host's probe output could not be read.
    #[error(transparent)]
    Probe(#[from] probe::ProbeError),
    /// Writing faasbed's own known_hosts file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One host and how to log in to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    /// The node name, for messages.
    pub node: String,
    /// Login user.
    pub user: String,
    /// Host name or address.
    pub host: String,
    /// TCP port of sshd.
    pub port: u16,
    /// Private key file; `None`: the SSH agent's keys.
    pub identity: Option<PathBuf>,
    /// The one known_hosts file the host key is checked against (strictly).
    pub known_hosts: PathBuf,
}

/// Seconds ssh waits for the TCP connection before giving up.
pub const CONNECT_TIMEOUT_S: u32 = 10;

impl SshHost {
    /// Parse `[user@]host[:port]` (user default `root`, port default 22; `[v6]:port` allowed).
    pub fn parse(node: &str, address: &str, known_hosts: &Path) -> Result<SshHost, SshError> {
        let bad = |reason: &str| SshError::Address {
            node: node.to_string(),
            address: address.to_string(),
            reason: reason.to_string(),
        };
        let (user, rest) = match address.rsplit_once('@') {
            Some((u, r)) => (u, r),
            None => ("root", address),
        };
        if user.is_empty() || user.contains(|c: char| c.is_whitespace() || c == ':') {
            return Err(bad("the user is empty or has a space or colon"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("an unclosed [ ]"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad("text after ]")),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
            return Err(bad("the host is empty, starts with '-' or has a space"));
        }
        let port = match port {
            None => 22,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port is not 1-65535"))?,
        };
        Ok(SshHost {
            node: node.to_string(),
            user: user.to_string(),
            host: host.to_string(),
            port,
            identity: None,
            known_hosts: known_hosts.to_path_buf(),
        })
    }

    /// The name known_hosts files use for this host: `host`, or `[host]:port` off port 22.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }

    /// `ssh` with strict host-key checking against [`SshHost::known_hosts`] only, no
    /// password prompts, then `remote` as one shell line on the host.
    pub fn command(&self, remote: &str) -> Cmd {
        let mut c = Cmd::new("ssh").args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "CheckHostIP=no",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ]);
        c = c
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .arg("-o")
            .arg(format!("ConnectTimeout={CONNECT_TIMEOUT_S}"))
            .arg("-p")
            .arg(self.port.to_string());
        if let Some(key) = &self.identity {
            c = c
                .arg("-o")
                .arg("IdentitiesOnly=yes")
                .arg("-i")
                .arg(key.as_os_str());
        }
        c.arg(format!("{}@{}", self.user, self.host))
            .arg("--")
            .arg(remote)
            .timeout(Duration::from_secs(120))
    }

    /// Write `bytes` to `remote_path` on the host with `mode` (octal, e.g. 0o600), through
    /// stdin and a temporary file renamed into place: the content is never on a command line.
    pub fn upload(&self, remote_path: &str, mode: u32, bytes: Vec<u8>) -> Cmd {
        self.command(&upload_line(remote_path, mode)).stdin(bytes)
    }

    /// Turn a failed ssh run into what went wrong: the connection (exit 255 with ssh's own
    /// message) or the remote command.
    pub fn classify(&self, remote: &str, e: ExecError) -> SshError {
        let ExecError::NonZeroExit { status, stderr, .. } = &e else {
            return self.remote(remote, e);
        };
        if !status.contains("255") {
            return self.remote(remote, e);
        }
        match failure_of(stderr) {
            Some(Failure::KeyChanged) => SshError::HostKeyChanged {
                node: self.node.clone(),
                host: self.known_hosts_name(),
                detail: "ssh refused it as changed".into(),
            },
            Some(Failure::KeyUnknown) => SshError::HostKeyUnknown {
                node: self.node.clone(),
                host: self.known_hosts_name(),
                known_hosts: self.known_hosts.display().to_string(),
            },
            Some(Failure::Unreachable(reason)) => SshError::Unreachable {
                node: self.node.clone(),
                host: self.host.clone(),
                port: self.port,
                reason,
            },
            Some(Failure::Auth(reason)) => SshError::Auth {
                node: self.node.clone(),
                user: self.user.clone(),
                host: self.host.clone(),
                reason,
            },
            None => self.remote(remote, e),
        }
    }

    fn remote(&self, remote: &str, source: ExecError) -> SshError {
        SshError::Remote {
            node: self.node.clone(),
            host: self.host.clone(),
            remote: remote.chars().take(120).collect(),
            source: Box::new(source),
        }
    }
}

/// The remote line of [`SshHost::upload`]: stdin goes to a temporary file (umask 077) that
/// gets `mode` (octal, e.g. 0o600) and is renamed to `remote_path`.
pub fn upload_line(remote_path: &str, mode: u32) -> String {
    let path = shell_quote(remote_path);
    let tmp = shell_quote(&format!("{remote_path}.faasbed-tmp"));
    let dir = shell_quote(
        Path::new(remote_path)
            .parent()
            .map_or_else(|| "/".into(), |d| d.to_string_lossy().into_owned())
            .as_str(),
    );
    format!(
        "umask 077 && mkdir -p {dir} && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {path}"
    )
}

/// Trust `host` by the fingerprint `pin`: scan its keys, keep the matching one and write it to
/// [`SshHost::known_hosts`] (0600), which every later connection checks strictly.
pub async fn trust_pinned<R: Runner>(
    runner: &R,
    host: &SshHost,
    pin: &str,
) -> Result<(), SshError> {
    let cmd = hostkey::keyscan(host);
    let out = runner.run(&cmd).await.map_err(|e| match e {
        // keyscan exits 0 even when it gets nothing; a failure here is keyscan itself.
        e @ ExecError::Spawn { .. } => host.remote("ssh-keyscan", e),
        e => SshError::Unreachable {
            node: host.node.clone(),
            host: host.host.clone(),
            port: host.port,
            reason: e.to_string(),
        },
    })?;
    let line = hostkey::pinned_line(host, pin, &hostkey::parse_keyscan(&out.stdout))?;
    hostkey::write_known_hosts(&host.known_hosts, &[line])
}

/// Run `remote` on `host`, with ssh's connection failures told apart from the command's own.
pub async fn run<R: Runner>(runner: &R, host: &SshHost, remote: &str) -> Result<String, SshError> {
    runner
        .run(&host.command(remote))
        .await
        .map(|o| o.stdout)
        .map_err(|e| host.classify(remote, e))
}

/// Probe `host` ([`probe::SCRIPT`]): its facts, and its clock offset from ours with the bound.
pub async fn probe<R: Runner>(
    runner: &R,
    host: &SshHost,
) -> Result<(probe::HostFacts, Option<(i64, u64)>), SshError> {
    let sent = crate::store::clock::now_ns();
    let cmd = host
        .command(probe::REMOTE)
        .stdin(probe::SCRIPT.as_bytes().to_vec());
    let out = runner
        .run(&cmd)
        .await
        .map_err(|e| host.classify(probe::REMOTE, e))?
        .stdout;
    let back = crate::store::clock::now_ns();
    let facts = probe::parse(&host.node, &out)?;
    let offset = probe::clock_offset(&facts, sent, back);
    Ok((facts, offset))
}

/// What ssh's own stderr says went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// "REMOTE HOST IDENTIFICATION HAS CHANGED" (or a mismatching key line).
    KeyChanged,
    /// "Host key verification failed" without a changed-key warning: an unknown host.
    KeyUnknown,
    /// Refused, timed out, no route, unresolvable.
    Unreachable(String),
    /// "Permission denied (publickey...)".
    Auth(String),
}

/// Classify ssh's stderr; `None` when it is not one of ssh's connection failures.
pub fn failure_of(stderr: &str) -> Option<Failure> {
    let line_with = |needle: &str| {
        stderr
            .lines()
            .find(|l| l.contains(needle))
            .map(|l| l.trim().to_string())
    };
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || stderr.contains("differs from the key for the IP address")
    {
        return Some(Failure::KeyChanged);
    }
    if stderr.contains("Host key verification failed") {
        return Some(Failure::KeyUnknown);
    }
    for needle in [
        "Connection refused",
        "Connection timed out",
        "No route to host",
        "Network is unreachable",
        "Could not resolve hostname",
        "Connection closed by remote host",
        "Connection reset by peer",
        "Name or service not known",
    ] {
        if let Some(l) = line_with(needle) {
            return Some(Failure::Unreachable(l));
        }
    }
    line_with("Permission denied").map(Failure::Auth)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn kh() -> PathBuf {
        PathBuf::from("/tmp/kh")
    }

    #[test]
    fn addresses_parse_with_defaults_and_refuse_junk() {
        let h = SshHost::parse("pi-01", "pi@10.0.0.5:2222", &kh()).unwrap();
        assert_eq!(
            (h.user.as_str(), h.host.as_str(), h.port),
            ("pi", "10.0.0.5", 2222)
        );
        assert_eq!(h.known_hosts_name(), "[10.0.0.5]:2222");
        let h = SshHost::parse("vps", "vps-01.example.net", &kh()).unwrap();
        assert_eq!((h.user.as_str(), h.port), ("root", 22));
        assert_eq!(h.known_hosts_name(), "vps-01.example.net");
        let h = SshHost::parse("v6", "root@[fd00::5]:23", &kh()).unwrap();
        assert_eq!((h.host.as_str(), h.port), ("fd00::5", 23));
        for bad in [
            "",
            "root@",
            "@h",
            "h:0",
            "h:99999",
            "h:x",
            "-oProxyCommand=x",
            "a b",
            "[fd00::1",
        ] {
            let e = SshHost::parse("n1", bad, &kh()).unwrap_err();
            assert!(e.to_string().contains("node n1"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_command_is_strict_and_carries_no_secret() {
        let mut h = SshHost::parse("pi-01", "pi@10.0.0.5", &kh()).unwrap();
        h.identity = Some(PathBuf::from("/k/id_ed25519"));
        let c = h.upload(
            "/etc/rancher/k3s/token",
            0o600,
            b"K10secret::server:abc".to_vec(),
        );
        let line = c.display();
        assert!(line.contains("StrictHostKeyChecking=yes"), "{line}");
        assert!(line.contains("UserKnownHostsFile=/tmp/kh"), "{line}");
        assert!(line.contains("BatchMode=yes") && line.contains("IdentitiesOnly=yes"));
        assert!(!line.contains("K10secret"), "{line}");
        assert!(line.contains("chmod 600"), "{line}");
        assert!(!line.contains("StrictHostKeyChecking=no"));
    }

    #[test]
    fn ssh_failures_are_told_apart() {
        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n";
        assert_eq!(failure_of(changed), Some(Failure::KeyChanged));
        assert_eq!(
            failure_of("No ED25519 host key is known for [10.1.0.2]:22 and you have requested strict checking.\nHost key verification failed.\n"),
            Some(Failure::KeyUnknown)
        );
        assert!(matches!(
            failure_of("ssh: connect to host 10.1.0.9 port 22: Connection refused\n"),
            Some(Failure::Unreachable(l)) if l.contains("10.1.0.9")
        ));
        assert!(matches!(
            failure_of("root@10.1.0.2: Permission denied (publickey).\n"),
            Some(Failure::Auth(_))
        ));
        assert_eq!(failure_of("bash: k3s: command not found\n"), None);
    }
}
