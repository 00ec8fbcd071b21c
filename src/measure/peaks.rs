//! What the machine can do at best, measured: FLOPs/s from matrix multiplications through ggml's own
//! kernels, and bytes/s from a streaming read, cached per machine with how they were measured.
//!
//! A CPU's read bandwidth depends on how much is read: a model whose weights fit in the last-level
//! cache is read faster than main memory allows. So the read benchmark keeps a curve over buffer
//! sizes, and a workload is compared with the bandwidth of a buffer no larger than its own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::engine::matmul_bench::{self, ComputeDevice, MatMulShape};
use crate::gguf::GgmlType;

/// Bumped when the measurement changes; older cached files are measured again.
const PEAKS_VERSION: u32 = 3;

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

const MATMUL_REPS: u32 = 2;
/// Every measurement is repeated in rounds over all its cases and keeps its best: a neighbour's burst
/// on a shared machine then spoils one round of a case, not the case.
const ROUNDS: usize = 5;
/// The CPU's rounds go on until this long has passed (at most `MAX_ROUNDS`): a virtual machine's
/// host changes speed over seconds, and a measurement over a short span sees only one of them.
const MIN_SPAN: Duration = Duration::from_secs(30);
const MAX_ROUNDS: usize = 40;
/// After the first `ROUNDS`, the CPU's rounds time only the fastest few types, more often.
const FOCUS: usize = 3;
const FOCUS_REPS: u32 = 8;

/// Each weight type's multiplication time, best of the rounds so far.
struct MatMulRounds {
    device: ComputeDevice,
    shape: MatMulShape,
    n_threads: u32,
    best: Vec<Option<f64>>,
    rounds: usize,
    focused_rounds: usize,
}

impl MatMulRounds {
    fn new(device: ComputeDevice, n_threads: u32) -> Self {
        Self {
            device,
            shape: matmul_shape(device),
            n_threads,
            best: vec![None; TIMED_TYPES.len()],
            rounds: 0,
            focused_rounds: 0,
        }
    }

    /// Times every type once more.
    fn round(&mut self) -> Result<()> {
        let all: Vec<usize> = (0..TIMED_TYPES.len()).collect();
        self.time(&all, MATMUL_REPS)?;
        self.rounds += 1;
        Ok(())
    }

    /// Times the `FOCUS` fastest types so far, `FOCUS_REPS` times each: the peak is the best of
    /// these, and the more often it is sampled, the less a slow spell of the host lowers it.
    fn focused_round(&mut self) -> Result<()> {
        let mut order: Vec<usize> = (0..TIMED_TYPES.len())
            .filter(|&i| self.best[i].is_some())
            .collect();
        order.sort_by(|&a, &b| {
            let time = |i: usize| self.best[i].unwrap_or(f64::INFINITY);
            time(a).total_cmp(&time(b))
        });
        order.truncate(FOCUS);
        self.time(&order, FOCUS_REPS)?;
        self.focused_rounds += 1;
        Ok(())
    }

    fn time(&mut self, types: &[usize], reps: u32) -> Result<()> {
        for &i in types {
            crate::util::check_interrupted()?;
            let name = TIMED_TYPES[i];
            let id = GgmlType::from_name(name)
                .with_context(|| format!("ggml type {name} unknown"))?
                .id();
            // A type the device cannot multiply (some backends lack a few) cannot run in a rung
            // either: it is left out.
            let Ok(seconds) =
                matmul_bench::time_matmul(self.device, id, self.shape, self.n_threads, reps)
            else {
                continue;
            };
            let fastest = seconds.iter().copied().fold(f64::INFINITY, f64::min);
            self.best[i] = Some(self.best[i].map_or(fastest, |b: f64| b.min(fastest)));
        }
        Ok(())
    }

    /// The peak is the fastest type.
    fn finish(self) -> Result<(Peak, Vec<KernelSpeed>)> {
        let shape = self.shape;
        let kernels: Vec<KernelSpeed> = TIMED_TYPES
            .iter()
            .zip(&self.best)
            .filter_map(|(&name, b)| {
                let seconds = (*b)?;
                let id = GgmlType::from_name(name)?.id();
                Some(KernelSpeed {
                    ggml_type: name.to_string(),
                    buffer: matmul_bench::weight_buffer_name(self.device, id, shape),
                    flops_per_s: shape.flops() / seconds,
                })
            })
            .collect();
        let top = kernels
            .iter()
            .max_by(|a, b| a.flops_per_s.total_cmp(&b.flops_per_s))
            .context("the device could not multiply any weight type")?;
        let source = format!(
            "measured: ggml mul_mat {}x{} weight x {} tokens, fastest of {} types ({}), best of {} rounds of {MATMUL_REPS} and {} of {FOCUS_REPS} for the {FOCUS} fastest",
            shape.rows,
            shape.cols,
            shape.tokens,
            kernels.len(),
            top.ggml_type,
            self.rounds,
            self.focused_rounds
        );
        let peak = Peak {
            value: top.flops_per_s,
            source,
        };
        Ok((peak, kernels))
    }
}

