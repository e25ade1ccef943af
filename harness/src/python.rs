//! Python functions on the local platform: a per-arch sysroot from Debian's own python3.11
//! packages, and a cached "image" per function that says how a node starts it.
//!
//! The sysroot of an arch is `<cache>/.python/<arch>/current/root`: `apt-get download` fetches
//! [`PACKAGES`] for that Debian arch into `current/debs`, `dpkg-deb -x` unpacks
//! them, `versions.txt` records each package's version, and one run of the interpreter (under
//! the arch's QEMU for ARM) imports what the functions use, so their bytecode is compiled once
//! and not at every cold start. A function `images/python/<source>.py` builds into
//! `<cache>/py-<source>-<hash16>/<arch>/`: the script and the shared modules copied there, and
//! the launch file `py-<source>` ([`Launch`], JSON) that [`crate::platform::local::node`]
//! reads to start `python3.11 -I -S <script>` (natively with the sysroot's own loader and
//! libraries on amd64, under `qemu-<arch> -L <sysroot>` on ARM). Every program runs through
//! [`crate::exec`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::exec::{self, Cmd, ExecError};
use crate::spec::Arch;

/// Debian packages that make the sysroot: the interpreter, its standard library and the
/// libraries they link (no OpenSSL: `hashlib` falls back to its built-in digests; armhf's
/// interpreter needs libgcc_s).
pub const PACKAGES: [&str; 7] = [
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libc6",
    "zlib1g",
    "libexpat1",
    "libgcc-s1",
];

/// The interpreter inside the sysroot.
pub const INTERPRETER: &str = "usr/bin/python3.11";

/// Modules shared by every Python function (copied beside each function's script).
pub const SHARED: [&str; 2] = ["faasbed_contract.py", "faasbed_seed.py"];

/// The image prefix of Python builds: `py-<source>`, so they never collide with Go builds.
pub const IMAGE_PREFIX: &str = "py-";

/// What the warm-up run imports, so their bytecode is cached in the sysroot.
const WARM_IMPORTS: &str =
    "import http.server, json, gzip, zlib, hashlib, struct, urllib.parse, socketserver";

const APT_TIMEOUT: Duration = Duration::from_secs(600);
const WARM_TIMEOUT: Duration = Duration::from_secs(300);

/// Errors from preparing a sysroot or building a Python function.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// `images/python/<source>.py` does not exist.
    #[error("no Python function {source_name:?}: {path} does not exist; available: {available}")]
    NoSuchFunction {
        source_name: String,
        path: PathBuf,
        available: String,
    },
    /// A file could not be read or written.
    #[error("cannot {what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `apt-get download` failed (often: the foreign arch is not added to dpkg).
    #[error("cannot download Debian's python3.11 packages for {arch} into {dir}; for an ARM arch run `dpkg --add-architecture {arch} && apt-get update` first")]
    Download {
        arch: Arch,
        dir: PathBuf,
        #[source]
        source: Box<ExecError>,
    },
    /// `dpkg-deb` failed on a downloaded package.
    #[error("cannot unpack {deb} into the {arch} sysroot")]
    Unpack {
        arch: Arch,
        deb: PathBuf,
        #[source]
        source: Box<ExecError>,
    },
    /// The unpacked interpreter does not run.
    #[error(
        "the {arch} python3.11 in {sysroot} does not run; remove that folder to unpack it again"
    )]
    Warm {
        arch: Arch,
        sysroot: PathBuf,
        #[source]
        source: Box<ExecError>,
    },
    /// No QEMU user-mode binary for an ARM arch.
    #[error("no qemu user-mode binary for {arch}; run `sudo apt-get install -y qemu-user-static`")]
    NoQemu { arch: Arch },
}

/// How a node starts one Python function (the JSON of a build's launch file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// Always `"python"`.
    pub runtime: String,
    /// The sysroot (absolute).
    pub sysroot: PathBuf,
    /// The interpreter, inside the sysroot (absolute).
    pub interpreter: PathBuf,
    /// The function's script (absolute).
    pub script: PathBuf,
    /// Debian version of python3.11-minimal in the sysroot.
    pub python: String,
}

