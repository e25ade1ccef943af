//! `[platform.registry]`: the image registry a user names for an existing cluster. It must be
//! a bare `host[:port]` (what a docker image ref starts with), and it is refused where faasbed
//! has no use for it (local: no images; k3d: the cluster brings its own registry).

use toml::Spanned;

use super::{Cx, R};
use crate::spec::raw::RawPlatform;
use crate::spec::{ImageRegistry, PlatformKind};

/// The checked registry of `[platform.registry]`; `pull` defaults to `push`.
pub(super) fn registry(cx: &Cx, kind: PlatformKind, p: &RawPlatform) -> R<Option<ImageRegistry>> {
    let Some(r) = &p.registry else {
        return Ok(None);
    };
    let instead = match kind {
        PlatformKind::Existing => None,
        PlatformKind::K3d => Some(
            "k3d creates its own registry: remove [platform.registry] and set registry_name / \
             registry_port under [platform.k3d] instead",
        ),
        PlatformKind::Local => Some(
            "the local platform runs function binaries and pushes no images: remove \
             [platform.registry], or set kind = \"existing\" to run on a cluster of your own",
        ),
    };
    if let Some(m) = instead {
        return Err(cx.err(
            r.span(),
            "platform.registry",
            format!("[platform.registry] is only for kind = \"existing\"; {m}"),
        ));
    }
    let raw = r.get_ref();
    let push = host_port(cx, &raw.push, "platform.registry.push")?;
    let pull = match &raw.pull {
        Some(v) => host_port(cx, v, "platform.registry.pull")?,
        None => push.clone(),
    };
    Ok(Some(ImageRegistry { push, pull }))
}

fn host_port(cx: &Cx, v: &Spanned<String>, field: &str) -> R<String> {
    let s = v.get_ref();
    check_host_port(s).map_err(|m| cx.err(v.span(), field, m))?;
    Ok(s.clone())
}

/// Is `s` a registry address an image ref can start with: `host[:port]`, no scheme, no path,
/// and recognisable by docker as a registry (a `.` or a port in it, or `localhost`)?
fn check_host_port(s: &str) -> Result<(), String> {
    let form = "write it as host[:port], e.g. \"registry.lan:5000\"";
    if let Some((scheme, _)) = s.split_once("://") {
        return Err(format!(
            "{s:?} starts with a scheme ({scheme}://); {form} (docker chooses https, or http \
             for a registry listed as insecure, by itself)"
        ));
    }
    if s.contains('/') {
        return Err(format!(
            "{s:?} has a path; {form}: faasbed adds faasbed/<source>:<tag> itself"
        ));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, Some(p)),
        _ => (s, None),
    };
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|n| n > 0) {
            return Err(format!(
                "{s:?}: port {p:?} is not a number from 1 to 65535; {form}"
            ));
        }
    }
    if !is_host(host) {
        return Err(format!(
            "{s:?}: {host:?} is not a host name or IP address (letters, digits, '-' and '.'; \
             [..] around IPv6); {form}"
        ));
    }
    if !(host.contains('.') || host.starts_with('[') || port.is_some() || host == "localhost") {
        return Err(format!(
            "{s:?} would be read as a Docker Hub account, not a registry (docker takes the first \
             part of an image name as a registry only when it has a '.' or a port or is \
             localhost); add the port, e.g. \"{s}:5000\""
        ));
    }
    Ok(())
}

