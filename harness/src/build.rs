//! Builds function binaries per architecture (Go cross-compile) and caches them by content hash.
//!
//! A function is a `package main` folder of the Go module in `images/functions/`. Its binary for
//! one architecture lives at `<cache>/<source>-<hash16>/<arch>/<source>`, where the hash covers
//! `go.mod`, `contract/**`, `seed/**`, `<source>/**` and the Go version, so a cached binary is reused only
//! while none of them changed. `go` runs through [`crate::exec`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::exec::{self, Cmd, ExecError, Runner};
use crate::spec::Arch;

/// Where `go` is looked for after `PATH`.
const GO_FALLBACKS: [&str; 2] = ["/usr/lib/go/bin/go", "/usr/local/go/bin/go"];

/// Module-level inputs every function's binary depends on (besides its own folder).
const SHARED_INPUTS: [&str; 4] = ["go.mod", "go.sum", "contract", "seed"];

/// Library packages of the module: folders that are not functions.
const LIBRARIES: [&str; 2] = ["contract", "seed"];

/// The longest one `go build` may take before it is killed (cold, under emulation load).
const GO_BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// Errors from finding or building a function.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No `go` toolchain on this machine.
    #[error(
        "go not found on PATH, at /usr/lib/go/bin/go or at /usr/local/go/bin/go; \
         run `sudo apt-get install -y golang-go` (or `faasbed setup`)"
    )]
    GoMissing,
    /// The function name is not a plain folder name.
    #[error("function source `{source_name}` is not a folder name; use one of: {available}")]
    BadName {
        source_name: String,
        available: String,
    },
    /// The function folder does not exist in the module.
    #[error("no function `{source_name}` in {root} (no folder {root}/{source_name}); folders there: {available}")]
    NoSuchFunction {
        source_name: String,
        root: PathBuf,
        available: String,
    },
    /// A source file or folder could not be read while hashing.
    #[error("cannot read {path} while hashing function `{source_name}`: {source}")]
    Read {
        source_name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The cache directory could not be written.
    #[error("cannot write build cache {path} for function `{source_name}` ({arch}): {source}; check the cache directory is writable")]
    Cache {
        source_name: String,
        arch: Arch,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `go version` failed.
    #[error("cannot read the go version from {go}; check the toolchain with `go version`")]
    GoVersion {
        go: PathBuf,
        #[source]
        source: Box<ExecError>,
    },
    /// `go build` failed; the source carries the command, status and go's stderr.
    #[error("go build of function `{source_name}` for {arch} in {root} failed")]
    Go {
        source_name: String,
        arch: Arch,
        root: PathBuf,
        #[source]
        source: Box<ExecError>,
    },
}

/// One function binary for one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The binary, inside the cache directory.
    pub path: PathBuf,
    /// Full sha256 hex over the function's source files and the go version; the same for every
    /// architecture (the architecture is part of `path`).
    pub hash: String,
    /// The architecture the binary was built for.
    pub arch: Arch,
    /// True when the binary came from the cache and go was not run.
    pub cached: bool,
}

/// Walk up from `start` (a scenario file or a directory) to the folder that holds
/// `images/functions/go.mod`, and return `<that>/images/functions`.
pub fn functions_root(start: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
    start.ancestors().find_map(|dir| {
        let root = dir.join("images").join("functions");
        root.join("go.mod").is_file().then_some(root)
    })
}

/// The `go` binary: from `PATH`, else `/usr/lib/go/bin/go`, else `/usr/local/go/bin/go`.
pub fn go_binary() -> Result<PathBuf, BuildError> {
    exec::which("go")
        .or_else(|| GO_FALLBACKS.iter().map(PathBuf::from).find(|p| p.is_file()))
        .ok_or(BuildError::GoMissing)
}

/// Build function `source` (a folder of the module at `root`) for `arch`, or reuse the cached
/// binary under `cache_dir` when its sources and the go version are unchanged (then go is not
/// run, apart from one `go version` per process).
pub async fn build(
    root: &Path,
    source: &str,
    arch: Arch,
    cache_dir: &Path,
) -> Result<Built, BuildError> {
    check_source(root, source)?;
    let go = go_binary()?;
    let version = go_version(&exec::System, &go).await?;
    // go runs inside `root`, so a relative cache path would resolve against the wrong folder.
    let cache_dir = std::path::absolute(cache_dir).map_err(|e| BuildError::Cache {
        source_name: source.to_string(),
        arch,
        path: cache_dir.to_path_buf(),
        source: e,
    })?;
    let built = build_with(&exec::System, &go, &version, root, source, arch, &cache_dir).await?;
    // What `faasbed.local/<source>:latest` (or plain `<source>`) names on the local platform.
    crate::platform::local::image::record_latest(&cache_dir, source, &built.hash).map_err(|e| {
        BuildError::Cache {
            source_name: source.to_string(),
            arch,
            path: crate::platform::local::image::latest_file(&cache_dir, source),
            source: e,
        }
    })?;
    Ok(built)
}

