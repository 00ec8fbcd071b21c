//! What the machine can do at best, measured: FLOPs/s from matrix multiplications through ggml's own
//! kernels, and bytes/s from a streaming read, cached per machine with how they were measured.
//!
//! A CPU's read bandwidth depends on how much is read: a model whose weights fit in the last-level
//! cache is read faster than main memory allows. So the read benchmark keeps a curve over buffer
//! sizes, and a workload is compared with the bandwidth of a buffer no larger than its own.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::engine::matmul_bench::{self, ComputeDevice, MatMulShape};
use crate::gguf::GgmlType;

/// Bumped when the measurement changes; older cached files are measured again.
const PEAKS_VERSION: u32 = 1;

/// One peak and where it came from ("measured: ...", "given: --peak-tflops", ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    pub value: f64,
    pub source: String,
}

/// ggml's multiplication speed for one weight type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelSpeed {
    pub ggml_type: String,
    /// The weight's buffer type (`CPU_REPACK` where llama.cpp repacks it).
    pub buffer: String,
    pub flops_per_s: f64,
}

/// Read bandwidth of a buffer of `bytes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandwidthPoint {
    pub bytes: u64,
    pub bytes_per_s: f64,
}

/// The machine's measured limits for one device and thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    pub peaks_version: u32,
    /// `CPU (Intel Xeon ..., 2 threads)` or the GPU's description.
    pub device: String,
    pub measured: String,
    /// FLOPs/s: the fastest of the kernels timed (or given).
    pub flops: Option<Peak>,
    pub kernels: Vec<KernelSpeed>,
    /// Main memory's read bandwidth (the largest buffer read, the device's figure, or given).
    pub bandwidth: Option<Peak>,
    /// Read bandwidth by buffer size (CPU), smallest first.
    pub bandwidth_curve: Vec<BandwidthPoint>,
}

/// `--peak-tflops` / `--peak-gbps`: figures the user knows better than a measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeakOverrides {
    pub tflops: Option<f64>,
    pub gbps: Option<f64>,
}

/// The matrix timed: a 2048×2048 weight times a pp512 micro-batch on the CPU, larger on a GPU.
fn matmul_shape(device: ComputeDevice) -> MatMulShape {
    match device {
        ComputeDevice::Cpu => MatMulShape {
            rows: 2048,
            cols: 2048,
            tokens: 512,
        },
        ComputeDevice::Gpu => MatMulShape {
            rows: 8192,
            cols: 8192,
            tokens: 4096,
        },
    }
}

/// Weight types timed: every type a ladder writes, so no rung's kernels are faster than the peak.
const TIMED_TYPES: &[&str] = &[
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0", "IQ4_NL",
    "IQ4_XS", "MXFP4", "Q3_K", "IQ3_S", "IQ3_XXS", "Q2_K", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M",
    "IQ1_S", "TQ2_0", "TQ1_0",
];

const MATMUL_REPS: u32 = 3;

/// Times each type's multiplication; the peak is the fastest (best of the repetitions).
pub fn measure_flops(device: ComputeDevice, n_threads: u32) -> Result<(Peak, Vec<KernelSpeed>)> {
    let shape = matmul_shape(device);
    let mut kernels = Vec::new();
    for &name in TIMED_TYPES {
        crate::util::check_interrupted()?;
        let id = GgmlType::from_name(name)
            .with_context(|| format!("ggml type {name} unknown"))?
            .id();
        // A type the device cannot multiply (some backends lack a few) cannot run in a rung
        // either: it is left out.
        let Ok(seconds) = matmul_bench::time_matmul(device, id, shape, n_threads, MATMUL_REPS)
        else {
            continue;
        };
        let best = seconds.iter().copied().fold(f64::INFINITY, f64::min);
        kernels.push(KernelSpeed {
            ggml_type: name.to_string(),
            buffer: matmul_bench::weight_buffer_name(device, id, shape),
            flops_per_s: shape.flops() / best,
        });
    }
    let top = kernels
        .iter()
        .max_by(|a, b| a.flops_per_s.total_cmp(&b.flops_per_s))
        .context("no kernel was timed")?;
    let source = format!(
        "measured: ggml mul_mat {}x{} weight x {} tokens, fastest of {} types ({}), best of {MATMUL_REPS}",
        shape.rows,
        shape.cols,
        shape.tokens,
        kernels.len(),
        top.ggml_type
    );
    Ok((
        Peak {
            value: top.flops_per_s,
            source,
        },
        kernels,
    ))
}

