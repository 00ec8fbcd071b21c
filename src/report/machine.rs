//! The report's "Machine use" section: the peaks and where they came from, each rung's MFU,
//! bandwidth use and energy per token, and which rung comes closest to the machine's limit.

use std::fmt::Write as _;

use crate::measure::machine_use::MachineUse;
use crate::results::{RungResult, SweepResults};

use super::data;
use super::format::opt;

fn pct(v: Option<f64>) -> String {
    opt(v, |f| format!("{:.1}%", f * 100.0))
}

fn joules(u: &Option<MachineUse>) -> String {
    opt(u.as_ref().and_then(|u| u.joules_per_token), |j| {
        format!("{j:.4}")
    })
}

/// The rung (of all models) closest to a limit: prompt processing's MFU or generation's
/// bandwidth use, whichever is the larger fraction, in words.
pub fn closest_to_limit(results: &[SweepResults]) -> Option<String> {
    let names = data::model_names(results);
    let mut best: Option<(f64, String)> = None;
    for (res, name) in results.iter().zip(&names) {
        for r in data::all_rows(res).into_iter().filter(|r| r.ok()) {
            let pp = r.pp_use.as_ref().and_then(|u| u.mfu);
            let tg = r.tg_use.as_ref().and_then(|u| u.bandwidth_use);
            let candidates = [
                (pp, "prompt processing at {} of peak FLOPs (MFU)"),
                (tg, "generation at {} of memory bandwidth"),
            ];
            for (v, what) in candidates {
                let Some(v) = v else { continue };
                if best.as_ref().is_none_or(|(b, _)| v > *b) {
                    let who = if results.len() > 1 {
                        format!("{name} {}", r.rung)
                    } else {
                        r.rung.clone()
                    };
                    let text = what.replace("{}", &format!("{:.1}%", v * 100.0));
                    best = Some((v, format!("{who}: {text}")));
                }
            }
        }
    }
    best.map(|(_, s)| format!("Closest to the machine's limit: {s}."))
}

fn peaks_lines(s: &mut String, r: &SweepResults) {
    let Some(p) = &r.peaks else { return };
    if let Some(f) = &p.flops {
        let _ = writeln!(
            s,
            "- Peak compute: {:.3} TFLOP/s, {}.",
            f.value / 1e12,
            f.source
        );
    }
    if let Some(b) = &p.bandwidth {
        let _ = writeln!(
            s,
            "- Main-memory bandwidth: {:.1} GB/s, {}.",
            b.value / 1e9,
            b.source
        );
    }
    if !p.bandwidth_curve.is_empty() {
        s.push_str("- Each rung's bandwidth use is against the streaming-read bandwidth of a buffer no larger than what it reads per pass over its weights (a model that fits in cache reads faster than main memory): the \"tg BW peak\" column.\n");
    }
    let _ = writeln!(s, "- Device: {}; measured {}.", p.device, p.measured);
}

fn row(s: &mut String, r: &RungResult) {
    let (pp, tg) = (&r.pp_use, &r.tg_use);
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.rung,
        opt(data::bits(r), |b| format!("{b:.2}")),
        opt(r.pp_ts, |v| format!("{v:.1}")),
        pct(pp.as_ref().and_then(|u| u.mfu)),
        opt(r.tg_ts, |v| format!("{v:.1}")),
        opt(tg.as_ref().map(|u| u.bytes_per_token), |b| format!(
            "{:.1}",
            b / 1e6
        )),
        pct(tg.as_ref().and_then(|u| u.bandwidth_use)),
        pct(tg.as_ref().and_then(|u| u.mfu)),
        opt(
            tg.as_ref()
                .and_then(|u| u.peak_bandwidth.as_ref())
                .map(|p| p.value),
            |b| { format!("{:.1}", b / 1e9) }
        ),
        joules(pp),
        joules(tg),
    );
}

/// The section, or `None` when no rung has a machine-use figure.
pub fn machine_use_md(results: &[SweepResults]) -> Option<String> {
    let any = results
        .iter()
        .flat_map(data::all_rows)
        .any(|r| r.pp_use.is_some() || r.tg_use.is_some());
    if !any {
        return None;
    }
    let mut s = String::from("## Machine use\n\n");
    if let Some(line) = closest_to_limit(results) {
        let _ = writeln!(s, "{line}\n");
    }
    for (res, name) in results.iter().zip(data::model_names(results)) {
        if results.len() > 1 {
            let _ = writeln!(s, "### {name}\n");
        }
        peaks_lines(&mut s, res);
        let energy = data::all_rows(res)
            .iter()
            .filter_map(|r| r.tg_use.as_ref().or(r.pp_use.as_ref()))
            .find_map(|u| u.energy_source.clone());
        let _ = writeln!(
            s,
            "- Energy per token: {}.\n",
            energy.unwrap_or_else(|| {
                "not measured (no RAPL or NVML counter here; --tdp W gives the TDP estimate)".into()
            })
        );
        s.push_str("| rung | bpw | pp t/s | pp MFU | tg t/s | tg MB/token | tg BW use | tg MFU | tg BW peak GB/s | pp J/token | tg J/token |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in data::all_rows(res).into_iter().filter(|r| r.ok()) {
            row(&mut s, r);
        }
        s.push('\n');
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(name: &str, pp_mfu: Option<f64>, tg_bw: Option<f64>) -> RungResult {
        let mut r = RungResult::new(name, name);
        r.bpw = Some(4.5);
        r.pp_use = pp_mfu.map(|m| MachineUse {
            mfu: Some(m),
            ..Default::default()
        });
        r.tg_use = tg_bw.map(|b| MachineUse {
            bandwidth_use: Some(b),
            joules_per_token: Some(0.25),
            energy_source: Some("estimated (TDP 50 W)".into()),
            ..Default::default()
        });
        r
    }

    #[test]
    fn the_rung_closest_to_a_limit_is_named_with_its_figure() {
        let res = SweepResults {
            rungs: vec![
                rung("Q8_0", Some(0.20), Some(0.55)),
                rung("Q4_K_M", Some(0.61), Some(0.30)),
                rung("Q2_K", None, None),
            ],
            ..Default::default()
        };
        let line = closest_to_limit(std::slice::from_ref(&res)).unwrap();
        assert_eq!(
            line,
            "Closest to the machine's limit: Q4_K_M: prompt processing at 61.0% of peak FLOPs (MFU)."
        );
        let md = machine_use_md(std::slice::from_ref(&res)).unwrap();
        assert!(md.contains("| Q8_0 | 4.50 |"), "{md}");
        assert!(
            md.contains("Energy per token: estimated (TDP 50 W)."),
            "{md}"
        );
        assert!(md.contains("55.0%") && md.contains("0.2500"), "{md}");
    }

    #[test]
    fn no_section_without_machine_use() {
        let res = SweepResults {
            rungs: vec![rung("Q8_0", None, None)],
            ..Default::default()
        };
        assert!(machine_use_md(std::slice::from_ref(&res)).is_none());
        assert!(closest_to_limit(std::slice::from_ref(&res)).is_none());
    }
}
