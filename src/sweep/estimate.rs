//! The resource plan of a sweep before it runs: per stage, the disk it adds, its peak memory and its
//! time on this machine, from the model's shapes (`crate::measure::work`) and this machine's measured
//! speeds (ggml's multiplication for each weight type, as the peaks measure it; ggml's quantizer for
//! each type; sha256). `--dry-run` prints it; `--emit slurm` asks for what it predicts.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::config::SweepConfig;
use super::plan::{ImatrixFor, Rung};
use crate::engine::matmul_bench;
use crate::gguf::{GgmlType, GgufFile, TensorInfo};
use crate::measure::peaks::Peaks;
use crate::measure::work::ModelWork;
use crate::recipe::stock::{StockMixes, TensorTypes};

/// Bytes the compact KL-divergence base keeps per scored token (`crate::measure::kld_base`).
const KLD_BASE_BYTES_PER_TOKEN: u64 = 520;
/// Characters per token of English text, for a text whose chunks are not counted by `--chunks`.
const CHARS_PER_TOKEN: u64 = 4;
/// Tokens scored per multiple-choice item: its question with each of ~4 endings.
const TASK_TOKENS_PER_ITEM: u64 = 4 * 64;

/// This machine's speeds that the plan is made from.
#[derive(Debug, Clone, Serialize)]
pub struct MachineSpeed {
    pub device: String,
    pub n_threads: u32,
    /// FLOPs/s of ggml's multiplication by weight type (`Q4_K`), from the machine's peaks.
    pub matmul_flops: BTreeMap<String, f64>,
    /// Weights quantized per second by one thread, by weight type, without and with an
    /// importance matrix.
    pub quantize_weights_per_s: BTreeMap<String, f64>,
    pub quantize_with_imatrix_weights_per_s: BTreeMap<String, f64>,
    pub hash_bytes_per_s: f64,
    /// This model on this machine, when it could be measured (`calibrate`).
    pub model: Option<ModelSpeed>,
    /// Streaming-read bandwidth by buffer size, for token generation.
    #[serde(skip)]
    pub peaks: Option<Peaks>,
}

impl MachineSpeed {
    /// Measures the quantizer and sha256 (a few seconds) beside the machine's `peaks`.
    pub fn measure(peaks: &Peaks, n_threads: u32) -> Result<MachineSpeed> {
        let matmul_flops = peaks
            .kernels
            .iter()
            .map(|k| (k.ggml_type.clone(), k.flops_per_s))
            .collect();
        let (mut plain, mut with_imatrix) = (BTreeMap::new(), BTreeMap::new());
        for k in &peaks.kernels {
            let Some(t) = GgmlType::from_name(&k.ggml_type) else {
                continue;
            };
            for (importance, speeds) in [(false, &mut plain), (true, &mut with_imatrix)] {
                // Types that need an importance matrix cannot be made without one.
                if let Ok(s) = matmul_bench::time_quantize(t.id(), 64, 4096, importance) {
                    speeds.insert(k.ggml_type.clone(), 64.0 * 4096.0 / s.max(1e-9));
                }
            }
        }
        let buffer = vec![7u8; 64 << 20];
        let t0 = Instant::now();
        std::hint::black_box(<sha2::Sha256 as sha2::Digest>::digest(&buffer));
        let hash = buffer.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        Ok(MachineSpeed {
            device: peaks.device.clone(),
            n_threads,
            matmul_flops,
            quantize_weights_per_s: plain,
            quantize_with_imatrix_weights_per_s: with_imatrix,
            hash_bytes_per_s: hash,
            model: None,
            peaks: Some(peaks.clone()),
        })
    }

    fn flops(&self, ggml_type: &str) -> f64 {
        let fallback = || self.matmul_flops.get("F16").copied();
        self.matmul_flops
            .get(ggml_type)
            .copied()
            .or_else(fallback)
            .unwrap_or(1e10)
    }

    fn quantize_per_s(&self, ggml_type: &str, imatrix: bool) -> f64 {
        let (first, second) = match imatrix {
            true => (
                &self.quantize_with_imatrix_weights_per_s,
                &self.quantize_weights_per_s,
            ),
            false => (
                &self.quantize_weights_per_s,
                &self.quantize_with_imatrix_weights_per_s,
            ),
        };
        let per_thread = first
            .get(ggml_type)
            .or_else(|| second.get(ggml_type))
            .copied()
            .unwrap_or(1e7);
        per_thread * self.n_threads.max(1) as f64
    }

