//! Recipe rungs: the sensitivity table they are solved from (a shared stage, measured once per
//! sweep folder), and each rung's recipe, solved when the rung is measured and kept in `recipes/`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::config::SweepConfig;
use super::events::{Observer, SweepEvent};
use super::plan::{ImatrixFor, RecipeTarget, Rung};
use crate::recipe::sensitivity::{Event, DEFAULT_STOCK};
use crate::recipe::{make_recipe, SensitivityOptions, SensitivityTable, Target};
use crate::results::RecipeInfo;

pub const SENSITIVITY_FILE: &str = "sens.json";
pub const RECIPES_DIR: &str = "recipes";

/// The sensitivity table behind the recipe rungs: the one saved in the folder, or measured now on
/// the calibration text (with the importance matrix when every rung gets it). `None` without
/// recipe rungs.
pub fn sensitivity(
    cfg: &SweepConfig,
    imatrix: Option<&Path>,
    on: Observer<'_>,
) -> Result<Option<PathBuf>> {
    if !cfg.plan.has_recipes() {
        return Ok(None);
    }
    let out = cfg.out_dir.join(SENSITIVITY_FILE);
    let imatrix = imatrix.filter(|_| cfg.imatrix_for == ImatrixFor::All);
    let s = &cfg.sensitivity;
    if out.exists() {
        let t = SensitivityTable::open(&out)?;
        let (c, want) = (
            &t.calibration,
            (s.n_ctx, s.n_chunk, s.grouping, imatrix.is_some()),
        );
        if (c.n_ctx, c.n_chunk, t.grouping, t.imatrix.is_some()) != want {
            bail!(
                "{}: measured with -c {} --chunks {} --group {:?}, importance matrix {}; this sweep asks for -c {} --chunks {} --group {:?}, importance matrix {}: delete the file to measure again",
                out.display(), c.n_ctx, c.n_chunk, t.grouping, t.imatrix.is_some(),
                want.0, want.1, want.2, want.3
            );
        }
        return Ok(Some(out));
    }
    let calib = super::prepare::calibration(cfg, "recipe rungs need a sensitivity run")?;
    on(SweepEvent::Stage("sensitivity"));
    let mut stock: Vec<_> = DEFAULT_STOCK
        .iter()
        .filter_map(|n| crate::quant::types::find(n))
        .collect();
    for r in &cfg.plan.rungs {
        if let Some(RecipeTarget::Like(t)) = &r.recipe {
            if !stock.iter().any(|s| s.name == t.name) {
                stock.push(t);
            }
        }
    }
    let opts = SensitivityOptions {
        calibration: calib.to_path_buf(),
        imatrix: imatrix.map(Path::to_path_buf),
        n_ctx: s.n_ctx,
        n_chunk: s.n_chunk,
        grouping: s.grouping,
        types: None,
        stock: Some(stock),
        n_threads: cfg.n_threads,
        n_gpu_layers: cfg.n_gpu_layers,
    };
    let (mut done, mut total) = (0u64, 0u64);
    let table = crate::recipe::measure(&cfg.model, &opts, &mut |e| match e {
        Event::Plan { evaluations, .. } => {
            total = evaluations as u64;
            on(SweepEvent::Progress(0, total, "candidates", String::new()));
        }
        Event::Measured {
            group,
            ggml_type,
            kld,
        } => {
            done += 1;
            on(SweepEvent::Progress(
                done,
                total,
                "candidates",
                format!("{group} {}: KLD {kld:.5}", ggml_type.ggml_name()),
            ));
        }
    })?;
    table.save(&out)?;
    Ok(Some(out))
}

/// Solves the rung's recipe from the folder's table and writes it to `recipes/RUNG.txt` (with its
/// `.json`); returns the file and what it predicts.
pub fn solve_rung(cfg: &SweepConfig, r: &Rung) -> Result<(PathBuf, RecipeInfo, String)> {
    let target = match r.recipe.as_ref().context("not a recipe rung")? {
        RecipeTarget::Like(t) => Target::Like(t.name.to_string()),
        RecipeTarget::BitsPerWeight(b) => Target::BitsPerWeight(*b),
    };
    let table_path = cfg.out_dir.join(SENSITIVITY_FILE);
    let table = SensitivityTable::open(&table_path)?;
    table.check_model(&crate::engine::open_gguf(&cfg.model)?, &table_path)?;
    let (solution, meta) = make_recipe(&table, &table_path, &target)?;
    let dir = cfg.out_dir.join(RECIPES_DIR);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    let file = dir.join(format!("{}.txt", r.name));
    crate::util::write_atomic(
        &file,
        crate::quant::tensor_type_file::render(&solution.types).as_bytes(),
    )?;
    crate::util::write_atomic(
        &file.with_extension("json"),
        &serde_json::to_vec_pretty(&meta)?,
    )?;
    let info = RecipeInfo {
        target: meta.target.clone(),
        like: match &target {
            Target::Like(t) => Some(t.clone()),
            _ => None,
        },
        predicted_kld: meta.predicted_kld,
        predicted_tensor_bytes: meta.tensor_bytes,
        source: meta.source.clone(),
        file: format!("{RECIPES_DIR}/{}.txt", r.name),
    };
    Ok((file, info, meta.base_type))
}
