//! How the CLI talks to a terminal: `--color` (with `NO_COLOR` and `CLICOLOR_FORCE`), the
//! verbosity levels of `-q` / `-v`, and the few coloured words of its summaries.
//!
//! Colour is decided once, before the arguments are parsed (so clap's help and usage errors
//! follow `--color` too), and written through anstream, which strips the escape codes when
//! the stream is not a terminal, `NO_COLOR` is set, or `--color never` was given;
//! `CLICOLOR_FORCE` or `--color always` keep them in a pipe. JSON output is never coloured.

use std::ffi::OsString;
use std::sync::atomic::{AtomicI8, Ordering};

/// `--color WHEN`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorWhen {
    /// Colour on a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    #[default]
    Auto,
    /// Colour everywhere, pipes and files too.
    Always,
    /// No colour.
    Never,
}

/// The `--color` value among the raw arguments (last one wins, as in clap), read before
/// parsing; an invalid value is left for clap to report.
pub fn prescan_color(args: &[OsString]) -> ColorWhen {
    let mut when = ColorWhen::Auto;
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy().to_string());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let value = match a.strip_prefix("--color=") {
            Some(v) => Some(v.to_string()),
            None if a == "--color" => it.next(),
            None => None,
        };
        match value.as_deref() {
            Some("always") => when = ColorWhen::Always,
            Some("never") => when = ColorWhen::Never,
            Some("auto") => when = ColorWhen::Auto,
            _ => {}
        }
    }
    when
}

/// Makes `when` the choice of every anstream stream of the process; returns clap's.
pub fn set_color(when: ColorWhen) -> clap::ColorChoice {
    let (ours, clap) = match when {
        ColorWhen::Auto => (anstream::ColorChoice::Auto, clap::ColorChoice::Auto),
        ColorWhen::Always => (anstream::ColorChoice::Always, clap::ColorChoice::Always),
        ColorWhen::Never => (anstream::ColorChoice::Never, clap::ColorChoice::Never),
    };
    ours.write_global();
    clap
}

/// -1 quiet, 0 normal, 1+ verbose.
static VERBOSITY: AtomicI8 = AtomicI8::new(0);

/// Sets the level from `-q` / `-v` (and turns the stage timings of `-v` / `-vv` on).
pub fn set_verbosity(quiet: bool, verbose: u8) {
    let level = if quiet {
        -1
    } else {
        verbose.min(i8::MAX as u8) as i8
    };
    VERBOSITY.store(level, Ordering::Relaxed);
    crate::timings::set_verbosity(if quiet { 0 } else { verbose });
}

/// `-q`: no progress and no notes on stderr; results (stdout), warnings and errors remain.
pub fn quiet() -> bool {
    VERBOSITY.load(Ordering::Relaxed) < 0
}

/// Green: in sync, applied, nothing to do.
pub const GOOD: anstyle::Style = anstyle::AnsiColor::Green.on_default().bold();
/// Red: errors, drift.
pub const BAD: anstyle::Style = anstyle::AnsiColor::Red.on_default().bold();
/// Yellow: warnings, changes to review.
pub const NOTE: anstyle::Style = anstyle::AnsiColor::Yellow.on_default().bold();

/// A line a diff adds.
pub const ADDED: anstyle::Style = anstyle::AnsiColor::Green.on_default();
/// A line a diff removes.
pub const REMOVED: anstyle::Style = anstyle::AnsiColor::Red.on_default();

/// `text` in `style` (escape codes that anstream strips where colour is off).
pub fn paint(style: anstyle::Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// `warning: ...` on stderr.
pub fn warning(text: &str) {
    anstream::eprintln!("{} {text}", paint(NOTE, "warning:"));
}

/// `error: ...` on stderr.
pub fn error(text: &str) {
    anstream::eprintln!("{} {text}", paint(BAD, "error:"));
}
