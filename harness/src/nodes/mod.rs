//! Node runtimes beyond a plain process: replicas as containers (`containerd`), ARM VMs that
//! join a cluster as k3s agents (`qemu`), and real hosts reached over SSH (`ssh`).

pub mod containerd;
pub mod qemu;
pub mod ssh;
