//! Energy of a benchmark: read from the machine's counters where it has them (NVML on NVIDIA GPUs,
//! RAPL under `/sys/class/powercap` on CPUs), else estimated from the thermal design power the user
//! gives, as the compression studies do: E = (P_TDP − P_idle)·t with P_idle = 30% of TDP.
//! Every figure carries its label.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::nvml;

/// Where energy figures come from.
#[derive(Debug, Clone, PartialEq)]
pub enum EnergySource {
    /// RAPL package counters under this powercap folder.
    Rapl(PathBuf),
    /// NVML's total-energy counter of every NVIDIA GPU.
    Nvml,
    /// `--tdp W`.
    Tdp(f64),
}

impl EnergySource {
    /// The label every energy figure is printed with.
    pub fn label(&self) -> String {
        match self {
            EnergySource::Rapl(_) => "measured (RAPL)".into(),
            EnergySource::Nvml => "measured (NVML)".into(),
            EnergySource::Tdp(w) => format!("estimated (TDP {w} W)"),
        }
    }

    /// The counter this machine has for the device (NVML for GPU runs, RAPL for CPU runs), else the
    /// TDP estimate when a TDP is given, else nothing.
    pub fn detect(gpu: bool, tdp_watts: Option<f64>) -> Option<EnergySource> {
        let counter = if gpu {
            // A GPU without an energy counter (older than Volta) leaves the TDP estimate.
            (!nvml::total_energy_mj().is_empty()).then_some(EnergySource::Nvml)
        } else {
            let root = PathBuf::from("/sys/class/powercap");
            (!rapl_packages(&root).is_empty()).then_some(EnergySource::Rapl(root))
        };
        counter.or_else(|| tdp_watts.map(EnergySource::Tdp))
    }

    /// Starts measuring.
    pub fn start(&self) -> EnergyMeter {
        EnergyMeter {
            source: self.clone(),
            counters: self.read(),
            started: Instant::now(),
        }
    }

    /// The counters' readings (microjoules for RAPL, millijoules for NVML), with their ranges.
    fn read(&self) -> Vec<(u64, u64)> {
        match self {
            EnergySource::Rapl(root) => rapl_packages(root)
                .iter()
                .filter_map(|d| {
                    let energy = read_u64(&d.join("energy_uj"))?;
                    Some((
                        energy,
                        read_u64(&d.join("max_energy_range_uj")).unwrap_or(0),
                    ))
                })
                .collect(),
            EnergySource::Nvml => nvml::total_energy_mj()
                .into_iter()
                .map(|e| (e, 0))
                .collect(),
            EnergySource::Tdp(_) => Vec::new(),
        }
    }
}

/// A measurement in progress.
#[derive(Debug, Clone)]
pub struct EnergyMeter {
    source: EnergySource,
    counters: Vec<(u64, u64)>,
    started: Instant,
}

impl EnergyMeter {
    /// Joules since `start`, or `None` when a counter could not be read again.
    pub fn joules(&self) -> Option<f64> {
        let seconds = self.started.elapsed().as_secs_f64();
        match &self.source {
            EnergySource::Tdp(w) => Some((w - 0.3 * w) * seconds),
            source => {
                let now = source.read();
                if now.len() != self.counters.len() || now.is_empty() {
                    return None;
                }
                let unit = if matches!(source, EnergySource::Nvml) {
                    1e-3
                } else {
                    1e-6
                };
                let total: u64 = self
                    .counters
                    .iter()
                    .zip(&now)
                    .map(|(&(before, range), &(after, _))| counter_delta(before, after, range))
                    .sum();
                Some(total as f64 * unit)
            }
        }
    }

    pub fn source(&self) -> &EnergySource {
        &self.source
    }
}

/// A counter's increase, across one wrap-around at `range` (RAPL counters wrap).
fn counter_delta(before: u64, after: u64, range: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        range.saturating_sub(before) + after
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The readable package-level RAPL domains (`intel-rapl:N`, named `package-N`); sub-domains
/// (`intel-rapl:N:M`: cores, uncore, dram) are inside a package's figure and are skipped.
fn rapl_packages(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let kind = std::fs::read_to_string(p.join("name")).unwrap_or_default();
            name.matches(':').count() == 1
                && kind.trim().starts_with("package")
                && read_u64(&p.join("energy_uj")).is_some()
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(root: &Path, dir: &str, name: &str, energy: u64, range: u64) {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(d.join("energy_uj"), format!("{energy}\n")).unwrap();
        std::fs::write(d.join("max_energy_range_uj"), format!("{range}\n")).unwrap();
    }

    #[test]
    fn rapl_sums_packages_skips_subdomains_and_survives_a_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        domain(root, "intel-rapl:0", "package-0", 1_000_000, 10_000_000);
        domain(root, "intel-rapl:1", "package-1", 9_500_000, 10_000_000);
        domain(root, "intel-rapl:0:0", "core", 5, 10_000_000);
        domain(root, "intel-rapl-mmio:0", "psys", 5, 10_000_000);
        let source = EnergySource::Rapl(root.to_path_buf());
        let meter = source.start();
        // Package 0 uses 2 J; package 1 wraps at 10 J after using 1 J.
        domain(root, "intel-rapl:0", "package-0", 3_000_000, 10_000_000);
        domain(root, "intel-rapl:1", "package-1", 500_000, 10_000_000);
        domain(root, "intel-rapl:0:0", "core", 999_999_999, 10_000_000);
        let j = meter.joules().unwrap();
        assert!((j - 3.0).abs() < 1e-9, "{j}");
        assert_eq!(source.label(), "measured (RAPL)");
    }

    #[test]
    fn a_counter_that_disappears_gives_no_figure() {
        let dir = tempfile::tempdir().unwrap();
        domain(dir.path(), "intel-rapl:0", "package-0", 10, 100);
        let meter = EnergySource::Rapl(dir.path().to_path_buf()).start();
        std::fs::remove_file(dir.path().join("intel-rapl:0/energy_uj")).unwrap();
        assert_eq!(meter.joules(), None);
    }

    #[test]
    fn the_tdp_estimate_is_seventy_percent_of_tdp_times_time() {
        let meter = EnergySource::Tdp(100.0).start();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let j = meter.joules().unwrap();
        let s = meter.started.elapsed().as_secs_f64();
        assert!(j > 0.0 && j <= 70.0 * s, "{j} J in {s} s");
        assert_eq!(EnergySource::Tdp(100.0).label(), "estimated (TDP 100 W)");
    }

    #[test]
    fn without_a_counter_or_a_tdp_there_is_no_source() {
        // This checks the fallback order on a machine with no RAPL; where RAPL is readable the CPU
        // source is RAPL whatever the TDP.
        if rapl_packages(Path::new("/sys/class/powercap")).is_empty() {
            assert_eq!(EnergySource::detect(false, None), None);
            assert_eq!(
                EnergySource::detect(false, Some(65.0)),
                Some(EnergySource::Tdp(65.0))
            );
        }
    }
}