/// [`build`] for each of `arches`, in order.
pub async fn build_all(
    root: &Path,
    source: &str,
    arches: &[Arch],
    cache_dir: &Path,
) -> Result<Vec<Built>, BuildError> {
    let mut out = Vec::with_capacity(arches.len());
    for &arch in arches {
        out.push(build(root, source, arch, cache_dir).await?);
    }
    Ok(out)
}

/// The go version line (`go version go1.19.8 linux/amd64`), asked once per process.
async fn go_version<R: Runner>(runner: &R, go: &Path) -> Result<String, BuildError> {
    static VERSION: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    VERSION
        .get_or_try_init(|| async {
            let out = runner
                .run(&Cmd::new(go).arg("version"))
                .await
                .map_err(|source| BuildError::GoVersion {
                    go: go.to_path_buf(),
                    source: Box::new(source),
                })?;
            Ok(out.stdout.trim().to_string())
        })
        .await
        .cloned()
}

async fn build_with<R: Runner>(
    runner: &R,
    go: &Path,
    go_version: &str,
    root: &Path,
    source: &str,
    arch: Arch,
    cache_dir: &Path,
) -> Result<Built, BuildError> {
    let hash = source_hash(root, source, go_version)?;
    let path = cache_path(cache_dir, source, &hash, arch);
    if path.is_file() {
        return Ok(Built {
            path,
            hash,
            arch,
            cached: true,
        });
    }
    let cache_err = |path: &Path, e: std::io::Error| BuildError::Cache {
        source_name: source.to_string(),
        arch,
        path: path.to_path_buf(),
        source: e,
    };
    let dir = path.parent().unwrap_or(cache_dir);
    std::fs::create_dir_all(dir).map_err(|e| cache_err(dir, e))?;
    let tmp = dir.join(format!(
        ".{source}.tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let cmd = go_build_cmd(go, root, source, arch, &tmp, cache_dir);
    if let Err(e) = runner.run(&cmd).await {
        let _ = std::fs::remove_file(&tmp);
        return Err(BuildError::Go {
            source_name: source.to_string(),
            arch,
            root: root.to_path_buf(),
            source: Box::new(e),
        });
    }
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        cache_err(&path, e)
    })?;
    Ok(Built {
        path,
        hash,
        arch,
        cached: false,
    })
}

/// `go build` of `./<source>` for `arch` into `out`, static and stripped.
fn go_build_cmd(
    go: &Path,
    root: &Path,
    source: &str,
    arch: Arch,
    out: &Path,
    cache_dir: &Path,
) -> Cmd {
    let mut cmd = Cmd::new(go)
        .args([
            "build",
            "-trimpath",
            "-buildvcs=false",
            "-ldflags=-s -w",
            "-o",
        ])
        .arg(out)
        .arg(format!("./{source}"))
        .cwd(root)
        .env("CGO_ENABLED", "0")
        .env("GOOS", "linux")
        .env("GOARCH", arch.goarch())
        .timeout(GO_BUILD_TIMEOUT);
    if let Some(goarm) = arch.goarm() {
        cmd = cmd.env("GOARM", goarm);
    }
    // Without HOME (some CI shells) go has nowhere for its caches; give it one in ours.
    if ["GOCACHE", "XDG_CACHE_HOME", "HOME"]
        .iter()
        .all(|k| std::env::var_os(k).is_none())
    {
        cmd = cmd
            .env("GOCACHE", cache_dir.join("go-build"))
            .env("GOPATH", cache_dir.join("gopath"));
    }
    cmd
}

/// `<cache_dir>/<source>-<hash16>/<arch>/<source>`.
fn cache_path(cache_dir: &Path, source: &str, hash: &str, arch: Arch) -> PathBuf {
    let short = hash.get(..16).unwrap_or(hash);
    cache_dir
        .join(format!("{source}-{short}"))
        .join(arch.as_str())
        .join(source)
}

/// Check `source` names an existing function folder of the module at `root`.
fn check_source(root: &Path, source: &str) -> Result<(), BuildError> {
    let plain = !source.is_empty()
        && !LIBRARIES.contains(&source)
        && source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain {
        return Err(BuildError::BadName {
            source_name: source.to_string(),
            available: available_functions(root),
        });
    }
    if !root.join(source).is_dir() {
        return Err(BuildError::NoSuchFunction {
            source_name: source.to_string(),
            root: root.to_path_buf(),
            available: available_functions(root),
        });
    }
    Ok(())
}