    /// Whether the CPU keeps weights of this type in a repacked copy (`CPU_REPACK`).
    fn repacked(&self, ggml_type: &str) -> bool {
        let kernels = self
            .peaks
            .as_ref()
            .map(|p| p.kernels.as_slice())
            .unwrap_or(&[]);
        kernels
            .iter()
            .any(|k| k.ggml_type == ggml_type && k.buffer == "CPU_REPACK")
    }

    fn read_bytes_per_s(&self, working_set: f64) -> f64 {
        self.peaks
            .as_ref()
            .and_then(|p| p.bandwidth_for(working_set))
            .map_or(1e10, |p| p.value)
    }
}

/// One stage's predicted cost.
#[derive(Debug, Clone, Serialize)]
pub struct StageCost {
    pub stage: String,
    pub seconds: f64,
    /// The process's peak resident memory during the stage.
    pub peak_memory_bytes: u64,
    /// Disk the stage leaves behind (or holds while it runs).
    pub disk_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourcePlan {
    pub model: String,
    pub parameters: u64,
    pub stages: Vec<StageCost>,
    pub total_seconds: f64,
    pub peak_memory_bytes: u64,
    /// The most the sweep folder holds at once.
    pub peak_disk_bytes: u64,
    pub machine: MachineSpeed,
}

impl ResourcePlan {
    /// The shared stages' cost (hashing, importance matrix, base pass) as one.
    pub fn shared(&self) -> StageCost {
        combine(
            "shared",
            self.stages.iter().filter(|s| !s.stage.starts_with("rung ")),
        )
    }

    /// The most any one rung takes.
    pub fn largest_rung(&self) -> StageCost {
        let rungs = self.stages.iter().filter(|s| s.stage.starts_with("rung "));
        rungs.fold(
            StageCost {
                stage: "rung".into(),
                seconds: 0.0,
                peak_memory_bytes: 0,
                disk_bytes: 0,
            },
            |a, s| StageCost {
                stage: a.stage,
                seconds: a.seconds.max(s.seconds),
                peak_memory_bytes: a.peak_memory_bytes.max(s.peak_memory_bytes),
                disk_bytes: a.disk_bytes.max(s.disk_bytes),
            },
        )
    }

    /// The rungs `share` (positions in the plan) take one after another.
    pub fn rungs_of(&self, positions: impl Iterator<Item = usize>) -> StageCost {
        let rungs: Vec<&StageCost> = self
            .stages
            .iter()
            .filter(|s| s.stage.starts_with("rung "))
            .collect();
        combine("rungs", positions.filter_map(|i| rungs.get(i).copied()))
    }
}

fn combine<'a>(name: &str, stages: impl Iterator<Item = &'a StageCost>) -> StageCost {
    stages.fold(
        StageCost {
            stage: name.into(),
            seconds: 0.0,
            peak_memory_bytes: 0,
            disk_bytes: 0,
        },
        |a, s| StageCost {
            stage: a.stage,
            seconds: a.seconds + s.seconds,
            peak_memory_bytes: a.peak_memory_bytes.max(s.peak_memory_bytes),
            disk_bytes: a.disk_bytes + s.disk_bytes,
        },
    )
}

/// What the plan needs to know of the texts: tokens evaluated and calibrated on.
#[derive(Debug, Clone, Copy)]
pub struct TextSizes {
    pub eval_bytes: u64,
    pub calib_bytes: Option<u64>,
}

/// The plan of `cfg`'s sweep on this machine: its peaks (cached, or measured in about 30 s) and
/// a few seconds measuring the quantizer; `on_measure` is told before the peaks are measured.
pub fn plan_sweep(cfg: &SweepConfig, on_measure: &mut dyn FnMut(&str)) -> Result<ResourcePlan> {
    let file = crate::engine::open_gguf(&cfg.model)?;
    let gpu = cfg.n_gpu_layers > 0;
    let peaks =
        crate::measure::peaks::peaks_for_run(gpu, cfg.n_threads, cfg.peak_overrides, on_measure)?;
    let speed = MachineSpeed::measure(&peaks, cfg.n_threads)?;
    let work = ModelWork::from_gguf(&file)?;
    let mut speed = speed;
    speed.model = calibrate(cfg, &file, &work, &speed)?;
    let mixes = stock_mixes(cfg);
    let size = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .with_context(|| format!("{}: cannot read", p.display()))
    };
    let texts = TextSizes {
        eval_bytes: size(&cfg.text)?,
        calib_bytes: cfg.calib.as_deref().map(size).transpose()?,
    };
    plan(&file, cfg, texts, &speed, &mixes)
}

