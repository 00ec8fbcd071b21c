//! NVIDIA's management library, loaded at run time by builds with the `nvml` feature (the `cuda`
//! feature turns it on); other builds, and machines without NVIDIA's driver, have no GPU counters.

#[cfg(feature = "nvml")]
mod imp {
    use nvml_wrapper::enum_wrappers::device::Clock;
    use nvml_wrapper::Nvml;

    /// Millijoules each GPU has used since the driver loaded.
    pub fn total_energy_mj() -> Vec<u64> {
        let Ok(nvml) = Nvml::init() else {
            return Vec::new();
        };
        let n = nvml.device_count().unwrap_or(0);
        (0..n)
            .filter_map(|i| {
                nvml.device_by_index(i)
                    .ok()?
                    .total_energy_consumption()
                    .ok()
            })
            .collect()
    }

    /// The first GPU's memory bandwidth from its properties: bus width × maximum memory clock × 2
    /// (data moves on both clock edges).
    pub fn memory_bandwidth() -> Option<f64> {
        let nvml = Nvml::init().ok()?;
        let device = nvml.device_by_index(0).ok()?;
        let bus_bits = device.memory_bus_width().ok()? as f64;
        let mhz = device.max_clock_info(Clock::Memory).ok()? as f64;
        Some(2.0 * mhz * 1e6 * bus_bits / 8.0)
    }
}

#[cfg(not(feature = "nvml"))]
mod imp {
    pub fn total_energy_mj() -> Vec<u64> {
        Vec::new()
    }

    pub fn memory_bandwidth() -> Option<f64> {
        None
    }
}

pub use imp::{memory_bandwidth, total_energy_mj};
