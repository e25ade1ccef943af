//! A sysroot per architecture with Debian's builds of the calibration programs: `apt-get
//! download` of the packages and everything they depend on, unpacked with `dpkg-deb -x` into
//! `<home>/cache/calibrate/<arch>/root`, with the exact package versions recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::{self, Cmd, ExecError};
use crate::spec::Arch;

/// The Debian 12 packages whose programs calibration runs (`7zz`, `openssl`, `sysbench`).
pub const PACKAGES: [&str; 3] = ["7zip", "openssl", "sysbench"];

/// Errors while building a sysroot.
#[derive(Debug, thiserror::Error)]
pub enum SysrootError {
    /// apt or dpkg-deb failed.
    #[error("building the {arch} sysroot in {dir}")]
    Exec {
        arch: &'static str,
        dir: PathBuf,
        #[source]
        source: ExecError,
    },
    /// The cache folder could not be written.
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A foreign arch is not enabled in dpkg, so apt knows no packages for it.
    #[error("apt knows no {arch} packages; run `dpkg --add-architecture {arch} && apt-get update` (as root), then calibrate again")]
    NoForeignArch { arch: &'static str },
}

/// A built sysroot.
#[derive(Debug, Clone)]
pub struct Sysroot {
    /// Its architecture.
    pub arch: Arch,
    /// The unpacked tree (`-L` for QEMU).
    pub root: PathBuf,
    /// Package → version, of everything unpacked.
    pub versions: BTreeMap<String, String>,
}

/// The Debian multiarch triplet of `arch`.
pub fn triplet(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "x86_64-linux-gnu",
        Arch::Arm64 => "aarch64-linux-gnu",
        Arch::Armhf => "arm-linux-gnueabihf",
    }
}

/// The package spec apt needs for `name` on `arch` (`name:arm64`).
fn qualified(name: &str, arch: Arch) -> String {
    format!("{name}:{}", arch.as_str())
}

/// Parse `apt-cache depends --recurse` output: the real packages it names (top-level lines;
/// virtual `<...>` names are left out), in first-seen order, with their `:arch` suffix.
pub fn parse_depends(out: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for l in out.lines() {
        if l.starts_with(' ') || l.starts_with('<') || l.trim().is_empty() {
            continue;
        }
        let name = l.trim().to_string();
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen
}

/// Parse the packages apt could not select from `apt-get download` stderr
/// (`E: Can't select candidate version from package X`, `E: Unable to locate package X`).
pub fn parse_unavailable(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            l.strip_prefix("E: Can't select candidate version from package ")
                .or_else(|| l.strip_prefix("E: Unable to locate package "))
                .or_else(|| {
                    l.strip_prefix("E: Package '")
                        .and_then(|r| r.split('\'').next())
                })
        })
        .filter_map(|s| s.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Package name and version from a downloaded file name (`libc6_2.36-9+deb12u14_armhf.deb`;
/// `%3a` is the epoch's `:`).
pub fn parse_deb_name(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".deb")?;
    let mut parts = stem.splitn(3, '_');
    let name = parts.next()?.to_string();
    let version = parts.next()?.replace("%3a", ":");
    parts.next()?;
    Some((name, version))
}

async fn run(arch: Arch, dir: &Path, cmd: Cmd) -> Result<exec::Output, SysrootError> {
    exec::run(&cmd).await.map_err(|source| SysrootError::Exec {
        arch: arch.as_str(),
        dir: dir.to_path_buf(),
        source,
    })
}

/// Build (or reuse) the sysroot of `arch` under `cache` (`<home>/cache/calibrate`).
pub async fn ensure(cache: &Path, arch: Arch) -> Result<Sysroot, SysrootError> {
    let dir = cache.join(arch.as_str());
    let debs = dir.join("debs");
    let root = dir.join("root");
    let done = dir.join("versions.json");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SysrootError::Io { path, source }
    };
    if let Ok(text) = std::fs::read_to_string(&done) {
        if let Ok(versions) = serde_json::from_str(&text) {
            return Ok(Sysroot {
                arch,
                root,
                versions,
            });
        }
    }
    std::fs::create_dir_all(&debs).map_err(io(&debs))?;
    let wanted: Vec<String> = PACKAGES.iter().map(|p| qualified(p, arch)).collect();
    let deps = run(
        arch,
        &dir,
        Cmd::new("apt-cache")
            .args([
                "depends",
                "--recurse",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
            ])
            .args(&wanted)
            .timeout(Duration::from_secs(120)),
    )
    .await;
    let mut pkgs = match deps {
        Ok(o) => parse_depends(&o.stdout),
        Err(SysrootError::Exec {
            source: ExecError::NonZeroExit { .. },
            ..
        }) if arch != Arch::Amd64 => {
            return Err(SysrootError::NoForeignArch {
                arch: arch.as_str(),
            })
        }
        Err(e) => return Err(e),
    };
    // apt lists both sides of an `a | b` dependency; one may have no candidate: drop what
    // apt cannot select and try again (at most once per package).
    for _ in 0..8 {
        let dl = Cmd::new("apt-get")
            .arg("download")
            .args(&pkgs)
            .cwd(&debs)
            .timeout(Duration::from_secs(600));
        match exec::run(&dl).await {
            Ok(_) => break,
            Err(ExecError::NonZeroExit { stderr, .. })
                if !parse_unavailable(&stderr).is_empty() =>
            {
                let bad = parse_unavailable(&stderr);
                pkgs.retain(|p| !bad.iter().any(|b| b == p));
            }
            Err(source) => {
                return Err(SysrootError::Exec {
                    arch: arch.as_str(),
                    dir,
                    source,
                })
            }
        }
    }
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    let mut versions = BTreeMap::new();
    let entries = std::fs::read_dir(&debs).map_err(io(&debs))?;
    for e in entries {
        let e = e.map_err(io(&debs))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pkg, version)) = parse_deb_name(&name) else {
            continue;
        };
        run(
            arch,
            &dir,
            Cmd::new("dpkg-deb").arg("-x").arg(e.path()).arg(&root),
        )
        .await?;
        versions.insert(pkg, version);
    }
    let text = serde_json::to_string_pretty(&versions).map_err(|e| SysrootError::Io {
        path: done.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&done, text).map_err(io(&done))?;
    Ok(Sysroot {
        arch,
        root,
        versions,
    })
}

