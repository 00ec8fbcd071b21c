//! Benchmark rows in llama-bench's output formats (`-o md|csv|json|jsonl`), with its field names where
//! they overlap and the latency and memory columns added after them.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

use super::bench::TestResult;
use super::machine_use::MachineUse;
use crate::engine::{self, DeviceKind, Model};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFormat {
    Md,
    Csv,
    Json,
    Jsonl,
}

/// One printed row: the machine, the model and one test.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub build_commit: String,
    pub cpu_info: String,
    pub gpu_info: String,
    pub backends: String,
    pub model_filename: String,
    pub model_type: String,
    pub model_size: u64,
    pub model_n_params: u64,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub n_threads: u32,
    pub n_gpu_layers: u32,
    pub n_prompt: u32,
    pub n_gen: u32,
    pub test_time: String,
    pub avg_ns: u64,
    pub stddev_ns: u64,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub ttft_ms: Option<f64>,
    pub prefill_ms_per_token: Option<f64>,
    pub decode_ms_per_token: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub gpu_memory_bytes: Option<u64>,
    /// Work per token from the model's shapes, and how close the test came to the machine.
    pub flops_per_token: Option<f64>,
    pub bytes_per_token: Option<f64>,
    pub mfu: Option<f64>,
    pub bandwidth_use: Option<f64>,
    pub peak_tflops: Option<f64>,
    pub peak_tflops_source: Option<String>,
    pub peak_gbps: Option<f64>,
    pub peak_gbps_source: Option<String>,
    pub joules_per_token: Option<f64>,
    pub energy_source: Option<String>,
    pub samples_ns: Vec<u64>,
    pub samples_ts: Vec<f64>,
}

/// Descriptions of the devices of some kinds, joined as llama-bench does.
fn device_info(kinds: &[DeviceKind]) -> String {
    engine::devices()
        .into_iter()
        .filter(|d| kinds.contains(&d.kind))
        .map(|d| d.description)
        .collect::<Vec<_>>()
        .join(", ")
}

impl BenchRow {
    pub fn new(
        model: &Model,
        n_gpu_layers: u32,
        t: &TestResult,
        machine: Option<&MachineUse>,
    ) -> Self {
        let m = |f: fn(&MachineUse) -> Option<f64>| machine.and_then(f);
        let flops = machine.and_then(|u| u.peak_flops.as_ref());
        let bandwidth = machine.and_then(|u| u.peak_bandwidth.as_ref());
        Self {
            build_commit: engine::build_info::LLAMA_REVISION.to_string(),
            cpu_info: device_info(&[DeviceKind::Cpu, DeviceKind::Accelerator]),
            gpu_info: device_info(&[DeviceKind::Gpu, DeviceKind::IntegratedGpu]),
            backends: engine::backend_names(),
            model_filename: model.path().display().to_string(),
            model_type: model.description(),
            model_size: model.size_bytes(),
            model_n_params: model.n_params(),
            n_batch: t.n_batch,
            n_ubatch: t.n_ubatch,
            n_threads: t.n_threads,
            n_gpu_layers,
            n_prompt: t.n_prompt,
            n_gen: t.n_gen,
            test_time: t.test_time.clone(),
            avg_ns: t.avg_ns,
            stddev_ns: t.stddev_ns,
            avg_ts: t.avg_ts,
            stddev_ts: t.stddev_ts,
            ttft_ms: t.ttft_ms,
            prefill_ms_per_token: t.prefill_ms_per_token,
            decode_ms_per_token: t.decode_ms_per_token,
            peak_rss_bytes: t.peak_rss_bytes,
            gpu_memory_bytes: t.gpu_memory_bytes,
            flops_per_token: m(|u| Some(u.flops_per_token)),
            bytes_per_token: m(|u| Some(u.bytes_per_token)),
            mfu: m(|u| u.mfu),
            bandwidth_use: m(|u| u.bandwidth_use),
            peak_tflops: flops.map(|p| p.value / 1e12),
            peak_tflops_source: flops.map(|p| p.source.clone()),
            peak_gbps: bandwidth.map(|p| p.value / 1e9),
            peak_gbps_source: bandwidth.map(|p| p.source.clone()),
            joules_per_token: m(|u| u.joules_per_token),
            energy_source: machine.and_then(|u| u.energy_source.clone()),
            samples_ns: t.samples_ns.clone(),
            samples_ts: t.samples_ts.clone(),
        }
    }

