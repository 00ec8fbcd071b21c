//! Command-line layer: parses arguments and hands plain configurations to the library.

use clap::{Parser, Subcommand};

mod bench;
mod eval;
mod fit;
mod imatrix;
mod inspect;
mod machine_args;
mod model_path;
mod peaks;
mod perplexity;
mod plot;
mod progress;
mod prune;
mod quantize;
mod recipe;
mod sensitivity;
mod sweep;
mod sweep_plan;
mod synth;
mod table;
mod types;

#[derive(Parser, Debug)]
// A flag given twice takes its last value, so scripts can append flags to override their own defaults.
#[command(name = "mpt-gguf", version = mpt_gguf::engine::build_info::VERSION_LINE, about, long_about = None, args_override_self = true)]
pub struct Cli {
    /// Show llama.cpp's own log and debug output.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The bit-width ladder in one command: quantize to every rung, measure each, report.
    Sweep(Box<sweep::SweepArgs>),
    /// Read a GGUF file natively and summarise it: types, sizes, bits per weight.
    Inspect(inspect::InspectArgs),
    /// List every quantization type the bundled llama.cpp can make.
    Types(types::TypesArgs),
    /// Quantize a model in-process (llama-quantize's options).
    Quantize(quantize::QuantizeArgs),
    /// Measure each tensor's quantization cost (KL-divergence with only it quantized), model loaded once.
    Sensitivity(sensitivity::SensitivityArgs),
    /// Solve a sensitivity table for the best per-tensor mix within a size: a llama-quantize recipe.
    Recipe(recipe::RecipeArgs),
    /// Compute an importance matrix in-process (llama-imatrix's statistics).
    Imatrix(imatrix::ImatrixArgs),
    /// Remove transformer blocks or zero weights (magnitude, Wanda, N:M) of a GGUF model.
    Prune(prune::PruneArgs),
    /// Table 5 (or the tidy per-rung table) from saved results of one or many sweeps.
    Table(table::TableArgs),
    /// Every chart (PNG and SVG) from saved results of one or many sweeps; no model runs.
    Plot(plot::PlotArgs),
    /// The phase-transition fit of saved results: critical bits (or sparsity) with a bootstrap interval.
    Fit(fit::FitArgs),
    /// Perplexity and KL-divergence against a base, in-process (llama-perplexity's numbers).
    Perplexity(perplexity::PerplexityArgs),
    /// Throughput as llama-bench measures it (pp/tg tokens/s), plus TTFT, ms/token, peak memory.
    Bench(bench::BenchArgs),
    /// Multiple-choice accuracy (ARC, MMLU, HellaSwag, WinoGrande) in-process.
    Eval(eval::EvalArgs),
    /// The machine's peak FLOPs/s and memory bandwidth, measured through ggml and cached.
    Peaks(peaks::PeaksArgs),
    /// A model with random weights in another model's shape family, to plan and time sweeps.
    Synth(synth::SynthArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sweep(args) => sweep::run(*args),
        Command::Inspect(args) => inspect::run(args),
        Command::Types(args) => types::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Sensitivity(args) => sensitivity::run(args),
        Command::Recipe(args) => recipe::run(args),
        Command::Imatrix(args) => imatrix::run(args),
        Command::Prune(args) => prune::run(args),
        Command::Table(args) => table::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Perplexity(args) => perplexity::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Peaks(args) => peaks::run(args),
        Command::Synth(args) => synth::run(args),
    }
}

pub fn init_logging(verbose: bool) {
    let filter = if verbose { "debug" } else { "warn" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MPT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
    mpt_gguf::engine::set_verbose(verbose);
}

/// llama.cpp's tools spell some flags with one dash and several letters (`-ngl 99`), which clap reads
/// as bundled short flags; rewrite them to their long names before parsing.
pub fn llama_style_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    const LONG: &[(&str, &str)] = &[
        ("-ngl", "--n-gpu-layers"),
        ("-ub", "--ubatch-size"),
        ("-pg", "--pg"),
        ("-np", "--parallel"),
    ];
    args.into_iter()
        .map(|a| {
            let Some(s) = a.to_str() else { return a };
            for (short, long) in LONG {
                if s == *short {
                    return (*long).into();
                }
                if let Some(v) = s.strip_prefix(short).and_then(|r| r.strip_prefix('=')) {
                    return format!("{long}={v}").into();
                }
            }
            a
        })
        .collect()
}

/// The error and its causes on one line, outermost first.
pub fn one_line(err: &anyhow::Error) -> String {
    let parts: Vec<String> = err
        .chain()
        .map(|c| c.to_string().trim().to_string())
        .collect();
    parts.join(": ").replace('\n', " ")
}

/// 130 after Ctrl-C (as shells report it), 2 for every other failure.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err
        .chain()
        .any(|c| c.downcast_ref::<mpt_gguf::util::Interrupted>().is_some())
    {
        130
    } else {
        2
    }
}
