use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use mpt_gguf::engine::{open_gguf, Model, ModelOptions};
use mpt_gguf::measure::bench::{run_test, BenchTest};
use mpt_gguf::measure::bench_output::{render, BenchFormat, BenchRow};
use mpt_gguf::measure::energy::EnergySource;
use mpt_gguf::measure::machine_use::machine_use;
use mpt_gguf::measure::peaks::{peaks_for_run, PeakOverrides, Peaks};
use mpt_gguf::measure::work::ModelWork;

/// Throughput as llama-bench measures it, plus time to first token, ms/token and peak memory.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Every test flag takes several values (comma-separated, repeated, or ranges
first-last, first-last+step, first-last*mult) and every combination is run, as llama-bench does.

Examples:
  mpt-gguf bench -m model.gguf
  mpt-gguf bench -m model.gguf -p 128,512 -n 0 -t 1,2 -o csv
  mpt-gguf bench -m a.gguf -m b.gguf -pg 512,128 -r 3 -o jsonl"
)]
pub struct BenchArgs {
    /// Model(s) to benchmark.
    #[arg(short = 'm', long = "model", required = true, value_delimiter = ',')]
    pub model: Vec<PathBuf>,
    /// Prompt lengths (pp tests; 0 skips).
    #[arg(short = 'p', long = "n-prompt", default_value = "512", value_parser = parse_list)]
    pub n_prompt: Vec<Vec<u32>>,
    /// Generated lengths (tg tests; 0 skips).
    #[arg(short = 'n', long = "n-gen", default_value = "128", value_parser = parse_list)]
    pub n_gen: Vec<Vec<u32>>,
    /// Prompt then generation as one test: `PP,TG` (-pg).
    #[arg(long = "pg", value_name = "PP,TG", value_parser = parse_pair)]
    pub pg: Vec<(u32, u32)>,
    /// Logical batch: prompt tokens per decode call.
    #[arg(short = 'b', long = "batch-size", default_value = "2048", value_parser = parse_list)]
    pub batch: Vec<Vec<u32>>,
    /// Physical batch (-ub).
    #[arg(long = "ubatch-size", default_value = "512", value_parser = parse_list)]
    pub ubatch: Vec<Vec<u32>>,
    /// Threads [default: all cores].
    #[arg(short = 't', long = "threads", value_parser = parse_list)]
    pub threads: Vec<Vec<u32>>,
    /// Layers to offload to the GPU (`-ngl`; needs a CUDA build).
    #[arg(long = "n-gpu-layers", default_value = "0", value_parser = parse_list)]
    pub n_gpu_layers: Vec<Vec<u32>>,
    /// Repetitions of each test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub reps: u32,
    /// Output format on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = BenchFormat::Md)]
    pub output: BenchFormat,
    /// Skip the warm-up run before each test.
    #[arg(long)]
    pub no_warmup: bool,
    /// Seed of the random tokens.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub machine: super::machine_args::MachineArgs,
}

/// llama-bench's value lists: `a,b,c`, `first-last`, `first-last+step`, `first-last*mult`.
fn parse_list(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("'{v}' is not a number"))
        };
        let Some((first, rest)) = part.split_once('-') else {
            out.push(num(part)?);
            continue;
        };
        let (last, step, mult) = if let Some((l, st)) = rest.split_once('+') {
            (num(l)?, num(st)?, false)
        } else if let Some((l, m)) = rest.split_once('*') {
            (num(l)?, num(m)?, true)
        } else {
            (num(rest)?, 1, false)
        };
        let (mut v, first) = (num(first)?, num(first)?);
        if last < first || step == 0 || (mult && (step < 2 || first == 0)) {
            return Err(format!("bad range '{part}'"));
        }
        while v <= last {
            out.push(v);
            v = if mult {
                v.saturating_mul(step)
            } else {
                v.saturating_add(step)
            };
            if v == u32::MAX {
                break;
            }
        }
    }
    if out.is_empty() {
        return Err("no values".into());
    }
    Ok(out)
}

fn parse_pair(s: &str) -> Result<(u32, u32), String> {
    let (p, g) = s
        .split_once(',')
        .ok_or_else(|| format!("'{s}': expected PP,TG"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("'{v}' is not a number"))
    };
    Ok((n(p)?, n(g)?))
}

fn flat(v: &[Vec<u32>]) -> Vec<u32> {
    v.iter().flatten().copied().collect()
}

