//! What every VM of one architecture boots from, built once and cached: Debian's kernel, a
//! busybox initramfs with faasbed's init, and a read-only base disk holding the kernel's
//! modules and the pinned k3s binary.
//!
//! Everything comes from where the thesis's hosts got it: the kernel and busybox from the
//! host's Debian/Ubuntu apt sources (`apt-get download`, foreign architecture enabled), k3s
//! from its GitHub release, checked against the release's `sha256sum-*.txt`. The cache is
//! `$FAASBED_CACHE/vm`, else `$XDG_CACHE_HOME/faasbed/vm`, else `~/.cache/faasbed/vm`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::cpio::{Archive, Entry};
use super::modules::ModuleDeps;
use super::{run, VmError};
use crate::exec::{Cmd, Runner};
use crate::pins;
use crate::spec::Arch;

/// faasbed's init inside the VM (busybox `init` reads it as `/etc/inittab`).
const INITTAB: &str = include_str!("inittab");
/// Mounts, modules, disks, network; prints the READY line.
const BOOT_SH: &str = include_str!("boot.sh");
/// Runs (and respawns) the k3s agent.
const AGENT_SH: &str = include_str!("agent.sh");
/// Modules the initramfs loads before it can mount the disks and use the network.
pub const EARLY_MODULES: [&str; 6] = [
    "virtio_pci",
    "virtio_mmio",
    "virtio_blk",
    "virtio_net",
    "crc32c_generic",
    "ext4",
];
/// Name of the file that marks a finished asset folder (written last).
pub const DONE: &str = "assets.json";

/// The boot files of one architecture.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VmAssets {
    /// Debian's `vmlinuz`.
    pub kernel: PathBuf,
    /// The gzip `newc` initramfs with busybox and faasbed's init.
    pub initrd: PathBuf,
    /// ext4 image: `/modules/<release>/…` and `/k3s` (attached read-only as `/dev/vda`).
    pub base_disk: PathBuf,
    /// `uname -r` of the kernel, e.g. `6.1.0-50-arm64`.
    pub kernel_release: String,
    /// The Debian package the kernel came from.
    pub kernel_package: String,
    /// The k3s version on the base disk; `None`: no k3s (a boot-only image for tests).
    pub k3s: Option<String>,
}

/// Where k3s comes from.
#[derive(Debug, Clone)]
pub enum K3s {
    /// The pinned release ([`pins::K3S_VERSION`]), downloaded once into the cache.
    Pinned,
    /// This file as `/k3s` (a k3s binary fetched by hand, e.g. on a host without GitHub).
    File(PathBuf),
    /// No k3s on the base disk: the VM boots, prints READY, and says it has no k3s.
    Without,
}

/// The environment variable that names a k3s binary to use instead of downloading one.
pub const K3S_BINARY_ENV: &str = "FAASBED_K3S_BINARY";

impl K3s {
    /// [`K3s::File`] when [`K3S_BINARY_ENV`] is set, else [`K3s::Pinned`].
    pub fn from_env() -> Self {
        match std::env::var_os(K3S_BINARY_ENV).filter(|v| !v.is_empty()) {
            Some(p) => K3s::File(PathBuf::from(p)),
            None => K3s::Pinned,
        }
    }
}

/// The VM asset cache: `$FAASBED_CACHE/vm`, `$XDG_CACHE_HOME/faasbed/vm` or
/// `$HOME/.cache/faasbed/vm`; `None` without any of them.
pub fn cache_root() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("FAASBED_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("faasbed")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/faasbed")))
        .map(|d| d.join("vm"))
}

/// Debian's name of an architecture (`dpkg --print-architecture`).
pub fn deb_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "amd64",
        Arch::Arm64 => "arm64",
        Arch::Armhf => "armhf",
    }
}

/// The kernel metapackage for QEMU's `virt` machine (armhf: the LPAE flavour, for
/// Cortex-A7/A15 guests).
pub fn kernel_metapackage(arch: Arch) -> String {
    let flavour = match arch {
        Arch::Armhf => "armmp-lpae",
        other => deb_arch(other),
    };
    format!("linux-image-{flavour}:{}", deb_arch(arch))
}

