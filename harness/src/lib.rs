//! faasbed: a reproducible testbed and benchmark harness for Function-as-a-Service on hybrid
//! x86_64 + ARM clusters. See ARCHITECTURE.md for the run path; `cli::run` is the entry point.

pub mod bench;
pub mod build;
pub mod calibrate;
pub mod cli;
pub mod commands;
pub mod doctor;
pub mod dryrun;
pub mod exec;
pub mod export;
pub mod measure;
pub mod nodes;
pub mod openfaas;
pub mod output;
pub mod pins;
pub mod platform;
pub mod progress;
pub mod python;
pub mod report;
pub mod spec;
pub mod stats;
pub mod store;
pub mod summary;
pub mod thresholds;
pub mod tooljson;
pub mod trace;
