use std::path::PathBuf;

use anyhow::Result;

use mpt_gguf::gguf::synth::{self, SynthShape};

/// A model with random weights in another model's shape family, for planning and timing.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The template (a llama-family GGUF: llama, SmolLM2, Qwen2, Mistral) gives the
architecture, the tokenizer and the vocabulary; the flags give the sizes. The weights are random
F16: the model's output is noise, its time and memory are those of a real model of its size.

Example (SmolLM2-1.7B's shape from SmolLM2-135M):
  mpt-gguf synth smollm2-135m-f16.gguf -o random-1.7b.gguf --layers 24 --width 2048 --ffn 8192 --heads 32 --kv-heads 32"
)]
pub struct SynthArgs {
    /// A llama-family GGUF whose architecture and tokenizer the model gets.
    pub template: PathBuf,
    #[arg(short = 'o', long = "output")]
    pub out: PathBuf,
    #[arg(long)]
    pub layers: u64,
    /// Hidden size (embedding length).
    #[arg(long)]
    pub width: u64,
    /// Feed-forward size.
    #[arg(long)]
    pub ffn: u64,
    #[arg(long)]
    pub heads: u64,
    #[arg(long)]
    pub kv_heads: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(a: SynthArgs) -> Result<()> {
    let template = mpt_gguf::engine::open_gguf(&a.template)?;
    let shape = SynthShape {
        layers: a.layers,
        width: a.width,
        ffn: a.ffn,
        heads: a.heads,
        kv_heads: a.kv_heads,
    };
    let params = synth::write_random(&template, &shape, &a.out, a.seed).map_err(|e| {
        e.context(format!(
            "{}: cannot make a model from this template",
            a.template.display()
        ))
    })?;
    eprintln!(
        "{}: {:.0}M parameters of random F16 weights",
        a.out.display(),
        params as f64 / 1e6
    );
    Ok(())
}
