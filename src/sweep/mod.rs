//! `sweep`: one F16 model in, a measured bit-width ladder out. Stages, each usable on its own:
//! `plan` (which rungs), `prepare` (imatrix, block scores, pruned sources), quantize (`crate::quant`),
//! `rung` (measure with `crate::measure` and `crate::tasks`), `resume` (open the folder's manifest),
//! record (`records`, one file per rung, and `manifest`), `merge` (every worker's records into
//! `crate::results`) and render (`crate::report`). `lock` lets many workers share one sweep folder.

pub mod config;
pub mod emit;
pub mod estimate;
pub mod events;
pub mod lock;
pub mod manifest;
pub mod merge;
pub mod plan;
pub mod prepare;
pub mod recipes;
pub mod records;
pub mod resume;
pub mod run;
pub mod rung;

pub use config::{BenchSettings, Shard, Stage, SweepConfig};
pub use events::{Observer, SweepEvent};
pub use merge::MergeSummary;
pub use plan::{ImatrixFor, SweepPlan};
pub use run::{run_sweep, SweepOutcome};
