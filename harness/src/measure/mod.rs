//! Measurement: the open-loop/closed-loop load generator and the cold-start prober.

pub mod cold;
pub mod live;
pub mod loadgen;
pub mod record;
pub mod schedule;
