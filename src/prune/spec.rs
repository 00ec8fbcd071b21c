//! What to prune: whole blocks (depth) and/or single weights (sparsity), as plain serde data so a
//! sweep can record it next to its results.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, ensure, Context as _, Result};
use serde::{Deserialize, Serialize};

/// One pruning job. Depth pruning runs first; sparsity then applies to the blocks that remain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PruneSpec {
    pub depth: Option<DepthSpec>,
    pub sparsity: Option<SparsitySpec>,
}

impl PruneSpec {
    /// A short name for tables and file names: `layers-20-27`, `drop-6`, `magnitude-0.5`,
    /// `wanda-2:4`, joined by `+` when both kinds are asked for.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        match &self.depth {
            Some(DepthSpec::Layers { layers }) => parts.push(format!("layers-{}", ranges(layers))),
            Some(DepthSpec::DropByImportance { n, .. }) => parts.push(format!("drop-{n}")),
            None => {}
        }
        if let Some(sp) = &self.sparsity {
            match sp.pattern {
                Some(pat) => parts.push(format!("{}-{pat}", sp.method)),
                None => parts.push(format!("{}-{}", sp.method, sp.sparsity)),
            }
        }
        parts.join("+")
    }
}

/// `[1, 2, 3, 7]` → `1-3,7`.
fn ranges(layers: &[u32]) -> String {
    let mut sorted = layers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// Which transformer blocks to remove.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DepthSpec {
    /// These blocks (`blk.N` indices of the input file).
    Layers { layers: Vec<u32> },
    /// The `n` blocks with the lowest block-influence score measured on calibration text.
    DropByImportance {
        n: u32,
        calibration: PathBuf,
        /// Tokens per chunk of calibration text.
        n_ctx: u32,
        /// Use at most this many chunks.
        chunks: Option<u32>,
    },
}

/// Zero a fraction of the weights in each output row of the chosen tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparsitySpec {
    /// Fraction of each row to zero, in [0, 1). With a pattern it must be `n / m`.
    pub sparsity: f64,
    pub method: PruneMethod,
    /// Semi-structured: zero `n` of every `m` consecutive weights of a row.
    pub pattern: Option<NmPattern>,
    /// Importance matrix (`mpt-gguf imatrix`) for Wanda.
    pub imatrix: Option<PathBuf>,
    /// Regular expression on tensor names; default: the 2-D weight matrices of the blocks.
    pub tensors: Option<String>,
}

impl SparsitySpec {
    pub fn unstructured(sparsity: f64, method: PruneMethod) -> Self {
        Self {
            sparsity,
            method,
            pattern: None,
            imatrix: None,
            tensors: None,
        }
    }

    pub fn semi_structured(pattern: NmPattern, method: PruneMethod) -> Self {
        Self {
            sparsity: pattern.fraction(),
            pattern: Some(pattern),
            ..Self::unstructured(0.0, method)
        }
    }

    pub fn with_imatrix(mut self, path: impl Into<PathBuf>) -> Self {
        self.imatrix = Some(path.into());
        self
    }
}

/// How a weight's importance is scored within its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PruneMethod {
    /// |W_ij|.
    Magnitude,
    /// |W_ij| · ‖X_j‖: the weight times its input column's activation norm (Sun et al., 2023),
    /// from an importance matrix's per-column sums of squares.
    Wanda,
}

impl fmt::Display for PruneMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PruneMethod::Magnitude => "magnitude",
            PruneMethod::Wanda => "wanda",
        })
    }
}

/// `n:m`: `n` zeros in every group of `m` consecutive weights (2:4, 4:8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NmPattern {
    pub n: u32,
    pub m: u32,
}

impl NmPattern {
    pub fn fraction(self) -> f64 {
        self.n as f64 / self.m as f64
    }
}

impl fmt::Display for NmPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.n, self.m)
    }
}

impl std::str::FromStr for NmPattern {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (n, m) = s
            .split_once(':')
            .with_context(|| format!("pattern '{s}' is not N:M (e.g. 2:4)"))?;
        let n: u32 = n
            .trim()
            .parse()
            .with_context(|| format!("pattern '{s}': N is not a number"))?;
        let m: u32 = m
            .trim()
            .parse()
            .with_context(|| format!("pattern '{s}': M is not a number"))?;
        ensure!(
            n >= 1 && n < m,
            "pattern '{s}': N must be at least 1 and below M"
        );
        Ok(NmPattern { n, m })
    }
}

