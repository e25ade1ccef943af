//! The OpenFaaS gateway API: request/response types and the client used on every platform.

pub mod client;
pub mod phases;
mod types;

pub use client::{Client, ClientError, Invocation};
pub use phases::{ColdPhases, PhaseSpan, PHASES_HEADER};
pub use types::*;
