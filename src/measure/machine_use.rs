//! How close a benchmark came to the machine: model FLOPs utilization (achieved FLOPs/s over the
//! peak), memory-bandwidth utilization (bytes read per second over the peak for that working set),
//! and energy per token with its label.

use serde::{Deserialize, Serialize};

use super::peaks::{Peak, Peaks};
use super::work::ModelWork;

/// One test's use of the machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineUse {
    /// Mean over the test's tokens (attention at each token's own position).
    pub flops_per_token: f64,
    pub bytes_per_token: f64,
    pub flops_per_s: f64,
    pub bytes_per_s: f64,
    /// Fractions of the peaks (1.0 = 100%); `None` without a peak.
    pub mfu: Option<f64>,
    pub bandwidth_use: Option<f64>,
    pub peak_flops: Option<Peak>,
    pub peak_bandwidth: Option<Peak>,
    pub joules_per_token: Option<f64>,
    /// `measured (RAPL)`, `measured (NVML)` or `estimated (TDP 65 W)`.
    pub energy_source: Option<String>,
}

/// What a timed benchmark test did, as machine use needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedTest {
    pub n_prompt: u32,
    pub n_gen: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    /// Mean tokens/s over the repetitions.
    pub tokens_per_s: f64,
    pub repetitions: usize,
    /// Joules of all repetitions together, and how they were obtained.
    pub energy_j: Option<f64>,
    pub energy_source: Option<String>,
}

/// The machine use of one benchmark test of a model with this work.
pub fn machine_use(t: &TimedTest, work: &ModelWork, peaks: Option<&Peaks>) -> MachineUse {
    let test = work.test(
        t.n_prompt as u64,
        t.n_gen as u64,
        t.n_batch as u64,
        t.n_ubatch as u64,
    );
    let (flops_per_token, bytes_per_token) = (test.flops_per_token(), test.bytes_per_token());
    let flops_per_s = flops_per_token * t.tokens_per_s;
    let bytes_per_s = bytes_per_token * t.tokens_per_s;
    let peak_flops = peaks.and_then(|p| p.flops.clone());
    let peak_bandwidth = peaks.and_then(|p| p.bandwidth_for(test.bytes_per_pass()));
    let tokens = (t.n_prompt as f64 + t.n_gen as f64) * t.repetitions as f64;
    MachineUse {
        flops_per_token,
        bytes_per_token,
        flops_per_s,
        bytes_per_s,
        mfu: peak_flops.as_ref().map(|p| flops_per_s / p.value),
        bandwidth_use: peak_bandwidth.as_ref().map(|p| bytes_per_s / p.value),
        peak_flops,
        peak_bandwidth,
        joules_per_token: t.energy_j.filter(|_| tokens > 0.0).map(|j| j / tokens),
        energy_source: t.energy_j.and(t.energy_source.clone()),
    }
}