/// Each quantized rung type's per-tensor types as llama.cpp chooses them (its quantizer run dry,
/// reading only the file's metadata). A type whose dry run fails is left out: its rungs are
/// planned with the modelled types of `rung_tensors`.
fn stock_mixes(cfg: &SweepConfig) -> StockMixes {
    let quantized = cfg.plan.rungs.iter().map(|r| &r.qtype);
    let quantized: Vec<_> = quantized.filter(|q| !q.is_float()).collect();
    crate::recipe::stock::stock_mixes(&cfg.model, quantized, None)
}

/// This model on this machine, measured in a few seconds: how close a forward pass comes to the
/// multiplications' speed (the rest of a layer, attention, the threads' synchronisation), and how
/// fast its tokenizer reads text.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ModelSpeed {
    /// Measured seconds of one chunk over the seconds the multiplications' speed predicts.
    pub forward_factor: f64,
    pub tokenize_bytes_per_s: f64,
}

/// One chunk of the evaluation text through the unquantized model, when the model fits in half the
/// memory (else `None`: the plan then counts the multiplications alone).
fn calibrate(
    cfg: &SweepConfig,
    file: &GgufFile,
    work: &ModelWork,
    speed: &MachineSpeed,
) -> Result<Option<ModelSpeed>> {
    let fits = crate::util::ram_bytes().is_some_and(|ram| file.file_size() < ram / 2);
    if !fits || cfg.n_gpu_layers > 0 {
        return Ok(None);
    }
    let model = crate::engine::Model::load(&cfg.model, &super::rung::model_options(cfg))?;
    let text = crate::measure::text::read_text(&cfg.text)?;
    let prefix: String = text.chars().take(cfg.n_ctx as usize * 16).collect();
    let t0 = Instant::now();
    let tokens = crate::measure::text::tokenize(&model, &prefix)?;
    let tokenize_bytes_per_s = prefix.len() as f64 / t0.elapsed().as_secs_f64().max(1e-6);
    if tokens.len() <= cfg.n_ctx as usize {
        return Ok(None);
    }
    let mut opts = super::rung::perplexity_options(cfg);
    opts.n_chunks = Some(1);
    let eval = crate::measure::Eval::Text {
        tokens: &tokens,
        capture: Default::default(),
    };
    let run = crate::measure::perplexity(&model, eval, &opts, &mut |_| {})?;
    let ctx = cfg.n_ctx as u64;
    let predicted = forward_seconds(work, ctx, ctx, speed.flops(&float_type(file)), speed);
    Ok(Some(ModelSpeed {
        forward_factor: (run.seconds / predicted.max(1e-9)).max(1.0),
        tokenize_bytes_per_s,
    }))
}