/// The function folders under `root`, comma-separated, for error messages.
pub(crate) fn available_functions(root: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !LIBRARIES.contains(&n.as_str()) && !n.starts_with('.'))
        .collect();
    names.sort();
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// Sha256 hex over the files that decide `source`'s binary (sorted by path; each hashed as
/// path, NUL, length, bytes) and the go version (any string naming the toolchain).
pub fn source_hash(root: &Path, source: &str, go_version: &str) -> Result<String, BuildError> {
    let mut files = Vec::new();
    for input in SHARED_INPUTS.iter().copied().chain([source]) {
        collect_files(root, Path::new(input), source, &mut files)?;
    }
    files.sort();
    let mut h = Sha256::new();
    for rel in &files {
        let path = root.join(rel);
        let bytes = std::fs::read(&path).map_err(|e| read_err(source, &path, e))?;
        let name = rel.to_string_lossy();
        h.update(name.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.update(b"go-version\0");
    h.update(go_version.as_bytes());
    Ok(hex::encode(h.finalize()))
}

/// Add `rel` (a file, or every file below a folder) to `out`; a missing input is skipped.
fn collect_files(
    root: &Path,
    rel: &Path,
    source: &str,
    out: &mut Vec<PathBuf>,
) -> Result<(), BuildError> {
    let path = root.join(rel);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(read_err(source, &path, e)),
    };
    if meta.is_file() {
        out.push(rel.to_path_buf());
    } else if meta.is_dir() {
        let entries = std::fs::read_dir(&path).map_err(|e| read_err(source, &path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| read_err(source, &path, e))?;
            collect_files(root, &rel.join(entry.file_name()), source, out)?;
        }
    }
    Ok(())
}

fn read_err(source: &str, path: &Path, e: std::io::Error) -> BuildError {
    BuildError::Read {
        source_name: source.to_string(),
        path: path.to_path_buf(),
        source: e,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A module with a contract and two functions.
    fn module() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let w = |rel: &str, body: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        };
        w("go.mod", "module faasbed.io/functions\n\ngo 1.19\n");
        w("contract/contract.go", "package contract\n");
        w("echo/main.go", "package main\n");
        w("cpu/main.go", "package main\n");
        w("cpu/sub/more.go", "package sub\n");
        d
    }

    fn hashes(root: &Path) -> (String, String) {
        (
            source_hash(root, "echo", "go1.19.8").unwrap(),
            source_hash(root, "cpu", "go1.19.8").unwrap(),
        )
    }

    #[test]
    fn contract_change_changes_every_function_hash() {
        let m = module();
        let (echo0, cpu0) = hashes(m.path());
        std::fs::write(
            m.path().join("contract/contract.go"),
            "package contract // v2\n",
        )
        .unwrap();
        let (echo1, cpu1) = hashes(m.path());
        assert_ne!(echo0, echo1);
        assert_ne!(cpu0, cpu1);
    }

    #[test]
    fn new_contract_file_and_go_mod_change_the_hash() {
        let m = module();
        let (_, cpu0) = hashes(m.path());
        std::fs::write(m.path().join("contract/extra.go"), "package contract\n").unwrap();
        let (_, cpu1) = hashes(m.path());
        std::fs::write(
            m.path().join("go.mod"),
            "module faasbed.io/functions\n\ngo 1.20\n",
        )
        .unwrap();
        let (_, cpu2) = hashes(m.path());
        assert_ne!(cpu0, cpu1);
        assert_ne!(cpu1, cpu2);
    }

    #[test]
    fn a_function_change_leaves_other_functions_alone() {
        let m = module();
        let (echo0, cpu0) = hashes(m.path());
        std::fs::write(m.path().join("echo/main.go"), "package main // v2\n").unwrap();
        let (echo1, cpu1) = hashes(m.path());
        assert_ne!(echo0, echo1);
        assert_eq!(cpu0, cpu1);
        std::fs::write(m.path().join("cpu/sub/more.go"), "package sub // v2\n").unwrap();
        assert_ne!(hashes(m.path()).1, cpu1, "nested files count");
    }

    #[test]
    fn go_version_is_part_of_the_hash() {
        let m = module();
        assert_ne!(
            source_hash(m.path(), "cpu", "go1.19.8").unwrap(),
            source_hash(m.path(), "cpu", "go1.22.0").unwrap()
        );
    }

    #[test]
    fn unknown_function_names_the_existing_folders() {
        let m = module();
        let err = check_source(m.path(), "nope").unwrap_err().to_string();
        assert!(err.contains("`nope`") && err.contains("cpu, echo"), "{err}");
        let err = check_source(m.path(), "../echo").unwrap_err().to_string();
        assert!(err.contains("not a folder name"), "{err}");
        assert!(check_source(m.path(), "contract").is_err());
    }

    #[test]
    fn functions_root_walks_up() {
        let d = tempfile::tempdir().unwrap();
        let fns = d.path().join("images/functions");
        std::fs::create_dir_all(&fns).unwrap();
        std::fs::write(fns.join("go.mod"), "module x\n").unwrap();
        let deep = d.path().join("scenarios/sub");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(
            functions_root(&deep.join("x.toml")).as_deref(),
            Some(fns.as_path())
        );
        let other = tempfile::tempdir().unwrap();
        assert_eq!(functions_root(other.path()), None);
    }

    /// Records commands; "builds" by writing the `-o` file.
    #[derive(Default)]
    struct FakeGo {
        commands: Mutex<Vec<String>>,
    }

    impl Runner for FakeGo {
        async fn run(&self, cmd: &Cmd) -> Result<exec::Output, ExecError> {
            let line = cmd.display();
            let words: Vec<&str> = line.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "-o") {
                std::fs::write(words[i + 1], b"binary").unwrap();
            }
            self.commands.lock().unwrap().push(line);
            Ok(exec::Output {
                stdout: String::new(),
                stderr: String::new(),
            })
        }
    }

    #[tokio::test]
    async fn second_build_is_cached_and_runs_no_go() {
        let m = module();
        let cache = tempfile::tempdir().unwrap();
        let go = Path::new("/usr/bin/go");
        let fake = FakeGo::default();
        let first = build_with(&fake, go, "v", m.path(), "cpu", Arch::Armhf, cache.path())
            .await
            .unwrap();
        assert!(!first.cached);
        assert!(first.path.is_file());
        assert!(first
            .path
            .ends_with(format!("cpu-{}/armhf/cpu", &first.hash[..16])));
        let cmds = fake.commands.lock().unwrap().clone();
        assert_eq!(cmds.len(), 1);
        assert!(cmds[0].contains("build -trimpath") && cmds[0].ends_with("./cpu"));

        let second = build_with(&fake, go, "v", m.path(), "cpu", Arch::Armhf, cache.path())
            .await
            .unwrap();
        assert!(second.cached);
        assert_eq!(second.path, first.path);
        assert_eq!(fake.commands.lock().unwrap().len(), 1, "go ran again");

        let arm64 = build_with(&fake, go, "v", m.path(), "cpu", Arch::Arm64, cache.path())
            .await
            .unwrap();
        assert!(!arm64.cached);
        assert_ne!(arm64.path, first.path);
    }

    #[test]
    fn build_command_sets_the_target() {
        let cmd = go_build_cmd(
            Path::new("go"),
            Path::new("/m"),
            "echo",
            Arch::Armhf,
            Path::new("/c/out"),
            Path::new("/c"),
        );
        let line = cmd.display();
        assert!(
            line.starts_with(
                "go build -trimpath -buildvcs=false '-ldflags=-s -w' -o /c/out ./echo"
            ),
            "{line}"
        );
        let debug = format!("{cmd:?}");
        for pair in [
            r#"("CGO_ENABLED", "0")"#,
            r#"("GOARCH", "arm")"#,
            r#"("GOARM", "7")"#,
        ] {
            assert!(debug.contains(pair), "{pair} missing from {debug}");
        }
        let amd64 = format!(
            "{:?}",
            go_build_cmd(
                Path::new("go"),
                Path::new("/m"),
                "echo",
                Arch::Amd64,
                Path::new("/c/out"),
                Path::new("/c"),
            )
        );
        assert!(!amd64.contains("GOARM"), "{amd64}");
    }

    /// Fails every command the way go does on a compile error.
    struct BrokenGo;

    impl Runner for BrokenGo {
        async fn run(&self, cmd: &Cmd) -> Result<exec::Output, ExecError> {
            Err(ExecError::NonZeroExit {
                command: cmd.display(),
                status: "exit status: 1".into(),
                stdout: String::new(),
                stderr: "./main.go:3:1: syntax error".into(),
            })
        }
    }

    #[tokio::test]
    async fn failed_build_names_function_and_arch_and_keeps_stderr() {
        let m = module();
        let cache = tempfile::tempdir().unwrap();
        let err = build_with(
            &BrokenGo,
            Path::new("go"),
            "v",
            m.path(),
            "echo",
            Arch::Arm64,
            cache.path(),
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`echo`") && msg.contains("arm64"), "{msg}");
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("syntax error"), "{cause}");
        let leftovers: Vec<_> = walk(cache.path());
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }
}
