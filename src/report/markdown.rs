//! `report.md`: the verdicts, Table 5, the charts, every rung with its composite scores, the fits,
//! failed rungs, and the settings and provenance each number came from.

use std::fmt::Write as _;
use std::path::Path;

use crate::results::SweepResults;

use super::charts::Rendered;
use super::composite::{composite_scores, weighted};
use super::data;
use super::fit::PhaseFit;
use super::format::{opt, pm, sig};
use super::options::ReportOptions;
use super::table5::Table5;
use super::task_names::task_label;

pub fn report_md(
    results: &[SweepResults],
    fits: &[PhaseFit],
    charts: &Rendered,
    opts: &ReportOptions,
    report_dir: &Path,
    recipes: &str,
) -> String {
    let names = data::model_names(results);
    let mut s = String::new();
    let _ = writeln!(s, "# mpt-gguf report: {}\n", names.join(", "));
    s.push_str("## Phase transition\n\n");
    for f in fits {
        let _ = writeln!(s, "- {}", f.verdict());
    }
    s.push_str("\n## Table 5\n\n");
    let _ = writeln!(
        s,
        "Tokens/s is {} throughput; Param(GB) is the file size in 10⁹ bytes; KLD is the mean KL-divergence to the base.\n",
        if opts.throughput == super::Throughput::Tg { "token generation (tg)" } else { "prompt processing (pp)" }
    );
    s.push_str(&Table5::build(results, opts).to_markdown());
    if !recipes.is_empty() {
        s.push('\n');
        s.push_str(recipes);
    }

    s.push_str("\n## Charts\n\n");
    for c in &charts.charts {
        let relative = |p: &Path| {
            p.strip_prefix(report_dir)
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/")
        };
        let (file, svg) = (relative(&c.png), relative(&c.svg));
        let _ = writeln!(
            s,
            "### {}\n\n![{}]({file})\n\n[SVG]({svg})\n",
            c.title, c.title
        );
    }
    for k in &charts.skipped {
        let _ = writeln!(s, "- not drawn: {k}");
    }

    s.push_str("\n## Rungs and composite scores\n\n");
    let _ = writeln!(
        s,
        "Q = w_B·Σ w_i·B_i − w_PPL·PPL + w_TPS·TPS with w_B = {}, w_PPL = {}, w_TPS = {}, benchmark weights {} \
         (B_i in percent, TPS = {} t/s). D_i is the percentage drop of benchmark i against the base, D its mean. \
         Retention R is the mean of B_i / B_i,base (PPL_base / PPL when no task was measured); R/rate divides it \
         by the theoretical compression rate 1 − (1 − p)·b/16.\n",
        opts.weights.w_bench,
        opts.weights.w_ppl,
        opts.weights.w_tps,
        opts.weights
            .bench_weights()
            .iter()
            .map(|(n, w)| format!("{}={w}", task_label(n)))
            .collect::<Vec<_>>()
            .join(", "),
        opts.throughput.label()
    );
    for (r, name) in results.iter().zip(&names) {
        rung_table(&mut s, r, name, opts);
    }
    if let Some(section) = super::machine::machine_use_md(results) {
        s.push_str(&section);
    }
    settings(&mut s, results, &names);
    s
}