/// Buffer sizes read: 1 MiB to 1 GiB in steps of 4 (at most an eighth of the RAM).
fn curve_sizes(ram_bytes: Option<u64>) -> Vec<u64> {
    let cap = ram_bytes.map_or(1 << 30, |r| (r / 8).min(1 << 30));
    (0..)
        .map(|i| (1u64 << 20) << (2 * i))
        .take_while(|&s| s <= cap.max(1 << 20))
        .collect()
}

/// Reads `words` once on `n_threads` threads, returning a sum so the reads cannot be skipped.
fn read_once(words: &[u64], pool: &rayon::ThreadPool, n_threads: usize) -> u64 {
    use rayon::prelude::*;
    let per = words.len().div_ceil(n_threads.max(1)).max(1);
    pool.install(|| {
        words
            .par_chunks(per)
            .map(|c| c.iter().fold(0u64, |a, &w| a.wrapping_add(w)))
            .reduce(|| 0, u64::wrapping_add)
    })
}

/// Best read bandwidth of a buffer of `bytes`: passes until 0.2 s and at least 5 passes.
fn read_bandwidth(bytes: u64, pool: &rayon::ThreadPool, n_threads: usize) -> f64 {
    let words = vec![1u64; (bytes / 8) as usize];
    std::hint::black_box(read_once(&words, pool, n_threads));
    let (mut best, mut spent, mut passes) = (f64::INFINITY, 0.0, 0);
    while passes < 5 || spent < 0.2 {
        let t0 = Instant::now();
        std::hint::black_box(read_once(std::hint::black_box(&words), pool, n_threads));
        let s = t0.elapsed().as_secs_f64();
        best = best.min(s);
        spent += s;
        passes += 1;
    }
    bytes as f64 / best
}

/// The read-bandwidth curve of this machine's memory on `n_threads` threads.
pub fn measure_bandwidth(n_threads: u32, ram_bytes: Option<u64>) -> Result<Vec<BandwidthPoint>> {
    let n = n_threads.max(1) as usize;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build()?;
    let mut curve = Vec::new();
    for bytes in curve_sizes(ram_bytes) {
        crate::util::check_interrupted()?;
        curve.push(BandwidthPoint {
            bytes,
            bytes_per_s: read_bandwidth(bytes, &pool, n),
        });
    }
    Ok(curve)
}

