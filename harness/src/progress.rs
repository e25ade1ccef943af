//! What `faasbed bench` shows while it runs, on stderr: one line per step, and on a terminal a
//! bar per phase whose message is the live view of the warm run in progress (rate, p50/p99 so
//! far, errors, elapsed/planned), redrawn a few times a second. Under `--json` nothing; when
//! stderr is not a terminal, plain lines only (one per step and one per finished warm run), no
//! redraws.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::bench::Progress;
use crate::measure::cold::ColdSample;
use crate::measure::live::{live_line, LiveSnapshot};
use crate::measure::record::WarmResult;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing at all (`--json`).
    Quiet,
    /// Plain lines, no redraws (stderr is not a terminal: a log file, CI).
    Plain,
    /// Bars and the live view (stderr is a terminal).
    Live,
}

impl Mode {
    /// The mode for this process: quiet under `--json`, plain when stderr is not a terminal.
    pub fn detect(json: bool) -> Mode {
        Mode::choose(json, std::io::stderr().is_terminal())
    }

    /// The mode for `--json` = `json` and a stderr that is a terminal or not.
    pub fn choose(json: bool, terminal: bool) -> Mode {
        match (json, terminal) {
            (true, _) => Mode::Quiet,
            (false, false) => Mode::Plain,
            (false, true) => Mode::Live,
        }
    }
}

/// Terminal progress: one line of text per step, one bar per phase (live mode only).
pub struct Bars {
    mode: Mode,
    out: Box<dyn Write + Send>,
    bar: Option<ProgressBar>,
}

/// The line printed when a warm run ends: `warm 2/6 echo-pi3: 49.8/50 rps, p50 1.23 ms, p99
/// 4.56 ms (corrected), 0 errors, 0 late sends`.
pub fn warm_done_line(i: usize, n: usize, r: &WarmResult) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{:.2} ms", v / 1e3));
    let rate = match r.target_rps {
        Some(t) => format!("{:.1}/{t:.0} rps", r.achieved_rps),
        None => format!("{:.1} rps", r.achieved_rps),
    };
    let errors = r.total.errors.total();
    format!(
        "warm {}/{n} {}: {rate}, p50 {}, p99 {} (corrected), {errors} error{}, {} late send{}",
        i + 1,
        r.function,
        ms(r.corrected.map(|p| p.p50_us)),
        ms(r.corrected.map(|p| p.p99_us)),
        if errors == 1 { "" } else { "s" },
        r.total.late_sends,
        if r.total.late_sends == 1 { "" } else { "s" },
    )
}

impl Bars {
    /// Progress in `mode`, on stderr.
    pub fn new(mode: Mode) -> Bars {
        Bars::with_output(mode, Box::new(std::io::stderr()))
    }

    /// Progress in `mode`, plain lines going to `out` (bars always draw on stderr).
    pub fn with_output(mode: Mode, out: Box<dyn Write + Send>) -> Bars {
        Bars {
            mode,
            out,
            bar: None,
        }
    }

    fn line(&mut self, s: &str) {
        if self.mode != Mode::Quiet {
            let _ = writeln!(self.out, "{s}");
        }
    }

    fn bar(&mut self, len: usize, what: &str) -> Option<&ProgressBar> {
        if self.mode != Mode::Live {
            return None;
        }
        Some(self.bar.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(
                Some(len as u64),
                ProgressDrawTarget::stderr_with_hz(8),
            );
            if let Ok(st) = ProgressStyle::with_template("{prefix:>5} [{bar:20}] {pos}/{len} {msg}")
            {
                b.set_style(st.progress_chars("=> "));
            }
            b.set_prefix(what.to_string());
            b
        }))
    }

    /// Clear whatever bar is showing.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn step(&mut self, msg: &str) {
        self.finish();
        self.line(msg);
    }

    fn warm_start(&mut self, i: usize, n: usize, function: &str) {
        if let Some(b) = self.bar(n, "warm") {
            b.set_position(i as u64);
            b.set_message(format!("{function}: starting"));
        }
    }

    fn warm_tick(&mut self, i: usize, n: usize, live: &LiveSnapshot) {
        if let Some(b) = self.bar(n, "warm") {
            b.set_position(i as u64);
            b.set_message(live_line(live));
        }
    }

    fn warm_done(&mut self, i: usize, n: usize, r: &WarmResult) {
        let done = warm_done_line(i, n, r);
        match self.bar(n, "warm") {
            Some(b) => {
                b.set_position((i + 1) as u64);
                b.println(done);
            }
            None => self.line(&done),
        }
        if i + 1 == n {
            self.finish();
        }
    }

    fn cold_sample(&mut self, i: usize, n: usize, s: &ColdSample) {
        if let Some(b) = self.bar(n, "cold") {
            b.set_position((i + 1) as u64);
            b.set_message(format!(
                "round {} · last {} {:.0} ms{}",
                s.rep + 1,
                s.function,
                s.first_byte_ns as f64 / 1e6,
                if s.verified { "" } else { " (rejected)" }
            ));
        }
        if i + 1 == n {
            self.finish();
            if self.mode == Mode::Plain {
                self.line(&format!("cold: {n} cold starts measured"));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn snapshot() -> LiveSnapshot {
        LiveSnapshot {
            function: "echo-pi3".into(),
            elapsed: Duration::from_millis(700),
            planned: Duration::from_millis(2_500),
            in_warmup: false,
            requests: 30,
            errors: 0,
            rate_rps: 42.0,
            target_rps: Some(50.0),
            p50_ms: Some(1.0),
            p99_ms: Some(2.0),
        }
    }

    fn result() -> WarmResult {
        use crate::measure::record::{Recorder, RunShape, DEFAULT_LATE_THRESHOLD_NS};
        Recorder::new("echo-pi3", "pi3-1", DEFAULT_LATE_THRESHOLD_NS)
            .finish(RunShape {
                mode: crate::spec::WarmMode::Open,
                target_rps: Some(50.0),
                connections: 1,
                t0_unix_ns: 0,
                measure_start_ns: 0,
                measure_end_ns: 1_000_000_000,
            })
            .unwrap()
    }

    #[test]
    fn the_mode_is_quiet_under_json_and_plain_off_a_terminal() {
        assert_eq!(Mode::choose(true, true), Mode::Quiet);
        assert_eq!(Mode::choose(true, false), Mode::Quiet);
        assert_eq!(Mode::choose(false, false), Mode::Plain);
        assert_eq!(Mode::choose(false, true), Mode::Live);
    }

    #[test]
    fn off_a_terminal_there_are_lines_but_no_live_redraws() {
        let buf = Shared::default();
        let mut p = Bars::with_output(Mode::Plain, Box::new(buf.clone()));
        p.step("building");
        p.warm_start(0, 2, "echo-pi3");
        for _ in 0..10 {
            p.warm_tick(0, 2, &snapshot());
        }
        p.warm_done(0, 2, &result());
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "building\nwarm 1/2 echo-pi3: 0.0/50 rps, p50 –, p99 – (corrected), 0 errors, 0 late sends\n"
        );
        assert!(!text.contains('\r') && !text.contains('\x1b'));
    }

    #[test]
    fn json_mode_prints_nothing() {
        let buf = Shared::default();
        let mut p = Bars::with_output(Mode::Quiet, Box::new(buf.clone()));
        p.step("building");
        p.warm_tick(0, 1, &snapshot());
        p.warm_done(0, 1, &result());
        assert!(buf.0.lock().unwrap().is_empty());
    }
}
