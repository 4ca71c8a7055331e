//! Progress bars on a terminal, nothing elsewhere.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pack::Progress;

/// indicatif bars, one per stage, shown only when enabled.
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars that show when stderr is a terminal and `quiet` is not set.
    pub fn new(quiet: bool) -> Self {
        Bars {
            enabled: !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    /// A spinner for a stage of unknown length.
    pub fn spinner(&self, stage: &'static str) {
        if !self.enabled {
            return;
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(stage);
        pb.enable_steady_tick(Duration::from_millis(100));
        self.replace(Some(pb));
    }

    fn replace(&self, pb: Option<ProgressBar>) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(old) = slot.take() {
                old.finish_and_clear();
            }
            *slot = pb;
        }
    }
}

impl Progress for Bars {
    fn start(&self, stage: &'static str, total: u64) {
        if !self.enabled {
            return;
        }
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_message(stage);
        self.replace(Some(pb));
    }

    fn inc(&self, n: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(pb) = slot.as_ref() {
                pb.inc(n);
            }
        }
    }

    fn finish(&self) {
        self.replace(None);
    }
}
