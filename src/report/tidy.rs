//! `results.csv`: one tidy row per rung (every model, every grid cell), full precision, empty cells
//! for what was not measured. Task columns are the union over all results.

use anyhow::Result;

use crate::results::{RungResult, SweepResults};

use super::composite::composite_scores;
use super::data;
use super::format::{csv_int, csv_num, GB};
use super::options::ReportOptions;
use super::task_names::task_key;

/// Fixed columns before the per-task ones.
const HEAD: &[&str] = &[
    "model",
    "rung",
    "quant",
    "ftype",
    "bit_width",
    "nominal_bpw",
    "bpw",
    "size_bytes",
    "size_gb",
    "n_params",
    "imatrix",
    "recipe",
    "recipe_predicted_kld",
    "prune_method",
    "prune_level",
    "prune_pattern",
    "sparsity",
    "ppl",
    "ppl_err",
    "ln_ppl_ratio",
    "ln_ppl_ratio_err",
    "kld_mean",
    "kld_mean_err",
    "kld_median",
    "kld_p99",
    "kld_max",
    "same_top_pct",
    "same_top_pct_err",
    "dp_rms_pct",
    "dp_rms_pct_err",
    "pp_ts",
    "pp_ts_sd",
    "tg_ts",
    "tg_ts_sd",
    "peak_rss_bytes",
    "pp_flops_per_token",
    "tg_flops_per_token",
    "tg_bytes_per_token",
    "pp_mfu_pct",
    "tg_mfu_pct",
    "tg_bw_use_pct",
    "pp_j_per_token",
    "tg_j_per_token",
    "energy_source",
    "peak_tflops",
    "peak_tflops_source",
    "tg_peak_gbps",
    "tg_peak_gbps_source",
];

/// Columns after the per-task ones.
const TAIL: &[&str] = &[
    "compression_ratio",
    "size_reduction_pct",
    "theoretical_compression_rate",
    "effective_bpw",
    "drop_overall_pct",
    "q_score",
    "retention",
    "retention_basis",
    "retention_per_compression",
    "within_tolerance",
    "prune_s",
    "quantize_s",
    "perplexity_s",
    "bench_s",
    "tasks_s",
    "error",
];

/// Column-name stem of a task: `arc-easy` → `arc_easy`.
pub fn task_column(task: &str) -> String {
    task.to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

pub fn header(tasks: &[String]) -> Vec<String> {
    let mut h: Vec<String> = HEAD.iter().map(|s| s.to_string()).collect();
    for t in tasks {
        let c = task_column(t);
        for suffix in ["acc", "acc_err", "acc_norm", "n", "drop_pct"] {
            h.push(format!("{c}_{suffix}"));
        }
    }
    h.extend(TAIL.iter().map(|s| s.to_string()));
    h
}

pub fn results_csv(results: &[SweepResults], opts: &ReportOptions) -> Result<Vec<u8>> {
    let tasks = data::all_tasks(results);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header(&tasks))?;
    let names = data::model_names(results);
    for (r, name) in results.iter().zip(&names) {
        let base = data::base_of(r);
        for row in data::all_rows(r) {
            w.write_record(record(name, row, base, &tasks, opts))?;
        }
    }
    Ok(w.into_inner()?)
}

/// The machine-use columns: work per token, utilization in percent, energy and its label.
fn machine_use_cells(r: &RungResult) -> Vec<String> {
    let (pp, tg) = (r.pp_use.as_ref(), r.tg_use.as_ref());
    let pct = |v: Option<f64>| csv_num(v.map(|x| 100.0 * x));
    let source = [tg, pp]
        .into_iter()
        .flatten()
        .find_map(|u| u.energy_source.clone());
    let flops = [pp, tg]
        .into_iter()
        .flatten()
        .find_map(|u| u.peak_flops.as_ref());
    let bandwidth = tg.and_then(|u| u.peak_bandwidth.as_ref());
    vec![
        csv_num(pp.map(|u| u.flops_per_token)),
        csv_num(tg.map(|u| u.flops_per_token)),
        csv_num(tg.map(|u| u.bytes_per_token)),
        pct(pp.and_then(|u| u.mfu)),
        pct(tg.and_then(|u| u.mfu)),
        pct(tg.and_then(|u| u.bandwidth_use)),
        csv_num(pp.and_then(|u| u.joules_per_token)),
        csv_num(tg.and_then(|u| u.joules_per_token)),
        source.unwrap_or_default(),
        csv_num(flops.map(|p| p.value / 1e12)),
        flops.map(|p| p.source.clone()).unwrap_or_default(),
        csv_num(bandwidth.map(|p| p.value / 1e9)),
        bandwidth.map(|p| p.source.clone()).unwrap_or_default(),
    ]
}