/// k3s's release asset names for `arch`: the binary and the checksum file.
pub fn k3s_release_files(arch: Arch) -> (&'static str, &'static str) {
    match arch {
        Arch::Amd64 => ("k3s", "sha256sum-amd64.txt"),
        Arch::Arm64 => ("k3s-arm64", "sha256sum-arm64.txt"),
        Arch::Armhf => ("k3s-armhf", "sha256sum-arm.txt"),
    }
}

/// The download URL of a k3s release file (the `+` of the version escaped).
pub fn k3s_url(file: &str) -> String {
    format!(
        "https://github.com/k3s-io/k3s/releases/download/{}/{file}",
        pins::K3S_VERSION.replace('+', "%2B")
    )
}

/// `dpkg --print-foreign-architectures` and `dpkg --print-architecture`: can apt fetch the
/// VM's packages?
pub fn arch_check_cmds() -> [Cmd; 2] {
    [
        Cmd::new("dpkg").arg("--print-foreign-architectures"),
        Cmd::new("dpkg").arg("--print-architecture"),
    ]
}

/// `apt-cache depends META`: names the kernel package of `arch` ([`depends_on`] reads it).
pub fn depends_cmd(arch: Arch) -> Cmd {
    Cmd::new("apt-cache").args(["depends".to_string(), kernel_metapackage(arch)])
}

/// `apt-get download KERNEL:ARCH busybox-static:ARCH` into `dir`.
pub fn download_cmd(kernel_package: &str, arch: Arch, dir: &Path) -> Cmd {
    let a = deb_arch(arch);
    Cmd::new("apt-get")
        .args([
            "download".to_string(),
            format!("{kernel_package}:{a}"),
            format!("busybox-static:{a}"),
        ])
        .cwd(dir)
}

/// `curl` of one k3s release file to `to`.
pub fn curl_cmd(url: &str, to: &Path) -> Cmd {
    Cmd::new("curl")
        .args(["-fsSL", "--retry", "3", "-o"])
        .arg(to)
        .arg(url)
}

/// `mkfs.ext4` of `dir`'s contents into the (already sized) image `img`.
pub fn mkfs_cmd(dir: &Path, img: &Path, label: &str) -> Cmd {
    Cmd::new("mkfs.ext4")
        .args(["-q", "-F", "-L", label, "-d"])
        .arg(dir)
        .arg(img)
}

/// Where a downloaded k3s release file is kept under the cache `root`.
pub fn k3s_cached(root: &Path, file: &str) -> PathBuf {
    root.join(format!("{file}-{}", pins::K3S_VERSION.replace('+', "-")))
}

/// The asset folder of `arch` under `root` (one per arch and k3s choice).
pub fn assets_dir(root: &Path, arch: Arch, k3s: &K3s) -> PathBuf {
    let k = match k3s {
        K3s::Pinned => format!("k3s-{}", pins::K3S_VERSION.replace('+', "-")),
        K3s::File(p) => {
            // The path, size and mtime: a replaced binary gets a new folder.
            let stamp = std::fs::metadata(p)
                .map(|m| format!("{:?}{}", m.modified().ok(), m.len()))
                .unwrap_or_default();
            let h = hex(&Sha256::digest(
                format!("{}{stamp}", p.display()).as_bytes(),
            ));
            format!("k3s-file-{}", &h[..12])
        }
        K3s::Without => "no-k3s".into(),
    };
    root.join(format!("{}-{k}-init-{}", arch.as_str(), &init_hash()[..12]))
}

/// A hash of what faasbed puts into the initramfs itself: a faasbed with other init scripts
/// builds its own assets instead of booting stale ones.
fn init_hash() -> String {
    let mut h = Sha256::new();
    for part in [INITTAB, BOOT_SH, AGENT_SH, &EARLY_MODULES.join(",")] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize())
}