    /// llama-bench's test name: `pp512`, `tg128`, `pp512+tg128`.
    pub fn test_name(&self) -> String {
        match (self.n_prompt, self.n_gen) {
            (p, 0) => format!("pp{p}"),
            (0, g) => format!("tg{g}"),
            (p, g) => format!("pp{p}+tg{g}"),
        }
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
}

/// Renders rows; `varied` names the columns that took several values (shown in markdown, as llama-bench
/// shows non-default parameters).
pub fn render(rows: &[BenchRow], format: BenchFormat, varied: &[&str]) -> Result<String> {
    Ok(match format {
        BenchFormat::Json => serde_json::to_string_pretty(rows)? + "\n",
        BenchFormat::Jsonl => {
            let mut s = String::new();
            for r in rows {
                s += &serde_json::to_string(r)?;
                s.push('\n');
            }
            s
        }
        BenchFormat::Csv => csv_rows(rows)?,
        BenchFormat::Md => markdown(rows, varied),
    })
}

fn csv_rows(rows: &[BenchRow]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "build_commit",
        "cpu_info",
        "gpu_info",
        "backends",
        "model_filename",
        "model_type",
        "model_size",
        "model_n_params",
        "n_batch",
        "n_ubatch",
        "n_threads",
        "n_gpu_layers",
        "n_prompt",
        "n_gen",
        "test_time",
        "avg_ns",
        "stddev_ns",
        "avg_ts",
        "stddev_ts",
        "ttft_ms",
        "prefill_ms_per_token",
        "decode_ms_per_token",
        "peak_rss_bytes",
        "gpu_memory_bytes",
        "flops_per_token",
        "bytes_per_token",
        "mfu",
        "bandwidth_use",
        "peak_tflops",
        "peak_tflops_source",
        "peak_gbps",
        "peak_gbps_source",
        "joules_per_token",
        "energy_source",
    ])?;
    for r in rows {
        w.write_record([
            r.build_commit.clone(),
            r.cpu_info.clone(),
            r.gpu_info.clone(),
            r.backends.clone(),
            r.model_filename.clone(),
            r.model_type.clone(),
            r.model_size.to_string(),
            r.model_n_params.to_string(),
            r.n_batch.to_string(),
            r.n_ubatch.to_string(),
            r.n_threads.to_string(),
            r.n_gpu_layers.to_string(),
            r.n_prompt.to_string(),
            r.n_gen.to_string(),
            r.test_time.clone(),
            r.avg_ns.to_string(),
            r.stddev_ns.to_string(),
            format!("{:.6}", r.avg_ts),
            format!("{:.6}", r.stddev_ts),
            opt(&r.ttft_ms),
            opt(&r.prefill_ms_per_token),
            opt(&r.decode_ms_per_token),
            opt(&r.peak_rss_bytes),
            opt(&r.gpu_memory_bytes),
            opt(&r.flops_per_token),
            opt(&r.bytes_per_token),
            opt(&r.mfu),
            opt(&r.bandwidth_use),
            opt(&r.peak_tflops),
            opt(&r.peak_tflops_source),
            opt(&r.peak_gbps),
            opt(&r.peak_gbps_source),
            opt(&r.joules_per_token),
            opt(&r.energy_source),
        ])?;
    }
    Ok(String::from_utf8(
        w.into_inner().map_err(|e| e.into_error())?,
    )?)
}

/// llama-bench's size and parameter formats.
fn size_text(bytes: u64) -> String {
    if bytes < 1 << 30 {
        format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
    }
}

fn params_text(n: u64) -> String {
    if n < 1_000_000_000 {
        format!("{:.2} M", n as f64 / 1e6)
    } else {
        format!("{:.2} B", n as f64 / 1e9)
    }
}