fn record(
    model: &str,
    r: &RungResult,
    base: Option<&RungResult>,
    tasks: &[String],
    opts: &ReportOptions,
) -> Vec<String> {
    let pct = |v: Option<f64>| csv_num(v.map(|x| 100.0 * x));
    let k = r.kld.as_ref();
    let p = r.prune.as_ref();
    let mut rec = vec![
        model.to_string(),
        r.rung.clone(),
        r.quant.clone(),
        r.ftype.map(|v| v.to_string()).unwrap_or_default(),
        data::bit_width(r)
            .map(|v| v.to_string())
            .unwrap_or_default(),
        csv_num(r.nominal_bpw),
        csv_num(r.bpw),
        csv_int(r.size_bytes),
        csv_num(r.size_bytes.map(|b| b as f64 / GB)),
        csv_int(r.n_params),
        r.imatrix
            .map(|b| if b { "yes" } else { "no" }.to_string())
            .unwrap_or_default(),
        r.recipe
            .as_ref()
            .map(|x| x.target.clone())
            .unwrap_or_default(),
        csv_num(r.recipe.as_ref().map(|x| x.predicted_kld)),
        p.map(|p| p.method.clone()).unwrap_or_default(),
        csv_num(p.map(|p| p.level)),
        p.and_then(|p| p.pattern.clone()).unwrap_or_default(),
        csv_num(data::sparsity(r)),
        csv_num(r.ppl),
        csv_num(r.ppl_err),
        csv_num(r.ln_ppl_ratio),
        csv_num(r.ln_ppl_ratio_err),
        csv_num(k.map(|k| k.mean)),
        csv_num(k.map(|k| k.mean_err)),
        csv_num(k.map(|k| k.median)),
        csv_num(k.map(|k| k.p99)),
        csv_num(k.map(|k| k.max)),
        pct(k.map(|k| k.same_top)),
        pct(k.map(|k| k.same_top_err)),
        pct(k.map(|k| k.dp_rms)),
        pct(k.map(|k| k.dp_rms_err)),
        csv_num(r.pp_ts),
        csv_num(r.pp_ts_sd),
        csv_num(r.tg_ts),
        csv_num(r.tg_ts_sd),
        csv_int(r.peak_rss_bytes),
    ];
    rec.extend(machine_use_cells(r));
    let s = composite_scores(r, base, opts);
    for t in tasks {
        let found = r.tasks.iter().find(|x| task_key(&x.task) == task_key(t));
        rec.push(csv_num(found.map(|x| x.acc)));
        rec.push(csv_num(found.map(|x| x.acc_err)));
        rec.push(csv_num(found.and_then(|x| x.acc_norm)));
        rec.push(csv_int(found.map(|x| x.n)));
        let drop = s
            .drops
            .iter()
            .find(|(n, _)| task_key(n) == task_key(t))
            .map(|d| d.1);
        rec.push(csv_num(drop));
    }
    let safe = match (data::ppl(r), base.and_then(data::ppl)) {
        (Some(p), Some(b)) => (p <= b * (1.0 + opts.tolerance)).to_string(),
        _ => String::new(),
    };
    rec.extend([
        csv_num(s.compression_ratio),
        csv_num(s.size_reduction.map(|x| 100.0 * x)),
        csv_num(s.theoretical_rate),
        csv_num(s.effective_bpw),
        csv_num(s.drop_overall),
        csv_num(s.q),
        csv_num(s.retention),
        s.retention_basis.unwrap_or_default().to_string(),
        csv_num(s.retention_per_compression),
        safe,
        csv_num(r.times.prune_s),
        csv_num(r.times.quantize_s),
        csv_num(r.times.perplexity_s),
        csv_num(r.times.bench_s),
        csv_num(r.times.tasks_s),
        r.error
            .as_deref()
            .map(|e| e.replace('\n', " "))
            .unwrap_or_default(),
    ]);
    rec
}
