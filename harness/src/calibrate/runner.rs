//! The real [`Run`]: a program of the node's Debian sysroot, under the class's QEMU CPU model
//! (`qemu-<arch> -cpu MODEL -L ROOT`) or natively through the sysroot's loader, inside a
//! cgroup with the class's CPU quota when one is given (as a replica runs in its node's group).

// A calibration error ends the command; its size does not matter on that path.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::time::Duration;

use super::programs::Program;
use super::session::{CalibrateError, Launch, Run, Target};
use super::sysroot::Sysroot;
use crate::exec::{self, Cmd, ExecError, SpawnOpts};
use crate::platform::local::cgroup;
use crate::spec::Arch;

/// Longest a single program may run (7-Zip under a small quota is slow).
pub const TIMEOUT: Duration = Duration::from_secs(900);

/// Runs programs of per-arch sysroots.
#[derive(Debug)]
pub struct SysrootRunner {
    /// The sysroot of each arch.
    pub sysroots: BTreeMap<&'static str, Sysroot>,
    /// Label of the run (cgroup names, `FAASBED_RUN_ID`).
    pub run_id: String,
    /// The faasbed home (`FAASBED_HOME` label).
    pub home: std::path::PathBuf,
}

/// The command that runs `program` from `root` the way `launch` says.
/// Unthrottled (`free`) runs use the program's CPU-time arguments.
pub fn command(launch: &Launch, root: &Sysroot, program: &Program, free: bool) -> Cmd {
    let bin = root.bin(program.bin);
    let args = if free {
        program.args_free
    } else {
        program.args
    };
    match launch {
        Launch::Qemu {
            qemu,
            cpu,
            openssl_armcap,
        } => {
            let mut c = Cmd::new(qemu)
                .args(["-cpu", cpu.as_str(), "-L"])
                .arg(&root.root)
                .arg("-E")
                .arg(format!("LD_LIBRARY_PATH={}", root.library_path()));
            if let Some(cap) = openssl_armcap {
                c = c.arg("-E").arg(format!("OPENSSL_armcap={cap}"));
            }
            c.arg(bin).args(args.iter().copied())
        }
        Launch::Native => Cmd::new(root.loader())
            .arg("--library-path")
            .arg(root.library_path())
            .arg(bin)
            .args(args.iter().copied()),
    }
    .timeout(TIMEOUT)
}

impl SysrootRunner {
    fn root(&self, arch: Arch) -> Result<&Sysroot, CalibrateError> {
        self.sysroots
            .get(arch.as_str())
            .ok_or_else(|| CalibrateError::Io {
                path: self.home.clone(),
                source: std::io::Error::other(format!("no {} sysroot was built", arch.as_str())),
            })
    }
}

impl Run for SysrootRunner {
    async fn run(
        &self,
        target: &Target,
        program: &Program,
        cpus: Option<f64>,
    ) -> Result<String, CalibrateError> {
        let root = self.root(target.arch)?;
        let cmd = command(&target.launch, root, program, cpus.is_none());
        let line = cmd.display();
        let fail = |source| CalibrateError::Run {
            class: target.class.clone(),
            node: target.node.clone(),
            program: program.id.into(),
            source,
        };
        // The quota lives in a cgroup of its own, removed when `_group` drops.
        let (_group, procs) = match cpus {
            Some(c) => {
                let h = cgroup::detect();
                let (g, e) = cgroup::create(
                    h.as_ref(),
                    &format!("faasbed-{}-{}", self.run_id, target.class),
                    Some(c),
                    None,
                );
                if !e.cpu {
                    return Err(fail(ExecError::Io {
                        command: line,
                        source: std::io::Error::other(format!(
                            "the CPU quota of {c:.3} cores could not be set ({}); calibration needs it: run as root on a host with the cpu cgroup controller",
                            e.notes.join("; ")
                        )),
                    }));
                }
                let procs = g
                    .as_ref()
                    .map(|g| g.procs_files().to_vec())
                    .unwrap_or_default();
                (g, procs)
            }
            None => (None, Vec::new()),
        };
        let opts = SpawnOpts {
            run_id: self.run_id.clone(),
            cgroup_procs: procs,
            home: Some(self.home.clone()),
            ..Default::default()
        };
        let child = exec::spawn_piped(&cmd, &opts).map_err(fail)?;
        // Ends the program's process group if calibration stops early (Ctrl-C, timeout).
        let _guard = child.id().map(KillGroup);
        let out = match tokio::time::timeout(TIMEOUT, child.wait_with_output()).await {
            Ok(r) => r.map_err(|source| {
                fail(ExecError::Io {
                    command: line.clone(),
                    source,
                })
            })?,
            Err(_) => {
                return Err(fail(ExecError::Timeout {
                    command: line,
                    timeout: TIMEOUT,
                }))
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(fail(ExecError::NonZeroExit {
                command: line,
                status: out.status.to_string(),
                stdout,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }));
        }
        Ok(stdout)
    }

    fn version(&self, arch: Arch, program: &Program) -> String {
        self.sysroots
            .get(arch.as_str())
            .map_or_else(|| "unknown".into(), |s| s.version(program.package))
    }
}

/// Kills a process group when dropped (a finished group is gone, so the kill is a no-op).
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = exec::kill_group(self.0, libc::SIGKILL);
    }
}
