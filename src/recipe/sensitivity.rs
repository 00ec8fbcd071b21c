//! Measured sensitivity: the model is loaded once; for each group of tensors and each type it may
//! take, the group's weights are replaced by their quantized-and-dequantized values (llama.cpp's
//! own quantizer, with the importance matrix), the calibration tokens are decoded, and the mean
//! KL-divergence from the unquantized model's distributions is recorded. Then the weights are put
//! back. Only that group differs from the base, so the number is that group's cost alone.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context as _, Result};
use rayon::prelude::*;

use super::stock::StockMixes;
use super::table::{
    Calibration, Choice, Group, Grouping, ModelShape, SensitivityTable, SENSITIVITY_VERSION,
};
use crate::engine::{quantize_roundtrip, Batch, ContextOptions, PatchableModel, Token};
use crate::gguf::{GgmlType, GgufFile, TensorInfo};
use crate::logits::{kld_full, LogSumExp};
use crate::quant::types::QuantType;

/// Types measured for every tensor whose rows suit them (besides each tensor's stock types): the
/// K-quants and IQ4_XS for rows that are whole 256-blocks; for the others, the 32-wide types
/// llama.cpp's own mixes fall back to and IQ4_NL; Q8_0 for both. (Q4_1 sits between IQ4_NL and
/// Q5_0 and rarely beats both; `--types` adds it.)
pub const DEFAULT_CANDIDATES: &[GgmlType] = &[
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::IQ4_XS,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::IQ4_NL,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
];

/// Whether a candidate suits rows of `ne0`: 32-wide types only where 256-blocks do not fit (a
/// K-quant of the same size does better where they do).
fn suits_rows(ty: GgmlType, ne0: u64) -> bool {
    ty == GgmlType::Q8_0 || (ty.block_size() == 256) == ne0.is_multiple_of(256)
}

/// About which candidates `measure` decodes for `file` with the default candidates (the stock
/// types, which its dry runs give, rarely add one), as (type, weights it quantizes): for a plan
/// made before anything is measured.
pub fn planned_candidates(file: &GgufFile, grouping: Grouping) -> Vec<(GgmlType, u64)> {
    let mut groups: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for t in file
        .tensors()
        .iter()
        .filter(|t| t.dims.len() >= 2 && t.name.ends_with("weight") && !t.name.contains("_norm"))
    {
        let group = groups
            .entry(group_of(&t.name, grouping))
            .or_insert((t.dims[0], 0));
        group.1 += t.n_elements();
    }
    groups
        .values()
        .flat_map(|&(ne0, weights)| {
            DEFAULT_CANDIDATES
                .iter()
                .filter(move |&&ty| suits_rows(ty, ne0) && !needs_imatrix(ty))
                .map(move |&ty| (ty, weights))
        })
        .collect()
}

/// The stock types recorded by default: llama.cpp's K-quant mixes and Q8_0, the sizes users ship.
pub const DEFAULT_STOCK: &[&str] = &[
    "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0",
];

#[derive(Debug, Clone)]
pub struct SensitivityOptions {
    pub calibration: PathBuf,
    pub imatrix: Option<PathBuf>,
    /// Tokens per sequence; as in llama-perplexity, the first half gives context and the second
    /// half's distributions are compared.
    pub n_ctx: u32,
    /// Sequences, decoded together.
    pub n_chunk: u32,
    pub grouping: Grouping,
    /// Candidate types in place of [`DEFAULT_CANDIDATES`] (stock types are always measured).
    pub types: Option<Vec<GgmlType>>,
    /// Stock types whose mixes are recorded (and whose per-tensor types are measured), in place of
    /// [`DEFAULT_STOCK`].
    pub stock: Option<Vec<&'static QuantType>>,
    pub n_threads: u32,
    pub n_gpu_layers: u32,
}

/// What the measurement reports as it goes.
pub enum Event<'a> {
    /// Before the first candidate: how many decodes, and the time the base pass took each.
    Plan {
        evaluations: usize,
        seconds_each: f64,
        /// What quantizing every candidate will take, from each type's speed on a sample.
        quantize_seconds: f64,
    },
    Measured {
        group: &'a str,
        ggml_type: GgmlType,
        kld: f64,
    },
}

/// The scored rows of the unquantized model.
struct BaseRows {
    logits: Vec<f32>,
    lse: Vec<LogSumExp>,
    n_vocab: usize,
}

