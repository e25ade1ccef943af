//! The `main` of a test binary with its own harness (libtest-mimic) whose tests need what a
//! host may lack (root, sshd, containerd, QEMU, apt's foreign architectures): where the
//! prerequisites are missing, every test is reported **ignored** and the reason is printed
//! once; a skipped test is never called a pass. Included with
//! `#[path = "common/gated.rs"] mod gated;`.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::process::ExitCode;

/// One test: its name and its body (panics on failure).
pub type Test = (&'static str, Box<dyn FnOnce() + Send + 'static>);

/// A test of `f`.
pub fn test(name: &'static str, f: impl FnOnce() + Send + 'static) -> Test {
    (name, Box::new(f))
}

/// A test of the future `f` returns, on its own multi-threaded runtime.
pub fn async_test<F, Fut>(name: &'static str, f: F) -> Test
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    test(name, move || block_on(f()))
}

/// Run `f` to completion on a new multi-threaded runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Run `tests` of binary `binary` (`what` names them in the ignore message), ignored when
/// `missing` says why they cannot run here; `one_at_a_time` for tests that each load the host.
pub fn main(
    binary: &str,
    what: &str,
    missing: Option<String>,
    one_at_a_time: bool,
    tests: Vec<Test>,
) -> ExitCode {
    let mut args = libtest_mimic::Arguments::from_args();
    if one_at_a_time {
        args.test_threads.get_or_insert(1);
    }
    if let Some(why) = &missing {
        eprintln!("{binary}: {what} are ignored on this host: {why}");
    }
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            libtest_mimic::Trial::test(name, move || {
                f();
                Ok(())
            })
            .with_ignored_flag(missing.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
