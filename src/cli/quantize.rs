use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};

use mpt_gguf::quant::quantize::{dry_run_tensor, quantize_file, QuantizeOptions};
use mpt_gguf::quant::types;

/// Quantize a GGUF model with llama.cpp's quantizer, in-process (llama-quantize's options).
#[derive(clap::Args, Debug)]
#[command(
    override_usage = "mpt-gguf quantize [OPTIONS] IN.gguf [OUT.gguf] TYPE [NTHREADS]",
    after_help = "As llama-quantize: TYPE is a name or an ftype number; without OUT the output is \
ggml-model-TYPE.gguf beside IN; NTHREADS is the same as -t.\n\nExamples:\n  mpt-gguf quantize model-f16.gguf model-q4km.gguf Q4_K_M\n  mpt-gguf quantize --imatrix imatrix.gguf model-f16.gguf model-iq2m.gguf IQ2_M 8\n  mpt-gguf quantize --dry-run model-f16.gguf Q3_K_M"
)]
pub struct QuantizeArgs {
    /// IN.gguf [OUT.gguf] TYPE [NTHREADS].
    #[arg(num_args = 1..=4, hide = true)]
    pub args: Vec<String>,
    /// Importance matrix (GGUF or legacy .dat), from `mpt-gguf imatrix` or llama-imatrix.
    #[arg(long)]
    pub imatrix: Option<PathBuf>,
    /// Force a ggml type for tensors whose name matches a regex: PATTERN=TYPE (repeatable).
    #[arg(long = "tensor-type", value_name = "PATTERN=TYPE")]
    pub tensor_type: Vec<String>,
    /// A recipe: PATTERN=TYPE tokens (llama-quantize's --tensor-type-file format, e.g. from
    /// `mpt-gguf recipe`); the written file's types are checked against it.
    #[arg(long = "recipe", alias = "tensor-type-file", value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// ggml type for output.weight.
    #[arg(long)]
    pub output_tensor_type: Option<String>,
    /// ggml type for the token embedding.
    #[arg(long)]
    pub token_embedding_type: Option<String>,
    /// Every tensor gets the type's default ggml type (no k-quant mixtures).
    #[arg(long)]
    pub pure: bool,
    /// Allow quantizing tensors that are already quantized.
    #[arg(long)]
    pub allow_requantize: bool,
    /// Leave output.weight unquantized.
    #[arg(long)]
    pub leave_output_tensor: bool,
    /// Remove these transformer blocks: comma list, e.g. 20,21,22.
    #[arg(long, value_delimiter = ',')]
    pub prune_layers: Vec<i32>,
    /// Print the predicted size per type without writing a file.
    #[arg(long)]
    pub dry_run: bool,
    /// Threads [default: all cores].
    #[arg(short = 't', long)]
    pub threads: Option<u32>,
}

/// llama-quantize's positional arguments, read the way it reads them.
#[derive(Debug)]
struct Positionals {
    input: PathBuf,
    /// `None`: `ggml-model-TYPE.gguf` beside the input.
    output: Option<PathBuf>,
    qtype: &'static types::QuantType,
    threads: Option<u32>,
}

/// `IN [OUT] TYPE [NTHREADS]`: the argument after IN is the type when it names one, else the
/// output file.
fn positionals(args: &[String]) -> Result<Positionals> {
    let Some((input, rest)) = args.split_first() else {
        bail!("expected IN.gguf [OUT.gguf] TYPE [NTHREADS]");
    };
    let (output, type_name, rest) = match rest {
        [t, rest @ ..] if types::find(t).is_some() => (None, t, rest),
        [o, t, rest @ ..] => (Some(PathBuf::from(o)), t, rest),
        [o] => {
            // No type after IN: a misspelt type (say which are close), or an output without one.
            if !o.to_ascii_lowercase().ends_with(".gguf") {
                types::parse(o)?;
            }
            bail!("missing TYPE after the output file {o}")
        }
        [] => bail!("missing TYPE after {input}"),
    };
    let threads = match rest {
        [] => None,
        [n] => match n.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ if n.to_ascii_lowercase().ends_with(".gguf") => {
                bail!("invalid NTHREADS '{n}': the output file goes before TYPE")
            }
            _ => bail!("invalid NTHREADS '{n}': expected a whole number of at least 1"),
        },
        _ => bail!("too many arguments: expected IN.gguf [OUT.gguf] TYPE [NTHREADS]"),
    };
    Ok(Positionals {
        input: PathBuf::from(input),
        output,
        qtype: types::parse(type_name)?,
        threads,
    })
}

