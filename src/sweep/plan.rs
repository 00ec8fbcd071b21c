//! Which rungs a sweep measures, in which order, and what they need. With `--prune`, the plan is a
//! grid: every pruning level (and no pruning) crossed with every quantization type.

use anyhow::{bail, ensure, Context as _, Result};

use crate::prune::{NmPattern, PruneMethod};
use crate::quant::types::{self, Family, QuantType, LADDERS};

/// One pruning level of the grid, before it is tied to files (calibration text, imatrix).
#[derive(Debug, Clone, PartialEq)]
pub enum PruneLevel {
    /// Zero this fraction of every row of the block matrices.
    Sparsity(PruneMethod, f64),
    /// Zero `n` of every `m` consecutive weights.
    Pattern(PruneMethod, NmPattern),
    /// Remove this many blocks, the least important by block influence on the calibration text.
    DropBlocks(u32),
}

impl PruneLevel {
    /// The suffix of grid rung names; matches `PruneSpec::label` for the same pruning.
    pub fn label(&self) -> String {
        match self {
            PruneLevel::Sparsity(m, p) => format!("{m}-{p}"),
            PruneLevel::Pattern(m, pat) => format!("{m}-{pat}"),
            PruneLevel::DropBlocks(n) => format!("drop-{n}"),
        }
    }

    pub fn method(&self) -> String {
        match self {
            PruneLevel::Sparsity(m, _) | PruneLevel::Pattern(m, _) => m.to_string(),
            PruneLevel::DropBlocks(_) => "depth".into(),
        }
    }

    /// Sparsity fraction, or number of removed blocks for depth pruning.
    pub fn level(&self) -> f64 {
        match self {
            PruneLevel::Sparsity(_, p) => *p,
            PruneLevel::Pattern(_, pat) => pat.fraction(),
            PruneLevel::DropBlocks(n) => *n as f64,
        }
    }

    pub fn needs_imatrix(&self) -> bool {
        matches!(
            self,
            PruneLevel::Sparsity(PruneMethod::Wanda, _)
                | PruneLevel::Pattern(PruneMethod::Wanda, _)
        )
    }
}

/// Which rungs are quantized with the importance matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ImatrixFor {
    /// The IQ types (and any type llama.cpp refuses to make without one); K and legacy quants are
    /// made as plain `llama-quantize` makes them, so their numbers do not depend on the ladder.
    #[default]
    Iq,
    /// Every quantized rung, as `llama-quantize --imatrix` does (needs `--calib` or `--imatrix`).
    All,
}

impl ImatrixFor {
    pub fn as_str(self) -> &'static str {
        match self {
            ImatrixFor::Iq => "iq",
            ImatrixFor::All => "all",
        }
    }
}

/// Parses one `--prune METHOD=LEVELS` value: `magnitude=0.1,0.3,0.5`, `wanda=0.5,2:4`, `depth=2,4`.
/// Level 0 (no pruning) is always part of the grid and need not be listed.
pub fn parse_prune(arg: &str) -> Result<Vec<PruneLevel>> {
    let (method, levels) = arg.split_once('=').with_context(|| {
        format!("--prune '{arg}': expected METHOD=LEVELS, e.g. magnitude=0.1,0.3,0.5 or wanda=2:4 or depth=2,4")
    })?;
    let mut out = Vec::new();
    for level in levels.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        let parsed = match method.trim() {
            "depth" => {
                let n: u32 = level.parse().with_context(|| {
                    format!("--prune '{arg}': '{level}' is not a number of blocks")
                })?;
                (n > 0).then_some(PruneLevel::DropBlocks(n))
            }
            m @ ("magnitude" | "wanda") => {
                let method = if m == "wanda" {
                    PruneMethod::Wanda
                } else {
                    PruneMethod::Magnitude
                };
                if level.contains(':') {
                    let pat: NmPattern =
                        level.parse().with_context(|| format!("--prune '{arg}'"))?;
                    Some(PruneLevel::Pattern(method, pat))
                } else {
                    let p: f64 = level.parse().with_context(|| {
                        format!("--prune '{arg}': '{level}' is not a sparsity (0 <= p < 1) or an N:M pattern")
                    })?;
                    ensure!(
                        (0.0..1.0).contains(&p),
                        "--prune '{arg}': sparsity {p} is outside [0, 1)"
                    );
                    (p > 0.0).then_some(PruneLevel::Sparsity(method, p))
                }
            }
            other => {
                bail!("--prune '{arg}': unknown method '{other}' (one of: magnitude, wanda, depth)")
            }
        };
        out.extend(parsed);
    }
    ensure!(
        !levels.trim().is_empty(),
        "--prune '{arg}': no levels given"
    );
    Ok(out)
}

