//! faasbed's own containerd: started with its root, state and socket under the run's state
//! folder (so it never touches a system containerd's images or containers), labelled with the
//! run id like every other process of the run, and stopped by `down`, errors, Ctrl-C and `clean`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{ctr, ContainerdError};
use crate::exec::{self, Cmd, SpawnOpts};

/// How long the daemon may take to serve its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Files of one containerd instance.
#[derive(Debug, Clone)]
pub struct DaemonDirs {
    /// Folder holding everything below.
    pub dir: PathBuf,
}

impl DaemonDirs {
    /// The instance under `dir` (e.g. `<run state>/containerd`).
    pub fn new(dir: impl Into<PathBuf>) -> DaemonDirs {
        DaemonDirs { dir: dir.into() }
    }
    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }
    /// The config file faasbed writes.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// The daemon's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("containerd.log")
    }
}

/// The config: persistent root and state under `dirs`, the socket, and no CRI plugin (faasbed
/// is the orchestrator; CRI would only start a kubelet-facing server).
pub fn config_toml(dirs: &DaemonDirs) -> String {
    let q = |p: PathBuf| toml::Value::String(p.display().to_string()).to_string();
    format!(
        "version = 2\nroot = {}\nstate = {}\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n[grpc]\n  address = {}\n",
        q(dirs.dir.join("root")),
        q(dirs.dir.join("state")),
        q(dirs.socket()),
    )
}

/// A running containerd that faasbed started (or one it was given, which it never stops).
#[derive(Debug)]
pub struct Daemon {
    /// Its socket.
    pub socket: PathBuf,
    /// The daemon's pid, when faasbed started it.
    pub pid: Option<u32>,
}

impl Daemon {
    /// A containerd someone else runs, at `socket`.
    pub async fn attach(socket: &Path) -> Result<Daemon, ContainerdError> {
        exec::run(&ctr::version(socket))
            .await
            .map_err(|source| ContainerdError::NotServing {
                socket: socket.to_path_buf(),
                source,
            })?;
        Ok(Daemon {
            socket: socket.to_path_buf(),
            pid: None,
        })
    }

    /// Start containerd under `dirs`, labelled with `run_id`, and wait until it serves.
    pub async fn start(dirs: &DaemonDirs, run_id: &str) -> Result<Daemon, ContainerdError> {
        let io = |path: PathBuf| {
            move |source| ContainerdError::Io {
                path: path.clone(),
                source,
            }
        };
        std::fs::create_dir_all(&dirs.dir).map_err(io(dirs.dir.clone()))?;
        std::fs::write(dirs.config(), config_toml(dirs)).map_err(io(dirs.config()))?;
        let child = exec::spawn(
            &Cmd::new("containerd").arg("--config").arg(dirs.config()),
            &SpawnOpts {
                run_id: run_id.to_string(),
                log: Some(dirs.log()),
                ..Default::default()
            },
        )
        .map_err(ContainerdError::Exec)?;
        let pid = child.id();
        // The daemon outlives this handle (no kill on drop): `stop` or the run's sweep ends it.
        drop(child);
        let d = Daemon {
            socket: dirs.socket(),
            pid,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match exec::run(&ctr::version(&d.socket)).await {
                Ok(_) => return Ok(d),
                Err(source) if Instant::now() >= deadline => {
                    d.stop().await;
                    return Err(ContainerdError::StartTimeout {
                        log: dirs.log(),
                        timeout: START_TIMEOUT,
                        source,
                    });
                }
                Err(_) => {}
            }
            if pid.is_some_and(|p| !exec::pid_alive(p)) {
                return Err(ContainerdError::Exited { log: dirs.log() });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop a daemon faasbed started: SIGTERM, then SIGKILL after 5 s. Its shims keep their own
    /// process groups, so containers must be removed first (see `Runtime::down`).
    pub async fn stop(&self) {
        let Some(pid) = self.pid else { return };
        let _ = exec::kill_group(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while exec::pid_alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = exec::kill_group(pid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn config_keeps_everything_under_the_run_and_quotes_paths() {
        let d = DaemonDirs::new("/tmp/a \"b\"/ctd");
        let t = config_toml(&d);
        let v: toml::Value = toml::from_str(&t).unwrap();
        assert_eq!(v["root"].as_str().unwrap(), "/tmp/a \"b\"/ctd/root");
        assert_eq!(v["state"].as_str().unwrap(), "/tmp/a \"b\"/ctd/state");
        assert_eq!(
            v["grpc"]["address"].as_str().unwrap(),
            "/tmp/a \"b\"/ctd/containerd.sock"
        );
        assert_eq!(v["version"].as_integer(), Some(2));
    }
}