fn mib(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

impl Peaks {
    /// Measures this machine's CPU on `n_threads` threads (a few seconds).
    pub fn measure_cpu(device: String, n_threads: u32, ram_bytes: Option<u64>) -> Result<Peaks> {
        let (flops, kernels) = measure_flops(ComputeDevice::Cpu, n_threads)?;
        let curve = measure_bandwidth(n_threads, ram_bytes)?;
        let bandwidth = curve.last().map(|p| Peak {
            value: p.bytes_per_s,
            source: format!(
                "measured: streaming read of {} on {n_threads} threads, best pass",
                mib(p.bytes)
            ),
        });
        Ok(Peaks {
            peaks_version: PEAKS_VERSION,
            device,
            measured: now(),
            flops: Some(flops),
            kernels,
            bandwidth,
            bandwidth_curve: curve,
        })
    }

    /// Measures a GPU's FLOPs through ggml; its bandwidth is the device's own figure when known.
    pub fn measure_gpu(device: String, bandwidth: Option<Peak>) -> Result<Peaks> {
        let (flops, kernels) = measure_flops(ComputeDevice::Gpu, 1)?;
        Ok(Peaks {
            peaks_version: PEAKS_VERSION,
            device,
            measured: now(),
            flops: Some(flops),
            kernels,
            bandwidth,
            bandwidth_curve: Vec::new(),
        })
    }

    /// The given figures replace the measured ones.
    pub fn with_overrides(mut self, o: PeakOverrides) -> Peaks {
        if let Some(t) = o.tflops {
            self.flops = Some(Peak {
                value: t * 1e12,
                source: "given: --peak-tflops".into(),
            });
        }
        if let Some(g) = o.gbps {
            self.bandwidth = Some(Peak {
                value: g * 1e9,
                source: "given: --peak-gbps".into(),
            });
            self.bandwidth_curve.clear();
        }
        self
    }

    /// The bandwidth a workload reading `bytes` over and over can reach: the curve at the largest
    /// buffer no larger than it (a smaller buffer reads at least as fast), else main memory's.
    pub fn bandwidth_for(&self, bytes: f64) -> Option<Peak> {
        let point = self
            .bandwidth_curve
            .iter()
            .take_while(|p| p.bytes as f64 <= bytes)
            .last()
            .or(self.bandwidth_curve.first());
        match point {
            Some(p) => Some(Peak {
                value: p.bytes_per_s,
                source: format!(
                    "measured: streaming read of {} (the largest buffer read not above the {} read per token)",
                    mib(p.bytes),
                    mib(bytes as u64)
                ),
            }),
            None => self.bandwidth.clone(),
        }
    }

    /// Reads cached peaks; `None` when absent, unreadable or from an older measurement.
    pub fn load(path: &Path) -> Option<Peaks> {
        let text = std::fs::read_to_string(path).ok()?;
        let peaks: Peaks = serde_json::from_str(&text).ok()?;
        (peaks.peaks_version == PEAKS_VERSION).then_some(peaks)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create the folder", dir.display()))?;
        }
        crate::util::write_atomic(path, &serde_json::to_vec_pretty(self)?)
    }
}

/// The peaks of the device a run uses (the first GPU when layers are offloaded, else the CPU on
/// `n_threads` threads): cached for this machine, or measured and cached (`on_measure` is told
/// first, as it takes seconds); the given figures replace measured ones.
pub fn peaks_for_run(
    gpu: bool,
    n_threads: u32,
    overrides: PeakOverrides,
    on_measure: &mut dyn FnMut(&str),
) -> Result<Peaks> {
    let device = device_description(gpu, n_threads);
    if let Some(cached) = cache_path(&device, n_threads)
        .as_deref()
        .and_then(Peaks::load)
    {
        return Ok(cached.with_overrides(overrides));
    }
    measure_and_cache(gpu, n_threads, on_measure).map(|p| p.with_overrides(overrides))
}

/// Measures the device's peaks now and replaces the cached ones.
pub fn measure_and_cache(
    gpu: bool,
    n_threads: u32,
    on_measure: &mut dyn FnMut(&str),
) -> Result<Peaks> {
    let device = device_description(gpu, n_threads);
    let path = cache_path(&device, n_threads);
    on_measure(&device);
    let peaks = if gpu {
        let bandwidth = super::nvml::memory_bandwidth().map(|value| Peak {
            value,
            source: "device properties (NVML): memory bus width x maximum memory clock x 2".into(),
        });
        Peaks::measure_gpu(device, bandwidth)?
    } else {
        Peaks::measure_cpu(device, n_threads, crate::util::ram_bytes())?
    };
    if let Some(p) = &path {
        // A cache that cannot be written costs a measurement next time, nothing more.
        let _ = peaks.save(p);
    }
    Ok(peaks)
}