/// `--recipes`: which recipe rungs to add to the ladder.
#[derive(Debug, Clone, PartialEq)]
pub enum RecipeSpec {
    /// One per quantized stock rung, no larger than it (`like-stock`).
    LikeStock,
    /// One per bits-per-weight target (`3,3.5,4`).
    BitsPerWeight(Vec<f64>),
}

impl RecipeSpec {
    pub fn parse(arg: &str) -> Result<Self> {
        if arg.trim() == "like-stock" {
            return Ok(RecipeSpec::LikeStock);
        }
        let targets = arg
            .split(',')
            .map(|b| {
                b.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|b| b.is_finite() && *b > 0.0)
                    .with_context(|| {
                        format!("--recipes '{arg}': '{b}' is not a number of bits per weight; give like-stock or a list such as 3,3.5,4,5")
                    })
            })
            .collect::<Result<_>>()?;
        Ok(RecipeSpec::BitsPerWeight(targets))
    }
}

/// What a recipe rung is solved for.
#[derive(Debug, Clone)]
pub enum RecipeTarget {
    Like(&'static QuantType),
    BitsPerWeight(f64),
}

/// One measured model of the sweep.
#[derive(Debug, Clone)]
pub struct Rung {
    /// Unique name: the type (`Q4_K_M`), with the pruning appended in a grid (`Q4_K_M+wanda-0.5`),
    /// or `recipe-Q4_K_M`, `recipe-4.5bpw` for recipes.
    pub name: String,
    /// The type it is filed under (a recipe's stock type, or the nearest one by bits).
    pub qtype: &'static QuantType,
    pub prune: Option<PruneLevel>,
    pub recipe: Option<RecipeTarget>,
}

impl Rung {
    /// Whether the quantizer gets the importance matrix for this rung. Recipes follow the policy
    /// for all rungs: measured and quantized with the matrix only when every rung gets it.
    pub fn quantized_with_imatrix(&self, policy: ImatrixFor) -> bool {
        let t = self.qtype;
        if self.recipe.is_some() {
            return policy == ImatrixFor::All;
        }
        match policy {
            ImatrixFor::Iq => t.needs_imatrix || t.family == Family::Iq,
            ImatrixFor::All => t.family != Family::Float,
        }
    }

    pub fn needs_imatrix(&self, policy: ImatrixFor) -> bool {
        self.quantized_with_imatrix(policy)
            || self.prune.as_ref().is_some_and(|p| p.needs_imatrix())
    }
}

#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// Grouped by pruning level (unpruned first, so one pruned model serves its whole group), then
    /// from the most bits to the fewest: quality degrades gently first, then collapses.
    pub rungs: Vec<Rung>,
}

