//! Plain-text tables of task reports, for the terminal.

use std::fmt::Write;

use super::accuracy::{Accuracy, TaskReport};

fn pct(a: &Accuracy) -> String {
    format!("{:6.2} ± {:5.2}", 100.0 * a.value, 100.0 * a.stderr)
}

/// One line per task: items, acc ± stderr, acc_norm ± stderr (percent), speed, sharing.
pub fn summary(reports: &[TaskReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<14} {:>9} {:>6} {:>16} {:>16} {:>8} {:>8} {:>7}",
        "task", "mode", "n", "acc %", "acc_norm %", "items/s", "time s", "shared"
    );
    for r in reports {
        let norm = r.acc_norm.as_ref().map(pct).unwrap_or_else(|| "-".into());
        let saved = if r.tokens_unshared > 0 {
            format!(
                "{:.0}%",
                100.0 * (1.0 - r.tokens_decoded as f64 / r.tokens_unshared as f64)
            )
        } else {
            "-".into()
        };
        let task = if r.shots > 0 {
            format!("{} {}-shot", r.task, r.shots)
        } else {
            r.task.clone()
        };
        let _ = writeln!(
            s,
            "{:<14} {:>9} {:>6} {:>16} {:>16} {:>8.2} {:>8.1} {:>7}",
            task,
            r.mode.name(),
            r.n,
            pct(&r.acc),
            norm,
            r.items_per_s,
            r.seconds,
            saved
        );
        if let Some(m) = r.macro_acc {
            let _ = writeln!(
                s,
                "{:<14} {:>9} {:>6} {:>16}",
                "  macro avg",
                "",
                r.subjects.len(),
                format!("{:6.2}", 100.0 * m)
            );
        }
    }
    s
}

/// MMLU's per-subject table.
pub fn subjects(report: &TaskReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<40} {:>5} {:>16}", "subject", "n", "acc %");
    for sub in &report.subjects {
        let _ = writeln!(s, "{:<40} {:>5} {:>16}", sub.subject, sub.n, pct(&sub.acc));
    }
    if let Some(m) = report.macro_acc {
        let _ = writeln!(
            s,
            "{:<40} {:>5} {:>16}",
            "macro average (subjects)",
            report.subjects.len(),
            format!("{:6.2}", 100.0 * m)
        );
    }
    let _ = writeln!(
        s,
        "{:<40} {:>5} {:>16}",
        "micro average (items)",
        report.n,
        pct(&report.acc)
    );
    s
}
