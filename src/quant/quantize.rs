//! `quantize`: llama-quantize's options, checked before any work, output written atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::imatrix::Imatrix;
use super::tensor_type_file::TensorTypeFile;
use super::types::QuantType;
use crate::engine::{self, KvOverride, QuantizeJob};
use crate::util::AtomicFile;

#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    pub qtype: &'static QuantType,
    pub imatrix: Option<PathBuf>,
    /// `--tensor-type PATTERN=TYPE`: regex over tensor names, ggml type name.
    pub tensor_types: Vec<(String, String)>,
    pub output_tensor_type: Option<String>,
    pub token_embedding_type: Option<String>,
    pub pure: bool,
    pub allow_requantize: bool,
    pub leave_output_tensor: bool,
    pub prune_layers: Vec<i32>,
    pub dry_run: bool,
    pub n_threads: u32,
    /// A recipe (llama-quantize's `--tensor-type-file`): checked against the model before, and
    /// against the written file after.
    pub tensor_type_file: Option<PathBuf>,
    /// Wait until the output is on the disk before it appears (the default); a sweep's rung file,
    /// deleted once measured, does not.
    pub durable: bool,
}

impl QuantizeOptions {
    pub fn new(qtype: &'static QuantType) -> Self {
        Self {
            qtype,
            imatrix: None,
            tensor_types: Vec::new(),
            output_tensor_type: None,
            token_embedding_type: None,
            pure: false,
            allow_requantize: false,
            leave_output_tensor: false,
            prune_layers: Vec::new(),
            dry_run: false,
            tensor_type_file: None,
            n_threads: crate::util::default_threads() as u32,
            durable: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct QuantizeReport {
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// Bits per weight measured from the written file.
    pub bpw: f64,
    pub n_params: u64,
    pub seconds: f64,
}

/// Per-tensor progress, parsed from llama.cpp's quantizer log: (tensor index, tensor count, line).
pub type TensorProgress = Box<dyn FnMut(usize, usize, &str) + Send>;

/// Loads the imatrix (GGUF or legacy format) and checks it against the model's tensors.
pub fn load_checked_imatrix(path: &Path, model: &crate::gguf::GgufFile) -> Result<Imatrix> {
    let imatrix = super::imatrix_file::load(path)?;
    let tensors = model
        .tensors()
        .iter()
        .map(|t| (t.name.clone(), t.dims.clone()))
        .collect();
    imatrix.check_against(&tensors, &path.display().to_string())?;
    Ok(imatrix)
}

/// Quantizes `input` into `output`. Nothing appears at `output` unless the whole file was written.
pub fn quantize_file(
    input: &Path,
    output: &Path,
    opts: &QuantizeOptions,
    progress: Option<TensorProgress>,
) -> Result<QuantizeReport> {
    let t0 = Instant::now();
    let model = crate::engine::open_gguf(input)?;
    if !opts.allow_requantize {
        if let Some(t) = model
            .tensors()
            .iter()
            .find(|t| t.dims.len() >= 2 && t.ggml_type.is_quantized())
        {
            bail!(
                "{}: already quantized (tensor {} is {}); requantizing loses quality, pass --allow-requantize to do it anyway",
                input.display(),
                t.name,
                t.ggml_type.ggml_name()
            );
        }
    }
    let imatrix = match &opts.imatrix {
        Some(p) => Some((p, load_checked_imatrix(p, &model)?)),
        None => None,
    };
    if opts.qtype.needs_imatrix && imatrix.is_none() && !opts.dry_run {
        bail!(
            "{} needs an importance matrix: make one with `mpt-gguf imatrix {} -f CALIBRATION.txt -o imatrix.gguf` and pass --imatrix imatrix.gguf",
            opts.qtype.name,
            input.display()
        );
    }
    if !opts.dry_run && output.exists() && same_file(input, output) {
        bail!("{}: output would overwrite the input", output.display());
    }

    let mut job = QuantizeJob {
        ftype: opts.qtype.ftype,
        n_threads: opts.n_threads,
        output_tensor_type: opts
            .output_tensor_type
            .as_deref()
            .map(ggml_type_id)
            .transpose()?,
        token_embedding_type: opts
            .token_embedding_type
            .as_deref()
            .map(ggml_type_id)
            .transpose()?,
        allow_requantize: opts.allow_requantize,
        quantize_output_tensor: !opts.leave_output_tensor,
        pure: opts.pure,
        dry_run: opts.dry_run,
        prune_layers: opts.prune_layers.clone(),
        ..Default::default()
    };
    for (pattern, ty) in &opts.tensor_types {
        regex::Regex::new(pattern)
            .with_context(|| format!("--tensor-type: '{pattern}' is not a valid regex"))?;
        job.tensor_types.push((pattern.clone(), ggml_type_id(ty)?));
    }
    let recipe = match &opts.tensor_type_file {
        Some(path) => {
            let recipe = TensorTypeFile::open(path)?;
            recipe.check_against(&model)?;
            for (pattern, ty) in recipe.overrides() {
                job.tensor_types.push((pattern, ggml_type_id(&ty)?));
            }
            Some(recipe)
        }
        None => None,
    };
    if let Some((path, im)) = &imatrix {
        job.imatrix = im.for_quantize();
        // Recorded in the output's metadata exactly as llama-quantize does.
        job.kv_overrides.push(KvOverride::Str(
            "quantize.imatrix.file".into(),
            path.display().to_string(),
        ));
        if let Some(ds) = im.datasets.first() {
            job.kv_overrides.push(KvOverride::Str(
                "quantize.imatrix.dataset".into(),
                ds.clone(),
            ));
        }
        job.kv_overrides.push(KvOverride::Int(
            "quantize.imatrix.entries_count".into(),
            im.entries.len() as i64,
        ));
        if im.chunk_count > 0 {
            job.kv_overrides.push(KvOverride::Int(
                "quantize.imatrix.chunks_count".into(),
                im.chunk_count as i64,
            ));
        }
    }

    let run = |path: &Path| -> Result<()> {
        match progress {
            Some(mut cb) => engine::log::with_listener(
                move |line| {
                    if let Some((i, n)) = parse_tensor_progress(line) {
                        cb(i, n, line);
                    }
                },
                || engine::quantize(input, path, &job),
            ),
            None => engine::quantize(input, path, &job),
        }
    };

    let input_bytes = model.file_size();
    if opts.dry_run {
        let tmp = tempfile::NamedTempFile::new()?;
        run(tmp.path())?;
        return Ok(QuantizeReport {
            input_bytes,
            output_bytes: 0,
            bpw: f64::NAN,
            n_params: 0,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    let out = AtomicFile::create(output)?;
    if let Err(e) = run(out.temp_path()) {
        // llama.cpp reports a failed write as a bare "iostream error": say when it was a full disk,
        // as the I/O error it is, so that a sweep stops instead of failing every rung after it.
        return Err(match disk_full_at(out.temp_path()) {
            Some(full) => anyhow::Error::new(full).context(format!(
                "{}: no space left on the disk while writing it; free space, then run the same command again",
                output.display()
            )),
            None => e,
        });
    }
    crate::util::check_interrupted()?;
    let written = crate::engine::open_gguf(out.temp_path())
        .with_context(|| format!("{}: llama.cpp wrote an unreadable file", output.display()))?;
    if let Some(recipe) = &recipe {
        recipe.verify(&written)?;
    }
    let summary = crate::gguf::Summary::of(&written);
    let report = QuantizeReport {
        input_bytes,
        output_bytes: written.file_size(),
        bpw: summary.bits_per_weight,
        n_params: summary.parameters,
        seconds: t0.elapsed().as_secs_f64(),
    };
    drop(written);
    out.commit_with(opts.durable)?;
    Ok(report)
}

/// `[  12/ 272]  blk.1.attn_k.weight - ...` → (12, 272).
fn parse_tensor_progress(line: &str) -> Option<(usize, usize)> {
    let inner = line.trim_start().strip_prefix('[')?.split(']').next()?;
    let (i, n) = inner.split_once('/')?;
    Some((i.trim().parse().ok()?, n.trim().parse().ok()?))
}

/// One tensor of llama.cpp's dry-run log: its name, the type it would get and its MiB then.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRunTensor {
    pub name: String,
    pub ggml_type: String,
    pub mib: f64,
}

/// `[ 272/ 272]  blk.29.ffn_up.weight - [...], type = f16, size = 1.69 MiB -> 0.58 MiB (q5_0)`;
/// a tensor kept as it is has no `->` and keeps its `type =`.
pub fn dry_run_tensor(line: &str) -> Option<DryRunTensor> {
    let rest = line.trim_start().strip_prefix('[')?.split_once(']')?.1;
    let (name, rest) = rest.split_once(" - ")?;
    let size = rest.split_once("size =")?.1;
    let (mib, ggml_type) = match size.split_once("->") {
        Some((_, after)) => (
            after.split_whitespace().next()?.parse().ok()?,
            after
                .split_once('(')?
                .1
                .trim_end()
                .strip_suffix(')')?
                .trim(),
        ),
        None => (
            size.split_whitespace().next()?.parse().ok()?,
            rest.split_once("type =")?.1.split(',').next()?.trim(),
        ),
    };
    Some(DryRunTensor {
        name: name.trim().to_string(),
        ggml_type: ggml_type.to_string(),
        mib,
    })
}

/// A ggml type by name (`q8_0`, `Q8_0`, `f16`), as llama-quantize's `--tensor-type` takes it.
pub fn ggml_type_id(name: &str) -> Result<u32> {
    crate::gguf::GgmlType::from_name(name)
        .map(|t| t.id())
        .with_context(|| format!("unknown ggml tensor type '{name}' (e.g. q4_k, q6_k, q8_0, f16)"))
}

/// Whether the disk holding `partial` is full: appending and syncing a little more fails with
/// ENOSPC (or the quota's EDQUOT) there. The probe goes with the partial file.
fn disk_full_at(partial: &Path) -> Option<std::io::Error> {
    use std::io::Write as _;
    let probe = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().append(true).open(partial)?;
        f.write_all(&[0u8; 1 << 16])?;
        f.sync_all()
    };
    probe().err().filter(crate::util::is_disk_full)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_llama_dry_run_lines() {
        let q = "[  12/ 272]                blk.1.attn_k.weight - [  576,   192,     1,     1], type =    f16, size =    0.211 MiB ->    0.059 MiB (q4_K)";
        let t = dry_run_tensor(q).unwrap();
        assert_eq!(
            (t.name.as_str(), t.ggml_type.as_str(), t.mib),
            ("blk.1.attn_k.weight", "q4_K", 0.059)
        );
        let kept = "[   2/ 272]             blk.0.attn_norm.weight - [  576,     1,     1,     1], type =    f32, size =    0.002 MiB";
        let t = dry_run_tensor(kept).unwrap();
        assert_eq!(
            (t.name.as_str(), t.ggml_type.as_str(), t.mib),
            ("blk.0.attn_norm.weight", "f32", 0.002)
        );
        assert_eq!(
            dry_run_tensor("llama_model_quantize_impl: model size"),
            None
        );
    }

    #[test]
    fn parses_llama_progress_lines() {
        let line = "[  12/ 272]                blk.1.attn_k.weight - [  576,   192,     1,     1], type =    f16, converting to q4_K";
        assert_eq!(parse_tensor_progress(line), Some((12, 272)));
        assert_eq!(
            parse_tensor_progress("llama_model_quantize_impl: model size"),
            None
        );
    }
}
