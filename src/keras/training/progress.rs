//! The Keras-style per-epoch progress line:
//! `Epoch 3/40  63/63 ━━━━━━━━━━━━━━━━━━━━ 0.3s loss: 0.0412 - binary_accuracy: 0.9985`.
//!
//! With `verbose = 1` and a terminal on standard error, an indicatif bar
//! advances batch by batch and stays on screen as the epoch's line; with
//! `verbose = 2`, or when standard error is not a terminal, one plain line
//! per epoch goes to standard output; `verbose = 0` prints nothing.

use crate::keras::callbacks::Logs;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::fmt::Write;
use std::time::Instant;

/// Width of the bar in characters.
const BAR_WIDTH: usize = 20;

/// The `loss: 0.0412 - accuracy: 0.9985` part of a line.
pub(crate) fn format_logs(logs: &Logs) -> String {
    let parts: Vec<String> = logs
        .entries()
        .iter()
        .map(|(name, value)| format!("{name}: {value:.4}"))
        .collect();
    parts.join(" - ")
}

/// One epoch's display.
pub(crate) struct EpochProgress {
    bar: Option<ProgressBar>,
    plain: bool,
    prefix: String,
    steps: usize,
    start: Instant,
}

impl EpochProgress {
    /// Starts the display of epoch `epoch` (from 0) of `epochs`, with
    /// `steps` batches.
    pub fn start(verbose: u8, epoch: usize, epochs: usize, steps: usize) -> EpochProgress {
        let prefix = format!("Epoch {}/{epochs}", epoch + 1);
        let mut bar = None;
        if verbose == 1 {
            let b = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
            if !b.is_hidden() {
                let secs = |state: &ProgressState, w: &mut dyn Write| {
                    // Writing into the bar's buffer cannot fail.
                    let _ = write!(w, "{:.1}s", state.elapsed().as_secs_f64());
                };
                let template =
                    format!("{{prefix}}  {{pos}}/{{len}} {{bar:{BAR_WIDTH}}} {{secs}} {{msg}}");
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    b.set_style(style.with_key("secs", secs).progress_chars("━━─"));
                }
                b.set_prefix(prefix.clone());
                bar = Some(b);
            }
        }
        EpochProgress {
            plain: verbose == 2 || (verbose == 1 && bar.is_none()),
            bar,
            prefix,
            steps,
            start: Instant::now(),
        }
    }

    /// Shows that `done` batches have run; `logs` is evaluated only when a
    /// bar is drawn.
    pub fn step(&self, done: usize, logs: impl FnOnce() -> Option<Logs>) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            if let Some(logs) = logs() {
                bar.set_message(format_logs(&logs));
            }
        }
    }

    /// Ends the epoch's display with its final logs.
    pub fn finish(self, logs: &Logs) {
        let text = format_logs(logs);
        if let Some(bar) = &self.bar {
            bar.finish_with_message(text);
            // The finished bar stays as the epoch's line; end that line.
            eprintln!();
        } else if self.plain {
            let filled = "━".repeat(BAR_WIDTH);
            println!(
                "{}  {}/{} {filled} {:.1}s {text}",
                self.prefix,
                self.steps,
                self.steps,
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}
