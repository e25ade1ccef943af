//! Node runtimes beyond a plain process: replicas as containers (`containerd`).

pub mod containerd;