/// Buffer sizes read: 1 MiB to 1 GiB in steps of 4 (at most an eighth of the RAM), leaving out
/// sizes that fit in the level-2 caches (`level2`: a model's pass never does, and there a read
/// measures where the threads were placed) and sizes within a factor of 2 of a cache's capacity
/// (`edges`: there a read measures what the machine's other work leaves in the cache).
fn curve_sizes(ram_bytes: Option<u64>, level2: u64, edges: &[u64]) -> Vec<u64> {
    let cap = ram_bytes.map_or(1 << 30, |r| (r / 8).min(1 << 30));
    let sizes: Vec<u64> = (0..)
        .map(|i| (1u64 << 20) << (2 * i))
        .take_while(|&s| s <= cap.max(1 << 20))
        .collect();
    let kept: Vec<u64> = sizes
        .iter()
        .copied()
        .filter(|&s| s > level2)
        .filter(|&s| !edges.iter().any(|&e| s > e / 2 && s < e.saturating_mul(2)))
        .collect();
    // A machine whose caches leave no size gets main memory's.
    if kept.is_empty() {
        sizes.last().copied().into_iter().collect()
    } else {
        kept
    }
}

/// Capacity of each data cache from level 2 up that `n_threads` threads read through (Linux
/// sysfs) with its level: one cache's size times the caches of its kind the threads spread over.
fn cache_edges(n_threads: u32) -> Vec<(u32, u64)> {
    let root = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let read = |p: &Path, f: &str| std::fs::read_to_string(p.join(f)).unwrap_or_default();
    entries
        .filter_map(|e| {
            let dir = e.ok()?.path();
            let level: u32 = read(&dir, "level").trim().parse().ok()?;
            if level < 2 || read(&dir, "type").trim() == "Instruction" {
                return None;
            }
            let size = read(&dir, "size");
            let kib: u64 = size.trim().strip_suffix('K')?.parse().ok()?;
            let sharing = cpu_list_len(read(&dir, "shared_cpu_list").trim()).max(1);
            let caches = (n_threads as u64).div_ceil(sharing).max(1);
            Some((level, kib * 1024 * caches))
        })
        .collect()
}

/// Number of CPUs in a list such as `0-3,8,10-11`.
fn cpu_list_len(list: &str) -> u64 {
    list.split(',')
        .filter_map(|part| match part.split_once('-') {
            Some((a, b)) => Some(b.parse::<u64>().ok()? + 1 - a.parse::<u64>().ok()?),
            None => part.parse::<u64>().ok().map(|_| 1),
        })
        .sum()
}

/// Reads `words` `repeats` times on `n_threads` threads (each thread its own slice), returning a
/// sum so the reads cannot be skipped.
fn read_once(words: &[u64], pool: &rayon::ThreadPool, n_threads: usize, repeats: usize) -> u64 {
    use rayon::prelude::*;
    let per = words.len().div_ceil(n_threads.max(1)).max(1);
    let sum = |c: &[u64]| c.iter().fold(0u64, |a, &w| a.wrapping_add(w));
    pool.install(|| {
        words
            .par_chunks(per)
            .map(|c| (0..repeats).fold(0u64, |a, _| a.wrapping_add(sum(std::hint::black_box(c)))))
            .reduce(|| 0, u64::wrapping_add)
    })
}

/// Bytes a timed pass reads at least: small buffers are read several times per pass, so the time
/// of starting the threads does not count.
const PASS_BYTES: u64 = 16 << 20;

/// Best read bandwidth of `words`: passes until 0.1 s and at least 3 passes.
fn read_bandwidth(words: &[u64], pool: &rayon::ThreadPool, n_threads: usize) -> f64 {
    let bytes = std::mem::size_of_val(words) as u64;
    let repeats = PASS_BYTES.div_ceil(bytes.max(1)).max(1) as usize;
    std::hint::black_box(read_once(words, pool, n_threads, repeats));
    let (mut best, mut spent, mut passes) = (f64::INFINITY, 0.0, 0);
    while passes < 3 || spent < 0.1 {
        let t0 = Instant::now();
        std::hint::black_box(read_once(
            std::hint::black_box(words),
            pool,
            n_threads,
            repeats,
        ));
        let s = t0.elapsed().as_secs_f64();
        best = best.min(s);
        spent += s;
        passes += 1;
    }
    (bytes * repeats as u64) as f64 / best
}

/// The read-bandwidth curve of this machine's memory on `n_threads` threads, best of the rounds
/// so far. The buffers live as long as the rounds: each round reads memory already mapped.
struct ReadRounds {
    pool: rayon::ThreadPool,
    n_threads: usize,
    buffers: Vec<Vec<u64>>,
    curve: Vec<BandwidthPoint>,
}