/// A DNS name, an IPv4 address, or a bracketed IPv6 address.
fn is_host(h: &str) -> bool {
    if let Some(v6) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return v6.contains(':') && v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    }
    !h.is_empty()
        && h.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::check_host_port;
    use crate::spec::{parse, ImageRegistry, SpecError};
    use std::path::Path;

    const NODE: &str = "[[node]]\nname = \"vps-1\"\nclass = \"vps\"\naddress = \"root@vps-1\"\n";

    fn p(platform: &str) -> Result<crate::spec::Scenario, SpecError> {
        parse(&format!("{platform}\n{NODE}"), Path::new("t.toml"))
    }

    /// The error message of a scenario that must be refused.
    fn err(platform: &str) -> String {
        p(platform).unwrap_err().to_string()
    }

    const EXISTING: &str = "[platform]\nkind = \"existing\"\nkubeconfig = \"k.yaml\"\n";

    #[test]
    fn existing_takes_push_and_pull_and_pull_defaults_to_push() {
        let s = p(&format!(
            "{EXISTING}[platform.registry]\npush = \"10.0.0.5:5000\"\npull = \"registry.lan:5000\"\n"
        ))
        .unwrap();
        let want = ImageRegistry {
            push: "10.0.0.5:5000".into(),
            pull: "registry.lan:5000".into(),
        };
        assert_eq!(s.platform.registry, Some(want));
        let s = p(&format!(
            "{EXISTING}[platform.registry]\npush = \"registry.lan:5000\"\n"
        ))
        .unwrap();
        let r = s.platform.registry.unwrap();
        assert_eq!(
            (r.push.as_str(), r.pull.as_str()),
            ("registry.lan:5000", "registry.lan:5000")
        );
        assert_eq!(p(EXISTING).unwrap().platform.registry, None);
    }

    #[test]
    fn a_registry_on_k3d_or_local_is_refused_at_its_table_saying_what_to_use() {
        let reg = "[platform.registry]\npush = \"registry.lan:5000\"\n";
        let e = err(&format!("[platform]\nkind = \"k3d\"\n{reg}"));
        assert!(e.starts_with("t.toml:3:"), "{e}");
        assert!(
            e.contains("platform.registry: [platform.registry] is only for kind = \"existing\""),
            "{e}"
        );
        assert!(
            e.contains("registry_name / registry_port under [platform.k3d]"),
            "{e}"
        );
        let e = err(&format!("[platform]\nkind = \"local\"\n{reg}"));
        assert!(
            e.starts_with("t.toml:3:") && e.contains("pushes no images"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_push_or_pull_names_its_line_and_field() {
        let e = err(&format!(
            "{EXISTING}[platform.registry]\npush = \"https://registry.lan\"\n"
        ));
        assert!(e.starts_with("t.toml:5:8: platform.registry.push: "), "{e}");
        assert!(e.contains("scheme (https://)"), "{e}");
        let e = err(&format!(
            "{EXISTING}[platform.registry]\npush = \"registry.lan:5000\"\npull = \"registry.lan:5000/x\"\n"
        ));
        assert!(e.starts_with("t.toml:6:8: platform.registry.pull: "), "{e}");
        assert!(e.contains("has a path"), "{e}");
    }

    #[test]
    fn a_registry_without_push_or_with_an_unknown_key_is_a_located_syntax_error() {
        let e = err(&format!(
            "{EXISTING}[platform.registry]\npull = \"registry.lan:5000\"\n"
        ));
        assert!(
            e.starts_with("t.toml:") && e.contains("missing field `push`"),
            "{e}"
        );
        let e = err(&format!(
            "{EXISTING}[platform.registry]\npush = \"registry.lan:5000\"\ninsecure = true\n"
        ));
        assert!(e.starts_with("t.toml:6:") && e.contains("insecure"), "{e}");
    }

    #[test]
    fn bare_hosts_with_or_without_ports_pass() {
        for ok in [
            "registry.lan:5000",
            "registry.lan",
            "pi-server:5000",
            "localhost",
            "192.168.1.10:5000",
            "[fd00::1]:5000",
        ] {
            assert_eq!(check_host_port(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn schemes_paths_bad_ports_and_hub_names_are_refused_with_the_form() {
        for (bad, says) in [
            ("http://registry.lan:5000", "scheme (http://)"),
            ("registry.lan:5000/faasbed", "has a path"),
            ("registry.lan:0", "port \"0\""),
            ("registry.lan:http", "port \"http\""),
            ("registry.lan:70000", "port \"70000\""),
            ("", "is not a host name"),
            ("reg_istry.lan", "is not a host name"),
            ("-reg.lan", "is not a host name"),
            ("pi-server", "Docker Hub account"),
        ] {
            let e = check_host_port(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