pub fn run(a: BenchArgs) -> Result<()> {
    mpt_gguf::util::install_interrupt_handler();
    let threads = match flat(&a.threads) {
        t if t.is_empty() => vec![mpt_gguf::util::default_threads() as u32],
        t => t,
    };
    let (batches, ubatches, ngls) = (flat(&a.batch), flat(&a.ubatch), flat(&a.n_gpu_layers));
    let (prompts, gens) = (flat(&a.n_prompt), flat(&a.n_gen));
    if threads.contains(&0) || batches.contains(&0) || ubatches.contains(&0) {
        bail!("-t, -b and -ub must be at least 1");
    }
    if a.reps == 0 {
        bail!("-r must be at least 1");
    }
    // llama-bench's order: model, ngl, batch, ubatch, threads; then pp, tg and pg tests.
    let mut shapes: Vec<(u32, u32)> = prompts
        .iter()
        .filter(|&&p| p > 0)
        .map(|&p| (p, 0))
        .collect();
    shapes.extend(gens.iter().filter(|&&g| g > 0).map(|&g| (0, g)));
    shapes.extend(a.pg.iter().copied().filter(|&(p, g)| p + g > 0));
    if shapes.is_empty() {
        bail!("nothing to run: every -p, -n and -pg value is 0");
    }
    let mut varied = Vec::new();
    for (name, n) in [
        ("n_gpu_layers", ngls.len()),
        ("n_batch", batches.len()),
        ("n_ubatch", ubatches.len()),
    ] {
        if n > 1 {
            varied.push(name);
        }
    }
    let total =
        a.model.len() * ngls.len() * batches.len() * ubatches.len() * threads.len() * shapes.len();
    let mut rows = Vec::with_capacity(total);
    let mut limits = Limits::new(&a.machine);
    for path in &a.model {
        for &ngl in &ngls {
            let opts = ModelOptions {
                n_gpu_layers: ngl,
                ..Default::default()
            };
            let model = Model::load(path, &opts)?;
            let work = model_work(path);
            let energy = EnergySource::detect(ngl > 0, a.machine.tdp_watts);
            for &n_batch in &batches {
                for &n_ubatch in &ubatches {
                    for &n_threads in &threads {
                        let peaks = limits.peaks(ngl > 0, n_threads);
                        for &(n_prompt, n_gen) in &shapes {
                            let test = BenchTest {
                                n_prompt,
                                n_gen,
                                n_batch,
                                n_ubatch,
                                n_threads,
                                reps: a.reps,
                                warmup: !a.no_warmup,
                                seed: a.seed,
                                energy: energy.clone(),
                            };
                            eprintln!(
                                "bench {}/{total}: {} pp{n_prompt} tg{n_gen} -t {n_threads} -b {n_batch} -ub {n_ubatch} -ngl {ngl}",
                                rows.len() + 1,
                                path.display()
                            );
                            let result = run_test(&model, &test)
                                .with_context(|| format!("{}: benchmark failed", path.display()))?;
                            let machine = work
                                .as_ref()
                                .map(|w| machine_use(&result.timed(), w, peaks.as_ref()));
                            rows.push(BenchRow::new(&model, ngl, &result, machine.as_ref()));
                        }
                    }
                }
            }
        }
    }
    print!("{}", render(&rows, a.output, &varied)?);
    Ok(())
}

/// The model's work per token from its shapes; a file whose shapes cannot be counted is still
/// benchmarked, without MFU and bandwidth use.
fn model_work(path: &Path) -> Option<ModelWork> {
    let counted = open_gguf(path)
        .map_err(anyhow::Error::from)
        .and_then(|f| ModelWork::from_gguf(&f));
    match counted {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!("warning: {e:#}; MFU and bandwidth use are left out");
            None
        }
    }
}

/// The machine's peaks per device and thread count, measured once each (and cached on disk).
struct Limits {
    overrides: PeakOverrides,
    known: HashMap<(bool, u32), Option<Peaks>>,
}

impl Limits {
    fn new(machine: &super::machine_args::MachineArgs) -> Self {
        Self {
            overrides: machine.overrides(),
            known: HashMap::new(),
        }
    }

    fn peaks(&mut self, gpu: bool, n_threads: u32) -> Option<Peaks> {
        let overrides = self.overrides;
        self.known
            .entry((gpu, n_threads))
            .or_insert_with(|| {
                let mut say = |device: &str| {
                    eprintln!("measuring the peaks of {device} (about 30 s; cached for next time)")
                };
                match peaks_for_run(gpu, n_threads, overrides, &mut say) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        eprintln!("warning: peaks not measured ({e:#}); MFU and bandwidth use are left out");
                        None
                    }
                }
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges_parse_like_llama_bench() {
        assert_eq!(parse_list("128,512").unwrap(), vec![128, 512]);
        assert_eq!(parse_list("1-4").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(parse_list("0-512+256").unwrap(), vec![0, 256, 512]);
        assert_eq!(parse_list("64-512*2").unwrap(), vec![64, 128, 256, 512]);
        assert!(parse_list("x").is_err() && parse_list("5-1").is_err());
        assert_eq!(parse_pair("512,128").unwrap(), (512, 128));
    }
}