/// Parses `20-27`, `3,5,9` or `0-2,28-29` into sorted, distinct block indices.
pub fn parse_layers(s: &str) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        ensure!(!part.is_empty(), "layer list '{s}' has an empty entry");
        let num = |t: &str| -> Result<u32> {
            t.trim()
                .parse()
                .with_context(|| format!("layer list '{s}': '{t}' is not a block index"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                ensure!(a <= b, "layer list '{s}': range {a}-{b} runs backwards");
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks the parts of a spec that do not depend on the model; `file` names the input in errors.
pub(crate) fn validate(spec: &PruneSpec, file: &str) -> Result<()> {
    if spec.depth.is_none() && spec.sparsity.is_none() {
        bail!("{file}: nothing to prune: give layers to remove, blocks to drop, or a sparsity");
    }
    if let Some(DepthSpec::DropByImportance { n, n_ctx, .. }) = &spec.depth {
        ensure!(*n >= 1, "{file}: --drop needs at least one block to remove");
        ensure!(
            *n_ctx >= 2,
            "{file}: importance chunks need at least 2 tokens"
        );
    }
    if let Some(DepthSpec::Layers { layers }) = &spec.depth {
        ensure!(!layers.is_empty(), "{file}: the layer list is empty");
    }
    let Some(sp) = &spec.sparsity else {
        return Ok(());
    };
    let p = sp.sparsity;
    if !(0.0..1.0).contains(&p) {
        bail!("{file}: sparsity {p} is outside [0, 1)");
    }
    if let Some(pat) = sp.pattern {
        ensure!(
            pat.n >= 1 && pat.n < pat.m,
            "{file}: pattern {pat}: N must be at least 1 and below M"
        );
        ensure!(
            (p - pat.fraction()).abs() < 1e-9,
            "{file}: pattern {pat} zeroes {} of each row, not the sparsity {p} asked for",
            pat.fraction()
        );
    }
    if sp.method == PruneMethod::Wanda && sp.imatrix.is_none() {
        bail!("{file}: Wanda pruning needs an importance matrix of this model (--imatrix FILE, made by `mpt-gguf imatrix`)");
    }
    if let Some(re) = &sp.tensors {
        regex::Regex::new(re).with_context(|| format!("{file}: bad tensor pattern '{re}'"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_lists() {
        assert_eq!(parse_layers("20-23").unwrap(), vec![20, 21, 22, 23]);
        assert_eq!(parse_layers("5, 1-2,2").unwrap(), vec![1, 2, 5]);
        assert!(parse_layers("3-1").is_err());
        assert!(parse_layers("a").is_err());
        assert!(parse_layers("1,,2").is_err());
        assert!(parse_layers("-1").is_err());
    }

    #[test]
    fn labels() {
        let mut spec = PruneSpec {
            depth: Some(DepthSpec::Layers {
                layers: vec![22, 20, 21, 3],
            }),
            sparsity: None,
        };
        assert_eq!(spec.label(), "layers-3,20-22");
        spec.sparsity = Some(SparsitySpec::semi_structured(
            NmPattern { n: 2, m: 4 },
            PruneMethod::Wanda,
        ));
        assert_eq!(spec.label(), "layers-3,20-22+wanda-2:4");
        spec.depth = None;
        spec.sparsity = Some(SparsitySpec::unstructured(0.25, PruneMethod::Magnitude));
        assert_eq!(spec.label(), "magnitude-0.25");
    }

    #[test]
    fn patterns() {
        assert_eq!(
            "2:4".parse::<NmPattern>().unwrap(),
            NmPattern { n: 2, m: 4 }
        );
        assert_eq!("4:8".parse::<NmPattern>().unwrap().fraction(), 0.5);
        for bad in ["4:4", "0:4", "2", "a:4", "5:4"] {
            assert!(bad.parse::<NmPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sparsity_range_and_wanda_imatrix() {
        let spec = |sp| PruneSpec {
            depth: None,
            sparsity: Some(sp),
        };
        for p in [-0.1, 1.0, 1.5, f64::NAN] {
            let e = validate(
                &spec(SparsitySpec::unstructured(p, PruneMethod::Magnitude)),
                "m",
            )
            .unwrap_err();
            assert!(e.to_string().contains("outside [0, 1)"), "{e}");
        }
        validate(
            &spec(SparsitySpec::unstructured(0.0, PruneMethod::Magnitude)),
            "m",
        )
        .unwrap();
        let e = validate(
            &spec(SparsitySpec::unstructured(0.5, PruneMethod::Wanda)),
            "m",
        )
        .unwrap_err();
        assert!(e.to_string().contains("importance matrix"), "{e}");
        let mut sp =
            SparsitySpec::semi_structured(NmPattern { n: 2, m: 4 }, PruneMethod::Magnitude);
        validate(&spec(sp.clone()), "m").unwrap();
        sp.sparsity = 0.3;
        assert!(validate(&spec(sp), "m").is_err());
        assert!(validate(&PruneSpec::default(), "m").is_err());
    }
}
