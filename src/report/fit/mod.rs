//! The phase-transition fit over saved results: against bits per weight for the quantization
//! ladder, against sparsity for each pruning method. See [`model`] for the curve.
//!
//! Sparsity p is fitted as capacity 1 − p, so one model serves both axes; results are reported in
//! the axis's own units. A transition is claimed only when the collapse term is needed: it must
//! bend upward (β > 0), beat a single power law by an F test at 5%, and add more than the tolerance
//! to PPL at the lowest rung. Otherwise the outcome says why there is no number.
//!
//! The curve is the best quality the model reaches at each capacity: a rung worse than a rung
//! with less capacity (fewer bits, more sparsity) by more than the tolerance and by more than twice
//! their combined standard error is left out of the fit and named in the notes. Such rungs are
//! formats that do not suit the model (ternary types on a model not trained for them, a type whose
//! fallbacks cost more than they give); fitted, a single such rung, orders of magnitude worse than
//! its neighbours, would decide where the curve bends.

mod outcome;
mod series;
mod verdict;

pub mod model;
pub mod stats;

pub use model::{Piecewise, PowerLaw};
pub use outcome::{Axis, FitOutcome, FitPoint, FitSubject, PhaseFit, Transition};
pub use series::{fit_all, fit_series, CI_LEVEL, MIN_POINTS};
