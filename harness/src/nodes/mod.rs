//! Node runtimes beyond a plain process: replicas as containers (`containerd`), and real hosts
//! reached over SSH (`ssh`).

pub mod containerd;
pub mod ssh;
