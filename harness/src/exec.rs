//! The one runner for every external program (go, qemu, k3d, helm, kubectl, ip, tc, ssh).
//!
//! It logs the command line, applies a timeout, and on failure returns an error that carries the
//! command, its exit status, stdout and stderr. Long-running children (function replicas, the
//! gateway daemon) are started through [`spawn`], which puts them in their own process group,
//! labels them with the run id and can place them in cgroups before `exec`.
//! Nothing else in the crate touches `std::process::Command`.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The environment variable that labels every process a run starts, so `faasbed clean` can find it.
pub const RUN_ID_ENV: &str = "FAASBED_RUN_ID";
/// The environment variable that labels every process a run starts with its faasbed home
/// (absolute), so `faasbed clean` sweeps only its own home's runs.
pub const HOME_ENV: &str = "FAASBED_HOME";

/// A command to run: program, arguments, environment and working directory.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    timeout: Duration,
    stdin: Option<Vec<u8>>,
}

/// Errors from running an external program.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program could not be started at all (usually: not installed).
    #[error("cannot start `{command}`: {source}; is it installed? run `faasbed doctor`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The program ran but exited unsuccessfully.
    #[error(
        "`{command}` failed with {status}\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}"
    )]
    NonZeroExit {
        command: String,
        status: String,
        stdout: String,
        stderr: String,
    },
    /// The program did not finish before its deadline and was killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    Timeout { command: String, timeout: Duration },
    /// Reading or writing the child's pipes failed.
    #[error("i/o with `{command}`: {source}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// A cgroup file could not be opened for the child.
    #[error("cannot open cgroup file {path}: {source}")]
    Cgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Captured result of a successful run.
#[derive(Debug, Clone)]
pub struct Output {
    /// Standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Standard error, lossily decoded as UTF-8.
    pub stderr: String,
}

impl Cmd {
    /// A command with the default timeout of 120 s.
    pub fn new(program: impl Into<OsString>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            timeout: Duration::from_secs(120),
            stdin: None,
        }
    }

    /// Append one argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Append several arguments.
    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }

    /// Set one environment variable for the child.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The value this command gives environment variable `k` (the last one set), if any.
    pub fn env_value(&self, k: &str) -> Option<&std::ffi::OsStr> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_os_str())
    }

    /// Run in this working directory.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Kill the child if it has not finished after this long.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Feed these bytes to the child's standard input.
    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    /// The same command run through `program args…` (e.g. `ip netns exec NS`), keeping its
    /// environment, working directory, timeout and standard input.
    pub fn inside<I, S>(mut self, program: impl Into<OsString>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut all: Vec<OsString> = args.into_iter().map(Into::into).collect();
        all.push(std::mem::replace(&mut self.program, program.into()));
        all.append(&mut self.args);
        self.args = all;
        self
    }

    /// The program name as given.
    pub fn program(&self) -> &std::ffi::OsStr {
        &self.program
    }

    /// The arguments as given.
    pub fn argv(&self) -> &[OsString] {
        &self.args
    }

    /// The command line as a shell-like string, for logs and errors.
    pub fn display(&self) -> String {
        let mut s = shell_quote(&self.program.to_string_lossy());
        for a in &self.args {
            s.push(' ');
            s.push_str(&shell_quote(&a.to_string_lossy()));
        }
        s
    }

    fn to_tokio(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// `s` quoted for a POSIX shell (unchanged when it needs no quotes).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs commands. A trait so that tests and `--dry-run` can record instead of executing.
pub trait Runner: Send + Sync {
    /// Run to completion and capture output; a non-zero exit is an error.
    fn run(&self, cmd: &Cmd)
        -> impl std::future::Future<Output = Result<Output, ExecError>> + Send;
}

/// The real runner: executes the program.
#[derive(Debug, Default, Clone, Copy)]
pub struct System;

impl Runner for System {
    async fn run(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        run(cmd).await
    }
}

/// Run `cmd` to completion with its timeout; stdout and stderr are captured.
pub async fn run(cmd: &Cmd) -> Result<Output, ExecError> {
    let line = cmd.display();
    tracing_log(&line);
    let mut c = cmd.to_tokio();
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true);
    let mut child = c.spawn().map_err(|source| ExecError::Spawn {
        command: line.clone(),
        source,
    })?;
    if let Some(bytes) = &cmd.stdin {
        use tokio::io::AsyncWriteExt;
        if let Some(mut w) = child.stdin.take() {
            w.write_all(bytes).await.map_err(|source| ExecError::Io {
                command: line.clone(),
                source,
            })?;
        }
    }
    let out = match tokio::time::timeout(cmd.timeout, child.wait_with_output()).await {
        Ok(r) => r.map_err(|source| ExecError::Io {
            command: line.clone(),
            source,
        })?,
        Err(_) => {
            return Err(ExecError::Timeout {
                command: line,
                timeout: cmd.timeout,
            })
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(Output { stdout, stderr })
    } else {
        Err(ExecError::NonZeroExit {
            command: line,
            status: out.status.to_string(),
            stdout,
            stderr,
        })
    }
}

/// Blocking variant of [`run`] for synchronous callers (setup, doctor); no runtime needed.
pub fn run_blocking(cmd: &Cmd) -> Result<Output, ExecError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ExecError::Io {
            command: cmd.display(),
            source,
        })?;
    rt.block_on(run(cmd))
}

