//! Throughput the way llama-bench measures it: a fresh context per test, a warm-up run, random tokens,
//! the cache cleared before every repetition, prompt processing (pp) and generation (tg) timed
//! separately, tokens/s as mean ± sample standard deviation over repetitions. Also what compression
//! studies report: time to first token, prefill and decode milliseconds per token, peak memory.

use std::time::Instant;

use anyhow::{bail, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::energy::EnergySource;
use super::machine_use::{machine_use, MachineUse, TimedTest};
use super::peaks::Peaks;
use super::work::ModelWork;
use crate::engine::{self, Batch, Context, ContextOptions, DeviceKind, Model, Token};

/// One llama-bench test: a prompt of `n_prompt` tokens, then `n_gen` generated tokens (either may be
/// 0: `pp512` is 512/0, `tg128` is 0/128, `pp512+tg128` both).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchTest {
    pub n_prompt: u32,
    pub n_gen: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub n_threads: u32,
    pub reps: u32,
    pub warmup: bool,
    /// Seed of the random tokens.
    pub seed: u64,
    /// Where the energy of the timed repetitions is read from (none: not measured).
    pub energy: Option<EnergySource>,
}

impl Default for BenchTest {
    /// llama-bench's defaults (pp512, -b 2048, -ub 512, -r 5).
    fn default() -> Self {
        Self {
            n_prompt: 512,
            n_gen: 0,
            n_batch: 2048,
            n_ubatch: 512,
            n_threads: crate::util::default_threads() as u32,
            reps: 5,
            warmup: true,
            seed: 0,
            energy: None,
        }
    }
}

/// The result of one test, with llama-bench's field names where they overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub n_prompt: u32,
    pub n_gen: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub n_threads: u32,
    /// RFC 3339 UTC start of the test.
    pub test_time: String,
    pub avg_ns: u64,
    pub stddev_ns: u64,
    /// Tokens/s, mean and sample standard deviation over repetitions.
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub samples_ns: Vec<u64>,
    pub samples_ts: Vec<f64>,
    /// Prompt processing time of each repetition (time to first token), and generation time.
    pub prompt_ns: Vec<u64>,
    pub gen_ns: Vec<u64>,
    /// Mean time to first token: processing the whole prompt (pp tests).
    pub ttft_ms: Option<f64>,
    pub prefill_ms_per_token: Option<f64>,
    pub decode_ms_per_token: Option<f64>,
    /// Peak resident memory of the process during the test (Linux), model pages included.
    pub peak_rss_bytes: Option<u64>,
    /// Device memory in use on GPUs at the end of the test (CUDA builds).
    pub gpu_memory_bytes: Option<u64>,
    /// Joules of all timed repetitions together, and how they were obtained.
    #[serde(default)]
    pub energy_j: Option<f64>,
    #[serde(default)]
    pub energy_source: Option<String>,
}

impl TestResult {
    /// What machine use needs of the test.
    pub fn timed(&self) -> TimedTest {
        TimedTest {
            n_prompt: self.n_prompt,
            n_gen: self.n_gen,
            n_batch: self.n_batch,
            n_ubatch: self.n_ubatch,
            tokens_per_s: self.avg_ts,
            repetitions: self.samples_ns.len(),
            energy_j: self.energy_j,
            energy_source: self.energy_source.clone(),
        }
    }
}

/// What a sweep measures per rung: `-p N -n M -r R` as llama-bench runs them (two tests).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPoint {
    pub n_prompt: u32,
    pub n_gen: u32,
    pub reps: u32,
    pub n_threads: u32,
    pub n_batch: u32,
    /// llama-bench's warm-up run before each test; a caller that has just run the model over
    /// a text (a sweep's perplexity pass) may skip it.
    pub warmup: bool,
    pub energy: Option<EnergySource>,
    /// The model's work and the machine's peaks, for its machine use (MFU, bandwidth, energy).
    pub work: Option<ModelWork>,
    pub peaks: Option<Peaks>,
}

impl Default for BenchPoint {
    fn default() -> Self {
        Self {
            n_prompt: 512,
            n_gen: 128,
            reps: 5,
            n_threads: crate::util::default_threads() as u32,
            n_batch: 2048,
            warmup: true,
            energy: None,
            work: None,
            peaks: None,
        }
    }
}

