//! The one seam between measurement and the platform a scenario runs on (local or k3d).

pub mod k3d;