/// Options for a long-running child started with [`spawn`].
#[derive(Debug, Default, Clone)]
pub struct SpawnOpts {
    /// Run id label, exported as [`RUN_ID_ENV`].
    pub run_id: String,
    /// `cgroup.procs` files the child joins before `exec` (one per controller hierarchy).
    pub cgroup_procs: Vec<PathBuf>,
    /// File that receives the child's stdout and stderr (appended); `None` discards them.
    pub log: Option<PathBuf>,
    /// Detach from the parent's session (for the gateway daemon) instead of only a new group.
    pub new_session: bool,
    /// faasbed home label, exported as [`HOME_ENV`] when set.
    pub home: Option<PathBuf>,
    /// Start from an empty environment: the child sees only the command's own variables and
    /// the labels (function replicas), not the environment faasbed was started with.
    pub clear_env: bool,
    /// `(source, target)`: give the child its own mount namespace (changes in it never reach
    /// the host) in which the folder `source` is bind-mounted read-only on `target`, which must
    /// exist. Needs root (`CAP_SYS_ADMIN`); the spawn fails otherwise.
    pub bind_ro: Option<(PathBuf, PathBuf)>,
}

/// Start `cmd` as a long-running child in its own process group, labelled with the run id.
///
/// The child's pid is also its process-group id, so [`kill_group`] ends it and everything it
/// started. The command's timeout does not apply.
pub fn spawn(cmd: &Cmd, opts: &SpawnOpts) -> Result<tokio::process::Child, ExecError> {
    spawn_with(cmd, opts, false)
}

/// [`spawn`], but the child's stdout and stderr are pipes the caller reads (`opts.log` is not
/// opened): the local platform captures replica logs line by line this way.
pub fn spawn_piped(cmd: &Cmd, opts: &SpawnOpts) -> Result<tokio::process::Child, ExecError> {
    spawn_with(cmd, opts, true)
}