impl Launch {
    /// The launch file at `path`, if it is one (a Go binary is not).
    pub fn read(path: &Path) -> Option<Launch> {
        let bytes = std::fs::read(path).ok()?;
        if bytes.first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice::<Launch>(&bytes)
            .ok()
            .filter(|l| l.runtime == "python")
    }

    /// The arguments after the interpreter: isolated mode, no `site`, then the script.
    fn tail(&self) -> [std::ffi::OsString; 3] {
        ["-I".into(), "-S".into(), self.script.clone().into()]
    }

    /// The native command (amd64): the sysroot's loader with the sysroot's libraries.
    pub fn native(&self) -> Cmd {
        native_interpreter(&self.sysroot).args(self.tail())
    }

    /// The command under `qemu -cpu cpu -L sysroot` (ARM).
    pub fn qemu(&self, qemu: &Path, cpu: &str) -> Cmd {
        Cmd::new(qemu)
            .args(["-cpu", cpu, "-L"])
            .arg(&self.sysroot)
            .arg(&self.interpreter)
            .args(self.tail())
    }
}

/// The amd64 loader inside a sysroot.
fn loader(sysroot: &Path) -> PathBuf {
    let lib64 = sysroot.join("lib64/ld-linux-x86-64.so.2");
    if lib64.exists() {
        lib64
    } else {
        sysroot.join("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    }
}

/// `<root>/../python`: the Python functions beside the Go module root `images/functions`.
pub fn python_root(functions_root: &Path) -> PathBuf {
    functions_root
        .parent()
        .unwrap_or(functions_root)
        .join("python")
}

/// The Python functions in `root`, comma-separated (for error messages).
pub fn available(root: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".py").map(str::to_string))
        .filter(|n| !SHARED.contains(&format!("{n}.py").as_str()))
        .collect();
    names.sort();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// The sysroot folder of `arch` under `cache`.
pub fn sysroot_dir(cache: &Path, arch: Arch) -> PathBuf {
    cache.join(".python").join(arch.as_str())
}

/// Parse `dpkg-deb -f DEB Package Version` output into (package, version).
pub fn parse_control(text: &str) -> Option<(String, String)> {
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
    };
    Some((field("Package:")?, field("Version:")?))
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PythonError {
    let path = path.to_path_buf();
    move |source| PythonError::Io { what, path, source }
}

/// Prepare (once) and return the sysroot of `arch` and its python3.11-minimal version.
///
/// Concurrent preparations (tests, two deploys) each work in a folder of their own and the first
/// to finish renames it to `current`; the others drop theirs and use it.
pub async fn sysroot(cache: &Path, arch: Arch) -> Result<(PathBuf, String), PythonError> {
    let dir = sysroot_dir(cache, arch);
    let current = dir.join("current");
    if let Some(v) = ready(&current) {
        return Ok((current.join("root"), v));
    }
    let work = dir.join(format!(
        ".prepare-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let prepared = prepare(&work, arch).await;
    let record = match prepared {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            return Err(e);
        }
    };
    if ready(&current).is_none() {
        // An incomplete `current` (the package list grew) is moved aside, then replaced.
        if current.exists() {
            let aside = dir.join(format!(".old-{:x}", rand::random::<u64>()));
            let _ = std::fs::rename(&current, &aside);
            let _ = std::fs::remove_dir_all(&aside);
        }
        if std::fs::rename(&work, &current).is_ok() {
            let v = version_of(&record).unwrap_or_else(|| "unknown".into());
            return Ok((current.join("root"), v));
        }
    }
    // Another preparation finished first: use its sysroot.
    let _ = std::fs::remove_dir_all(&work);
    let v = ready(&current).ok_or_else(|| PythonError::Io {
        what: "find the prepared sysroot",
        path: current.clone(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    Ok((current.join("root"), v))
}

/// The python version of a complete sysroot folder (`versions.txt` names every package of
/// [`PACKAGES`]), or `None`.
fn ready(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("versions.txt")).ok()?;
    let complete = PACKAGES
        .iter()
        .all(|p| text.lines().any(|l| l.split(' ').next() == Some(*p)));
    complete.then(|| version_of(&text)).flatten()
}

/// Download, unpack and warm a sysroot in `work` (`debs/`, `root/`, `versions.txt`); returns
/// the versions record.
async fn prepare(work: &Path, arch: Arch) -> Result<String, PythonError> {
    let debs = work.join("debs");
    let root = work.join("root");
    std::fs::create_dir_all(&debs).map_err(io("create", &debs))?;
    std::fs::create_dir_all(&root).map_err(io("create", &root))?;
    let names: Vec<String> = PACKAGES.iter().map(|p| format!("{p}:{arch}")).collect();
    let dl = Cmd::new("apt-get")
        .arg("download")
        .args(&names)
        .cwd(&debs)
        .timeout(APT_TIMEOUT);
    exec::run(&dl)
        .await
        .map_err(|source| PythonError::Download {
            arch,
            dir: debs.clone(),
            source: Box::new(source),
        })?;
    let mut record = String::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&debs)
        .map_err(io("read", &debs))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    entries.sort();
    for deb in entries {
        let unpack = |source| PythonError::Unpack {
            arch,
            deb: deb.clone(),
            source: Box::new(source),
        };
        exec::run(&Cmd::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))
            .await
            .map_err(unpack)?;
        let out = exec::run(
            &Cmd::new("dpkg-deb")
                .args(["-f"])
                .arg(&deb)
                .args(["Package", "Version"]),
        )
        .await
        .map_err(unpack)?;
        if let Some((p, v)) = parse_control(&out.stdout) {
            record.push_str(&format!("{p} {v}\n"));
        }
    }
    warm(&root, arch).await?;
    let versions = work.join("versions.txt");
    std::fs::write(&versions, &record).map_err(io("write", &versions))?;
    Ok(record)
}

/// The python3.11-minimal version in a `versions.txt`.
fn version_of(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("python3.11-minimal "))
        .map(|v| v.trim().to_string())
}

/// Run the interpreter once to compile the bytecode of what the functions import.
async fn warm(root: &Path, arch: Arch) -> Result<(), PythonError> {
    let cmd = match arch {
        Arch::Amd64 => native_interpreter(root),
        other => {
            let qemu = crate::platform::local::qemu_user::find_qemu(other)
                .map_err(|_| PythonError::NoQemu { arch: other })?;
            Cmd::new(qemu)
                .arg("-L")
                .arg(root)
                .arg(root.join(INTERPRETER))
        }
    };
    let cmd = cmd
        .args(["-I", "-S", "-c", WARM_IMPORTS])
        .timeout(WARM_TIMEOUT);
    exec::run(&cmd).await.map_err(|source| PythonError::Warm {
        arch,
        sysroot: root.to_path_buf(),
        source: Box::new(source),
    })?;
    Ok(())
}

/// The sysroot's amd64 interpreter started by the sysroot's own loader and libraries.
fn native_interpreter(sysroot: &Path) -> Cmd {
    let lib = |p: &str| sysroot.join(p).display().to_string();
    Cmd::new(loader(sysroot))
        .arg("--library-path")
        .arg(format!(
            "{}:{}",
            lib("lib/x86_64-linux-gnu"),
            lib("usr/lib/x86_64-linux-gnu")
        ))
        .arg(sysroot.join(INTERPRETER))
}

/// Sha256 hex over the function's script and the shared modules (name, NUL, length, bytes).
pub fn source_hash(root: &Path, source: &str) -> Result<String, PythonError> {
    let mut h = Sha256::new();
    let script = format!("{source}.py");
    for name in SHARED.iter().copied().chain([script.as_str()]) {
        let p = root.join(name);
        let bytes = std::fs::read(&p).map_err(io("read", &p))?;
        h.update(name.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// One Python function built for one arch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPython {
    /// The launch file.
    pub path: PathBuf,
    /// Sha256 hex of the sources.
    pub hash: String,
    /// The arch.
    pub arch: Arch,
    /// Debian version of the interpreter.
    pub python: String,
}

/// Build `images/python/<source>.py` (in `root`) for `arch` into `cache`, preparing the
/// arch's sysroot first when needed.
pub async fn build(
    root: &Path,
    source: &str,
    arch: Arch,
    cache: &Path,
) -> Result<BuiltPython, PythonError> {
    let script = root.join(format!("{source}.py"));
    let plain = !source.is_empty()
        && source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain || !script.is_file() || SHARED.contains(&format!("{source}.py").as_str()) {
        return Err(PythonError::NoSuchFunction {
            source_name: source.into(),
            path: script,
            available: available(root),
        });
    }
    // Symlinks resolved: launch files name real paths, valid for as long as the cache is.
    std::fs::create_dir_all(cache).map_err(io("create", cache))?;
    let cache = std::fs::canonicalize(cache).map_err(io("resolve", cache))?;
    let (sysroot, python) = sysroot(&cache, arch).await?;
    let hash = source_hash(root, source)?;
    let image = format!("{IMAGE_PREFIX}{source}");
    let dir = cache
        .join(format!("{image}-{}", &hash[..16]))
        .join(arch.as_str());
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    for name in SHARED
        .iter()
        .copied()
        .chain([format!("{source}.py").as_str()])
    {
        let to = dir.join(name);
        let tmp = dir.join(format!(".{name}.{:x}", rand::random::<u64>()));
        std::fs::copy(root.join(name), &tmp).map_err(io("copy to", &tmp))?;
        std::fs::rename(&tmp, &to).map_err(io("rename into", &to))?;
    }
    let launch = Launch {
        runtime: "python".into(),
        interpreter: sysroot.join(INTERPRETER),
        sysroot,
        script: dir.join(format!("{source}.py")),
        python: python.clone(),
    };
    let path = dir.join(&image);
    // serde_json of this plain struct cannot fail.
    let json = serde_json::to_vec_pretty(&launch).unwrap_or_default();
    // Written whole, then renamed: a concurrent build of the same function never shows a
    // node half a launch file.
    let tmp = dir.join(format!(".{image}.{:x}", rand::random::<u64>()));
    std::fs::write(&tmp, json).map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io("rename into", &path))?;
    crate::platform::local::image::record_latest(&cache, &image, &hash)
        .map_err(io("record the latest build in", &cache))?;
    Ok(BuiltPython {
        path,
        hash,
        arch,
        python,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn control_fields_parse() {
        let t = "Package: python3.11-minimal\nVersion: 3.11.2-6+deb12u9\n";
        assert_eq!(
            parse_control(t),
            Some(("python3.11-minimal".into(), "3.11.2-6+deb12u9".into()))
        );
        assert_eq!(parse_control("Package: x\n"), None);
        assert_eq!(
            version_of("libc6 2.36\npython3.11-minimal 3.11.2-6\n").as_deref(),
            Some("3.11.2-6")
        );
    }

    #[test]
    fn launch_files_are_told_from_binaries() {
        let d = tempfile::tempdir().unwrap();
        let l = Launch {
            runtime: "python".into(),
            sysroot: "/s".into(),
            interpreter: "/s/usr/bin/python3.11".into(),
            script: "/b/echo.py".into(),
            python: "3.11.2".into(),
        };
        let p = d.path().join("py-echo");
        std::fs::write(&p, serde_json::to_vec(&l).unwrap()).unwrap();
        assert_eq!(Launch::read(&p), Some(l.clone()));
        std::fs::write(&p, b"\x7fELF...").unwrap();
        assert_eq!(Launch::read(&p), None);
        let q = l
            .qemu(Path::new("/usr/bin/qemu-arm-static"), "cortex-a7")
            .to_string();
        assert!(
            q.contains("-L /s /s/usr/bin/python3.11 -I -S /b/echo.py"),
            "{q}"
        );
    }

    #[test]
    fn unknown_function_lists_the_python_ones() {
        let root = python_root(
            &crate::build::functions_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap(),
        );
        let list = available(&root);
        for f in ["compress", "cpu", "echo", "memory", "thumbnail"] {
            assert!(list.contains(f), "{list}");
        }
        assert!(!list.contains("faasbed_contract"), "{list}");
    }
}