/// The token layout of one decode: `n_chunk` sequences of `n_ctx`, positions `first .. n_ctx - 1`
/// compared (llama-perplexity's chunks: a group's cost is what `perplexity --base` would report
/// for the model with only that group quantized).
struct Decode {
    tokens: Vec<Token>,
    n_ctx: usize,
    n_chunk: usize,
    first: usize,
}

impl Decode {
    fn compared(&self, i: usize) -> bool {
        (self.first..self.n_ctx - 1).contains(&(i % self.n_ctx))
    }
}

pub fn measure(
    model_path: &Path,
    opts: &SensitivityOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<SensitivityTable> {
    let t0 = Instant::now();
    let file = crate::engine::open_gguf(model_path)?;
    if let Some(t) = file.tensors().iter().find(|t| t.ggml_type.is_quantized()) {
        bail!(
            "{}: already quantized (tensor {} is {}); measure sensitivity on the F16, BF16 or F32 model",
            model_path.display(),
            t.name,
            t.ggml_type.ggml_name()
        );
    }
    let imatrix = load_imatrix(&file, opts.imatrix.as_deref())?;
    let targets = match &opts.stock {
        Some(list) => list.clone(),
        None => DEFAULT_STOCK
            .iter()
            .filter_map(|n| crate::quant::types::find(n))
            .collect(),
    };
    let stock = stock_mixes(model_path, &targets, opts.imatrix.as_deref())?;
    let shape = ModelShape::of(&file);
    let groups = plan_groups(&file, &shape, &stock, opts, imatrix.is_some())?;

    let ctx = ContextOptions {
        n_seq_max: opts.n_chunk,
        ..ContextOptions::new(
            opts.n_ctx * opts.n_chunk,
            opts.n_ctx * opts.n_chunk,
            opts.n_threads,
        )
    };
    let mut pm = PatchableModel::load(model_path, opts.n_gpu_layers, &ctx)?;
    let decode = calibration_tokens(&pm, opts)?;
    let t_base = Instant::now();
    let base = base_rows(&mut pm, &decode)?;
    let seconds_each = t_base.elapsed().as_secs_f64();
    let evaluations = groups.iter().map(|g| g.choices.len() - 1).sum();
    on_event(Event::Plan {
        evaluations,
        seconds_each,
        quantize_seconds: quantize_seconds(&file, &groups, &imatrix)?,
    });

    let mut measured = Vec::with_capacity(groups.len());
    for g in groups {
        measured.push(measure_group(
            &mut pm, &file, &decode, &base, &imatrix, g, on_event,
        )?);
    }
    Ok(SensitivityTable {
        version: SENSITIVITY_VERSION,
        model: shape,
        imatrix: opts.imatrix.as_ref().map(|p| p.display().to_string()),
        calibration: Calibration {
            file: opts.calibration.display().to_string(),
            n_ctx: opts.n_ctx,
            n_chunk: opts.n_chunk,
            n_scored: (decode.n_chunk * (decode.n_ctx - 1 - decode.first)) as u64,
            tokens_sha256: crate::measure::kld_base::tokens_sha256(&decode.tokens),
        },
        grouping: opts.grouping,
        groups: measured,
        stock,
        seconds: t0.elapsed().as_secs_f64(),
        mpt_gguf_version: env!("CARGO_PKG_VERSION").to_string(),
        llama_cpp: crate::engine::build_info::LLAMA_REVISION.to_string(),
    })
}

type ImatrixValues = Option<HashMap<String, Vec<f32>>>;

fn load_imatrix(file: &GgufFile, path: Option<&Path>) -> Result<ImatrixValues> {
    let Some(path) = path else { return Ok(None) };
    let im = crate::quant::quantize::load_checked_imatrix(path, file)?;
    Ok(Some(im.for_quantize().into_iter().collect()))
}

/// The mixes of the stock types llama.cpp can make of this model (some cannot be made: no
/// fallback for its rows, or no importance matrix for a type that needs one).
fn stock_mixes(
    model: &Path,
    targets: &[&'static QuantType],
    imatrix: Option<&Path>,
) -> Result<StockMixes> {
    let makeable = targets
        .iter()
        .filter(|q| imatrix.is_some() || !q.needs_imatrix);
    let mixes = super::stock::stock_mixes(model, makeable, imatrix);
    ensure!(
        !mixes.is_empty(),
        "{}: llama.cpp can make none of its stock types of this model",
        model.display()
    );
    Ok(mixes)
}

/// Groups with their candidate types; the input type comes first (cost zero, not decoded).
fn plan_groups(
    file: &GgufFile,
    shape: &ModelShape,
    stock: &StockMixes,
    opts: &SensitivityOptions,
    with_imatrix: bool,
) -> Result<Vec<Group>> {
    let candidates = opts.types.as_deref().unwrap_or(DEFAULT_CANDIDATES);
    let mut by_group: BTreeMap<String, Vec<&TensorInfo>> = BTreeMap::new();
    for t in file.tensors() {
        let stocked: BTreeSet<GgmlType> = stock
            .values()
            .filter_map(|m| m.get(&t.name).and_then(|n| GgmlType::from_name(n)))
            .filter(|&ty| ty != t.ggml_type)
            .collect();
        if stocked.is_empty() {
            continue; // llama.cpp never quantizes it (norms, 1-d tensors)
        }
        by_group
            .entry(group_of(&t.name, opts.grouping))
            .or_default()
            .push(t);
    }
    let mut groups = Vec::new();
    for (name, tensors) in by_group {
        let mut types: BTreeSet<GgmlType> = candidates
            .iter()
            .copied()
            .filter(|&ty| suits_rows(ty, tensors[0].dims[0]))
            .collect();
        for t in &tensors {
            types.extend(
                stock
                    .values()
                    .filter_map(|m| m.get(&t.name).and_then(|n| GgmlType::from_name(n))),
            );
        }
        let input = tensors[0].ggml_type;
        let mut choices = vec![input];
        choices.extend(types.into_iter().filter(|&ty| {
            ty != input
                && tensors.iter().all(|t| ty.tensor_bytes(&t.dims).is_some())
                && (with_imatrix || !needs_imatrix(ty))
        }));
        let choices = choices
            .into_iter()
            .map(|ty| {
                let bytes = tensors
                    .iter()
                    .map(|t| shape.padded_bytes(shape.tensor(&t.name).expect("listed"), ty))
                    .sum::<Option<u64>>()
                    .context("type fits every tensor")?;
                Ok(Choice {
                    ggml_type: ty,
                    bytes,
                    kld: 0.0,
                    proxy: 0.0,
                })
            })
            .collect::<Result<_>>()?;
        groups.push(Group {
            name,
            tensors: tensors.iter().map(|t| t.name.clone()).collect(),
            choices,
        });
    }
    ensure!(
        !groups.is_empty(),
        "{}: llama.cpp quantizes none of its tensors",
        file.path().display()
    );
    Ok(groups)
}

/// The group a tensor is measured in.
fn group_of(name: &str, grouping: Grouping) -> String {
    match grouping {
        Grouping::Tensor => name.to_string(),
        Grouping::Kind => kind_of(name),
    }
}

/// `blk.7.attn_q.weight` → `attn_q.weight`; tensors outside the blocks are their own kind.
fn kind_of(name: &str) -> String {
    match name.strip_prefix("blk.").and_then(|r| r.split_once('.')) {
        Some((_, kind)) => kind.to_string(),
        None => name.to_string(),
    }
}

fn needs_imatrix(ty: GgmlType) -> bool {
    matches!(
        ty,
        GgmlType::IQ1_S | GgmlType::IQ1_M | GgmlType::IQ2_XXS | GgmlType::IQ2_XS | GgmlType::IQ2_S
    )
}

/// The first `n_chunk · n_ctx` tokens of the calibration text, tokenized and cut as
/// llama-perplexity does (BOS first in each chunk when the model adds one).
fn calibration_tokens(pm: &PatchableModel, opts: &SensitivityOptions) -> Result<Decode> {
    ensure!(
        opts.n_ctx >= 16,
        "-c {} is too small: use at least 16",
        opts.n_ctx
    );
    ensure!(opts.n_chunk >= 1, "--chunks must be at least 1");
    let need = (opts.n_ctx * opts.n_chunk) as usize;
    let text = crate::measure::text::read_text(&opts.calibration)?;
    // Tokenizing a prefix is enough; a token is rarely more than 16 bytes.
    let mut take = (need * 16).min(text.len());
    let tokens = loop {
        let end = (0..=take)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let tokens = crate::measure::text::tokenize(pm.model(), &text[..end])?;
        if tokens.len() >= need || take == text.len() {
            break tokens;
        }
        take = (take * 2).min(text.len());
    };
    if tokens.len() < need {
        bail!(
            "{}: {} tokens, but -c {} --chunks {} needs {need}; give a longer text or fewer chunks",
            opts.calibration.display(),
            tokens.len(),
            opts.n_ctx,
            opts.n_chunk
        );
    }
    let mut tokens = tokens[..need].to_vec();
    if pm.model().adds_bos() {
        tokens
            .chunks_mut(opts.n_ctx as usize)
            .for_each(|c| c[0] = pm.model().bos());
    }
    Ok(Decode {
        tokens,
        n_ctx: opts.n_ctx as usize,
        n_chunk: opts.n_chunk as usize,
        first: opts.n_ctx as usize / 2,
    })
}

/// Decodes the calibration sequences and hands the compared rows to `score`.
fn decode_rows<R>(
    pm: &mut PatchableModel,
    d: &Decode,
    score: impl FnOnce(Vec<&[f32]>) -> R,
) -> Result<R> {
    pm.with_context(|ctx| {
        ctx.clear_memory();
        let mut batch = Batch::new(d.tokens.len(), d.n_chunk);
        for (i, &tok) in d.tokens.iter().enumerate() {
            let (seq, pos) = (i / d.n_ctx, i % d.n_ctx);
            batch.add(tok, pos as i32, &[seq as i32], d.compared(i))?;
        }
        ctx.decode(&mut batch)?;
        let rows = (0..d.tokens.len())
            .filter(|&i| d.compared(i))
            .map(|i| ctx.logits(i))
            .collect::<Result<Vec<_>>>()?;
        Ok(score(rows))
    })
}

fn base_rows(pm: &mut PatchableModel, d: &Decode) -> Result<BaseRows> {
    let n_vocab = pm.model().n_vocab();
    decode_rows(pm, d, |rows| BaseRows {
        lse: rows.iter().map(|r| LogSumExp::of(r)).collect(),
        logits: rows.concat(),
        n_vocab,
    })
}

/// Mean KL(base ‖ current) over the compared rows.
fn mean_kld(pm: &mut PatchableModel, d: &Decode, base: &BaseRows) -> Result<f64> {
    decode_rows(pm, d, |rows| {
        let sum: f64 = rows
            .par_iter()
            .enumerate()
            .map(|(i, row)| {
                let b = &base.logits[i * base.n_vocab..(i + 1) * base.n_vocab];
                kld_full(b, &base.lse[i], row, &LogSumExp::of(row))
            })
            .sum();
        sum / rows.len().max(1) as f64
    })
}

/// One group: every candidate type measured in turn, the original weights restored after.
fn measure_group(
    pm: &mut PatchableModel,
    file: &GgufFile,
    d: &Decode,
    base: &BaseRows,
    imatrix: &ImatrixValues,
    mut g: Group,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Group> {
    let originals: Vec<(String, Vec<f32>, usize)> = g
        .tensors
        .iter()
        .map(|name| {
            let t = file.tensor(name).context("listed tensor")?;
            Ok((name.clone(), read_floats(file, t)?, t.dims[0] as usize))
        })
        .collect::<Result<_>>()?;
    let input = g.choices[0].ggml_type;
    for choice in g.choices.iter_mut().filter(|c| c.ggml_type != input) {
        crate::util::check_interrupted()?;
        let mut proxy = 0.0;
        for (name, values, n_per_row) in &originals {
            let im = imatrix
                .as_ref()
                .and_then(|m| m.get(name))
                .map(Vec::as_slice);
            let q = roundtrip_matrices(choice.ggml_type, values, *n_per_row, im)?;
            proxy += weighted_error(values, &q, *n_per_row, im);
            pm.set_weight(name, &q)?;
        }
        choice.proxy = proxy;
        choice.kld = mean_kld(pm, d, base)?;
        on_event(Event::Measured {
            group: &g.name,
            ggml_type: choice.ggml_type,
            kld: choice.kld,
        });
    }
    for (name, values, _) in &originals {
        pm.set_weight(name, values)?;
    }
    Ok(g)
}

/// Quantizes each matrix of a (possibly 3-d, stacked experts) tensor with its own slice of the
/// importance values, as llama.cpp's quantizer does.
fn roundtrip_matrices(
    ty: GgmlType,
    values: &[f32],
    n_per_row: usize,
    imatrix: Option<&[f32]>,
) -> Result<Vec<f32>> {
    let n_mat = imatrix.map_or(1, |im| (im.len() / n_per_row).max(1));
    let per_mat = values.len() / n_mat;
    let mut out = Vec::with_capacity(values.len());
    for (m, chunk) in values.chunks(per_mat).enumerate() {
        let im = imatrix.map(|v| &v[m * n_per_row..(m + 1) * n_per_row]);
        out.extend(quantize_roundtrip(ty.id(), chunk, n_per_row, im)?);
    }
    Ok(out)
}

/// Σ importance_j · (w − q)², the error the quantizer itself minimizes (importance 1 without a matrix).
fn weighted_error(w: &[f32], q: &[f32], n_per_row: usize, imatrix: Option<&[f32]>) -> f64 {
    let n_mat = imatrix.map_or(1, |im| (im.len() / n_per_row).max(1));
    let rows_per_mat = (w.len() / n_per_row / n_mat).max(1);
    w.par_chunks(n_per_row)
        .zip(q.par_chunks(n_per_row))
        .enumerate()
        .map(|(row, (a, b))| {
            let im = imatrix.map(|v| {
                let start = (row / rows_per_mat).min(n_mat - 1) * n_per_row;
                &v[start..start + n_per_row]
            });
            a.iter()
                .zip(b)
                .enumerate()
                .map(|(j, (x, y))| {
                    let d = (x - y) as f64;
                    im.map_or(1.0, |v| v[j] as f64) * d * d
                })
                .sum::<f64>()
        })
        .sum()
}

fn read_floats(file: &GgufFile, t: &TensorInfo) -> Result<Vec<f32>> {
    read_rows(file, t, usize::MAX)
}

/// The first `rows` rows of `t` (all of them at most) as F32.
fn read_rows(file: &GgufFile, t: &TensorInfo, rows: usize) -> Result<Vec<f32>> {
    let kind = crate::prune::sparsity::Floats::of(t.ggml_type)
        .with_context(|| format!("tensor {} is not stored as floats", t.name))?;
    let bytes = file.tensor_data(t);
    let n = (t.n_elements() as usize).min(rows.saturating_mul(t.dims[0] as usize));
    Ok((0..n).map(|i| kind.get(bytes, i)).collect())
}

/// Weights per type timed for the estimate: enough rows for every thread.
const SAMPLE_WEIGHTS: usize = 1 << 18;

/// Seconds quantizing (and dequantizing) every group's weights to each of its candidates will
/// take: each type's time per weight on the first rows of the first tensor it is measured on,
/// times the weights it quantizes. Per kind this is as long as the decodes.
fn quantize_seconds(file: &GgufFile, groups: &[Group], imatrix: &ImatrixValues) -> Result<f64> {
    let mut per_weight: HashMap<GgmlType, f64> = HashMap::new();
    let mut total = 0.0;
    for g in groups {
        let t = file.tensor(&g.tensors[0]).context("listed tensor")?;
        let weights: u64 = g
            .tensors
            .iter()
            .filter_map(|n| file.tensor(n))
            .map(TensorInfo::n_elements)
            .sum();
        for c in g.choices.iter().skip(1) {
            let each = match per_weight.entry(c.ggml_type) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => *e.insert(seconds_per_weight(file, t, c.ggml_type, imatrix)?),
            };
            total += each * weights as f64;
        }
    }
    Ok(total)
}

fn seconds_per_weight(
    file: &GgufFile,
    t: &TensorInfo,
    ty: GgmlType,
    imatrix: &ImatrixValues,
) -> Result<f64> {
    let n_per_row = t.dims[0] as usize;
    let sample = read_rows(file, t, SAMPLE_WEIGHTS.div_ceil(n_per_row))?;
    let im = imatrix.as_ref().and_then(|m| m.get(&t.name));
    let im = im.map(|v| &v[..n_per_row.min(v.len())]);
    let t0 = Instant::now();
    quantize_roundtrip(ty.id(), &sample, n_per_row, im)?;
    Ok(t0.elapsed().as_secs_f64() / sample.len().max(1) as f64)
}