fn spawn_with(
    cmd: &Cmd,
    opts: &SpawnOpts,
    piped: bool,
) -> Result<tokio::process::Child, ExecError> {
    let line = cmd.display();
    tracing_log(&line);
    let mut c = cmd.to_tokio();
    if opts.clear_env {
        c.env_clear();
        for (k, v) in &cmd.env {
            c.env(k, v);
        }
    }
    c.env(RUN_ID_ENV, &opts.run_id).stdin(Stdio::null());
    if let Some(h) = &opts.home {
        c.env(HOME_ENV, h);
    }
    match &opts.log {
        _ if piped => {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|source| ExecError::Io {
                    command: line.clone(),
                    source,
                })?;
            let f2 = f.try_clone().map_err(|source| ExecError::Io {
                command: line.clone(),
                source,
            })?;
            c.stdout(f).stderr(f2);
        }
        None => {
            c.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    // Open the cgroup files here; the child only writes "0" (itself) to them, which is
    // async-signal-safe. The files stay open in the parent until spawn returns.
    let mut files = Vec::new();
    for p in &opts.cgroup_procs {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .map_err(|source| ExecError::Cgroup {
                path: p.clone(),
                source,
            })?;
        files.push(f);
    }
    let fds: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
    let new_session = opts.new_session;
    let bind = match &opts.bind_ro {
        Some((src, dst)) => Some((c_path(src, &line)?, c_path(dst, &line)?)),
        None => None,
    };
    // SAFETY: the closure only calls async-signal-safe libc functions (setsid, setpgid, write)
    // on file descriptors opened above, and allocates nothing.
    unsafe {
        c.as_std_mut().pre_exec(move || {
            if new_session {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::setpgid(0, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for &fd in &fds {
                if libc::write(fd, b"0".as_ptr().cast(), 1) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some((src, dst)) = &bind {
                bind_read_only(src, dst)?;
            }
            Ok(())
        });
    }
    let child = c.spawn().map_err(|source| ExecError::Spawn {
        command: line,
        source,
    })?;
    drop(files);
    Ok(child)
}

/// A path as a C string for the child; a path with a NUL byte is an error naming the command.
fn c_path(p: &Path, line: &str) -> Result<std::ffi::CString, ExecError> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|e| ExecError::Io {
        command: line.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })
}

/// In the child before `exec`: a private mount namespace with `src` bound read-only on `dst`.
/// Only system calls on memory prepared before the fork (async-signal-safe).
fn bind_read_only(src: &std::ffi::CStr, dst: &std::ffi::CStr) -> std::io::Result<()> {
    let check = |r: i32| {
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    let none = c"none";
    let root = c"/";
    // SAFETY: unshare and mount take pointers to NUL-terminated strings that outlive the calls.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        // Mounts made here must not propagate back to the host's (often shared) root.
        check(libc::mount(
            none.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            none.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            std::ptr::null(),
        ))
    }
}

/// Send `signal` to the whole process group `pgid`. A group that is already gone is not an error.
pub fn kill_group(pgid: u32, signal: i32) -> std::io::Result<()> {
    send_signal(pgid, signal, true)
}

/// Send `signal` to the one process `pid`. A process that is already gone is not an error.
pub fn kill_pid(pid: u32, signal: i32) -> std::io::Result<()> {
    send_signal(pid, signal, false)
}

/// `killpg(id)` when `group`, else `kill(id)`; ids 0 and 1 (and ids beyond `i32`) are never
/// signalled, and a target that is already gone (ESRCH) is not an error.
fn send_signal(id: u32, signal: i32, group: bool) -> std::io::Result<()> {
    let Ok(id) = i32::try_from(id) else {
        return Ok(());
    };
    if id <= 1 {
        return Ok(());
    }
    // SAFETY: kill and killpg have no memory-safety preconditions.
    let r = unsafe {
        if group {
            libc::killpg(id, signal)
        } else {
            libc::kill(id, signal)
        }
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Is a process with this pid alive (and not a zombie)?
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // state is the field after the ")" that closes the command name
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|st| st != "Z" && st != "X")
        }
        Err(_) => false,
    }
}

/// A live process that carries a run label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// Process id.
    pub pid: u32,
    /// Its [`RUN_ID_ENV`] value.
    pub run_id: String,
    /// Its [`HOME_ENV`] value, when it has one.
    pub home: Option<PathBuf>,
}

/// Pids of every live process labelled with `run_id` (or any run, when `run_id` is `None`),
/// found through `/proc/<pid>/environ`. Used by `faasbed down` and `faasbed clean` to sweep.
pub fn labelled_pids(run_id: Option<&str>) -> Vec<(u32, String)> {
    labelled()
        .into_iter()
        .filter(|l| run_id.is_none_or(|r| r == l.run_id))
        .map(|l| (l.pid, l.run_id))
        .collect()
}