/// `CPU: <model>, N threads` or the GPU's description.
pub fn device_description(gpu: bool, n_threads: u32) -> String {
    use crate::engine::DeviceKind;
    let devices = crate::engine::devices();
    let find = |kind: DeviceKind| devices.iter().find(|d| d.kind == kind);
    match (gpu, find(DeviceKind::Gpu), find(DeviceKind::Cpu)) {
        (true, Some(g), _) => format!("GPU: {}", g.description),
        (_, _, Some(c)) => format!("CPU: {}, {n_threads} threads", c.description),
        _ => format!("CPU, {n_threads} threads"),
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Where a machine's peaks are cached: `$MPT_CACHE_DIR/peaks` or `~/.cache/mpt-gguf/peaks`, one file
/// per device, thread count, llama.cpp build and CPU target.
pub fn cache_path(device: &str, n_threads: u32) -> Option<PathBuf> {
    use sha2::{Digest, Sha256};
    let root = std::env::var_os("MPT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache/mpt-gguf")))?;
    let key = format!(
        "{device}|{n_threads}|{}|{}",
        crate::engine::build_info::LLAMA_REVISION,
        crate::engine::build_info::TARGET_CPU
    );
    let hash = Sha256::digest(key.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    Some(root.join("peaks").join(format!("{hex}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_curve(curve: &[(u64, f64)]) -> Peaks {
        Peaks {
            peaks_version: PEAKS_VERSION,
            device: "test".into(),
            measured: now(),
            flops: None,
            kernels: Vec::new(),
            bandwidth: curve.last().map(|&(_, v)| Peak {
                value: v,
                source: "largest".into(),
            }),
            bandwidth_curve: curve
                .iter()
                .map(|&(bytes, bytes_per_s)| BandwidthPoint { bytes, bytes_per_s })
                .collect(),
        }
    }

    #[test]
    fn a_working_set_is_compared_with_the_largest_buffer_not_above_it() {
        let p = with_curve(&[(1 << 20, 300e9), (16 << 20, 100e9), (1 << 30, 20e9)]);
        assert_eq!(p.bandwidth_for(512.0 * 1024.0).unwrap().value, 300e9);
        assert_eq!(p.bandwidth_for((100u64 << 20) as f64).unwrap().value, 100e9);
        assert_eq!(p.bandwidth_for((4u64 << 30) as f64).unwrap().value, 20e9);
        assert!(p.bandwidth_for(2e6).unwrap().source.contains("1 MiB"));
    }

    #[test]
    fn given_figures_replace_measured_ones_and_say_so() {
        let p = with_curve(&[(1 << 20, 300e9)]).with_overrides(PeakOverrides {
            tflops: Some(1.5),
            gbps: Some(50.0),
        });
        assert_eq!(p.flops.as_ref().unwrap().value, 1.5e12);
        assert_eq!(p.flops.as_ref().unwrap().source, "given: --peak-tflops");
        let bw = p.bandwidth_for(1e9).unwrap();
        assert_eq!((bw.value, bw.source.as_str()), (50e9, "given: --peak-gbps"));
    }

    #[test]
    fn peaks_round_trip_and_stale_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p/peaks.json");
        let p = with_curve(&[(1 << 20, 3e9)]);
        p.save(&path).unwrap();
        assert_eq!(Peaks::load(&path), Some(p.clone()));
        let old = Peaks {
            peaks_version: 0,
            ..p
        };
        old.save(&path).unwrap();
        assert_eq!(Peaks::load(&path), None);
        std::fs::write(&path, "{").unwrap();
        assert_eq!(Peaks::load(&path), None);
    }

    #[test]
    fn the_read_benchmark_reads_every_word() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let words: Vec<u64> = (0..1001).collect();
        assert_eq!(read_once(&words, &pool, 2), 1000 * 1001 / 2);
        assert_eq!(curve_sizes(Some(64 << 20)), vec![1 << 20, 4 << 20]);
    }
}
