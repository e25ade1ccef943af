//! `run.json`: the provenance of a run — what was measured, where, with what, and when.
//! It never holds credentials.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::exec::{self, Cmd};

/// What provenance says for a fact that could not be found: never an empty string.
pub const UNKNOWN: &str = "unknown";

/// `s` trimmed, or [`UNKNOWN`] when nothing is left: an absent fact is said, not left empty.
pub fn or_unknown(s: &str) -> String {
    match s.trim() {
        "" => UNKNOWN.to_string(),
        t => t.to_string(),
    }
}

/// Provenance of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunManifest {
    /// Schema version of this file.
    pub format: u32,
    /// Run id (also the folder name).
    pub run_id: String,
    /// Scenario file as given.
    pub scenario_path: PathBuf,
    /// sha256 of the scenario file.
    pub scenario_hash: String,
    /// The scenario after defaults and validation.
    pub scenario: serde_json::Value,
    /// Platform kind.
    pub platform: String,
    /// faasbed version.
    pub faasbed_version: String,
    /// git SHA faasbed was built from (`unknown` outside a checkout).
    pub git_sha: String,
    /// The machine that ran faasbed.
    pub host: Host,
    /// Versions of external tools (qemu, go, ...).
    pub tools: BTreeMap<String, String>,
    /// Per node: class, arch, backend, profile, launcher, link, what was enforced.
    pub nodes: Vec<NodeProvenance>,
    /// Whether any node is emulated (any ARM node under QEMU on an x86 host, etc.).
    pub emulated: bool,
    /// Function images (hash per function).
    pub images: BTreeMap<String, String>,
    /// Invocations the gateway counted per function at the end of the run (every one of them
    /// must have a stored sample).
    #[serde(default)]
    pub gateway_invocations: BTreeMap<String, u64>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Command-line options that changed the experiment (e.g. `--quick`).
    pub options: BTreeMap<String, String>,
    /// Start, RFC 3339.
    pub started_at: String,
    /// End, RFC 3339 (absent while running or after a crash).
    pub ended_at: Option<String>,
    /// `running`, `complete`, `interrupted`, `killed` (the bench process died; its gateway
    /// daemon ended the run) or `failed: <reason>`.
    pub status: String,
}

/// How one node was realised.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeProvenance {
    /// Node name.
    pub name: String,
    /// Class.
    pub class: String,
    /// Arch.
    pub arch: String,
    /// Backend.
    pub backend: String,
    /// Site.
    pub site: String,
    /// Whether this node's results are emulated (QEMU), not real hardware.
    pub emulated: bool,
    /// Launcher details (QEMU binary and `-cpu`).
    pub launcher: serde_json::Value,
    /// Link shape from the gateway.
    pub link: serde_json::Value,
    /// cgroup enforcement record.
    pub enforcement: serde_json::Value,
    /// Profile values.
    pub profile: serde_json::Value,
}

/// Facts about the host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Host {
    /// CPU model name (`unknown` when not found).
    pub cpu_model: String,
    /// Logical CPUs.
    pub cores: usize,
    /// Kernel release (`unknown` when unreadable).
    pub kernel: String,
    /// Total memory, bytes (`null` when unreadable).
    pub memory_bytes: Option<u64>,
    /// `std::env::consts::ARCH`.
    pub arch: String,
    /// OS name from /etc/os-release (`unknown` when not found).
    pub os: String,
}

/// Parse the first `model name` of `/proc/cpuinfo` text.
pub fn parse_cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            matches!(k.trim(), "model name" | "Model" | "Hardware").then(|| or_unknown(v))
        })
        .unwrap_or_else(|| UNKNOWN.into())
}

/// Parse `MemTotal` (kB) of `/proc/meminfo` text into bytes (`None` when absent).
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Parse `PRETTY_NAME` of `/etc/os-release` text.
pub fn parse_os_release(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or_else(|| UNKNOWN.into(), |v| or_unknown(v.trim_matches('"')))
}

impl Host {
    /// Read the facts of this machine from /proc and /etc.
    pub fn detect() -> Host {
        Host::from_files(|p| std::fs::read_to_string(p).ok())
    }

    /// The facts from `read` (path → text, `None` when unreadable); what cannot be read is
    /// `unknown` (`null` for the memory).
    pub fn from_files(read: impl Fn(&str) -> Option<String>) -> Host {
        let read = |p: &str| read(p).unwrap_or_default();
        Host {
            cpu_model: parse_cpu_model(&read("/proc/cpuinfo")),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: or_unknown(&read("/proc/sys/kernel/osrelease")),
            memory_bytes: parse_mem_total(&read("/proc/meminfo")),
            arch: std::env::consts::ARCH.to_string(),
            os: parse_os_release(&read("/etc/os-release")),
        }
    }
}

/// The version a tool printed: the first line of its output, `unknown` when it printed none.
pub fn version_line(stdout: &str) -> String {
    or_unknown(
        stdout
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or(""),
    )
}

/// Versions of the tools a local run uses: first line of `<tool> --version` (or `go version`);
/// `not found` when the tool did not run, `unknown` when it printed nothing.
pub async fn tool_versions() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let probes: [(&str, Cmd); 3] = [
        ("go", Cmd::new("go").arg("version")),
        (
            "qemu-aarch64",
            Cmd::new("qemu-aarch64-static").arg("--version"),
        ),
        ("qemu-arm", Cmd::new("qemu-arm-static").arg("--version")),
    ];
    for (name, cmd) in probes {
        let v = match exec::run(&cmd.timeout(std::time::Duration::from_secs(10))).await {
            Ok(o) => version_line(&o.stdout),
            Err(_) => "not found".to_string(),
        };
        out.insert(name.to_string(), v);
    }
    out
}

/// The git SHA faasbed was built from (`unknown` when the build did not record one).
pub fn git_sha() -> &'static str {
    option_env!("FAASBED_GIT_SHA")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(UNKNOWN)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n"),
            "AMD EPYC 7B13"
        );
        assert_eq!(parse_cpu_model("Hardware\t: BCM2835\n"), "BCM2835");
        assert_eq!(parse_cpu_model(""), "unknown");
        assert_eq!(
            parse_mem_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            Some(16384 * 1024)
        );
        assert_eq!(
            parse_os_release("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
    }

    /// A host whose /proc and /etc cannot be read says so: no provenance field is left empty
    /// (the kernel used to be `""` and the memory `0`).
    #[test]
    fn unreadable_host_facts_are_unknown_not_empty() {
        let h = Host::from_files(|_| None);
        assert_eq!(h.cpu_model, UNKNOWN);
        assert_eq!(h.kernel, UNKNOWN);
        assert_eq!(h.os, UNKNOWN);
        assert_eq!(h.memory_bytes, None);
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["memory_bytes"], serde_json::Value::Null);
        let empty = Host::from_files(|_| Some("\n".into()));
        assert_eq!(
            (empty.kernel.as_str(), empty.os.as_str()),
            (UNKNOWN, UNKNOWN)
        );
        assert_eq!(parse_cpu_model("model name\t:   \n"), UNKNOWN);
    }

    #[test]
    fn a_tool_that_prints_nothing_has_an_unknown_version() {
        assert_eq!(version_line(""), UNKNOWN);
        assert_eq!(version_line("\n  \n"), UNKNOWN);
        assert_eq!(
            version_line("\ngo version go1.22.2 linux/amd64\n"),
            "go version go1.22.2 linux/amd64"
        );
    }
}