/// The plan of `cfg`'s sweep of `file` on a machine of `speed`.
pub fn plan(
    file: &GgufFile,
    cfg: &SweepConfig,
    texts: TextSizes,
    speed: &MachineSpeed,
    mixes: &StockMixes,
) -> Result<ResourcePlan> {
    let work = ModelWork::from_gguf(file)?;
    let summary = crate::gguf::Summary::of(file);
    let m = Shape::of(file, &work, summary.file_size);
    let ctx = cfg.n_ctx as u64;
    let chunks = |bytes: u64, limit: Option<u32>| {
        let all = (bytes / CHARS_PER_TOKEN / ctx.max(1)).max(1);
        limit.map_or(all, |l| (l as u64).min(all))
    };
    let eval_tokens = chunks(texts.eval_bytes, cfg.n_chunks) * ctx;
    let mut stages = vec![StageCost {
        stage: "hashing inputs".into(),
        seconds: (summary.file_size + texts.eval_bytes) as f64 / speed.hash_bytes_per_s,
        peak_memory_bytes: 64 << 20,
        disk_bytes: 0,
    }];
    let f16 = speed.flops(&float_type(file));
    if cfg.imatrix.is_none() && cfg.plan.needs_imatrix(cfg.imatrix_for) {
        let calib = texts
            .calib_bytes
            .context("an importance matrix needs --calib")?;
        let tokens = chunks(calib, cfg.imatrix_chunks) * ctx;
        stages.push(StageCost {
            stage: "importance matrix".into(),
            seconds: forward_seconds(&work, tokens, ctx, f16, speed),
            peak_memory_bytes: m.file_bytes + m.context_bytes(ctx, 1),
            disk_bytes: m.imatrix_bytes,
        });
    }
    let base_bench = bench_seconds(cfg, &work, f16, m.file_bytes, speed);
    let scored = eval_tokens / 2;
    let tokenizing = speed
        .model
        .map_or(0.0, |m| texts.eval_bytes as f64 / m.tokenize_bytes_per_s);
    stages.push(StageCost {
        stage: "base pass".into(),
        seconds: tokenizing
            + forward_seconds(&work, eval_tokens, ctx, f16, speed)
            + base_bench
            + task_seconds(cfg, &work, f16, speed),
        peak_memory_bytes: m.file_bytes + m.context_bytes(ctx / 4, 2),
        disk_bytes: scored * KLD_BASE_BYTES_PER_TOKEN,
    });
    if cfg.plan.has_recipes() {
        stages.push(sensitivity_cost(file, cfg, &work, &m, f16, speed));
    }
    for r in &cfg.plan.rungs {
        let tensors = rung_tensors(file, r, mixes.get(r.qtype.name));
        stages.push(rung_cost(r, &tensors, cfg, &work, &m, eval_tokens, speed));
    }
    let total_seconds = stages.iter().map(|s| s.seconds).sum();
    let peak_memory_bytes = stages
        .iter()
        .map(|s| s.peak_memory_bytes)
        .max()
        .unwrap_or(0);
    let kept: u64 = stages.iter().map(|s| s.disk_bytes).sum();
    let largest = stages.iter().map(|s| s.disk_bytes).max().unwrap_or(0);
    let peak_disk_bytes = if cfg.keep_models {
        kept
    } else {
        largest.max(kept.min(largest * 2))
    };
    Ok(ResourcePlan {
        model: cfg.model.display().to_string(),
        parameters: summary.parameters,
        stages,
        total_seconds,
        peak_memory_bytes,
        peak_disk_bytes,
        machine: speed.clone(),
    })
}

/// The sensitivity run behind recipe rungs: one decode and one quantizing of the group's weights
/// per candidate, the model loaded into memory (weights are rewritten in place) beside the base's
/// compared logits.
fn sensitivity_cost(
    file: &GgufFile,
    cfg: &SweepConfig,
    work: &ModelWork,
    m: &Shape,
    flops: f64,
    speed: &MachineSpeed,
) -> StageCost {
    let s = &cfg.sensitivity;
    let (ctx, tokens) = (s.n_ctx as u64, (s.n_ctx * s.n_chunk) as u64);
    let candidates = crate::recipe::sensitivity::planned_candidates(file, s.grouping);
    let decodes = candidates.len() as f64 + 1.0;
    let imatrix = cfg.imatrix_for == ImatrixFor::All;
    let quantizing: f64 = candidates
        .iter()
        .map(|(ty, weights)| {
            *weights as f64 / speed.quantize_per_s(&ty.ggml_name().to_uppercase(), imatrix)
        })
        .sum();
    let compared = (s.n_chunk as u64) * (ctx / 2);
    StageCost {
        stage: "sensitivity".into(),
        seconds: decodes * forward_seconds(work, tokens, ctx, flops, speed) + quantizing,
        peak_memory_bytes: m.file_bytes + m.context_bytes(tokens, 1) + compared * m.n_vocab * 4,
        disk_bytes: 0,
    }
}

/// The shapes the memory of a run depends on.
struct Shape {
    file_bytes: u64,
    n_vocab: u64,
    kv_bytes_per_position: u64,
    largest_tensor_elements: u64,
    imatrix_bytes: u64,
}

impl Shape {
    fn of(file: &GgufFile, work: &ModelWork, file_bytes: u64) -> Shape {
        let n_embd = file.arch_u64("embedding_length").unwrap_or(1).max(1);
        let matrices = file.tensors().iter().filter(|t| t.dims.len() >= 2);
        let imatrix_bytes = matrices.clone().map(|t| t.dims[0] * 8).sum();
        Shape {
            file_bytes,
            n_vocab: work.output_weights / n_embd,
            kv_bytes_per_position: work.kv_bytes_per_position,
            largest_tensor_elements: matrices.map(|t| t.n_elements()).max().unwrap_or(0),
            imatrix_bytes,
        }
    }

