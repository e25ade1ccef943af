//! A run recorded instead of executed: the dry-run plan is what the live code does.
//!
//! `faasbed bench --dry-run` drives the live platform code (`platform::k3d::up`, the image
//! builds, the one deploy loop, `down`) through recording stand-ins: a [`runner::Recording`]
//! runner, a placeholder kube API ([`kube`]) and a placeholder gateway ([`gateway`]). Each
//! records what it is asked into one [`Journal`] and answers with placeholders that let the run
//! go on as on a fresh machine (no cluster yet, no buildx builder yet, every wait met at once).
//! The live code narrates what a reader needs beside the commands (sections, waits with their
//! deadlines, checks, files written) through [`section`], [`note`], [`wait`], [`check`] and
//! [`skip_when`]: in a recorded run they become plan steps; in a live run they are logged when
//! `FAASBED_LOG_COMMANDS` is set. So plan and run match by construction.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::exec::Cmd;

pub mod gateway;
pub mod kube;
pub mod runner;

/// What a secret prints as in a plan and in narration.
pub const REDACTED: &str = "<redacted>";

/// One step of a run, as data.
#[derive(Debug, Clone)]
pub enum Step {
    /// An external program, through [`crate::exec`]; `on` names the node it runs on when that
    /// is not this machine.
    Command {
        /// The command line.
        cmd: Cmd,
        /// Node it runs on (`None`: this machine).
        on: Option<String>,
    },
    /// A call to the OpenFaaS gateway API.
    Api {
        /// HTTP method.
        method: &'static str,
        /// Path, e.g. `/system/functions`.
        path: String,
        /// JSON body.
        body: Option<Value>,
    },
    /// A patch through the kube API.
    KubePatch {
        /// API path, query included.
        path: String,
        /// Content type (strategic or JSON merge patch).
        content_type: &'static str,
        /// The patch body.
        body: Value,
    },
    /// A read-only command whose answer decides whether the next step is skipped.
    Probe {
        /// The command line.
        cmd: Cmd,
        /// When the next step is skipped.
        skip_when: String,
    },
    /// An object created through the kube API (already existing is fine).
    KubeCreate {
        /// API path of the collection.
        path: String,
        /// The object.
        body: Value,
    },
    /// Read-only kube API requests and the check made on their answer.
    Check {
        /// API paths read.
        reads: Vec<String>,
        /// What must hold.
        what: String,
    },
    /// A read with no check narrated before it: a kube GET (`via` "kube") or a gateway GET
    /// (`via` "gateway").
    Read {
        /// Who is asked.
        via: &'static str,
        /// Path, query included.
        path: String,
    },
    /// A named condition with a deadline.
    Wait {
        /// What must become true.
        condition: String,
        /// How long it may take.
        deadline: Duration,
        /// What is polled until it holds (`kube GET …`, `gateway GET …`).
        polls: Vec<String>,
    },
    /// Context for the reader (what a step writes, what is not automated yet).
    Note(String),
}

/// What a recorded run journals: steps, and where a titled section starts.
#[derive(Debug, Clone)]
pub enum Event {
    /// A titled group of steps starts here.
    Section(String),
    /// A step.
    Step(Step),
    /// The command just recorded is a probe: its answer skips the next step when this holds.
    SkipWhen(String),
}

/// Where a recorded run writes its events, in order; clones share one journal.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<Event>>>);

impl Journal {
    /// Append `e`.
    pub fn push(&self, e: Event) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    }

    /// Append step `s`.
    pub fn step(&self, s: Step) {
        self.push(Event::Step(s));
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Run `f` with this journal receiving its narration ([`note`], [`wait`], ...).
    pub async fn scope<F: Future>(&self, f: F) -> F::Output {
        NARRATION.scope(self.clone(), f).await
    }
}

tokio::task_local! {
    static NARRATION: Journal;
}

/// `Some` while the current task is a recorded run.
fn journal() -> Option<Journal> {
    NARRATION.try_with(Clone::clone).ok()
}

fn narrate(e: Event, live: impl FnOnce() -> String) {
    match journal() {
        Some(j) => j.push(e),
        None => {
            if std::env::var_os("FAASBED_LOG_COMMANDS").is_some() {
                eprintln!("# {}", live());
            }
        }
    }
}

/// Is the current task a recorded run (a dry run)?
pub fn recording() -> bool {
    journal().is_some()
}