/// pp and tg of one model, with the headline numbers pulled out for result tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    pub pp: Option<TestResult>,
    pub tg: Option<TestResult>,
    pub pp_ts: Option<f64>,
    pub pp_ts_sd: Option<f64>,
    pub tg_ts: Option<f64>,
    pub tg_ts_sd: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub prefill_ms_per_token: Option<f64>,
    pub decode_ms_per_token: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub gpu_memory_bytes: Option<u64>,
    pub pp_use: Option<MachineUse>,
    pub tg_use: Option<MachineUse>,
    pub model_size: u64,
    pub model_n_params: u64,
}

/// Runs `-p n_prompt` and `-n n_gen` as two llama-bench tests (a zero skips one).
pub fn bench_model(model: &Model, point: &BenchPoint) -> Result<BenchResult> {
    let test = |n_prompt, n_gen| BenchTest {
        n_prompt,
        n_gen,
        n_batch: point.n_batch,
        n_threads: point.n_threads,
        reps: point.reps,
        warmup: point.warmup,
        energy: point.energy.clone(),
        ..BenchTest::default()
    };
    let pp = (point.n_prompt > 0)
        .then(|| run_test(model, &test(point.n_prompt, 0)))
        .transpose()?;
    let tg = (point.n_gen > 0)
        .then(|| run_test(model, &test(0, point.n_gen)))
        .transpose()?;
    let peak = [&pp, &tg]
        .iter()
        .filter_map(|t| t.as_ref()?.peak_rss_bytes)
        .max();
    let gpu = [&pp, &tg]
        .iter()
        .filter_map(|t| t.as_ref()?.gpu_memory_bytes)
        .max();
    let machine = |t: &Option<TestResult>| {
        Some(machine_use(
            &t.as_ref()?.timed(),
            point.work.as_ref()?,
            point.peaks.as_ref(),
        ))
    };
    Ok(BenchResult {
        pp_use: machine(&pp),
        tg_use: machine(&tg),
        pp_ts: pp.as_ref().map(|t| t.avg_ts),
        pp_ts_sd: pp.as_ref().map(|t| t.stddev_ts),
        tg_ts: tg.as_ref().map(|t| t.avg_ts),
        tg_ts_sd: tg.as_ref().map(|t| t.stddev_ts),
        ttft_ms: pp.as_ref().and_then(|t| t.ttft_ms),
        prefill_ms_per_token: pp.as_ref().and_then(|t| t.prefill_ms_per_token),
        decode_ms_per_token: tg.as_ref().and_then(|t| t.decode_ms_per_token),
        peak_rss_bytes: peak,
        gpu_memory_bytes: gpu,
        model_size: model.size_bytes(),
        model_n_params: model.n_params(),
        pp,
        tg,
    })
}

/// llama-bench's `avg` and `stdev` (sample standard deviation, 0 for one value).
pub fn mean_and_stddev(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let sq: f64 = v.iter().map(|x| x * x).sum();
    let var = sq / (n - 1.0) - mean * mean * n / (n - 1.0);
    (mean, var.max(0.0).sqrt())
}

struct Runner<'m> {
    ctx: Context<'m>,
    batch: Batch,
    rng: StdRng,
    n_vocab: i32,
    bos: Option<Token>,
    n_batch: usize,
}

impl Runner<'_> {
    fn random(&mut self) -> Token {
        self.rng.gen_range(0..self.n_vocab)
    }

    /// llama-bench's `test_prompt`: random tokens (BOS first), `n_batch` per decode, one output.
    fn prompt(&mut self, n_prompt: usize) -> Result<()> {
        let mut done = 0;
        while done < n_prompt {
            let n = self.n_batch.min(n_prompt - done);
            self.batch.clear();
            for i in 0..n {
                let token = match self.bos {
                    Some(bos) if done == 0 && i == 0 => bos,
                    _ => self.random(),
                };
                self.batch.add(token, (done + i) as i32, &[0], i + 1 == n)?;
            }
            self.ctx.decode(&mut self.batch)?;
            done += n;
        }
        self.ctx.synchronize();
        Ok(())
    }

    /// llama-bench's `test_gen`: one token per decode after position `pos`.
    fn generate(&mut self, n_gen: usize, pos: usize) -> Result<()> {
        let mut token = self.bos.unwrap_or_else(|| self.random());
        for i in 0..n_gen {
            crate::util::check_interrupted()?;
            self.batch.clear();
            self.batch.add(token, (pos + i) as i32, &[0], true)?;
            self.ctx.decode(&mut self.batch)?;
            self.ctx.synchronize();
            token = self.random();
        }
        Ok(())
    }
}