    /// One context of `batch` tokens per decode for `n_ctx`: its KV cache, the logits it keeps and
    /// ggml's compute buffer (the output head's product dominates it), times `contexts`.
    fn context_bytes(&self, batch: u64, contexts: u64) -> u64 {
        let kv = self.kv_bytes_per_position * batch.max(1) * 4;
        let logits = batch.max(1) * self.n_vocab * 4;
        contexts * (kv + 2 * logits)
    }

    /// A rung's perplexity contexts: each holds a chunk's KV cache and the logits of the chunk's
    /// scored half.
    fn perplexity_bytes(&self, n_ctx: u64, contexts: u64) -> u64 {
        contexts * (self.kv_bytes_per_position * n_ctx + n_ctx / 2 * self.n_vocab * 4)
    }
}

/// Contexts a rung's perplexity runs side by side: two on the CPU when the threads and the
/// chunks split evenly (`crate::measure::perplexity`), else one.
fn perplexity_contexts(cfg: &SweepConfig, eval_tokens: u64) -> u64 {
    let chunks = eval_tokens / (cfg.n_ctx as u64).max(1);
    let even = cfg.n_threads >= 2 && cfg.n_threads.is_multiple_of(2);
    match cfg.n_workers {
        Some(w) => w.clamp(1, cfg.n_threads.max(1)) as u64,
        None if cfg.n_gpu_layers == 0 && even && chunks >= 2 => 2,
        None => 1,
    }
}

/// The unquantized weights' type name (`F16`, `BF16`, `F32`).
fn float_type(file: &GgufFile) -> String {
    let name = file
        .tensors()
        .iter()
        .filter(|t| t.dims.len() >= 2)
        .map(|t| t.ggml_type.ggml_name())
        .next()
        .unwrap_or("f16");
    name.to_uppercase()
}

/// Seconds to evaluate `tokens` in chunks of `ctx` (every token's logits) with weights multiplied
/// at `flops` FLOPs/s.
fn forward_seconds(
    work: &ModelWork,
    tokens: u64,
    ctx: u64,
    flops: f64,
    speed: &MachineSpeed,
) -> f64 {
    let factor = speed.model.map_or(1.0, |m| m.forward_factor);
    factor * tokens as f64 * work.flops_per_token(ctx / 2) / flops
}

/// The bench's repetitions: prompt processing at the multiplication's speed, generation at the
/// read bandwidth of the weights.
fn bench_seconds(
    cfg: &SweepConfig,
    work: &ModelWork,
    flops: f64,
    weight_bytes: u64,
    speed: &MachineSpeed,
) -> f64 {
    let Some(b) = &cfg.bench else { return 0.0 };
    let pp = work.test(b.n_prompt as u64, 0, cfg.bench_batch() as u64, 512);
    let tg = work.test(0, b.n_gen as u64, 1, 1);
    let gen = tg.bytes / speed.read_bytes_per_s(weight_bytes as f64);
    let factor = speed.model.map_or(1.0, |m| m.forward_factor);
    b.reps as f64 * (factor * pp.flops / flops + gen)
}

fn task_seconds(cfg: &SweepConfig, work: &ModelWork, flops: f64, speed: &MachineSpeed) -> f64 {
    if cfg.tasks.is_empty() {
        return 0.0;
    }
    let items = cfg.task_limit.unwrap_or(1000) as u64 * cfg.tasks.len() as u64;
    forward_seconds(work, items * TASK_TOKENS_PER_ITEM, 128, flops, speed)
}

fn rung_cost(
    r: &Rung,
    tensors: &[RungTensor],
    cfg: &SweepConfig,
    work: &ModelWork,
    m: &Shape,
    eval_tokens: u64,
    speed: &MachineSpeed,
) -> StageCost {
    let size = tensors.iter().map(|t| t.bytes).sum::<u64>() + 1_000_000;
    let is_base = r.prune.is_none() && r.qtype.is_float();
    let imatrix = r.quantized_with_imatrix(cfg.imatrix_for);
    let quantize: f64 = tensors
        .iter()
        .filter(|t| t.quantized)
        .map(|t| t.elements as f64 / speed.quantize_per_s(&t.type_name, imatrix))
        .sum();
    let ctx = cfg.n_ctx as u64;
    let flops = mixed_flops(tensors, speed);
    let measure = forward_seconds(work, eval_tokens, ctx, flops, speed)
        + bench_seconds(cfg, work, flops, size, speed)
        + task_seconds(cfg, work, flops, speed);
    // Quantizing holds the largest tensor converted to F32. Measuring maps the rung's
    // file (every page read), holds a second copy of the tensors the CPU repacks into its own
    // layout (`CPU_REPACK`, read from the peaks' kernels) and the perplexity contexts.
    let quantizing = m.largest_tensor_elements * 4 + (64 << 20);
    let repacked: u64 = tensors
        .iter()
        .filter(|t| speed.repacked(&t.type_name))
        .map(|t| t.bytes)
        .sum();
    let contexts = m.perplexity_bytes(ctx, perplexity_contexts(cfg, eval_tokens));
    let measuring = size + repacked + contexts;
    StageCost {
        stage: format!("rung {}", r.name),
        seconds: if is_base { 0.0 } else { quantize + measure },
        peak_memory_bytes: quantizing.max(measuring),
        disk_bytes: if is_base { 0 } else { size },
    }
}

