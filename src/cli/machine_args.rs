//! The flags `bench` and `sweep` share for machine use: peaks the user knows, and a TDP.

use mpt_gguf::measure::peaks::PeakOverrides;

#[derive(clap::Args, Debug, Clone)]
pub struct MachineArgs {
    /// The device's peak in TFLOP/s for MFU, instead of the measured one.
    #[arg(long, value_name = "TFLOPS", value_parser = positive)]
    pub peak_tflops: Option<f64>,
    /// The device's memory bandwidth in GB/s, instead of the measured one.
    #[arg(long, value_name = "GBPS", value_parser = positive)]
    pub peak_gbps: Option<f64>,
    /// Thermal design power in watts: energy per token is estimated from it where the machine has
    /// no energy counter (RAPL, NVML).
    #[arg(long = "tdp", value_name = "W", value_parser = positive)]
    pub tdp_watts: Option<f64>,
}

impl MachineArgs {
    pub fn overrides(&self) -> PeakOverrides {
        PeakOverrides {
            tflops: self.peak_tflops,
            gbps: self.peak_gbps,
        }
    }
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}