/// A titled section of the run starts.
pub fn section(title: impl Into<String>) {
    let title = title.into();
    narrate(Event::Section(title.clone()), || format!("== {title} =="));
}

/// Context for the reader: a file written, a step that is not a command.
pub fn note(text: impl Into<String>) {
    let text = text.into();
    narrate(Event::Step(Step::Note(text.clone())), || text);
}

/// The run now waits until `condition` holds, at most `deadline`; the reads that poll it
/// follow.
pub fn wait(condition: impl Into<String>, deadline: Duration) {
    let condition = condition.into();
    narrate(
        Event::Step(Step::Wait {
            condition: condition.clone(),
            deadline,
            polls: Vec::new(),
        }),
        || format!("wait until {condition} (deadline {deadline:?})"),
    );
}

/// The reads that follow are checked for `what`.
pub fn check(what: impl Into<String>) {
    let what = what.into();
    narrate(
        Event::Step(Step::Check {
            reads: Vec::new(),
            what: what.clone(),
        }),
        || format!("check: {what}"),
    );
}

/// Sleep `d`, except in a recorded run: its waits are met at once (the narrated [`wait`]
/// before it says how long the live run waits).
pub async fn sleep(d: Duration) {
    if !recording() {
        tokio::time::sleep(d).await;
    }
}

/// The command just run was a probe: its answer skips the next step when `when` holds.
pub fn skip_when(when: impl Into<String>) {
    let when = when.into();
    narrate(Event::SkipWhen(when.clone()), || {
        format!("the next step is skipped when {when}")
    });
}

/// Steps grouped into titled sections, as a plan shows them: a probe's `SkipWhen` joins its
/// command, reads join the wait or check narrated just before them, and steps before the first
/// section go into one titled `untitled`.
pub fn sections(events: &[Event]) -> Vec<(String, Vec<Step>)> {
    let mut out: Vec<(String, Vec<Step>)> = Vec::new();
    for e in events {
        match e {
            Event::Section(t) => out.push((t.clone(), Vec::new())),
            Event::SkipWhen(when) => {
                let Some(steps) = out.last_mut().map(|s| &mut s.1) else {
                    continue;
                };
                if let Some(Step::Command { cmd, .. }) = steps.last().cloned() {
                    steps.pop();
                    steps.push(Step::Probe {
                        cmd,
                        skip_when: when.clone(),
                    });
                }
            }
            Event::Step(s) => {
                if out.is_empty() {
                    out.push(("untitled".into(), Vec::new()));
                }
                let steps = &mut out.last_mut().expect("pushed above").1;
                if let Step::Read { via, path } = s {
                    match steps.last_mut() {
                        Some(Step::Check { reads, .. }) if *via == "kube" => {
                            if !reads.contains(path) {
                                reads.push(path.clone());
                            }
                            continue;
                        }
                        Some(Step::Wait { polls, .. }) => {
                            let p = format!("{via} GET {path}");
                            if !polls.contains(&p) {
                                polls.push(p);
                            }
                            continue;
                        }
                        _ => {}
                    }
                }
                steps.push(s.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn narration_goes_to_the_journal_only_inside_its_scope() {
        let j = Journal::default();
        note("outside");
        j.scope(async {
            section("one");
            note("inside");
            wait("it holds", Duration::from_secs(1));
        })
        .await;
        let j2 = j.clone();
        j2.step(Step::Read {
            via: "kube",
            path: "/api/v1/nodes".into(),
        });
        let s = sections(&j.events());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, "one");
        assert!(matches!(&s[0].1[0], Step::Note(t) if t == "inside"));
        let Step::Wait { polls, .. } = &s[0].1[1] else {
            panic!("{:?}", s[0].1);
        };
        assert_eq!(polls, &vec!["kube GET /api/v1/nodes".to_string()]);
    }

    #[test]
    fn a_skip_when_turns_the_command_before_it_into_a_probe() {
        let events = vec![
            Event::Section("s".into()),
            Event::Step(Step::Command {
                cmd: Cmd::new("k3d").arg("list"),
                on: None,
            }),
            Event::SkipWhen("it exists".into()),
            Event::Step(Step::Read {
                via: "kube",
                path: "/x".into(),
            }),
        ];
        let s = sections(&events);
        assert!(matches!(&s[0].1[0], Step::Probe { skip_when, .. } if skip_when == "it exists"));
        assert!(matches!(&s[0].1[1], Step::Read { .. }));
    }
}