fn markdown(rows: &[BenchRow], varied: &[&str]) -> String {
    let cpu_only = rows.first().is_none_or(|r| r.backends == "CPU");
    // (header, right-aligned, width, value)
    type Col = (&'static str, bool, usize, fn(&BenchRow) -> String);
    let mut cols: Vec<Col> = vec![
        ("model", false, 30, |r| r.model_type.clone()),
        ("size", true, 10, |r| size_text(r.model_size)),
        ("params", true, 10, |r| params_text(r.model_n_params)),
        ("backend", false, 10, |r| r.backends.clone()),
    ];
    if !cpu_only || varied.contains(&"n_gpu_layers") {
        cols.push(("ngl", true, 3, |r| r.n_gpu_layers.to_string()));
    }
    cols.push(("threads", true, 7, |r| r.n_threads.to_string()));
    if varied.contains(&"n_batch") {
        cols.push(("n_batch", true, 7, |r| r.n_batch.to_string()));
    }
    if varied.contains(&"n_ubatch") {
        cols.push(("n_ubatch", true, 8, |r| r.n_ubatch.to_string()));
    }
    cols.push(("test", true, 15, |r| r.test_name()));
    cols.push(("t/s", true, 20, |r| {
        format!("{:.2} ± {:.2}", r.avg_ts, r.stddev_ts)
    }));
    cols.push(("ms/token", true, 9, |r| {
        let ms = match (r.n_prompt, r.n_gen) {
            (_, 0) => r.prefill_ms_per_token,
            (0, _) => r.decode_ms_per_token,
            _ => Some(1e3 / r.avg_ts),
        };
        ms.map(|v| format!("{v:.3}")).unwrap_or_default()
    }));
    cols.push(("TTFT ms", true, 9, |r| {
        r.ttft_ms.map(|v| format!("{v:.1}")).unwrap_or_default()
    }));
    cols.push(("peak RSS", true, 10, |r| {
        r.peak_rss_bytes.map(size_text).unwrap_or_default()
    }));
    cols.push(("MFU", true, 6, |r| percent(r.mfu)));
    cols.push(("BW use", true, 6, |r| percent(r.bandwidth_use)));
    cols.push(("J/token", true, 8, |r| {
        r.joules_per_token
            .map(|j| format!("{j:.4}"))
            .unwrap_or_default()
    }));
    let mut s = String::from("|");
    for (name, right, w, _) in &cols {
        let _ = if *right {
            write!(s, " {name:>w$} |")
        } else {
            write!(s, " {name:<w$} |")
        };
    }
    s.push_str("\n|");
    for (_, right, w, _) in &cols {
        let dashes = "-".repeat(w - 1);
        let _ = write!(s, " {dashes}{} |", if *right { ':' } else { '-' });
    }
    s.push('\n');
    for r in rows {
        s.push('|');
        for (_, right, w, f) in &cols {
            let v = f(r);
            let _ = if *right {
                write!(s, " {v:>w$} |")
            } else {
                write!(s, " {v:<w$} |")
            };
        }
        s.push('\n');
    }
    let _ = write!(s, "\nbuild: {}\n", engine::build_info::LLAMA_REVISION);
    s + &limits_footer(rows)
}

fn percent(v: Option<f64>) -> String {
    v.map(|f| format!("{:.1}%", f * 100.0)).unwrap_or_default()
}

/// Where the MFU, bandwidth and energy columns come from, one line each (every distinct source).
fn limits_footer(rows: &[BenchRow]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut add = |line: String| {
        if !lines.contains(&line) {
            lines.push(line);
        }
    };
    for r in rows {
        if let (Some(v), Some(src)) = (r.peak_tflops, &r.peak_tflops_source) {
            add(format!("MFU against {v:.3} TFLOP/s ({src})"));
        }
        if let (Some(v), Some(src)) = (r.peak_gbps, &r.peak_gbps_source) {
            add(format!(
                "{}: BW use against {v:.1} GB/s ({src})",
                r.test_name()
            ));
        }
        if let Some(src) = &r.energy_source {
            add(format!("J/token: {src}"));
        }
    }
    if rows.iter().any(|r| r.joules_per_token.is_none()) {
        add("J/token: no energy counter here (RAPL, NVML); --tdp W gives the TDP estimate".into());
    }
    lines.iter().map(|l| l.clone() + "\n").collect()
}
