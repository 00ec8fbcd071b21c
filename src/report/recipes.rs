//! Recipe rungs in the renderings. A sweep with recipe rungs is drawn as two series: its stock
//! ladder and "NAME recipes" (the base and the recipe rungs). So every quality chart draws the two
//! frontiers side by side, each gets its own phase-transition fit, and Table 5 a recipe block under
//! the stock one; the report then says how far the transition moved and what each recipe saves.

use std::fmt::Write as _;

use crate::results::{RungResult, SweepResults};

use super::data;
use super::fit::{Axis, FitSubject, PhaseFit};

const SUFFIX: &str = " recipes";

/// Each result with recipe rungs as its stock ladder followed by its recipe series.
pub fn with_recipe_series(results: &[SweepResults]) -> Vec<SweepResults> {
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        if !r.rungs.iter().any(is_recipe) {
            out.push(r.clone());
            continue;
        }
        let mut stock = r.clone();
        stock.rungs.retain(|x| !is_recipe(x));
        let mut recipes = r.clone();
        recipes.rungs.retain(is_recipe);
        recipes.model.name = format!("{}{SUFFIX}", data::model_names(std::slice::from_ref(r))[0]);
        out.push(stock);
        out.push(recipes);
    }
    out
}

pub fn is_recipe(r: &RungResult) -> bool {
    r.recipe.is_some()
}

/// `## Recipes against stock`: each recipe beside the stock rung it stands in for, and the
/// transition of both series. Empty without recipe rungs.
pub fn recipes_md(results: &[SweepResults], fits: &[PhaseFit]) -> String {
    let mut s = String::new();
    for (name, r) in data::model_names(results).iter().zip(results) {
        let recipes: Vec<&RungResult> = r.rungs.iter().filter(|x| is_recipe(x)).collect();
        if recipes.is_empty() {
            continue;
        }
        let _ = writeln!(s, "## Recipes against stock: {name}\n");
        s.push_str("| recipe | target | size (bytes) | bpw | mean KLD | predicted KLD | stock | stock size | stock KLD | KLD saved |\n");
        s.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for x in recipes {
            let info = x.recipe.as_ref().expect("filtered");
            let stock = info
                .like
                .as_ref()
                .and_then(|t| r.rungs.iter().find(|y| &y.rung == t && y.ok()));
            let kld = |y: &RungResult| y.kld.as_ref().map(|k| k.mean);
            let cell = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            let saved = stock
                .and_then(|st| Some(1.0 - kld(x)? / kld(st)?))
                .map(|f| format!("{:.0}%", f * 100.0));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.5} | {} | {} | {} | {} |",
                x.rung,
                info.target,
                cell(x.size_bytes.map(|b| b.to_string())),
                cell(data::bits(x).map(|b| format!("{b:.3}"))),
                cell(kld(x).map(|k| format!("{k:.5}"))),
                info.predicted_kld,
                cell(stock.map(|st| st.rung.clone())),
                cell(stock.and_then(|st| st.size_bytes).map(|b| b.to_string())),
                cell(stock.and_then(kld).map(|k| format!("{k:.5}"))),
                cell(saved),
            );
        }
        let critical = |model: &str| {
            fits.iter()
                .find(|f| {
                    f.model == model
                        && f.axis == Axis::Bits
                        && f.subject == FitSubject::Quantization
                })
                .and_then(|f| f.transition().map(|t| t.critical))
        };
        let recipes_name = format!("{name}{SUFFIX}");
        let _ = writeln!(
            s,
            "\n{}\n",
            match (critical(name), critical(&recipes_name)) {
                (Some(a), Some(b)) => format!(
                    "The phase transition moved from {a:.2} bpw (stock) to {b:.2} bpw (recipes): {:+.2} bpw.",
                    b - a
                ),
                (a, b) => format!(
                    "The transition is placed for {}: stock {}, recipes {} (see the verdicts above).",
                    if a.is_some() || b.is_some() { "one series only" } else { "neither series" },
                    a.map_or("none".into(), |v| format!("{v:.2} bpw")),
                    b.map_or("none".into(), |v| format!("{v:.2} bpw"))
                ),
            }
        );
        s.push_str("The predicted KLD adds the per-tensor costs measured on the calibration text; the measured one is on the evaluation text.\n\n");
    }
    s
}