/// Every live process (not this one) that carries a [`RUN_ID_ENV`] label, with its labels.
pub fn labelled() -> Vec<Labelled> {
    let mut out = Vec::new();
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if let Some(l) = parse_labels(pid, &env) {
            if pid_alive(pid) {
                out.push(l);
            }
        }
    }
    out
}

/// The run labels in a NUL-separated environment block (`/proc/<pid>/environ`).
fn parse_labels(pid: u32, environ: &[u8]) -> Option<Labelled> {
    use std::os::unix::ffi::OsStrExt;
    let get = |key: &str| {
        environ.split(|b| *b == 0).find_map(|var| {
            var.strip_prefix(key.as_bytes())
                .and_then(|v| v.strip_prefix(b"="))
        })
    };
    let run_id = String::from_utf8_lossy(get(RUN_ID_ENV)?).into_owned();
    let home = get(HOME_ENV).map(|h| PathBuf::from(std::ffi::OsStr::from_bytes(h)));
    Some(Labelled { pid, run_id, home })
}

/// Find a program on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn tracing_log(line: &str) {
    if std::env::var_os("FAASBED_LOG_COMMANDS").is_some() {
        eprintln!("+ {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failure_carries_command_status_and_streams() {
        let err = run(&Cmd::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("out") && msg.contains("err"), "{msg}");
    }

    #[tokio::test]
    async fn timeout_kills() {
        let err = run(&Cmd::new("sleep")
            .arg("5")
            .timeout(Duration::from_millis(100)))
        .await
        .unwrap_err();
        assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
    }

    #[tokio::test]
    async fn missing_program_says_so() {
        let err = run(&Cmd::new("faasbed-no-such-program")).await.unwrap_err();
        assert!(matches!(err, ExecError::Spawn { .. }));
        assert!(err.to_string().contains("faasbed doctor"));
    }

    #[test]
    fn labels_come_from_the_environment_block() {
        let env = b"PATH=/bin\0FAASBED_RUN_ID=r1\0FAASBED_HOME=/tmp/h\0";
        let l = parse_labels(7, env).unwrap();
        assert_eq!(l.run_id, "r1");
        assert_eq!(l.home.as_deref(), Some(Path::new("/tmp/h")));
        // a shell that only exports FAASBED_HOME is no run's process
        assert!(parse_labels(8, b"FAASBED_HOME=/tmp/h\0").is_none());
        assert!(parse_labels(9, b"FAASBED_RUN_ID_X=1\0").is_none());
    }

    #[test]
    fn quoting() {
        let c = Cmd::new("echo").args(["a b", "it's", "x=1"]);
        assert_eq!(c.display(), r#"echo 'a b' 'it'\''s' x=1"#);
    }

    #[tokio::test]
    async fn bind_ro_shows_the_folder_read_only_to_the_child_only() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root for a mount namespace (run `sudo -E cargo test`)");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let (src, dst) = (d.path().join("src"), d.path().join("dst"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("s"), "v").unwrap();
        let log = d.path().join("log");
        let script = format!(
            "cat {0}/s; echo; if touch {0}/t 2>/dev/null; then echo writable; else echo ro; fi",
            dst.display()
        );
        let mut child = spawn(
            &Cmd::new("sh").args(["-c", &script]),
            &SpawnOpts {
                run_id: format!("exec-test-bind-{}", std::process::id()),
                log: Some(log.clone()),
                bind_ro: Some((src.clone(), dst.clone())),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(child.wait().await.unwrap().success());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "v\nro\n");
        assert!(
            !dst.join("s").exists(),
            "the bind mount stays in the child's namespace"
        );
    }

    #[tokio::test]
    async fn spawned_child_is_labelled_and_group_killable() {
        let run_id = format!("exec-test-{}", std::process::id());
        let mut child = spawn(
            &Cmd::new("sleep").arg("30"),
            &SpawnOpts {
                run_id: run_id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        let pid = child.id().unwrap();
        assert!(labelled_pids(Some(&run_id)).iter().any(|(p, _)| *p == pid));
        kill_group(pid, libc::SIGKILL).unwrap();
        let st = child.wait().await.unwrap();
        assert!(!st.success());
        assert!(labelled_pids(Some(&run_id)).is_empty());
    }
}
