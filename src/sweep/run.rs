//! Runs a sweep: validate, importance matrix, base, then every rung (quantize, measure, record).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use super::manifest::{self, Manifest};
use super::plan::SweepPlan;
use crate::engine::{self, Model, ModelOptions, Token};
use crate::gguf::GgufFile;
use crate::measure::{self, Eval, KldBase, PerplexityOptions};
use crate::quant::quantize::{quantize_file, QuantizeOptions};
use crate::quant::types::QuantType;
use crate::results::{ModelInfo, Provenance, RungResult, Settings, SweepResults, Timings};

#[derive(Debug, Clone)]
pub struct BenchSettings {
    pub n_prompt: u32,
    pub n_gen: u32,
    pub reps: u32,
}

#[derive(Debug, Clone)]
pub struct SweepConfig {
    pub model: PathBuf,
    pub out_dir: PathBuf,
    pub plan: SweepPlan,
    /// Evaluation text for perplexity and KL-divergence.
    pub text: PathBuf,
    /// Calibration text for the importance matrix.
    pub calib: Option<PathBuf>,
    /// A ready importance matrix instead of computing one.
    pub imatrix: Option<PathBuf>,
    pub imatrix_chunks: Option<u32>,
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_chunks: Option<u32>,
    pub n_threads: u32,
    pub n_gpu_layers: u32,
    /// None: skip the throughput benchmark.
    pub bench: Option<BenchSettings>,
    pub keep_models: bool,
    pub force: bool,
    pub allow_requantize: bool,
}

