use anyhow::Result;

use mpt_gguf::measure::energy::EnergySource;
use mpt_gguf::measure::peaks::{self, Peaks};

/// The machine's peaks that MFU and bandwidth use are computed against.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Measured once per machine, thread count and llama.cpp build, and cached in
$MPT_CACHE_DIR/peaks or ~/.cache/mpt-gguf/peaks; bench and sweep read the same cache.

Examples:
  mpt-gguf peaks
  mpt-gguf peaks -t 1 --refresh --json"
)]
pub struct PeaksArgs {
    /// Threads [default: all cores].
    #[arg(short = 't', long = "threads", default_value_t = mpt_gguf::util::default_threads() as u32)]
    pub threads: u32,
    /// The GPU's peaks instead of the CPU's (`-ngl` above 0 in bench and sweep; needs a CUDA build).
    #[arg(long)]
    pub gpu: bool,
    /// Measure again (the cache keeps the best figures of every measurement).
    #[arg(long)]
    pub refresh: bool,
    /// Print JSON (the cached file's content) instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub machine: super::machine_args::MachineArgs,
}

pub fn run(a: PeaksArgs) -> Result<()> {
    mpt_gguf::util::install_interrupt_handler();
    if a.threads == 0 {
        anyhow::bail!("-t must be at least 1");
    }
    let mut say = |device: &str| eprintln!("measuring the peaks of {device} (about 30 s)");
    let measured = if a.refresh {
        peaks::measure_and_cache(a.gpu, a.threads, &mut say)?
    } else {
        peaks::peaks_for_run(a.gpu, a.threads, Default::default(), &mut say)?
    };
    let p = measured.with_overrides(a.machine.overrides());
    if a.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(());
    }
    print!("{}", text(&p));
    let energy = EnergySource::detect(a.gpu, a.machine.tdp_watts);
    println!(
        "energy per token: {}",
        energy.map_or(
            "no counter (RAPL, NVML) here; --tdp W gives the TDP estimate".into(),
            |e| e.label()
        )
    );
    if let Some(path) = peaks::cache_path(&peaks::device_description(a.gpu, a.threads), a.threads) {
        println!("cache: {}", path.display());
    }
    Ok(())
}

fn text(p: &Peaks) -> String {
    let mut s = format!("device: {}\nmeasured: {}\n", p.device, p.measured);
    if let Some(f) = &p.flops {
        s += &format!(
            "peak compute: {:.3} TFLOP/s ({})\n",
            f.value / 1e12,
            f.source
        );
    }
    if let Some(b) = &p.bandwidth {
        s += &format!(
            "memory bandwidth: {:.1} GB/s ({})\n",
            b.value / 1e9,
            b.source
        );
    }
    if !p.kernels.is_empty() {
        s += "\n| type | buffer | GFLOP/s |\n|---|---|---:|\n";
        for k in &p.kernels {
            s += &format!(
                "| {} | {} | {:.1} |\n",
                k.ggml_type,
                k.buffer,
                k.flops_per_s / 1e9
            );
        }
    }
    if !p.bandwidth_curve.is_empty() {
        s += "\n| buffer read | GB/s |\n|---:|---:|\n";
        for b in &p.bandwidth_curve {
            s += &format!("| {} MiB | {:.1} |\n", b.bytes >> 20, b.bytes_per_s / 1e9);
        }
    }
    s + "\n"
}
