//! Container networking: one network namespace per replica, attached to its site's Linux bridge
//! by the standard CNI `bridge` and `host-local` plugins (Debian's
//! `containernetworking-plugins`), invoked as the CNI spec says: the command in `CNI_COMMAND`,
//! the network config on stdin, the result as JSON on stdout.
//!
//! Addresses come from 198.18.0.0/15, the block RFC 2544 reserves for benchmarking, so they never
//! collide with a LAN's private ranges; the bridge and every namespace live on this host only.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::Cmd;

/// Where Debian installs the CNI plugins.
pub const DEBIAN_PLUGIN_DIR: &str = "/usr/lib/cni";
/// The CNI spec version faasbed speaks (the plugins of Debian 12 support it).
pub const CNI_VERSION: &str = "0.4.0";

/// One site's bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteNet {
    /// Linux bridge name (≤ 15 bytes), e.g. `fb3a9c0-s0`.
    pub bridge: String,
    /// The site's /24, e.g. `198.18.0.0`.
    pub subnet: Ipv4Addr,
    /// host-local's lease folder (under the run's state).
    pub ipam_dir: PathBuf,
}

impl SiteNet {
    /// Site number `index` of a run whose short id is `short` (≤ 7 bytes): 198.18.index.0/24,
    /// then 198.19.…, 256 sites per /16.
    pub fn new(short: &str, index: u16, state: &Path) -> Option<SiteNet> {
        let (b, c) = match index {
            0..=255 => (18u8, index as u8),
            256..=511 => (19u8, (index - 256) as u8),
            _ => return None,
        };
        let bridge = format!("fb{short}-s{index}");
        (bridge.len() <= 15).then(|| SiteNet {
            bridge,
            subnet: Ipv4Addr::new(198, b, c, 0),
            ipam_dir: state.join("cni").join(format!("s{index}")),
        })
    }

    /// The network config given to the plugin on stdin.
    pub fn config(&self) -> serde_json::Value {
        serde_json::json!({
            "cniVersion": CNI_VERSION,
            "name": self.bridge,
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": false,
            "ipam": {
                "type": "host-local",
                "ranges": [[{ "subnet": format!("{}/24", self.subnet) }]],
                "dataDir": self.ipam_dir,
            },
        })
    }
}

/// The `bridge` plugin run for `command` (`ADD`, `DEL`, `CHECK`) on `netns` for `container`.
pub fn plugin(
    plugin_dir: &Path,
    net: &SiteNet,
    command: &str,
    container: &str,
    netns: &Path,
) -> Cmd {
    Cmd::new(plugin_dir.join("bridge"))
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", plugin_dir)
        .stdin(net.config().to_string().into_bytes())
        .timeout(Duration::from_secs(30))
}

/// `ip netns add NAME`: the replica's network namespace, at `/var/run/netns/NAME`.
pub fn netns_add(name: &str) -> Cmd {
    Cmd::new("ip").args(["netns", "add", name])
}

/// `ip netns del NAME`.
pub fn netns_del(name: &str) -> Cmd {
    Cmd::new("ip").args(["netns", "del", name])
}

/// `ip link del NAME` (a site's bridge, once its last replica is gone).
pub fn link_del(name: &str) -> Cmd {
    Cmd::new("ip").args(["link", "del", name])
}

/// The path of a named network namespace.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new("/var/run/netns").join(name)
}

/// The container's IPv4 address from a CNI ADD result.
pub fn parse_add_result(out: &str) -> Result<Ipv4Addr, String> {
    let v: serde_json::Value =
        serde_json::from_str(out).map_err(|e| format!("the CNI result is not JSON: {e}"))?;
    let ips = v["ips"]
        .as_array()
        .ok_or("the CNI result has no \"ips\" list")?;
    ips.iter()
        .filter(|ip| ip["version"] == "4" || ip["version"].is_null())
        .find_map(|ip| ip["address"].as_str())
        .ok_or_else(|| "the CNI result has no IPv4 address".to_string())?
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| "the CNI result's address is not IPv4 a.b.c.d/len".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ADD: &str = include_str!("../../../tests/fixtures/containerd/cni-bridge-add.json");

    #[test]
    fn the_captured_add_result_gives_the_address() {
        assert_eq!(parse_add_result(ADD).unwrap(), Ipv4Addr::new(198, 18, 0, 2));
    }

    #[test]
    fn bad_results_say_what_is_missing() {
        assert!(parse_add_result("nope").unwrap_err().contains("not JSON"));
        assert!(parse_add_result("{}").unwrap_err().contains("\"ips\""));
        assert!(
            parse_add_result(r#"{"ips":[{"version":"6","address":"fe80::1/64"}]}"#)
                .unwrap_err()
                .contains("IPv4")
        );
    }

    #[test]
    fn sites_get_their_own_benchmark_range_subnet_and_a_short_bridge() {
        let s = SiteNet::new("3a9c0f1", 2, Path::new("/st")).unwrap();
        assert_eq!(s.bridge, "fb3a9c0f1-s2");
        assert_eq!(s.subnet, Ipv4Addr::new(198, 18, 2, 0));
        assert_eq!(
            s.config()["ipam"]["ranges"][0][0]["subnet"],
            "198.18.2.0/24"
        );
        assert_eq!(s.config()["ipam"]["dataDir"], "/st/cni/s2");
        assert_eq!(
            SiteNet::new("a", 300, Path::new("/st")).unwrap().subnet,
            Ipv4Addr::new(198, 19, 44, 0)
        );
        assert!(SiteNet::new("a", 512, Path::new("/st")).is_none());
        assert!(SiteNet::new("muchtoolongid", 1, Path::new("/st")).is_none());
    }
}