/// What the sweep tells its caller (the CLI draws progress bars from these).
pub enum SweepEvent<'a> {
    Stage(&'a str),
    /// Progress within a stage: done, total, unit, message.
    Progress(u64, u64, &'a str, String),
    RungStart { index: usize, total: usize, rung: &'a str },
    RungDone(&'a RungResult),
    RungSkipped(&'a str),
    Warning(String),
}

pub type Observer<'a> = &'a mut dyn FnMut(SweepEvent<'_>);

/// The name the F16/BF16/F32 input is filed under in the ladder.
fn base_rung_name(file: &GgufFile) -> &'static str {
    let mut f16 = 0u64;
    let mut bf16 = 0u64;
    let mut f32 = 0u64;
    for t in file.tensors().iter().filter(|t| t.dims.len() >= 2) {
        match t.ggml_type.name() {
            "f16" => f16 += t.n_elements(),
            "bf16" => bf16 += t.n_elements(),
            "f32" => f32 += t.n_elements(),
            _ => {}
        }
    }
    if bf16 > f16 && bf16 > f32 {
        "BF16"
    } else if f32 > f16 {
        "F32"
    } else {
        "F16"
    }
}

pub fn run_sweep(cfg: &SweepConfig, on: Observer<'_>) -> Result<SweepResults> {
    on(SweepEvent::Stage("validating the input"));
    let input = GgufFile::open(&cfg.model)?;
    if let Some(t) = input.tensors().iter().find(|t| t.dims.len() >= 2 && !t.ggml_type.is_float()) {
        if !cfg.allow_requantize {
            bail!(
                "{}: already quantized (tensor {} is {}); a sweep starts from F16/BF16/F32 weights. Pass --allow-requantize to sweep it anyway (every rung then carries its rounding)",
                cfg.model.display(),
                t.name,
                t.ggml_type.name()
            );
        }
    }
    let base_name = base_rung_name(&input);
    let summary = crate::gguf::Summary::of(&input);
    drop(input);

    std::fs::create_dir_all(&cfg.out_dir).with_context(|| format!("{}: cannot create the output folder", cfg.out_dir.display()))?;
    let mut m = open_manifest(cfg, on)?;
    m.results.model = ModelInfo {
        name: cfg.model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        path: cfg.model.display().to_string(),
        sha256: m.results.model.sha256.clone(),
        architecture: summary.architecture.clone(),
        n_params: Some(summary.parameters),
        size_bytes: Some(summary.file_size),
    };
    m.save(&cfg.out_dir)?;

    on(SweepEvent::Stage("tokenizing the evaluation text"));
    let text = measure::text::read_text(&cfg.text)?;
    let model_opts = ModelOptions { n_gpu_layers: cfg.n_gpu_layers, ..Default::default() };

    // Importance matrix, once, only if some rung needs it.
    let imatrix_path = prepare_imatrix(cfg, &mut m, on)?;

    // The base: perplexity (captured as the compact KL-divergence base), bench.
    let base_file = cfg.out_dir.join("base.kld");
    let ppl_opts = PerplexityOptions { n_ctx: cfg.n_ctx, n_batch: cfg.n_batch, n_chunks: cfg.n_chunks, n_threads: cfg.n_threads };
    if m.results.base.is_none() || !base_file.exists() {
        on(SweepEvent::Stage("measuring the base model"));
        let t0 = Instant::now();
        let model = Model::load(&cfg.model, &model_opts)?;
        let tokens: Vec<Token> = measure::text::tokenize(&model, &text)?;
        let run = measure::perplexity(
            &model,
            Eval::Text { tokens: &tokens, capture: measure::BaseCapture { top_k: Some(measure::DEFAULT_TOP_K), llama_file: None } },
            &ppl_opts,
            &mut |p| on(SweepEvent::Progress(p.done as u64, p.total as u64, "chunks", format!("PPL {:.4}", p.chunk.ppl))),
        )?;
        let base = run.base.as_ref().context("the base run kept no KL-divergence base")?;
        base.save(&base_file)?;
        let mut r = RungResult::new(base_name);
        r.ftype = crate::quant::types::find(base_name).map(|t| t.ftype);
        r.nominal_bits = crate::quant::types::find(base_name).map(|t| t.bits as f64);
        r.bpw = Some(summary.bits_per_weight);
        r.size_bytes = Some(summary.file_size);
        r.ppl = Some(run.ppl);
        r.ppl_err = Some(run.ppl_err);
        r.ln_ppl_ratio = Some(0.0);
        r.times.perplexity_s = Some(run.seconds);
        bench_into(&model, cfg, &mut r, on)?;
        let _ = t0;
        m.results.base = Some(r);
        m.kld_base = Some("base.kld".into());
        m.save(&cfg.out_dir)?;
    }
    let kld_base = KldBase::open(&base_file)?;

    let total = m.plan.len();
    let plan: Vec<&'static QuantType> = cfg.plan.rungs.clone();
    for (i, qtype) in plan.iter().enumerate() {
        crate::util::check_interrupted()?;
        if m.finished(qtype.name).is_some() {
            on(SweepEvent::RungSkipped(qtype.name));
            continue;
        }
        on(SweepEvent::RungStart { index: i + 1, total, rung: qtype.name });
        let result = if qtype.name == base_name {
            // The input itself is this rung: its numbers are the base's.
            let mut r = m.results.base.clone().context("base result missing")?;
            r.rung = qtype.name.to_string();
            Ok(r)
        } else {
            measure_rung(cfg, qtype, imatrix_path.as_deref(), &kld_base, &ppl_opts, &model_opts, on)
        };
        match result {
            Ok(r) => {
                on(SweepEvent::RungDone(&r));
                m.record(r);
            }
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => {
                let mut r = RungResult::new(qtype.name);
                r.ftype = Some(qtype.ftype);
                r.nominal_bits = Some(qtype.bits as f64);
                r.error = Some(format!("{e:#}"));
                on(SweepEvent::Warning(format!("{}: {e:#}", qtype.name)));
                on(SweepEvent::RungDone(&r));
                m.record(r);
            }
        }
        m.save(&cfg.out_dir)?;
    }
    on(SweepEvent::Stage("rendering results"));
    crate::report::render_all(std::slice::from_ref(&m.results), &cfg.out_dir)?;
    Ok(m.results)
}

/// Errors that stop the sweep (the user's Ctrl-C, a full disk) rather than fail one rung.
fn is_fatal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::util::Interrupted>().is_some()
            || c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
            || c.to_string().contains("No space left on device")
    })
}

fn measure_rung(
    cfg: &SweepConfig,
    qtype: &'static QuantType,
    imatrix: Option<&Path>,
    kld_base: &KldBase,
    ppl_opts: &PerplexityOptions,
    model_opts: &ModelOptions,
    on: Observer<'_>,
) -> Result<RungResult> {
    let path = cfg.out_dir.join(format!("model-{}.gguf", qtype.name));
    // Remove the quantized file however this rung ends, unless the user keeps them.
    struct Cleanup<'a>(&'a Path, bool);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = std::fs::remove_file(self.0);
            }
        }
    }
    let _cleanup = Cleanup(&path, cfg.keep_models);

    let mut r = RungResult::new(qtype.name);
    r.ftype = Some(qtype.ftype);
    r.nominal_bits = Some(qtype.bits as f64);
    let mut q = QuantizeOptions::new(qtype);
    q.n_threads = cfg.n_threads;
    q.allow_requantize = cfg.allow_requantize;
    if qtype.needs_imatrix || imatrix.is_some() {
        q.imatrix = imatrix.map(Path::to_path_buf);
    }
    let report = quantize_file(
        &cfg.model,
        &path,
        &q,
        Some(Box::new(|_, _, _| {})),
    )?;
    r.times.quantize_s = Some(report.seconds);
    r.bpw = Some(report.bpw);
    r.size_bytes = Some(report.output_bytes);

    let model = Model::load(&path, model_opts)?;
    let run = measure::perplexity(&model, Eval::AgainstBase(kld_base), ppl_opts, &mut |p| {
        on(SweepEvent::Progress(p.done as u64, p.total as u64, "chunks", format!("PPL {:.4}", p.chunk.ppl)))
    })?;
    r.ppl = Some(run.ppl);
    r.ppl_err = Some(run.ppl_err);
    r.times.perplexity_s = Some(run.seconds);
    if let Some(k) = &run.kld {
        r.ln_ppl_ratio = Some(k.stats.ln_ppl_ratio);
        r.ln_ppl_ratio_err = Some(k.stats.ln_ppl_ratio_err);
        r.kld = Some(crate::results::KldSummary::from(&k.stats));
    }
    bench_into(&model, cfg, &mut r, on)?;
    Ok(r)
}