fn rung_table(s: &mut String, r: &SweepResults, name: &str, opts: &ReportOptions) {
    let base = data::base_of(r);
    let tasks = data::all_tasks(std::slice::from_ref(r));
    let _ = writeln!(s, "### {name}\n");
    let mut head = vec![
        "rung", "bpw", "size GB", "PPL", "ΔPPL", "KLD", "same top", "pp t/s", "tg t/s",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    head.extend(tasks.iter().map(|t| task_label(t)));
    head.extend(["ratio", "rate", "D %", "Q", "R", "R/rate", "safe"].map(String::from));
    let _ = writeln!(
        s,
        "| {} |\n|{}",
        head.join(" | "),
        "---|".repeat(head.len())
    );
    let mut notes: Vec<String> = Vec::new();
    let base_ppl = base.and_then(data::ppl);
    for row in data::all_rows(r) {
        if let Some(e) = &row.error {
            let _ = writeln!(
                s,
                "| {} | failed: {} |{}",
                row.rung,
                e.replace(['\n', '|'], " "),
                " |".repeat(head.len() - 2)
            );
            continue;
        }
        let sc = composite_scores(row, base, opts);
        for n in &sc.q_notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
        let mut cells = vec![
            row.rung.clone(),
            opt(data::bits(row), |v| format!("{v:.2}")),
            row.size_bytes
                .map(super::format::gb)
                .unwrap_or_else(|| "-".into()),
            match (data::ppl(row), row.ppl_err) {
                (Some(p), Some(e)) => pm(p, e, 4),
                (p, _) => opt(p, |v| format!("{v:.4}")),
            },
            opt(
                data::ppl(row)
                    .zip(base_ppl)
                    .map(|(p, b)| 100.0 * (p / b - 1.0)),
                |v| format!("{v:+.2}%"),
            ),
            opt(row.kld.as_ref().map(|k| k.mean), |v| sig(v, 3)),
            opt(row.kld.as_ref().map(|k| 100.0 * k.same_top), |v| {
                format!("{v:.2}%")
            }),
            opt(row.pp_ts, |v| format!("{v:.1}")),
            opt(row.tg_ts, |v| format!("{v:.1}")),
        ];
        for t in &tasks {
            cells.push(opt(data::task_acc(row, t).map(|a| a.0), |v| {
                format!("{v:.3}")
            }));
        }
        cells.extend([
            opt(sc.compression_ratio, |v| format!("{v:.2}×")),
            opt(sc.theoretical_rate, |v| format!("{v:.3}")),
            opt(sc.drop_overall, |v| format!("{v:.1}")),
            opt(sc.q, |v| format!("{v:.2}")),
            opt(sc.retention, |v| format!("{v:.3}")),
            opt(sc.retention_per_compression, |v| format!("{v:.3}")),
            match (data::ppl(row), base_ppl) {
                (Some(p), Some(b)) => (if p <= b * (1.0 + opts.tolerance) {
                    "yes"
                } else {
                    "no"
                })
                .into(),
                _ => "-".into(),
            },
        ]);
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    let unweighted: Vec<String> = tasks
        .iter()
        .filter(|t| !weighted(t, opts))
        .map(|t| task_label(t))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(
            s,
            "\nQ leaves out what was not measured: {}.",
            notes.join("; ")
        );
    }
    if !unweighted.is_empty() {
        let _ = writeln!(
            s,
            "Measured but weighted 0 in Q: {} (set with --bench-weight TASK=W).",
            unweighted.join(", ")
        );
    }
    s.push('\n');
}

fn settings(s: &mut String, results: &[SweepResults], names: &[String]) {
    s.push_str("## Settings and provenance\n\n");
    for (r, name) in results.iter().zip(names) {
        let st = &r.settings;
        let pv = &r.provenance;
        let _ = writeln!(s, "### {name}\n");
        let mut kv: Vec<(String, String)> = vec![
            ("model file".into(), r.model.path.clone()),
            (
                "model sha256".into(),
                r.model.sha256.clone().unwrap_or_default(),
            ),
            (
                "architecture".into(),
                r.model.architecture.clone().unwrap_or_default(),
            ),
            (
                "parameters".into(),
                r.model.n_params.map(|n| n.to_string()).unwrap_or_default(),
            ),
            (
                "evaluation text".into(),
                st.text_file.clone().unwrap_or_default(),
            ),
            ("context".into(), st.n_ctx.to_string()),
            (
                "chunks".into(),
                st.n_chunks
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "all".into()),
            ),
            ("threads".into(), st.n_threads.to_string()),
            ("GPU layers".into(), st.n_gpu_layers.to_string()),
            (
                "bench pp / tg / reps".into(),
                format!("{} / {} / {}", st.bench_prompt, st.bench_gen, st.bench_reps),
            ),
            (
                "importance matrix".into(),
                st.imatrix.clone().unwrap_or_default(),
            ),
            ("tasks".into(), st.tasks.join(", ")),
            ("mpt-gguf".into(), pv.mpt_gguf_version.clone()),
            ("llama.cpp".into(), pv.llama_cpp.clone()),
            ("backends".into(), pv.backends.join(", ")),
            ("target CPU".into(), pv.target_cpu.clone()),
            (
                "machine".into(),
                format!(
                    "{} ({} {}, {}, {} CPUs)",
                    pv.machine.hostname,
                    pv.machine.os,
                    pv.machine.arch,
                    pv.machine.cpu,
                    pv.machine.n_cpus
                ),
            ),
            ("created".into(), pv.created.clone()),
        ];
        kv.extend(st.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        kv.extend(
            pv.inputs
                .iter()
                .map(|(k, v)| (format!("sha256 of {k}"), v.clone())),
        );
        s.push_str("| setting | value |\n|---|---|\n");
        for (k, v) in kv.into_iter().filter(|(_, v)| !v.is_empty()) {
            let _ = writeln!(s, "| {k} | {} |", v.replace('|', "\\|"));
        }
        s.push('\n');
    }
}
