//! A [`Runner`] that records every command into a [`Journal`] instead of running it, and
//! answers with what its `answer` function says the program would have printed (and done: an
//! answer may write the files the program would have written, e.g. buildx's metadata file).

use std::sync::Arc;

use super::{Journal, Step};
use crate::exec::{Cmd, ExecError, Output, Runner};

/// What a recorded command answers.
pub type Answer = Arc<dyn Fn(&Cmd) -> Result<Output, ExecError> + Send + Sync>;

/// Records commands, answers from `answer`.
#[derive(Clone)]
pub struct Recording {
    journal: Journal,
    answer: Answer,
}

impl Recording {
    /// Record into `journal`, answer with `answer`.
    pub fn new(
        journal: Journal,
        answer: impl Fn(&Cmd) -> Result<Output, ExecError> + Send + Sync + 'static,
    ) -> Self {
        Recording {
            journal,
            answer: Arc::new(answer),
        }
    }

    /// Record into `journal`; every command succeeds with empty output.
    pub fn silent(journal: Journal) -> Self {
        Recording::new(journal, |_| Ok(printed("")))
    }

    /// The journal it records into.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The command lines recorded so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.journal
            .events()
            .into_iter()
            .filter_map(|e| match e {
                super::Event::Step(Step::Command { cmd, .. }) => Some(cmd.display()),
                _ => None,
            })
            .collect()
    }
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording").finish_non_exhaustive()
    }
}

/// The argument after the first `flag` of `cmd` (`--metadata-file PATH`), if any.
pub fn arg_after(cmd: &Cmd, flag: &str) -> Option<String> {
    let args = cmd.argv();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(|a| a.to_string_lossy().into_owned())
}

/// The command line of `cmd` with `f` applied to the text of its program and each argument
/// (what a plan shows; a recorded run puts placeholders back into what it recorded).
pub fn map_text(cmd: &Cmd, f: impl Fn(&str) -> String) -> Cmd {
    Cmd::new(f(&cmd.program().to_string_lossy()))
        .args(cmd.argv().iter().map(|a| f(&a.to_string_lossy())))
}

/// A successful answer printing `stdout`.
pub fn printed(stdout: &str) -> Output {
    Output {
        stdout: stdout.to_string(),
        stderr: String::new(),
    }
}

/// A failed answer of `cmd` (exit status 1) saying `why` on stderr.
pub fn failed(cmd: &Cmd, why: &str) -> ExecError {
    ExecError::NonZeroExit {
        command: cmd.display(),
        status: "exit status: 1".into(),
        stdout: String::new(),
        stderr: why.to_string(),
    }
}

impl Runner for Recording {
    async fn run(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        self.journal.step(Step::Command {
            cmd: cmd.clone(),
            on: None,
        });
        (self.answer)(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_command_is_recorded_and_answered_by_the_answer_function() {
        let r = Recording::new(Journal::default(), |c| {
            if c.display().starts_with("k3d") {
                Ok(printed("[]"))
            } else {
                Err(failed(c, "absent"))
            }
        });
        assert_eq!(
            r.run(&Cmd::new("k3d").arg("list")).await.unwrap().stdout,
            "[]"
        );
        assert!(r.run(&Cmd::new("docker")).await.is_err());
        assert_eq!(r.lines(), vec!["k3d list", "docker"]);
    }
}
