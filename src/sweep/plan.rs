//! Which rungs a sweep measures, in which order, and what they need.

use anyhow::{bail, Result};

use crate::quant::types::{self, QuantType, LADDERS};

#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// Rungs from the most bits to the fewest: quality degrades gently first, then collapses.
    pub rungs: Vec<&'static QuantType>,
}

impl SweepPlan {
    /// From `--types A,B,...` if given, else the named `--ladder` (default `table5`).
    pub fn new(ladder: Option<&str>, type_list: &[String]) -> Result<Self> {
        let mut rungs: Vec<&'static QuantType> = if !type_list.is_empty() {
            type_list.iter().map(|n| types::parse(n.trim())).collect::<Result<_>>()?
        } else {
            let name = ladder.unwrap_or("table5");
            match types::ladder(name) {
                Some(l) => l,
                None => bail!("unknown ladder '{name}' (one of: {})", LADDERS.join(", ")),
            }
        };
        let mut seen = std::collections::HashSet::new();
        rungs.retain(|t| seen.insert(t.name));
        rungs.sort_by(|a, b| b.nominal_bpw().total_cmp(&a.nominal_bpw()).then(a.name.cmp(b.name)));
        Ok(Self { rungs })
    }

    pub fn needs_imatrix(&self) -> bool {
        self.rungs.iter().any(|t| t.needs_imatrix)
    }

    pub fn names(&self) -> Vec<String> {
        self.rungs.iter().map(|t| t.name.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_table5_high_to_low() {
        let p = SweepPlan::new(None, &[]).unwrap();
        assert_eq!(p.names(), ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ1_M"]);
        assert!(p.needs_imatrix());
    }

    #[test]
    fn explicit_types_dedup_and_validate() {
        let p = SweepPlan::new(Some("k"), &["q4_k_m".into(), "Q4_K".into(), "Q8_0".into()]).unwrap();
        assert_eq!(p.names(), ["Q8_0", "Q4_K_M"]);
        assert!(!p.needs_imatrix());
        assert!(SweepPlan::new(None, &["Q9_K".into()]).is_err());
        assert!(SweepPlan::new(Some("nope"), &[]).unwrap_err().to_string().contains("table5"));
    }
}
