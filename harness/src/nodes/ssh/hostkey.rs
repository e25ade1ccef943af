//! Host-key trust: strict checking against one known_hosts file, never trust on first use.
//!
//! Two ways to trust a host: the user's own known_hosts (the default, `~/.ssh/known_hosts`),
//! or a fingerprint pinned in the scenario (`host_key = "SHA256:..."`, as
//! `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it on the host's console). For a
//! pin, faasbed scans the host's keys ([`keyscan`]), keeps the one whose fingerprint matches
//! ([`pinned_line`]) and writes it to the run's own known_hosts file; ssh then checks every
//! connection strictly against that file. A key that no longer matches is refused.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{SshError, SshHost};
use crate::exec::Cmd;

/// One public host key as `ssh-keyscan` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Key type, e.g. `ssh-ed25519`.
    pub kind: String,
    /// The key blob, base64 as in known_hosts.
    pub blob: String,
}

impl HostKey {
    /// OpenSSH's SHA256 fingerprint (`SHA256:` + unpadded base64 of the blob's digest);
    /// `None` when the blob is not base64.
    pub fn fingerprint(&self) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(self.blob.as_bytes())
            .ok()?;
        let digest = Sha256::digest(&raw);
        Some(format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
        ))
    }
}

/// `ssh-keyscan` for the host's ed25519, ecdsa and rsa keys.
pub fn keyscan(host: &SshHost) -> Cmd {
    Cmd::new("ssh-keyscan")
        .args(["-T", "5", "-t", "ed25519,ecdsa,rsa", "-p"])
        .arg(host.port.to_string())
        .arg(&host.host)
        .timeout(std::time::Duration::from_secs(20))
}

/// The keys in `ssh-keyscan` output (`name type base64` lines; `#` comments skipped). A line
/// that is neither is ignored: keyscan prints its own banners on stdout on some versions.
pub fn parse_keyscan(out: &str) -> Vec<HostKey> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_name, kind, blob) = (f.next()?, f.next()?, f.next()?);
            (kind.starts_with("ssh-") || kind.starts_with("ecdsa-")).then(|| HostKey {
                kind: kind.to_string(),
                blob: blob.to_string(),
            })
        })
        .collect()
}

/// Whether `pin` is a fingerprint as ssh-keygen prints it (`SHA256:` + 43 base64 chars).
pub fn valid_pin(pin: &str) -> bool {
    crate::spec::is_sha256_pin(pin)
}

/// The known_hosts line for the scanned key matching `pin`; a host offering no key with that
/// fingerprint is refused as changed, with the fingerprints it offered.
pub fn pinned_line(host: &SshHost, pin: &str, scanned: &[HostKey]) -> Result<String, SshError> {
    if let Some(k) = scanned
        .iter()
        .find(|k| k.fingerprint().as_deref() == Some(pin))
    {
        return Ok(format!("{} {} {}", host.known_hosts_name(), k.kind, k.blob));
    }
    if scanned.is_empty() {
        return Err(SshError::Unreachable {
            node: host.node.clone(),
            host: host.host.clone(),
            port: host.port,
            reason: "ssh-keyscan got no host key".into(),
        });
    }
    let offered: Vec<String> = scanned
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k.kind,
                k.fingerprint().unwrap_or_else(|| "(unreadable key)".into())
            )
        })
        .collect();
    Err(SshError::HostKeyChanged {
        node: host.node.clone(),
        host: host.known_hosts_name(),
        detail: format!(
            "the scenario pins {pin}, the host offers {}",
            offered.join(", ")
        ),
    })
}

/// Write `lines` as the run's known_hosts file, mode 0600.
pub fn write_known_hosts(path: &std::path::Path, lines: &[String]) -> Result<(), SshError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| SshError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all((lines.join("\n") + "\n").as_bytes())
        .map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    // An ed25519 key made with `ssh-keygen -t ed25519` and the fingerprint `ssh-keygen -lf` printed (OpenSSH 9.2).
    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIIPx+sKi1EX+HrgDE8zD9vHnV94H2vsLuoNMIbP89FzD";

    #[test]
    fn fingerprints_match_ssh_keygen() {
        let k = HostKey {
            kind: "ssh-ed25519".into(),
            blob: KEY.into(),
        };
        let fp = k.fingerprint().unwrap();
        assert!(valid_pin(&fp), "{fp}");
        assert_eq!(
            fp,
            include_str!("../../../tests/fixtures/ssh/ed25519.fp").trim()
        );
    }

    #[test]
    fn a_pin_selects_the_key_and_a_changed_key_is_refused() {
        let host =
            SshHost::parse("pi-01", "root@10.1.0.2:2222", std::path::Path::new("/kh")).unwrap();
        let out =
            format!("# 10.1.0.2:2222 SSH-2.0-OpenSSH_9.2\n[10.1.0.2]:2222 ssh-ed25519 {KEY}\n");
        let keys = parse_keyscan(&out);
        assert_eq!(keys.len(), 1);
        let pin = keys[0].fingerprint().unwrap();
        assert_eq!(
            pinned_line(&host, &pin, &keys).unwrap(),
            format!("[10.1.0.2]:2222 ssh-ed25519 {KEY}")
        );
        let other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let e = pinned_line(&host, other, &keys).unwrap_err().to_string();
        assert!(
            e.contains("changed") && e.contains(other) && e.contains(&pin),
            "{e}"
        );
        assert!(matches!(
            pinned_line(&host, &pin, &[]),
            Err(SshError::Unreachable { .. })
        ));
    }

    #[test]
    fn pins_are_checked_for_shape() {
        assert!(!valid_pin("MD5:aa:bb"));
        assert!(!valid_pin("SHA256:short"));
        assert!(valid_pin(
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ));
    }
}
