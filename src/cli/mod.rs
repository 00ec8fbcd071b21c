//! Command-line layer: parses arguments and hands plain configurations to the library.

use clap::{Parser, Subcommand};

mod eval;
mod imatrix;
mod inspect;
mod quantize;
mod types;

#[derive(Parser, Debug)]
#[command(name = "mpt-gguf", version = mpt_gguf::engine::build_info::VERSION_LINE, about, long_about = None)]
pub struct Cli {
    /// Show llama.cpp's own log and debug output.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read a GGUF file natively and summarise it: types, sizes, bits per weight.
    Inspect(inspect::InspectArgs),
    /// List every quantization type the bundled llama.cpp can make.
    Types(types::TypesArgs),
    /// Quantize a model in-process (llama-quantize's options).
    Quantize(quantize::QuantizeArgs),
    /// Compute an importance matrix in-process (llama-imatrix's statistics).
    Imatrix(imatrix::ImatrixArgs),
    /// Multiple-choice accuracy (ARC, MMLU, HellaSwag, WinoGrande) in-process.
    Eval(eval::EvalArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Types(args) => types::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Imatrix(args) => imatrix::run(args),
        Command::Eval(args) => eval::run(args),
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
    const LONG: &[(&str, &str)] = &[("-ngl", "--n-gpu-layers"), ("-np", "--parallel")];
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
