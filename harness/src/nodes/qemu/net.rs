//! A VM node's place on the k3d cluster's Docker network: the network read from
//! `docker network inspect` (bridge, subnet, gateway, the containers' addresses), a free
//! address for the VM, and the TAP interface that plugs the VM into the bridge. On that bridge
//! the VM is one more host beside the k3d containers: it reaches the server's API and the
//! registry at their container addresses, and flannel's VXLAN runs over it unchanged.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::exec::Cmd;
use crate::tooljson::{self, ParseError};

/// The command line whose output [`docker_network`] reads.
pub const DOCKER_NETWORK_INSPECT: &str = "docker network inspect";

/// Docker's option that names a bridge network's Linux bridge explicitly.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// A Docker bridge network, as a VM on it needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerNetwork {
    /// Network name, e.g. `k3d-faasbed`.
    pub name: String,
    /// The Linux bridge the containers' veths (and the VMs' TAPs) hang on.
    pub bridge: String,
    /// First address of the subnet.
    pub subnet: Ipv4Addr,
    /// Prefix length of the subnet.
    pub prefix: u8,
    /// The bridge's own address: the default route out (Docker masquerades it).
    pub gateway: Ipv4Addr,
    /// Container name to its address on this network.
    pub containers: BTreeMap<String, Ipv4Addr>,
}

/// `docker network inspect` output: the fields a VM needs (the rest is ignored).
#[derive(Debug, serde::Deserialize)]
struct InspectedNetwork {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Options", default)]
    options: Option<BTreeMap<String, String>>,
    #[serde(rename = "IPAM")]
    ipam: Ipam,
    #[serde(rename = "Containers", default)]
    containers: Option<BTreeMap<String, InspectedContainer>>,
}

#[derive(Debug, serde::Deserialize)]
struct Ipam {
    #[serde(rename = "Config", default)]
    config: Option<Vec<Pool>>,
}

#[derive(Debug, serde::Deserialize)]
struct Pool {
    #[serde(rename = "Subnet")]
    subnet: String,
    #[serde(rename = "Gateway", default)]
    gateway: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct InspectedContainer {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "IPv4Address", default)]
    ipv4_address: String,
}

/// Parse `docker network inspect NAME` (a JSON array of one network).
pub fn docker_network(text: &str) -> Result<DockerNetwork, ParseError> {
    let nets: Vec<InspectedNetwork> = tooljson::parse(text, DOCKER_NETWORK_INSPECT)?;
    let Some(net) = nets.into_iter().next() else {
        return Err(ParseError::Value {
            command: DOCKER_NETWORK_INSPECT,
            path: "$".into(),
            reason: "expected an array of one network, found an empty array".into(),
        });
    };
    let named = net.options.and_then(|mut o| o.remove(BRIDGE_NAME_OPTION));
    let id = &net.id;
    let bridge = named.unwrap_or_else(|| format!("br-{}", id.get(..12).unwrap_or(id)));
    // The first IPv4 pool (a dual-stack network lists its IPv6 pool too).
    let mut pool = None;
    for (i, c) in net.ipam.config.iter().flatten().enumerate() {
        if let Some((addr, prefix)) = cidr(&c.subnet) {
            let gateway = match &c.gateway {
                Some(g) => g.parse().map_err(|_| ParseError::Value {
                    command: DOCKER_NETWORK_INSPECT,
                    path: format!("$[0].IPAM.Config[{i}].Gateway"),
                    reason: format!("expected an IPv4 address, found {g:?}"),
                })?,
                None => next(addr, 1),
            };
            pool = Some((addr, prefix, gateway));
            break;
        }
    }
    let (subnet, prefix, gateway) = pool.ok_or_else(|| ParseError::Value {
        command: DOCKER_NETWORK_INSPECT,
        path: "$[0].IPAM.Config".into(),
        reason: "expected an IPv4 subnet, found none".into(),
    })?;
    let containers = net
        .containers
        .into_iter()
        .flatten()
        .filter_map(|(_, c)| cidr(&c.ipv4_address).map(|(ip, _)| (c.name, ip)))
        .collect();
    Ok(DockerNetwork {
        name: net.name,
        bridge,
        subnet,
        prefix,
        gateway,
        containers,
    })
}

/// `a.b.c.d/n` as an IPv4 address and prefix (`None` for IPv6 or anything else).
fn cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, p) = s.split_once('/')?;
    let p: u8 = p.parse().ok().filter(|p| *p <= 32)?;
    Some((a.parse().ok()?, p))
}

fn next(a: Ipv4Addr, by: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a).wrapping_add(by))
}

impl DockerNetwork {
    /// The address of the container whose name is `name` or `k3d-` + `name` (k3d prefixes
    /// the registries it creates).
    pub fn container(&self, name: &str) -> Option<Ipv4Addr> {
        self.containers
            .get(name)
            .or_else(|| self.containers.get(&format!("k3d-{name}")))
            .copied()
    }

    /// `n` addresses for VMs, from the top of the subnet down (Docker hands out addresses
    /// from the bottom), skipping the broadcast address, the gateway and every container's.
    /// `None` when the subnet has not that many free.
    pub fn vm_addresses(&self, n: usize) -> Option<Vec<Ipv4Addr>> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        let base = u64::from(u32::from(self.subnet));
        let used: Vec<Ipv4Addr> = self.containers.values().copied().collect();
        let mut out = Vec::new();
        // Skip the broadcast address (the last) and the network address (the first).
        for offset in (1..size.saturating_sub(1)).rev() {
            if out.len() == n {
                break;
            }
            let ip = Ipv4Addr::from((base + offset) as u32);
            if ip != self.gateway && !used.contains(&ip) {
                out.push(ip);
            }
        }
        (out.len() == n).then_some(out)
    }
}