impl Sysroot {
    /// The library folders of the sysroot, as host paths (for `LD_LIBRARY_PATH`: QEMU's `-L`
    /// does not make the loader search the multiarch folders).
    pub fn library_path(&self) -> String {
        let t = triplet(self.arch);
        format!(
            "{r}/lib/{t}:{r}/usr/lib/{t}",
            r = self.root.to_string_lossy()
        )
    }
    /// A program of the sysroot (`usr/bin/7zz`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.root.join("usr/bin").join(name)
    }
    /// The native dynamic loader of an amd64 sysroot.
    pub fn loader(&self) -> PathBuf {
        self.root.join("lib64/ld-linux-x86-64.so.2")
    }
    /// The version of `package`, or `unknown`.
    pub fn version(&self, package: &str) -> String {
        self.versions
            .get(package)
            .cloned()
            .unwrap_or_else(|| "unknown".into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn depends_lists_real_packages_once() {
        let p = format!(
            "{}/tests/fixtures/calibrate/apt-cache-depends-recurse-arm64.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = std::fs::read_to_string(p).unwrap();
        let pk = parse_depends(&out);
        for want in [
            "7zip:arm64",
            "openssl:arm64",
            "sysbench:arm64",
            "libssl3:arm64",
            "libc6:arm64",
        ] {
            assert!(pk.iter().any(|p| p == want), "{want}: {pk:?}");
        }
        assert!(
            pk.iter().all(|p| !p.starts_with('<') && !p.contains(' ')),
            "{pk:?}"
        );
        let n = pk.len();
        let mut d = pk.clone();
        d.dedup();
        assert_eq!(d.len(), n);
    }

    #[test]
    fn unavailable_and_deb_names() {
        let e = "E: Can't select candidate version from package libluajit-5.1-2:armhf as it has no candidate\nE: Unable to locate package nope:arm64\n";
        let got = parse_unavailable(e);
        assert_eq!(got[1], "nope:arm64");
        assert_eq!(got[0], "libluajit-5.1-2:armhf");
        assert_eq!(
            parse_deb_name("zlib1g_1%3a1.2.13.dfsg-1+deb12u1_armhf.deb"),
            Some(("zlib1g".into(), "1:1.2.13.dfsg-1+deb12u1".into()))
        );
        assert_eq!(parse_deb_name("notadeb.txt"), None);
    }
}
