//! Progress bars with ETA for `faasbed bench` (indicatif); silent in `--json` mode.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::bench::Progress;
use crate::measure::cold::ColdSample;
use crate::measure::record::WarmResult;

/// Terminal progress: one line of text per step, one bar per phase.
pub struct Bars {
    visible: bool,
    bar: Option<ProgressBar>,
}

impl Bars {
    /// Bars drawn on stderr when `visible`.
    pub fn new(visible: bool) -> Bars {
        Bars { visible, bar: None }
    }

    fn bar(&mut self, len: usize, what: &str) -> &ProgressBar {
        let visible = self.visible;
        self.bar.get_or_insert_with(|| {
            let b = ProgressBar::new(len as u64);
            if !visible {
                b.set_draw_target(ProgressDrawTarget::hidden());
            }
            if let Ok(st) =
                ProgressStyle::with_template("{prefix:>5} [{bar:30}] {pos}/{len} {msg} (eta {eta})")
            {
                b.set_style(st.progress_chars("=> "));
            }
            b.set_prefix(what.to_string());
            b
        })
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
        if self.visible {
            eprintln!("{msg}");
        }
    }

    fn warm_done(&mut self, i: usize, n: usize, r: &WarmResult) {
        let b = self.bar(n, "warm");
        b.set_position((i + 1) as u64);
        b.set_message(format!("{}: {:.0} rps", r.function, r.achieved_rps));
        if i + 1 == n {
            self.finish();
        }
    }

    fn cold_sample(&mut self, i: usize, n: usize, s: &ColdSample) {
        let b = self.bar(n, "cold");
        b.set_position((i + 1) as u64);
        b.set_message(format!(
            "{} {:.0} ms",
            s.function,
            s.first_byte_ns as f64 / 1e6
        ));
        if i + 1 == n {
            self.finish();
        }
    }
}
