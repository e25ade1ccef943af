//! `[platform.k3s]` and the ssh fields of each node: the k3s cluster faasbed builds on real
//! hosts. Placeholders (`<...>`) a shipped scenario leaves for the lab to fill in are refused
//! with what to fill in and how to find it.

use super::*;

/// Does `s` still hold a placeholder such as `<fill in>`?
fn placeholder(s: &str) -> bool {
    s.contains('<') || s.contains('>')
}

/// Whether `pin` is a fingerprint as `ssh-keygen -l` prints it (`SHA256:` + 43 base64 chars).
pub(crate) fn is_sha256_pin(pin: &str) -> bool {
    pin.strip_prefix("SHA256:").is_some_and(|b| {
        b.len() == 43
            && b.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    })
}

/// Is `v` a k3s release tag such as `v1.34.2+k3s1`?
fn is_k3s_version(v: &str) -> bool {
    let Some((semver, build)) = v.strip_prefix('v').and_then(|r| r.split_once("+k3s")) else {
        return false;
    };
    let parts: Vec<&str> = semver.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && !build.is_empty()
        && build.chars().all(|c| c.is_ascii_digit())
}

/// Check every ssh node's login fields and, when present, `[platform.k3s]`.
pub(super) fn k3s_install(
    cx: &Cx,
    kind: PlatformKind,
    platform: &RawPlatform,
    raw: &[RawNode],
    nodes: &[Node],
) -> R<Option<K3sInstall>> {
    for (i, rn) in raw.iter().enumerate() {
        let f = |s: &str| format!("node[{i}].{s}");
        let is_ssh = nodes.get(i).is_some_and(|n| n.backend == Backend::Ssh);
        for (field, v) in [("host_key", &rn.host_key), ("key", &rn.key)] {
            if let (Some(v), false) = (v, is_ssh) {
                return Err(cx.err(
                    v.span(),
                    f(field),
                    format!("`{field}` is for nodes with backend = \"ssh\" only; remove it"),
                ));
            }
        }
        if let Some(a) = &rn.address {
            if placeholder(a.get_ref()) {
                return Err(cx.err(a.span(), f("address"), format!("{:?} is a placeholder: fill in how to log in to this machine, e.g. \"root@pi-01.lab:22\"", a.get_ref())));
            }
        }
        if let Some(k) = &rn.host_key {
            let k_ = k.get_ref();
            if placeholder(k_) || !is_sha256_pin(k_) {
                return Err(cx.err(k.span(), f("host_key"), format!("{k_:?} is not a host-key fingerprint: fill in the SHA256:... line that `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints on the host's own console (or `ssh-keyscan -p PORT HOST | ssh-keygen -lf -` over a network you trust)")));
            }
        }
        if let Some(k) = &rn.key {
            if placeholder(k.get_ref()) || k.get_ref().trim().is_empty() {
                return Err(cx.err(k.span(), f("key"), format!("{:?} is a placeholder: fill in the private key file to log in with (e.g. \"~/.ssh/id_ed25519\"), or remove `key` to use the SSH agent", k.get_ref())));
            }
        }
    }
    let Some(k3s) = &platform.k3s else {
        return Ok(None);
    };
    let at = k3s.span();
    if kind != PlatformKind::Existing {
        return Err(cx.err(
            at,
            "platform.k3s",
            "[platform.k3s] builds a cluster on real hosts and needs kind = \"existing\"",
        ));
    }
    if let Some(kc) = &platform.kubeconfig {
        return Err(cx.err(kc.span(), "platform.kubeconfig", "give either `kubeconfig` (a cluster you built) or [platform.k3s] (faasbed builds it on the ssh nodes), not both"));
    }
    let k3s = k3s.get_ref();
    let server = k3s.server.get_ref();
    match nodes.iter().find(|n| &n.name == server) {
        None => {
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(cx.err(
                k3s.server.span(),
                "platform.k3s.server",
                format!("no node is named {server:?}; nodes: {}", names.join(", ")),
            ));
        }
        Some(n) if n.arch == Arch::Armhf => {
            return Err(cx.err(k3s.server.span(), "platform.k3s.server", format!("node {server} is armhf; the server hosts the OpenFaaS core, which has no armhf images: pick an amd64 or arm64 node")));
        }
        Some(_) => {}
    }
    let version = match &k3s.version {
        Some(v) if is_k3s_version(v.get_ref()) => v.get_ref().clone(),
        Some(v) => {
            return Err(cx.err(
                v.span(),
                "platform.k3s.version",
                format!(
                    "{:?} is not a k3s release tag; write it as GitHub tags it, e.g. {:?}",
                    v.get_ref(),
                    crate::pins::K3S_VERSION
                ),
            ))
        }
        None => crate::pins::K3S_VERSION.to_string(),
    };
    let files = match &k3s.files {
        Some(p) if placeholder(p.get_ref()) => {
            return Err(cx.err(p.span(), "platform.k3s.files", "fill in the folder holding the k3s release files (install.sh, k3s, k3s-arm64, k3s-armhf, airgap images), or remove `files` when every host can download them"));
        }
        Some(p) => Some(super::kubeconfig_path(p.get_ref())),
        None => None,
    };
    Ok(Some(K3sInstall {
        server: server.clone(),
        version,
        files,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_and_versions_are_checked_for_shape() {
        assert!(is_sha256_pin(
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ));
        assert!(!is_sha256_pin("SHA256:<fill in>"));
        assert!(is_k3s_version("v1.34.2+k3s1"));
        for bad in [
            "1.34.2+k3s1",
            "v1.34+k3s1",
            "v1.34.2",
            "v1.34.2+k3s",
            "latest",
        ] {
            assert!(!is_k3s_version(bad), "{bad}");
        }
    }
}