/// The real package `apt-cache depends META` names (`Depends: linux-image-6.1.0-50-arm64:arm64`
/// gives `linux-image-6.1.0-50-arm64`).
pub fn depends_on(output: &str) -> Option<String> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(|p| p.trim().split(':').next().unwrap_or("").to_string())
        .find(|p| p.starts_with("linux-image-"))
}

/// The checksum `sha256sum-*.txt` gives for `file`.
pub fn checksum_for<'a>(sums: &'a str, file: &str) -> Option<&'a str> {
    sums.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        let (hash, name) = (it.next()?, it.next()?);
        (name.trim_start_matches('*') == file).then_some(hash)
    })
}

/// The assets of `arch` under `root`, built when absent (through `runner`: apt, dpkg-deb,
/// depmod, curl, mkfs.ext4). A finished folder is reused as it is.
pub async fn prepare<R: Runner>(
    runner: &R,
    root: &Path,
    arch: Arch,
    k3s: K3s,
) -> Result<VmAssets, VmError> {
    let dir = assets_dir(root, arch, &k3s);
    if let Ok(text) = std::fs::read_to_string(dir.join(DONE)) {
        if let Ok(a) = serde_json::from_str::<VmAssets>(&text) {
            if a.kernel.exists() && a.initrd.exists() && a.base_disk.exists() {
                return Ok(a);
            }
        }
    }
    let work = dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    let debs = work.join("debs");
    let root_fs = work.join("root");
    mkdir(&debs)?;
    mkdir(&root_fs)?;

    let [foreign_cmd, host_cmd] = arch_check_cmds();
    let foreign = run(runner, &foreign_cmd).await?;
    let host = run(runner, &host_cmd).await?;
    let a = deb_arch(arch);
    if host.trim() != a && !foreign.split_whitespace().any(|f| f == a) {
        return Err(VmError::ForeignArch { arch: a });
    }
    let depends = run(runner, &depends_cmd(arch)).await?;
    let package = depends_on(&depends).ok_or_else(|| VmError::NoKernel {
        metapackage: kernel_metapackage(arch),
        output: depends.clone(),
    })?;
    run(runner, &download_cmd(&package, arch, &debs)).await?;
    for deb in list(&debs)? {
        run(
            runner,
            &Cmd::new("dpkg-deb").arg("-x").arg(&deb).arg(&root_fs),
        )
        .await?;
    }
    let release = kernel_release(&root_fs.join("lib/modules"))?;
    run(
        runner,
        &Cmd::new("depmod").arg("-b").arg(&root_fs).arg(&release),
    )
    .await?;

    let modules = root_fs.join("lib/modules").join(&release);
    let initrd = dir.join("initrd.gz");
    write_initrd(&root_fs, &modules, &release, &initrd)?;

    // The base disk: the whole module tree (k3s and kube-proxy modprobe what they need) and k3s.
    let base = work.join("base");
    mkdir(&base.join("modules"))?;
    rename(&modules, &base.join("modules").join(&release))?;
    let k3s_version = match k3s {
        K3s::Pinned => {
            fetch_k3s(runner, root, arch, &base.join("k3s")).await?;
            Some(pins::K3S_VERSION.to_string())
        }
        K3s::File(p) => {
            std::fs::copy(&p, base.join("k3s")).map_err(|source| VmError::File {
                action: "copy",
                path: p.clone(),
                source,
            })?;
            set_mode(&base.join("k3s"), 0o755)?;
            Some(format!("file {}", p.display()))
        }
        K3s::Without => None,
    };
    let base_disk = dir.join("base.img");
    make_ext4(runner, &base, &base_disk, "faasbed-base").await?;

    let kernel = dir.join("vmlinuz");
    rename(
        &root_fs.join("boot").join(format!("vmlinuz-{release}")),
        &kernel,
    )?;
    let _ = std::fs::remove_dir_all(&work);
    let assets = VmAssets {
        kernel,
        initrd,
        base_disk,
        kernel_release: release,
        kernel_package: package,
        k3s: k3s_version,
    };
    let json = serde_json::to_string_pretty(&assets).unwrap_or_default();
    write_file(&dir.join(DONE), json.as_bytes())?;
    prune_older(&dir);
    Ok(assets)
}