fn bench_into(model: &Model, cfg: &SweepConfig, r: &mut RungResult, on: Observer<'_>) -> Result<()> {
    let Some(b) = &cfg.bench else { return Ok(()) };
    on(SweepEvent::Progress(0, 1, "bench", format!("pp{} tg{} x{}", b.n_prompt, b.n_gen, b.reps)));
    let t0 = Instant::now();
    let res = measure::bench::bench_model(model, &measure::bench::BenchPoint {
        n_prompt: b.n_prompt,
        n_gen: b.n_gen,
        reps: b.reps,
        n_threads: cfg.n_threads,
        n_batch: cfg.n_batch,
    })?;
    r.pp_ts = res.pp_ts;
    r.pp_ts_sd = res.pp_ts_sd;
    r.tg_ts = res.tg_ts;
    r.tg_ts_sd = res.tg_ts_sd;
    r.times.bench_s = Some(t0.elapsed().as_secs_f64());
    Ok(())
}

fn prepare_imatrix(cfg: &SweepConfig, m: &mut Manifest, on: Observer<'_>) -> Result<Option<PathBuf>> {
    if let Some(p) = &cfg.imatrix {
        return Ok(Some(p.clone()));
    }
    if !cfg.plan.needs_imatrix() {
        return Ok(None);
    }
    let out = cfg.out_dir.join("imatrix.gguf");
    if out.exists() && m.imatrix.is_some() {
        return Ok(Some(out));
    }
    let Some(calib) = &cfg.calib else {
        let need: Vec<&str> = cfg.plan.rungs.iter().filter(|t| t.needs_imatrix).map(|t| t.name).collect();
        bail!(
            "{} need an importance matrix: pass --calib TEXT (e.g. ../shared/data/calibration/groups_merged.txt) to compute one, or --imatrix FILE",
            need.join(", ")
        );
    };
    on(SweepEvent::Stage("computing the importance matrix"));
    let text = measure::text::read_text(calib)?;
    let model = Model::load(&cfg.model, &ModelOptions { n_gpu_layers: cfg.n_gpu_layers, ..Default::default() })?;
    let opts = crate::quant::calibrate::ImatrixOptions {
        n_ctx: cfg.n_ctx,
        n_chunks: cfg.imatrix_chunks,
        n_threads: cfg.n_threads,
        compute_ppl: false,
        ..Default::default()
    };
    let run = crate::quant::calibrate::compute_imatrix(&model, &text, &calib.display().to_string(), &opts, &mut |d, t, _| {
        on(SweepEvent::Progress(d as u64, t as u64, "chunks", String::new()))
    })?;
    crate::quant::imatrix_file::save(&out, &run.imatrix, crate::quant::imatrix_file::ImatrixFormat::Gguf)?;
    m.imatrix = Some("imatrix.gguf".into());
    m.save(&cfg.out_dir)?;
    Ok(Some(out))
}

