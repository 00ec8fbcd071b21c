//! `sweep`: one F16 model in, a measured bit-width ladder out. Stages, each usable on its own:
//! `plan` (which rungs), `prepare` (imatrix, block scores, pruned sources), quantize (`crate::quant`),
//! `rung` (measure with `crate::measure` and `crate::tasks`), record (`manifest`, `crate::results`)
//! and render (`crate::report`).

pub mod config;
pub mod events;
pub mod lock;
pub mod manifest;
pub mod plan;
pub mod prepare;
pub mod records;
pub mod run;
pub mod rung;

pub use config::{BenchSettings, SweepConfig};
pub use events::{Observer, SweepEvent};
pub use plan::{ImatrixFor, SweepPlan};
pub use run::run_sweep;