/// Remove the folders an older faasbed built for the same arch and k3s (another init hash):
/// each holds a few hundred MB nothing boots from any more.
fn prune_older(dir: &Path) {
    let (Some(root), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Some((stem, _)) = name.rsplit_once("-init-") else {
        return;
    };
    let prefix = format!("{stem}-init-");
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(&prefix) && n != name {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The initramfs: busybox (as `/init` too), the init scripts, and the early modules with the
/// `modules.dep` that busybox `modprobe` reads.
fn write_initrd(root_fs: &Path, modules: &Path, release: &str, out: &Path) -> Result<(), VmError> {
    let mut a = Archive::default();
    a.add(
        "bin/busybox",
        Entry::File {
            mode: 0o755,
            data: read(&root_fs.join("bin/busybox"))?,
        },
    );
    a.add(
        "init",
        Entry::Symlink {
            target: "bin/busybox".into(),
        },
    );
    a.add(
        "bin/sh",
        Entry::Symlink {
            target: "busybox".into(),
        },
    );
    for d in ["proc", "sys", "dev", "sbin", "etc/faasbed"] {
        a.add(d, Entry::Dir);
    }
    a.add(
        "etc/inittab",
        Entry::File {
            mode: 0o644,
            data: INITTAB.into(),
        },
    );
    a.add(
        "etc/faasbed/boot.sh",
        Entry::File {
            mode: 0o755,
            data: BOOT_SH.into(),
        },
    );
    a.add(
        "etc/faasbed/agent.sh",
        Entry::File {
            mode: 0o755,
            data: AGENT_SH.into(),
        },
    );
    a.add(
        "etc/faasbed/early-modules",
        Entry::File {
            mode: 0o644,
            data: EARLY_MODULES.join("\n").into_bytes(),
        },
    );
    let dep_path = modules.join("modules.dep");
    let dep_text = String::from_utf8_lossy(&read(&dep_path)?).into_owned();
    let deps = ModuleDeps::parse(&dep_path.display().to_string(), &dep_text)?;
    let prefix = format!("lib/modules/{release}");
    a.add(
        &format!("{prefix}/modules.dep"),
        Entry::File {
            mode: 0o644,
            data: dep_text.into_bytes(),
        },
    );
    for rel in deps.closure(&EARLY_MODULES)? {
        let data = read(&modules.join(&rel))?;
        a.add(
            &format!("{prefix}/{rel}"),
            Entry::File { mode: 0o644, data },
        );
    }
    let gz = a.to_gzip().map_err(|source| VmError::File {
        action: "compress",
        path: out.to_path_buf(),
        source,
    })?;
    write_file(out, &gz)
}

/// Download k3s for `arch` into the cache once (checked against the release's checksums),
/// then copy it to `to`.
async fn fetch_k3s<R: Runner>(
    runner: &R,
    root: &Path,
    arch: Arch,
    to: &Path,
) -> Result<(), VmError> {
    let (file, sums_file) = k3s_release_files(arch);
    let cached = k3s_cached(root, file);
    if !cached.exists() {
        let sums_path = k3s_cached(root, sums_file);
        let partial = cached.with_extension("part");
        for (url, path) in [(k3s_url(sums_file), &sums_path), (k3s_url(file), &partial)] {
            runner
                .run(&curl_cmd(&url, path))
                .await
                .map_err(|e| VmError::Download {
                    url: url.clone(),
                    to: cached.clone(),
                    source: Box::new(e),
                })?;
        }
        let sums = String::from_utf8_lossy(&read(&sums_path)?).into_owned();
        let want = checksum_for(&sums, file).ok_or_else(|| VmError::Checksum {
            file: file.to_string(),
            want: format!("a line for {file} in {}", sums_path.display()),
            got: String::new(),
        })?;
        let got = hex(&Sha256::digest(read(&partial)?));
        if got != want {
            return Err(VmError::Checksum {
                file: file.to_string(),
                want: want.to_string(),
                got,
            });
        }
        rename(&partial, &cached)?;
    }
    std::fs::copy(&cached, to).map_err(|source| VmError::File {
        action: "copy",
        path: cached.clone(),
        source,
    })?;
    set_mode(to, 0o755)
}

/// An ext4 image of `dir`'s contents at `out`, sized to fit with room to spare.
pub async fn make_ext4<R: Runner>(
    runner: &R,
    dir: &Path,
    out: &Path,
    label: &str,
) -> Result<(), VmError> {
    let used = du(dir);
    // ext4's metadata and journal, plus a quarter of room.
    let size = (used + used / 4 + (96 << 20)).next_multiple_of(1 << 20);
    sparse_file(out, size)?;
    run(runner, &mkfs_cmd(dir, out, label)).await.map(|_| ())
}

/// Create (or truncate) `path` as a sparse file of `bytes`.
pub fn sparse_file(path: &Path, bytes: u64) -> Result<(), VmError> {
    let err = |source| VmError::File {
        action: "create",
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::create(path).map_err(err)?;
    f.set_len(bytes).map_err(err)
}

/// Bytes under `dir` (regular files; what mkfs copies).
fn du(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn kernel_release(modules: &Path) -> Result<String, VmError> {
    list(modules)?
        .into_iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .next()
        .ok_or_else(|| VmError::File {
            action: "find a kernel release in",
            path: modules.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "empty"),
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, VmError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| VmError::File {
            action: "list",
            path: dir.to_path_buf(),
            source,
        })?
        .flatten()
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

fn mkdir(dir: &Path) -> Result<(), VmError> {
    std::fs::create_dir_all(dir).map_err(|source| VmError::File {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, VmError> {
    std::fs::read(path).map_err(|source| VmError::File {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Write `bytes` to `path`, creating its folder.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), VmError> {
    if let Some(d) = path.parent() {
        mkdir(d)?;
    }
    std::fs::write(path, bytes).map_err(|source| VmError::File {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Set `path`'s permission bits.
pub fn set_mode(path: &Path, mode: u32) -> Result<(), VmError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        VmError::File {
            action: "set the mode of",
            path: path.to_path_buf(),
            source,
        }
    })
}

fn rename(from: &Path, to: &Path) -> Result<(), VmError> {
    std::fs::rename(from, to).map_err(|source| VmError::File {
        action: "move",
        path: from.to_path_buf(),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn apt_cache_output_names_the_real_kernel_package() {
        let out = "linux-image-arm64:arm64\n  Depends: linux-image-6.1.0-50-arm64:arm64\n";
        assert_eq!(
            depends_on(out).as_deref(),
            Some("linux-image-6.1.0-50-arm64")
        );
        assert_eq!(depends_on("linux-image-arm64:arm64\n"), None);
        assert_eq!(
            kernel_metapackage(Arch::Armhf),
            "linux-image-armmp-lpae:armhf"
        );
    }

    #[test]
    fn building_new_assets_prunes_those_of_an_older_init_only() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "arm64-k3s-x-init-old",
            "arm64-k3s-x-init-new",
            "armhf-k3s-x-init-old",
            "arm64-no-k3s-init-old",
        ] {
            std::fs::create_dir(d.path().join(n)).unwrap();
        }
        prune_older(&d.path().join("arm64-k3s-x-init-new"));
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "arm64-k3s-x-init-new",
                "arm64-no-k3s-init-old",
                "armhf-k3s-x-init-old"
            ]
        );
    }

    #[test]
    fn release_checksums_are_found_by_file_name() {
        let sums = "aaa  k3s\nbbb  k3s-arm64\nccc *k3s-airgap-images-arm64.tar\n";
        assert_eq!(checksum_for(sums, "k3s-arm64"), Some("bbb"));
        assert_eq!(checksum_for(sums, "k3s-armhf"), None);
        assert_eq!(
            k3s_release_files(Arch::Armhf),
            ("k3s-armhf", "sha256sum-arm.txt")
        );
        assert!(k3s_url("k3s-arm64").ends_with("/download/v1.34.2%2Bk3s1/k3s-arm64"));
    }
}