/// Runs one test as llama-bench does.
pub fn run_test(model: &Model, t: &BenchTest) -> Result<TestResult> {
    if t.n_prompt == 0 && t.n_gen == 0 {
        bail!("a benchmark needs a prompt (-p) or generated tokens (-n)");
    }
    if t.reps == 0 {
        bail!("-r must be at least 1");
    }
    let n_ctx = t.n_prompt + t.n_gen;
    let mut opts = ContextOptions::new(n_ctx, t.n_batch.max(1), t.n_threads);
    opts.n_ubatch = t.n_ubatch.max(1);
    let ctx = Context::new(model, &opts)?;
    let n_batch = ctx.n_batch() as usize;
    let mut r = Runner {
        ctx,
        batch: Batch::new(n_batch.max(1), 1),
        rng: StdRng::seed_from_u64(t.seed),
        n_vocab: model.n_vocab() as i32,
        bos: model.adds_bos().then(|| model.bos()),
        n_batch,
    };
    let test_time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let (n_prompt, n_gen) = (t.n_prompt as usize, t.n_gen as usize);
    if t.warmup {
        if n_prompt > 0 {
            r.prompt(n_prompt)?;
        }
        if n_gen > 0 {
            r.generate(1, n_prompt)?;
        }
    }
    reset_peak_rss();
    let meter = t.energy.as_ref().map(EnergySource::start);
    let (mut prompt_ns, mut gen_ns, mut samples_ns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..t.reps {
        crate::util::check_interrupted()?;
        r.ctx.clear_memory();
        let t0 = Instant::now();
        if n_prompt > 0 {
            r.prompt(n_prompt)?;
        }
        let t1 = Instant::now();
        if n_gen > 0 {
            r.generate(n_gen, n_prompt)?;
        }
        let t2 = Instant::now();
        prompt_ns.push((t1 - t0).as_nanos() as u64);
        gen_ns.push((t2 - t1).as_nanos() as u64);
        samples_ns.push((t2 - t0).as_nanos() as u64);
    }
    let energy_j = meter.as_ref().and_then(|m| m.joules());
    let n_tokens = (n_prompt + n_gen) as f64;
    let samples_ts: Vec<f64> = samples_ns
        .iter()
        .map(|&ns| 1e9 * n_tokens / ns as f64)
        .collect();
    let (avg_ts, stddev_ts) = mean_and_stddev(&samples_ts);
    let ns_f: Vec<f64> = samples_ns.iter().map(|&v| v as f64).collect();
    let (avg_ns, stddev_ns) = mean_and_stddev(&ns_f);
    let mean_ms = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64 / 1e6;
    Ok(TestResult {
        n_prompt: t.n_prompt,
        n_gen: t.n_gen,
        n_batch: t.n_batch,
        n_ubatch: t.n_ubatch,
        n_threads: t.n_threads,
        test_time,
        avg_ns: avg_ns as u64,
        stddev_ns: stddev_ns as u64,
        avg_ts,
        stddev_ts,
        ttft_ms: (n_prompt > 0).then(|| mean_ms(&prompt_ns)),
        prefill_ms_per_token: (n_prompt > 0).then(|| mean_ms(&prompt_ns) / n_prompt as f64),
        decode_ms_per_token: (n_gen > 0).then(|| mean_ms(&gen_ns) / n_gen as f64),
        samples_ns,
        samples_ts,
        prompt_ns,
        gen_ns,
        peak_rss_bytes: crate::util::peak_rss_bytes(),
        gpu_memory_bytes: gpu_memory_used(),
        energy_source: energy_j.and(t.energy.as_ref().map(EnergySource::label)),
        energy_j,
    })
}

/// Starts a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM); without it the
/// peak covers the whole process life.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Memory in use on GPU devices, if there are any.
pub fn gpu_memory_used() -> Option<u64> {
    let gpus: Vec<_> = engine::devices()
        .into_iter()
        .filter(|d| matches!(d.kind, DeviceKind::Gpu | DeviceKind::IntegratedGpu))
        .collect();
    (!gpus.is_empty()).then(|| {
        gpus.iter()
            .map(|d| d.memory_total.saturating_sub(d.memory_free))
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stddev_is_llama_bench_sample_stddev() {
        let (m, s) = mean_and_stddev(&[10.0, 12.0, 14.0]);
        assert_eq!(m, 12.0);
        assert!((s - 2.0).abs() < 1e-12);
        assert_eq!(mean_and_stddev(&[5.0]), (5.0, 0.0));
    }
}
