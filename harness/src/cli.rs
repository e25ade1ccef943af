//! The command line: clap definitions and dispatch to the library.

use std::process::ExitCode;

/// Entry point of the `faasbed` binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