impl SweepPlan {
    /// From `--types A,B,...` if given, else the named `--ladder` (default `table5`), crossed with
    /// the pruning levels (none: a plain ladder).
    pub fn new(ladder: Option<&str>, type_list: &[String], prune: &[PruneLevel]) -> Result<Self> {
        let mut qtypes: Vec<&'static QuantType> = if !type_list.is_empty() {
            type_list
                .iter()
                .map(|n| types::parse(n.trim()))
                .collect::<Result<_>>()?
        } else {
            let name = ladder.unwrap_or("table5");
            match types::ladder(name) {
                Some(l) => l,
                None => bail!("unknown ladder '{name}' (one of: {})", LADDERS.join(", ")),
            }
        };
        let mut seen = std::collections::HashSet::new();
        qtypes.retain(|t| seen.insert(t.name));
        qtypes.sort_by(|a, b| {
            b.nominal_bpw()
                .total_cmp(&a.nominal_bpw())
                .then(a.name.cmp(b.name))
        });
        let mut levels: Vec<Option<PruneLevel>> = vec![None];
        for level in prune {
            if !levels.iter().flatten().any(|l| l == level) {
                levels.push(Some(level.clone()));
            }
        }
        let mut rungs = Vec::new();
        for level in &levels {
            for &qtype in &qtypes {
                let name = match level {
                    None => qtype.name.to_string(),
                    Some(l) => format!("{}+{}", qtype.name, l.label()),
                };
                rungs.push(Rung {
                    name,
                    qtype,
                    prune: level.clone(),
                    recipe: None,
                });
            }
        }
        Ok(Self { rungs })
    }

    /// Adds recipe rungs after the unpruned ones: one per quantized stock rung (`like-stock`; the
    /// types that need an importance matrix only when every rung gets one), or per bits target.
    pub fn with_recipes(mut self, spec: &RecipeSpec, policy: ImatrixFor) -> Result<Self> {
        let recipes: Vec<Rung> = match spec {
            RecipeSpec::LikeStock => self
                .rungs
                .iter()
                .filter(|r| r.prune.is_none() && !r.qtype.is_float())
                .filter(|r| policy == ImatrixFor::All || !r.qtype.needs_imatrix)
                .map(|r| Rung {
                    name: format!("recipe-{}", r.qtype.name),
                    qtype: r.qtype,
                    prune: None,
                    recipe: Some(RecipeTarget::Like(r.qtype)),
                })
                .collect(),
            RecipeSpec::BitsPerWeight(targets) => targets
                .iter()
                .map(|&b| Rung {
                    name: format!("recipe-{b}bpw"),
                    qtype: nearest_k_type(b),
                    prune: None,
                    recipe: Some(RecipeTarget::BitsPerWeight(b)),
                })
                .collect(),
        };
        ensure!(
            !recipes.is_empty(),
            "--recipes like-stock: the plan has no quantized type a recipe can stand in for"
        );
        let at = self
            .rungs
            .iter()
            .position(|r| r.prune.is_some())
            .unwrap_or(self.rungs.len());
        self.rungs.splice(at..at, recipes);
        Ok(self)
    }

    pub fn has_recipes(&self) -> bool {
        self.rungs.iter().any(|r| r.recipe.is_some())
    }

    /// Whether some rung needs an importance matrix of the base model (quantization by the
    /// policy, Wanda pruning).
    pub fn needs_imatrix(&self, policy: ImatrixFor) -> bool {
        self.rungs.iter().any(|r| r.needs_imatrix(policy))
    }

    /// Whether some rung removes blocks chosen by importance (needs the calibration text).
    pub fn needs_block_scores(&self) -> bool {
        self.rungs
            .iter()
            .any(|r| matches!(r.prune, Some(PruneLevel::DropBlocks(_))))
    }

    pub fn names(&self) -> Vec<String> {
        self.rungs.iter().map(|r| r.name.clone()).collect()
    }
}

