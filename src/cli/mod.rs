//! Command-line layer: parses arguments and hands plain configurations to the library.

use clap::{Parser, Subcommand};

mod inspect;

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
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
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