/// The multiplication speed of a rung's weights: each matrix at its own type's speed, the times
/// added up (so a slow type weighs by the time it takes, not by its count).
fn mixed_flops(tensors: &[RungTensor], speed: &MachineSpeed) -> f64 {
    let matrices = tensors.iter().filter(|t| t.quantized);
    let weights: u64 = matrices.clone().map(|t| t.elements).sum();
    let time: f64 = matrices
        .map(|t| t.elements as f64 / speed.flops(&t.type_name))
        .sum();
    if weights == 0 || time <= 0.0 {
        return speed.flops("F16");
    }
    weights as f64 / time
}

/// One tensor of a rung's file as the plan sees it.
struct RungTensor {
    type_name: String,
    elements: u64,
    bytes: u64,
    quantized: bool,
}

/// Each tensor of a rung's file in the type llama.cpp gives it: from its dry run (`mix`) where
/// there is one, else modelled (`modelled_type`); 1-D tensors as they are.
fn rung_tensors(file: &GgufFile, r: &Rung, mix: Option<&TensorTypes>) -> Vec<RungTensor> {
    let layout = |id: u32| crate::engine::ggml_type_layout(id);
    file.tensors()
        .iter()
        .map(|t| {
            let n = t.n_elements();
            if t.dims.len() < 2 || r.qtype.is_float() {
                return RungTensor {
                    type_name: t.ggml_type.ggml_name().to_uppercase(),
                    elements: n,
                    bytes: t.ggml_type.tensor_bytes(&t.dims).unwrap_or(n * 2),
                    quantized: false,
                };
            }
            let chosen = mix
                .and_then(|m| m.get(&t.name))
                .and_then(|name| GgmlType::from_name(name));
            let id = chosen.map_or_else(|| modelled_type(t, r), |g| g.id());
            let (blck, bytes, name) = layout(id).unwrap_or((1, 2, "f16".into()));
            RungTensor {
                type_name: name.to_uppercase(),
                elements: n,
                bytes: n / blck.max(1) * bytes,
                quantized: true,
            }
        })
        .collect()
}

/// A matrix's type where llama.cpp's dry run could not say: the rung's default type, Q6_K for the
/// output head (or the token embedding that serves as one) unless the rung is Q8_0, a 32-wide type
/// where its rows do not divide into the type's blocks.
fn modelled_type(t: &TensorInfo, r: &Rung) -> u32 {
    let default = r.qtype.default_ggml_type;
    let q6_k = GgmlType::from_name("Q6_K").map(|t| t.id());
    let q8_0 = GgmlType::from_name("Q8_0").map(|t| t.id());
    let is_head = t.name == "output.weight" || t.name == "token_embd.weight";
    let id = match q6_k {
        Some(q6) if is_head && Some(default) != q8_0 => q6,
        _ => default,
    };
    match crate::engine::ggml_type_layout(id) {
        Some((b, _, _)) if t.dims[0].is_multiple_of(b) => id,
        _ => fallback(id),
    }
}

/// llama.cpp's 32-wide replacement for a 256-wide type whose rows do not divide into its blocks.
fn fallback(id: u32) -> u32 {
    let name = crate::engine::ggml_type_layout(id)
        .map(|(_, _, n)| n.to_uppercase())
        .unwrap_or_default();
    let to = match name.as_str() {
        "Q4_K" => "Q5_0",
        "Q5_K" => "Q5_1",
        "Q6_K" => "Q8_0",
        "Q2_K" | "Q3_K" | "TQ1_0" | "TQ2_0" => "Q4_0",
        _ => "IQ4_NL",
    };
    GgmlType::from_name(to).map_or(id, |t| t.id())
}