/// The TAP interface of a VM node: `fb-` and the node name's last 12 characters (an interface
/// name has at most 15 bytes), with characters Linux refuses replaced by `-`.
pub fn tap_name(node: &str) -> String {
    let clean: Vec<char> = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let tail: String = clean[clean.len().saturating_sub(12)..].iter().collect();
    format!("fb-{tail}")
}

/// Commands that create `tap` and plug it into `bridge`, up (needs CAP_NET_ADMIN).
pub fn tap_up(tap: &str, bridge: &str) -> [Cmd; 3] {
    [
        Cmd::new("ip").args(["tuntap", "add", "dev", tap, "mode", "tap"]),
        Cmd::new("ip").args(["link", "set", tap, "master", bridge]),
        Cmd::new("ip").args(["link", "set", tap, "up"]),
    ]
}

/// TAP devices a faasbed VM left behind (named `fb-…`, with the `tun_flags` a TUN/TAP device
/// has), found under `sys_class_net` (`/sys/class/net`).
pub fn leftover_taps(sys_class_net: &std::path::Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(sys_class_net) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .flatten()
        .filter(|e| e.path().join("tun_flags").exists())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with("fb-"))
        .collect();
    out.sort();
    out
}

/// The command that deletes `tap` (and unplugs it).
pub fn tap_down(tap: &str) -> Cmd {
    Cmd::new("ip").args(["link", "del", tap])
}

/// The VM's name servers: the host's, minus loopback ones (a VM cannot reach the host's
/// stub resolver), else two public resolvers. `resolv_conf` is the host's `/etc/resolv.conf`.
pub fn name_servers(resolv_conf: &str) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<Ipv4Addr>().ok())
        .filter(|a| !a.is_loopback())
        .collect();
    if out.is_empty() {
        out = vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(9, 9, 9, 9)];
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture() -> DockerNetwork {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/docker/network-inspect-k3d.json"
        ))
        .unwrap();
        docker_network(&text).unwrap()
    }

    #[test]
    fn a_captured_k3d_network_gives_bridge_subnet_and_containers() {
        let n = fixture();
        assert_eq!(n.name, "k3d-faasbed");
        assert_eq!(n.bridge, "br-ecfdb5666f79");
        assert_eq!((n.subnet, n.prefix), (Ipv4Addr::new(172, 18, 0, 0), 16));
        assert_eq!(n.gateway, Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(
            n.container("k3d-faasbed-server-0"),
            Some(Ipv4Addr::new(172, 18, 0, 2))
        );
        assert_eq!(
            n.container("faasbed-registry.localhost"),
            Some(Ipv4Addr::new(172, 18, 0, 3))
        );
    }

    #[test]
    fn vm_addresses_come_from_the_top_and_skip_what_is_taken() {
        let mut n = fixture();
        n.prefix = 29; // 172.18.0.0/29: .1 gateway, .2 and .3 containers, .7 broadcast
        n.containers
            .insert("other".into(), Ipv4Addr::new(172, 18, 0, 5));
        assert_eq!(
            n.vm_addresses(2).unwrap(),
            [Ipv4Addr::new(172, 18, 0, 6), Ipv4Addr::new(172, 18, 0, 4)]
        );
        assert_eq!(n.vm_addresses(3), None);
    }

    #[test]
    fn a_named_bridge_and_bad_output_are_read_or_named() {
        let text = r#"[{"Name":"x","Id":"abc","IPAM":{"Config":[{"Subnet":"fd00::/64"},{"Subnet":"10.5.0.0/24"}]},
            "Options":{"com.docker.network.bridge.name":"docker1"},"Containers":{}}]"#;
        let n = docker_network(text).unwrap();
        assert_eq!(
            (n.bridge.as_str(), n.gateway),
            ("docker1", Ipv4Addr::new(10, 5, 0, 1))
        );
        let e = docker_network(
            r#"[{"Name":"x","Id":"abc","IPAM":{"Config":[{"Subnet":"fd00::/64"}]}}]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("docker network inspect") && e.contains("$[0].IPAM"),
            "{e}"
        );
        let e = docker_network("[]").unwrap_err().to_string();
        assert!(e.contains("an array of one network"), "{e}");
    }

    #[test]
    fn leftover_taps_are_the_fb_tun_devices() {
        let d = tempfile::tempdir().unwrap();
        for (name, tun) in [
            ("fb-spberrypi-01", true),
            ("fb-notatap", false),
            ("tap0", true),
            ("eth0", false),
        ] {
            std::fs::create_dir(d.path().join(name)).unwrap();
            if tun {
                std::fs::write(d.path().join(name).join("tun_flags"), "0x1002\n").unwrap();
            }
        }
        assert_eq!(leftover_taps(d.path()), ["fb-spberrypi-01"]);
        assert!(leftover_taps(&d.path().join("missing")).is_empty());
    }

    #[test]
    fn tap_names_fit_linux_and_name_servers_skip_loopback() {
        assert_eq!(tap_name("raspberrypi-01"), "fb-spberrypi-01");
        assert!(tap_name("raspberrypi-01").len() <= 15);
        assert_eq!(tap_name("pi.3"), "fb-pi-3");
        assert_eq!(
            name_servers("# x\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n"),
            [Ipv4Addr::new(10, 0, 0, 2)]
        );
        assert_eq!(name_servers("nameserver 127.0.0.1\n").len(), 2);
    }
}
