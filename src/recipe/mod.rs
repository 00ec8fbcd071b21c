//! Recipes: per-tensor type mixes that beat the stock types at equal size. Sensitivity is measured
//! on the running model ([`sensitivity`]), a solver picks the mix under a byte budget ([`solve`]),
//! and the result is written in llama.cpp's `--tensor-type-file` format
//! ([`crate::quant::tensor_type_file`]).

pub mod sensitivity;
pub mod solve;
pub mod stock;
pub mod table;
pub mod target;

pub use sensitivity::{measure, SensitivityOptions};
pub use table::{Grouping, SensitivityTable};
pub use target::{make_recipe, RecipeMeta, Target};
