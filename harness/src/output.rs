//! The CLI's output: stdout through [`out`], messages through [`say`]. A closed pipe never panics.
//!
//! When the reader of stdout goes away (`faasbed status | head -1`), the write fails with EPIPE
//! and the command ends quietly with exit status [`CLOSED_PIPE_EXIT`] (141 = 128 + SIGPIPE, what
//! a shell reports for `cat`, `git log` or `seq` in the same place), after the command's own
//! cleanup ran. Messages on stderr are best effort: a closed stderr loses them and changes
//! nothing else. [`install_panic_hook`] turns a `println!` that hits a closed pipe anywhere else
//! into the same quiet exit instead of a panic message.

use std::io::Write;

/// Exit status of a command whose stdout was closed by its reader: 128 + SIGPIPE.
pub const CLOSED_PIPE_EXIT: u8 = 141;

/// Errors writing the command's output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader of stdout went away (EPIPE); the command ends quietly with exit 141.
    #[error("stdout was closed by its reader")]
    ClosedPipe,
    /// Another write error (a full disk behind a redirect, ...).
    #[error("cannot write to stdout: {0}; check where stdout is redirected")]
    Io(#[source] std::io::Error),
}

/// Write `s` to stdout and flush it.
pub fn out(s: &str) -> Result<(), OutputError> {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => OutputError::ClosedPipe,
            _ => OutputError::Io(e),
        })
}

/// Write `s` and a newline to stdout.
pub fn outln(s: &str) -> Result<(), OutputError> {
    out(&format!("{s}\n"))
}

/// Write a message line to stderr; a closed or failing stderr is ignored.
pub fn say(s: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{s}");
}

/// Make a `print!`/`eprint!` that fails on a closed pipe exit quietly with
/// [`CLOSED_PIPE_EXIT`] instead of printing a panic; every other panic is reported as before.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_closed_pipe_panic(payload) {
            std::process::exit(i32::from(CLOSED_PIPE_EXIT));
        }
        previous(info);
    }));
}

/// Is this the message std's print macros panic with when the pipe is closed?
/// The lines that report `e`: `error: <message>`, then one `  caused by: <cause>` per source in
/// the chain whose text the lines above do not already contain. Many messages interpolate
/// their source so they read whole when logged; printing that source again as a cause would
/// say the same thing two or three times.
pub fn error_report(e: &dyn std::error::Error) -> Vec<String> {
    let mut shown = e.to_string();
    let mut lines = vec![format!("error: {shown}")];
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !text.is_empty() && !shown.contains(&text) {
            lines.push(format!("  caused by: {text}"));
            shown.push('\n');
            shown.push_str(&text);
        }
        src = s.source();
    }
    lines
}

/// `e` and its causes on one line, each once, joined by `: ` (for a status field or a log
/// line, where [`error_report`]'s lines do not fit).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut lines = error_report(e).into_iter();
    let first = lines.next().unwrap_or_default();
    let mut out = first.trim_start_matches("error: ").to_string();
    for l in lines {
        out.push_str(": ");
        out.push_str(l.trim_start().trim_start_matches("caused by: "));
    }
    out
}

fn is_closed_pipe_panic(msg: &str) -> bool {
    msg.starts_with("failed printing to std")
        && (msg.contains("Broken pipe") || msg.contains("os error 32"))
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("disk full")]
    struct Root;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write samples.jsonl: {0}")]
    struct Mid(#[source] Root);

    #[derive(Debug, thiserror::Error)]
    #[error("run 7 lost its store")]
    struct Top(#[source] Mid);

    #[test]
    fn error_report_prints_each_cause_once() {
        let lines = super::error_report(&Top(Mid(Root)));
        assert_eq!(
            lines,
            [
                "error: run 7 lost its store",
                "  caused by: cannot write samples.jsonl: disk full",
            ]
        );
        let lines = super::error_report(&Mid(Root));
        assert_eq!(lines, ["error: cannot write samples.jsonl: disk full"]);
        assert_eq!(
            super::error_chain(&Top(Mid(Root))),
            "run 7 lost its store: cannot write samples.jsonl: disk full"
        );
    }

    use super::*;

    #[test]
    fn recognises_the_print_macro_panic_on_a_closed_pipe_only() {
        assert!(is_closed_pipe_panic(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(is_closed_pipe_panic(
            "failed printing to stderr: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_pipe_panic(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_closed_pipe_panic("index out of bounds"));
    }
}
