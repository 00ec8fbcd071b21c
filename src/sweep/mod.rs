//! `sweep`: one F16 model in, a measured bit-width ladder out. Stages, each usable on its own:
//! `plan` (which rungs), quantize (`crate::quant`), measure (`crate::measure`, `crate::tasks`),
//! record (`manifest`, `crate::results`) and render (`crate::report`).

pub mod manifest;
pub mod plan;
pub mod run;

pub use plan::SweepPlan;
pub use run::{run_sweep, SweepConfig, SweepEvent};
