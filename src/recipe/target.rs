//! What a recipe is asked to fit (`--like TYPE`, `--target-bpw B`, `--target-size SIZE`) turned into a
//! byte budget, and the solved recipe with its predictions.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

use serde::{Deserialize, Serialize};

use super::solve::{predicted_kld, solve, Solution, MAX_STEPS};
use super::table::SensitivityTable;

/// Room left in a `--target-size` for the metadata llama-quantize adds (file type, importance
/// matrix keys) beyond the input's.
pub const METADATA_ALLOWANCE: u64 = 4096;

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// No larger than the stock type's own file of this model.
    Like(String),
    BitsPerWeight(f64),
    FileBytes(u64),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Like(t) => format!("--like {t}"),
            Target::BitsPerWeight(b) => format!("--target-bpw {b}"),
            Target::FileBytes(n) => format!("--target-size {n}"),
        }
    }

    /// Padded tensor bytes the recipe may take.
    pub fn budget(&self, table: &SensitivityTable, table_path: &Path) -> Result<u64> {
        match self {
            Target::Like(name) => {
                let stock = table.stock.get(name).with_context(|| {
                    format!(
                        "{}: no stock mix of {name} was recorded (types that need an importance matrix are recorded only when sensitivity was measured with --imatrix)",
                        table_path.display()
                    )
                })?;
                table.bytes_of(stock)
            }
            Target::BitsPerWeight(b) => {
                if !(b.is_finite() && *b > 0.0) {
                    bail!("--target-bpw {b}: give a positive number of bits per weight");
                }
                Ok((b * table.model.n_params as f64 / 8.0).floor() as u64)
            }
            Target::FileBytes(n) => n
                .checked_sub(table.model.data_offset + METADATA_ALLOWANCE)
                .with_context(|| {
                    format!(
                        "--target-size {n}: smaller than the model's metadata alone ({} bytes)",
                        table.model.data_offset
                    )
                }),
        }
    }
}

/// `80000000`, `80M`, `80MB`, `76.3MiB`, `1.5G`, `1.5GiB` → bytes (K/M/G are powers of 1000 without
/// `i`, of 1024 with it).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .with_context(|| format!("--target-size '{s}': not a size (e.g. 80000000, 80MB, 76MiB)"))?;
    let scale = match unit.trim().to_ascii_lowercase().trim_end_matches('b') {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0 * 1024.0 * 1024.0,
        other => {
            bail!("--target-size '{s}': unknown unit '{other}' (use B, KB, MB, GB, KiB, MiB, GiB)")
        }
    };
    Ok((value * scale).floor() as u64)
}

/// Solves `table` for `target` and says what the result predicts.
pub fn make_recipe(
    table: &SensitivityTable,
    table_path: &Path,
    target: &Target,
) -> Result<(Solution, RecipeMeta)> {
    let budget = target.budget(table, table_path)?;
    let solution = solve(table, budget)
        .with_context(|| format!("{}: {}", table_path.display(), target.describe()))?;
    let mut stock: Vec<StockPoint> = table
        .stock
        .iter()
        .filter_map(|(name, types)| {
            Some(StockPoint {
                name: name.clone(),
                tensor_bytes: table.bytes_of(types).ok()?,
                predicted_kld: predicted_kld(table, types).ok()?,
            })
        })
        .collect();
    stock.sort_by_key(|s| s.tensor_bytes);
    let base_type = match target {
        Target::Like(name) => name.clone(),
        _ => stock
            .iter()
            .min_by_key(|s| s.tensor_bytes.abs_diff(solution.tensor_bytes))
            .map(|s| s.name.clone())
            .context("the table records no stock types")?,
    };
    let meta = RecipeMeta {
        target: target.describe(),
        base_type,
        budget_tensor_bytes: budget,
        tensor_bytes: solution.tensor_bytes,
        predicted_file_bytes: solution.tensor_bytes + table.model.data_offset,
        predicted_bpw: solution.tensor_bytes as f64 * 8.0 / table.model.n_params.max(1) as f64,
        predicted_kld: solution.predicted_kld,
        source: solution.source.clone(),
        stock_within_budget: stock
            .into_iter()
            .filter(|s| s.tensor_bytes <= budget)
            .collect(),
        sensitivity: table_path.display().to_string(),
        imatrix: table.imatrix.clone(),
        solver: format!(
            "multiple-choice knapsack, exact dynamic programming over {MAX_STEPS} budget steps; {} groups ({:?})",
            table.groups.len(),
            table.grouping
        ),
    };
    Ok((solution, meta))
}

/// What the recipe was solved for and what it predicts, written beside `recipe.txt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeMeta {
    /// `--like Q4_K_M`, `--target-bpw 4.5` or `--target-size 80000000`, as asked.
    pub target: String,
    /// The stock type to name on the command line (`quantize IN OUT TYPE --recipe`).
    pub base_type: String,
    pub budget_tensor_bytes: u64,
    pub tensor_bytes: u64,
    /// tensor bytes + the input's metadata size.
    pub predicted_file_bytes: u64,
    pub predicted_bpw: f64,
    pub predicted_kld: f64,
    /// `solver` or `stock TYPE` (a stock mix predicted better at this size).
    pub source: String,
    /// Stock types of the model no larger than the budget, with their predicted KLD.
    pub stock_within_budget: Vec<StockPoint>,
    pub sensitivity: String,
    pub imatrix: Option<String>,
    pub solver: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockPoint {
    #[serde(rename = "type")]
    pub name: String,
    pub tensor_bytes: u64,
    pub predicted_kld: f64,
}

/// `recipe.txt` → `recipe.json`.
pub fn meta_path(recipe: &Path) -> std::path::PathBuf {
    recipe.with_extension("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(parse_size("80000000").unwrap(), 80_000_000);
        assert_eq!(parse_size("80MB").unwrap(), 80_000_000);
        assert_eq!(parse_size("1.5G").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("2MiB").unwrap(), 2 * 1024 * 1024);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
