//! Emulation fidelity (issue 13): published figures of real devices, the programs that are run
//! against them on every node, the arithmetic that turns measured vs published into a CPU quota
//! per class, and `calibration.json` with its staleness rules.

pub mod apply;
pub mod arith;
pub mod host;
pub mod parse;
pub mod programs;
pub mod reference;
pub mod render;
pub mod runner;
pub mod session;
pub mod storage;
pub mod store;
pub mod sysroot;