impl ReadRounds {
    fn new(n_threads: u32, ram_bytes: Option<u64>) -> Result<Self> {
        let n = n_threads.max(1) as usize;
        let edges = cache_edges(n_threads);
        let level2 = edges.iter().filter(|e| e.0 == 2).map(|e| e.1).max();
        let edges: Vec<u64> = edges.iter().map(|e| e.1).collect();
        let sizes = curve_sizes(ram_bytes, level2.unwrap_or(0), &edges);
        Ok(Self {
            pool: rayon::ThreadPoolBuilder::new().num_threads(n).build()?,
            n_threads: n,
            buffers: sizes
                .iter()
                .map(|&b| vec![1u64; (b / 8) as usize])
                .collect(),
            curve: sizes
                .iter()
                .map(|&bytes| BandwidthPoint {
                    bytes,
                    bytes_per_s: 0.0,
                })
                .collect(),
        })
    }

    fn round(&mut self) -> Result<()> {
        for (point, words) in self.curve.iter_mut().zip(&self.buffers) {
            crate::util::check_interrupted()?;
            let b = read_bandwidth(words, &self.pool, self.n_threads);
            point.bytes_per_s = point.bytes_per_s.max(b);
        }
        Ok(())
    }
}

fn mib(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

impl Peaks {
    /// Measures this machine's CPU on `n_threads` threads: rounds of multiplications (every type
    /// in the first `ROUNDS`, then the fastest) and every read, alternating, for at least
    /// `MIN_SPAN`.
    pub fn measure_cpu(device: String, n_threads: u32, ram_bytes: Option<u64>) -> Result<Peaks> {
        let mut matmuls = MatMulRounds::new(ComputeDevice::Cpu, n_threads);
        let mut reads = ReadRounds::new(n_threads, ram_bytes)?;
        let start = Instant::now();
        let mut rounds = 0;
        while rounds < ROUNDS || start.elapsed() < MIN_SPAN && rounds < MAX_ROUNDS {
            match rounds < ROUNDS {
                true => matmuls.round()?,
                false => matmuls.focused_round()?,
            }
            reads.round()?;
            rounds += 1;
        }
        let (flops, kernels) = matmuls.finish()?;
        let curve = reads.curve;
        let bandwidth = curve.last().map(|p| Peak {
            value: p.bytes_per_s,
            source: format!(
                "measured: streaming read of {} on {n_threads} threads, best pass of {rounds} rounds",
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
        let mut matmuls = MatMulRounds::new(ComputeDevice::Gpu, 1);
        for _ in 0..ROUNDS {
            matmuls.round()?;
        }
        let (flops, kernels) = matmuls.finish()?;
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

    /// Each kernel's and each buffer size's better figure of two measurements of the same device.
    pub fn best_of(mut self, other: &Peaks) -> Peaks {
        for k in &mut self.kernels {
            if let Some(o) = other.kernels.iter().find(|o| o.ggml_type == k.ggml_type) {
                k.flops_per_s = k.flops_per_s.max(o.flops_per_s);
            }
        }
        for p in &mut self.bandwidth_curve {
            if let Some(o) = other.bandwidth_curve.iter().find(|o| o.bytes == p.bytes) {
                p.bytes_per_s = p.bytes_per_s.max(o.bytes_per_s);
            }
        }
        let keep_better = |mine: &mut Option<Peak>, theirs: &Option<Peak>| {
            if let (Some(m), Some(t)) = (mine.as_mut(), theirs) {
                if t.value > m.value {
                    *m = t.clone();
                }
            }
        };
        keep_better(&mut self.flops, &other.flops);
        keep_better(&mut self.bandwidth, &other.bandwidth);
        self
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

/// Measures the device's peaks now; the cache keeps the better of these and the cached figures.
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
    // A peak is the best the machine has shown: a measurement spoilt by other work on the machine
    // does not lower the cached figures.
    let peaks = match path.as_deref().and_then(Peaks::load) {
        Some(old) => peaks.best_of(&old),
        None => peaks,
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
    // The host and its memory too: machines that share a home folder do not share figures.
    let host = crate::util::hostname();
    let key = format!(
        "{device}|{n_threads}|{}|{}|{}|{:?}",
        crate::engine::build_info::LLAMA_REVISION,
        crate::engine::build_info::TARGET_CPU,
        host,
        crate::util::ram_bytes()
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
        assert_eq!(read_once(&words, &pool, 2, 1), 1000 * 1001 / 2);
        assert_eq!(read_once(&words, &pool, 2, 3), 3 * 1000 * 1001 / 2);
        assert_eq!(curve_sizes(Some(64 << 20), 0, &[]), vec![1 << 20, 4 << 20]);
    }

    #[test]
    fn sizes_in_level_2_or_at_a_cache_s_edge_are_not_read() {
        let mib = 1u64 << 20;
        // A 4 MiB level-2 total and a 300 MiB last-level cache: 1 MiB fits in level 2, 4 MiB
        // and 256 MiB are at an edge.
        assert_eq!(
            curve_sizes(Some(64 << 30), 4 * mib, &[4 * mib, 300 * mib]),
            vec![16 * mib, 64 * mib, 1024 * mib]
        );
        // Caches that cover every size leave main memory's.
        assert_eq!(curve_sizes(Some(64 << 20), 64 * mib, &[]), vec![4 * mib]);
        assert_eq!(cpu_list_len("0-3,8,10-11"), 7);
        assert_eq!(cpu_list_len("0"), 1);
    }
}
