//! The OpenFaaS gateway API: request/response types and the client used on every platform.

pub mod client;
mod types;

pub use client::{Client, ClientError, Invocation};
pub use types::*;