/// llama-quantize's default output: `ggml-model-TYPE.gguf` in the input's folder.
fn default_output(input: &Path, qtype: &types::QuantType) -> PathBuf {
    input
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(format!("ggml-model-{}.gguf", qtype.name))
}

pub fn run(a: QuantizeArgs) -> Result<()> {
    let Positionals {
        input,
        output,
        qtype,
        threads,
    } = positionals(&a.args)?;
    let n_threads = match (threads, a.threads) {
        (Some(p), Some(t)) if p != t => bail!("threads given twice: NTHREADS {p} and -t {t}"),
        (p, t) => p.or(t).unwrap_or(mpt_gguf::util::default_threads() as u32),
    };
    let output = output.unwrap_or_else(|| default_output(&input, qtype));
    let mut opts = QuantizeOptions::new(qtype);
    opts.imatrix = a.imatrix;
    for tt in &a.tensor_type {
        let Some((p, t)) = tt.split_once('=') else {
            bail!("--tensor-type '{tt}': expected PATTERN=TYPE, e.g. attn_v=q8_0");
        };
        opts.tensor_types.push((p.to_string(), t.to_string()));
    }
    opts.tensor_type_file = a.recipe;
    opts.output_tensor_type = a.output_tensor_type;
    opts.token_embedding_type = a.token_embedding_type;
    opts.pure = a.pure;
    opts.allow_requantize = a.allow_requantize;
    opts.leave_output_tensor = a.leave_output_tensor;
    opts.prune_layers = a.prune_layers;
    opts.dry_run = a.dry_run;
    opts.n_threads = n_threads;
    mpt_gguf::util::install_interrupt_handler();

    if a.dry_run {
        let plan: Arc<Mutex<BTreeMap<String, (usize, f64)>>> = Arc::default();
        let sink = plan.clone();
        quantize_file(
            &input,
            &input,
            &opts,
            Some(Box::new(move |_, _, line| {
                if let Some(t) = dry_run_tensor(line) {
                    let mut p = sink.lock().unwrap_or_else(|e| e.into_inner());
                    let e = p.entry(t.ggml_type).or_insert((0, 0.0));
                    e.0 += 1;
                    e.1 += t.mib;
                }
            })),
        )?;
        let plan = plan.lock().unwrap_or_else(|e| e.into_inner());
        let total: f64 = plan.values().map(|v| v.1).sum();
        println!(
            "{:<8} {:>8} {:>12} {:>7}",
            "type", "tensors", "MiB", "share"
        );
        for (ty, (n, mib)) in plan.iter() {
            println!(
                "{:<8} {:>8} {:>12.2} {:>6.1}%",
                ty,
                n,
                mib,
                100.0 * mib / total.max(1e-12)
            );
        }
        println!(
            "{:<8} {:>8} {:>12.2}",
            "total",
            plan.values().map(|v| v.0).sum::<usize>(),
            total
        );
        return Ok(());
    }

    let bar =
        super::progress::bar("{spinner} quantizing [{bar:30}] {pos}/{len} tensors {elapsed} {msg}");
    let b = bar.clone();
    let report = quantize_file(
        &input,
        &output,
        &opts,
        Some(Box::new(move |i, n, line| {
            b.set_length(n as u64);
            b.set_position(i as u64);
            if let Some(name) = line
                .split(']')
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
            {
                b.set_message(name.to_string());
            }
        })),
    );
    bar.finish_and_clear();
    let report = report?;
    println!(
        "{} -> {} ({}): {:.2} MiB -> {:.2} MiB, {:.4} bits per weight measured, {:.1} s",
        input.display(),
        output.display(),
        qtype.name,
        report.input_bytes as f64 / 1048576.0,
        report.output_bytes as f64 / 1048576.0,
        report.bpw,
        report.seconds
    );
    Ok(())
}