/// The K-quant whose nominal bits are closest to `bits`: the type a bits-target recipe is filed under.
fn nearest_k_type(bits: f64) -> &'static QuantType {
    types::ladder("k")
        .unwrap_or_default()
        .into_iter()
        .min_by(|a, b| {
            (a.nominal_bpw() - bits)
                .abs()
                .total_cmp(&(b.nominal_bpw() - bits).abs())
        })
        .unwrap_or_else(|| types::find("Q4_K_M").expect("Q4_K_M is a type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_table5_high_to_low() {
        let p = SweepPlan::new(None, &[], &[]).unwrap();
        assert_eq!(
            p.names(),
            ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ1_M"]
        );
        assert!(p.needs_imatrix(ImatrixFor::Iq));
        let with: Vec<&str> = p
            .rungs
            .iter()
            .filter(|r| r.quantized_with_imatrix(ImatrixFor::Iq))
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            with,
            ["IQ1_M"],
            "K-quants are made as plain llama-quantize makes them"
        );
        let all = p
            .rungs
            .iter()
            .filter(|r| r.quantized_with_imatrix(ImatrixFor::All));
        assert_eq!(all.count(), 7, "every rung but the F16 base");
    }

    #[test]
    fn explicit_types_dedup_and_validate() {
        let p = SweepPlan::new(
            Some("k"),
            &["q4_k_m".into(), "Q4_K".into(), "Q8_0".into()],
            &[],
        )
        .unwrap();
        assert_eq!(p.names(), ["Q8_0", "Q4_K_M"]);
        assert!(!p.needs_imatrix(ImatrixFor::Iq));
        assert!(p.needs_imatrix(ImatrixFor::All));
        assert!(SweepPlan::new(None, &["Q9_K".into()], &[]).is_err());
        let e = SweepPlan::new(Some("nope"), &[], &[]).unwrap_err();
        assert!(e.to_string().contains("table5"));
    }

    #[test]
    fn prune_grid_crosses_levels_with_types() {
        let mut levels = parse_prune("wanda=0.5,2:4").unwrap();
        levels.extend(parse_prune("depth=0,2").unwrap());
        assert_eq!(levels.len(), 3, "level 0 is implied, not repeated");
        let p = SweepPlan::new(None, &["Q8_0".into(), "Q4_K_M".into()], &levels).unwrap();
        assert_eq!(
            p.names(),
            [
                "Q8_0",
                "Q4_K_M",
                "Q8_0+wanda-0.5",
                "Q4_K_M+wanda-0.5",
                "Q8_0+wanda-2:4",
                "Q4_K_M+wanda-2:4",
                "Q8_0+drop-2",
                "Q4_K_M+drop-2"
            ]
        );
        assert!(
            p.needs_imatrix(ImatrixFor::Iq),
            "Wanda needs activation statistics"
        );
        assert!(p.needs_block_scores());
        assert_eq!(levels[1].level(), 0.5);
        assert_eq!(levels[2].method(), "depth");
    }

    #[test]
    fn recipe_rungs_follow_the_unpruned_ladder() {
        let levels = parse_prune("magnitude=0.5").unwrap();
        let p = SweepPlan::new(
            None,
            &["F16".into(), "Q4_K_M".into(), "IQ2_XS".into()],
            &levels,
        )
        .unwrap()
        .with_recipes(&RecipeSpec::parse("like-stock").unwrap(), ImatrixFor::Iq)
        .unwrap();
        assert_eq!(
            p.names(),
            [
                "F16",
                "Q4_K_M",
                "IQ2_XS",
                "recipe-Q4_K_M",
                "F16+magnitude-0.5",
                "Q4_K_M+magnitude-0.5",
                "IQ2_XS+magnitude-0.5"
            ],
            "IQ2_XS needs a matrix the K rungs are not given"
        );
        let p = SweepPlan::new(None, &["Q8_0".into()], &[])
            .unwrap()
            .with_recipes(&RecipeSpec::parse("3,4.5").unwrap(), ImatrixFor::All)
            .unwrap();
        assert_eq!(p.names(), ["Q8_0", "recipe-3bpw", "recipe-4.5bpw"]);
        assert!(p.rungs[1].quantized_with_imatrix(ImatrixFor::All));
        assert!(!p.rungs[1].quantized_with_imatrix(ImatrixFor::Iq));
        assert!(RecipeSpec::parse("3,lots").is_err());
    }

    #[test]
    fn bad_prune_values_say_what_is_wrong() {
        for (arg, want) in [
            ("magnitude", "METHOD=LEVELS"),
            ("magnitude=1.2", "outside [0, 1)"),
            ("magnitude=abc", "not a sparsity"),
            ("wanda=4:2", "below M"),
            ("depth=x", "number of blocks"),
            ("random=0.5", "unknown method"),
            ("depth=", "no levels"),
        ] {
            let e = format!("{:#}", parse_prune(arg).unwrap_err());
            assert!(e.contains(want), "{arg}: {e}");
        }
    }
}