/// Loads the manifest of an earlier run of the same sweep, or starts one; refuses a folder that
/// holds a different sweep (other inputs or settings) unless `--force`.
fn open_manifest(cfg: &SweepConfig, on: Observer<'_>) -> Result<Manifest> {
    on(SweepEvent::Stage("hashing inputs"));
    let mut inputs: Vec<(String, String)> = vec![
        ("model".into(), crate::util::sha256_file(&cfg.model)?),
        ("text".into(), crate::util::sha256_file(&cfg.text)?),
        ("n_ctx".into(), cfg.n_ctx.to_string()),
        ("n_batch".into(), cfg.n_batch.to_string()),
        ("chunks".into(), cfg.n_chunks.map_or("all".into(), |c| c.to_string())),
        ("threads".into(), cfg.n_threads.to_string()),
        ("n_gpu_layers".into(), cfg.n_gpu_layers.to_string()),
        ("llama.cpp".into(), engine::build_info::LLAMA_REVISION.into()),
    ];
    if let Some(b) = &cfg.bench {
        inputs.push(("bench".into(), format!("p{} n{} r{}", b.n_prompt, b.n_gen, b.reps)));
    }
    if let Some(p) = &cfg.imatrix {
        inputs.push(("imatrix".into(), crate::util::sha256_file(p)?));
    } else if let Some(c) = &cfg.calib {
        inputs.push(("calibration".into(), crate::util::sha256_file(c)?));
        inputs.push(("imatrix_chunks".into(), cfg.imatrix_chunks.map_or("all".into(), |c| c.to_string())));
    }
    let fp = manifest::fingerprint(&inputs);
    let plan = cfg.plan.names();
    if let Some(mut old) = Manifest::load(&cfg.out_dir)? {
        if old.fingerprint == fp {
            old.plan = plan;
            return Ok(old);
        }
        if !cfg.force {
            bail!(
                "{}: holds a sweep with other inputs or settings ({}); pass --force to start over there, or pick another -o",
                cfg.out_dir.display(),
                manifest::describe_changes(&old.fingerprint_inputs, &inputs)
            );
        }
        on(SweepEvent::Warning(format!("--force: discarding the earlier sweep in {}", cfg.out_dir.display())));
        for f in ["base.kld", "imatrix.gguf"] {
            let _ = std::fs::remove_file(cfg.out_dir.join(f));
        }
    } else if std::fs::read_dir(&cfg.out_dir)?.next().is_some() && !cfg.force {
        bail!("{}: not empty and holds no sweep manifest; pick an empty or new folder (or --force)", cfg.out_dir.display());
    }
    let settings = Settings {
        text_file: Some(cfg.text.display().to_string()),
        n_ctx: cfg.n_ctx,
        n_chunks: cfg.n_chunks,
        n_threads: cfg.n_threads,
        n_gpu_layers: cfg.n_gpu_layers,
        bench_prompt: cfg.bench.as_ref().map_or(0, |b| b.n_prompt),
        bench_gen: cfg.bench.as_ref().map_or(0, |b| b.n_gen),
        bench_reps: cfg.bench.as_ref().map_or(0, |b| b.reps),
        imatrix: cfg.imatrix.as_ref().map(|p| p.display().to_string()),
        tasks: Vec::new(),
        extra: [("n_batch".to_string(), cfg.n_batch.to_string())].into_iter().collect(),
    };
    let mut provenance = Provenance::current();
    for (k, v) in &inputs {
        if matches!(k.as_str(), "model" | "text" | "calibration" | "imatrix") {
            provenance.inputs.insert(k.clone(), v.clone());
        }
    }
    let mut results = SweepResults::new(ModelInfo::default(), provenance, settings);
    results.model.sha256 = inputs.first().map(|(_, v)| v.clone());
    Ok(Manifest {
        manifest_version: manifest::MANIFEST_VERSION,
        fingerprint: fp,
        fingerprint_inputs: inputs,
        plan,
        imatrix: None,
        kld_base: None,
        results,
    })
}
