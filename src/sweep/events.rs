//! What a running sweep tells its caller; the CLI turns these into progress bars and log lines.

use crate::results::RungResult;

pub enum SweepEvent<'a> {
    /// A new stage starts (validating, importance matrix, base, ...).
    Stage(&'a str),
    /// Progress within the current stage: done, total, unit, message.
    Progress(u64, u64, &'a str, String),
    RungStart {
        index: usize,
        total: usize,
        rung: &'a str,
    },
    RungDone(&'a RungResult),
    /// Finished in an earlier run of the same sweep (or by another worker).
    RungSkipped(&'a str),
    /// Being measured by another process (named) in the same folder.
    RungElsewhere(&'a str, String),
    Warning(String),
}

impl SweepEvent<'_> {
    /// `done` of `total` chunks of a text, with nothing more to say.
    pub fn chunks(done: u32, total: u32) -> Self {
        SweepEvent::Progress(done.into(), total.into(), "chunks", String::new())
    }
}

pub type Observer<'a> = &'a mut dyn FnMut(SweepEvent<'_>);
