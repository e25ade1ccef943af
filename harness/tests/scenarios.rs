//! Scenario files: every shipped scenario parses; every file in scenarios/invalid fails with the
//! located message its first line (`# expect: ...`) names, through the library and the CLI.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn shipped_scenarios_parse() {
    let files = toml_files(&repo().join("scenarios"));
    assert!(files.iter().any(|p| p.ends_with("local.toml")));
    for p in files {
        // Its hosts are placeholders to fill in: see the next test.
        if p.ends_with("thesis-hosts.toml") {
            continue;
        }
        if let Err(e) = faasbed::spec::load(&p) {
            panic!("{} should parse: {e}", p.display());
        }
    }
}

#[test]
fn the_hosts_scenario_names_what_to_fill_in_and_parses_once_filled() {
    let path = repo().join("scenarios/thesis-hosts.toml");
    let e = faasbed::spec::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("thesis-hosts.toml:") && e.contains("node[0].address") && e.contains("fill in"),
        "{e}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut filled = String::new();
    let mut n = 0;
    for line in text.lines() {
        let l = if line.starts_with("address = ") {
            n += 1;
            format!("address = \"root@10.0.0.{n}:22\"")
        } else if line.starts_with("host_key = ") {
            format!("host_key = \"SHA256:{}\"", "A".repeat(43))
        } else if line.starts_with("key = ") {
            "key = \"~/.ssh/id_ed25519\"".to_string()
        } else if line.starts_with("files = ") {
            "files = \"/srv/k3s-files\"".to_string()
        } else {
            line.to_string()
        };
        filled.push_str(&l);
        filled.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("thesis-hosts.toml");
    std::fs::write(&p, &filled).unwrap();
    let s = faasbed::spec::load(&p).unwrap_or_else(|e| panic!("filled in: {e}"));
    let k3s = s.platform.k3s.as_ref().unwrap();
    assert_eq!(k3s.server, "faas-cluster-01");
    assert_eq!(k3s.version, faasbed::pins::K3S_VERSION);
    assert_eq!(s.nodes.len(), 5);
    assert!(s
        .nodes
        .iter()
        .all(|n| n.host_key.is_some() && n.key.is_some()));
    // `faasbed plan` prints every command on every host, the server first, then the down.
    let out = Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .arg("plan")
        .arg(&p)
        .env("FAASBED_HOME", dir.path().join("home"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("the plan lacks {needle:?}:\n{text}"))
    };
    assert!(at("hosts: trust and probe") < at("hosts: install k3s"));
    assert!(at("[on raspberrypi-02] $ ssh") < at("hosts: install k3s"));
    assert!(
        at("INSTALL_K3S_EXEC='\\''server --node-name faas-cluster-01")
            < at("INSTALL_K3S_EXEC='\\''agent --node-name raspberrypi-01")
    );
    assert!(
        at("stdin: the file /srv/k3s-files/k3s-armhf")
            < at("INSTALL_K3S_EXEC='\\''agent --node-name raspberrypi-01")
    );
    assert!(text.contains("K3S_URL=https://10.0.0.1:6443 K3S_TOKEN_FILE=/var/lib/faasbed/token"));
    assert!(
        text.contains("stdin: the k3s join token (<redacted>)"),
        "{text}"
    );
    assert!(at("k3s-agent-uninstall.sh") < text.rfind("k3s-uninstall.sh").unwrap());
    // A field put back to a placeholder is refused, saying how to fill it in.
    for (field, bad, said) in [
        (
            "host_key = \"SHA256:",
            "host_key = \"<SHA256 fingerprint>\"",
            "ssh-keygen -lf",
        ),
        ("files = ", "files = \"<folder>\"", "release files"),
    ] {
        let line = filled.lines().find(|l| l.starts_with(field)).unwrap();
        std::fs::write(&p, filled.replacen(line, bad, 1)).unwrap();
        let e = faasbed::spec::load(&p).unwrap_err().to_string();
        assert!(e.contains(said), "{e}");
    }
}

#[test]
fn every_invalid_scenario_fails_with_its_located_message() {
    let files = toml_files(&repo().join("scenarios/invalid"));
    assert!(
        files.len() >= 15,
        "the invalid corpus shrank: {}",
        files.len()
    );
    for p in files {
        // read as bytes: one file of the corpus is deliberately not UTF-8
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks a `# expect:` first line", p.display()));
        match faasbed::spec::load(&p) {
            Ok(_) => panic!("{} should be rejected", p.display()),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(expect),
                    "{}:\n  got:    {msg}\n  wanted: {expect}",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn cli_rejects_invalid_scenarios_without_panicking() {
    let dir = repo().join("scenarios/invalid");
    let out = Command::new(env!("CARGO_BIN_EXE_faasbed"))
        .arg("validate")
        .args(toml_files(&dir))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("scenario(s) are invalid"), "{stderr}");
    for p in toml_files(&dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            stdout.contains(&format!("{name}:")),
            "no located line for {name}:\n{stdout}"
        );
    }
}

#[test]
fn missing_file_names_the_path() {
    let e = faasbed::spec::load(Path::new("scenarios/nope.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("scenarios/nope.toml") && e.contains("scenarios/local.toml"),
        "{e}"
    );
}

#[test]
fn thesis_retargets_to_the_embedded_platform_keeping_placement() {
    use faasbed::spec::{Backend, PlatformKind};
    let k3d = faasbed::spec::load(&repo().join("scenarios/thesis.toml")).unwrap();
    assert_eq!(k3d.platform.kind, PlatformKind::K3d);
    let local = k3d.clone().retarget(PlatformKind::Local).unwrap();
    assert_eq!(local.platform.kind, PlatformKind::Local);
    for n in &local.nodes {
        let want = if n.name.starts_with("raspberrypi") {
            Backend::QemuUser
        } else {
            Backend::Native
        };
        assert_eq!(n.backend, want, "{}", n.name);
    }
    for (a, b) in k3d.functions.iter().zip(&local.functions) {
        let na: Vec<_> = k3d
            .eligible_nodes(a)
            .iter()
            .map(|n| n.name.clone())
            .collect();
        let nb: Vec<_> = local
            .eligible_nodes(b)
            .iter()
            .map(|n| n.name.clone())
            .collect();
        assert_eq!(na, nb, "{}", a.name);
    }
    // and back: the native nodes become k3d agents, one of them the server
    let back = local.retarget(PlatformKind::K3d).unwrap();
    assert_eq!(
        back.nodes
            .iter()
            .filter(|n| n.backend == Backend::Server)
            .count(),
        1
    );
}

#[test]
fn ssh_hosts_cannot_be_emulated() {
    let t = "[platform]\nkind = \"existing\"\nkubeconfig = \"kc.yaml\"\n[[node]]\nname = \"s\"\nclass = \"vps\"\nbackend = \"ssh\"\naddress = \"root@10.0.0.1\"\n\
             [[node]]\nname = \"pi\"\nclass = \"pi4\"\nbackend = \"ssh\"\naddress = \"pi@10.0.0.2\"\n";
    let s = faasbed::spec::parse(t, Path::new("x.toml")).unwrap();
    let e = s
        .retarget(faasbed::spec::PlatformKind::Local)
        .unwrap_err()
        .to_string();
    assert!(e.contains("node s") && e.contains("ssh"), "{e}");
}

#[test]
fn ssh_hosts_on_k3d_are_refused_at_their_line_with_the_way_out() {
    let t = "[platform]\nkind = \"k3d\"\n[[node]]\nname = \"s\"\nclass = \"vps\"\nbackend = \"server\"\n\
             [[node]]\nname = \"pi\"\nclass = \"pi4\"\nbackend = \"ssh\"\naddress = \"pi@10.0.0.2\"\n";
    let e = faasbed::spec::parse(t, Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.toml:10") && e.contains("node[1].backend"),
        "{e}"
    );
    assert!(
        e.contains("kind = \"existing\"") && e.contains("backend = \"qemu\""),
        "{e}"
    );
}

#[test]
fn the_existing_example_is_the_thesis_topology_with_its_own_registry() {
    use faasbed::spec::{Arch, Backend, PlatformKind};
    let s = faasbed::spec::load(&repo().join("scenarios/existing-pi-cluster.toml")).unwrap();
    assert_eq!(s.platform.kind, PlatformKind::Existing);
    let reg = s.platform.registry.as_ref().unwrap();
    assert_eq!(reg.push, "faas-cluster-01.example.net:5000");
    assert_eq!(reg.pull, "10.8.0.1:5000");
    let kc = s.platform.kubeconfig.as_ref().unwrap();
    assert!(kc.ends_with(".kube/pi-cluster.yaml"), "{kc:?}");
    if let Some(home) = std::env::var_os("HOME") {
        assert!(kc.starts_with(home), "~/ is $HOME: {kc:?}");
    }
    assert!(s.nodes.iter().all(|n| n.backend == Backend::Ssh));
    let pis: Vec<&str> = s
        .nodes
        .iter()
        .filter(|n| n.arch == Arch::Armhf)
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(pis, ["raspberrypi-01", "raspberrypi-02"]);
}

#[test]
fn validation_names_the_available_sources_and_the_limits() {
    let t = "[[node]]\nname = \"v\"\nclass = \"vps\"\n[[function]]\nname = \"f\"\nsource = \"nosuch\"\n";
    let e = faasbed::spec::parse(t, &repo().join("scenarios/x.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.toml:6:10"), "{e}");
    assert!(
        e.contains("available: chain, compress, cpu, echo, json, memory, thumbnail"),
        "{e}"
    );
    let t = "[[node]]\nname = \"v\"\nclass = \"vps\"\n[experiment.cold]\nidle_gap = \"2h\"\n";
    let e = faasbed::spec::parse(t, Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.toml:5:12") && e.contains("limit of 1h"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_located_at_its_first_bad_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("latin1.toml");
    std::fs::write(&p, b"[[node]]\nname = \"v\"\nclass = \"vps\"\n# na\xefve\n").unwrap();
    let e = faasbed::spec::load(&p).unwrap_err().to_string();
    assert!(e.contains("latin1.toml:4:5: byte 0xef is not UTF-8"), "{e}");
    assert!(!e.contains("pass an existing file"), "{e}");
}
