//! Scenario files: every shipped scenario parses; every file in scenarios/invalid fails with the
//! located message its first line (`# expect: ...`) names, through the library and the CLI.

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
        if let Err(e) = faasbed::spec::load(&p) {
            panic!("{} should parse: {e}", p.display());
        }
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
        let text = std::fs::read_to_string(&p).unwrap();
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
