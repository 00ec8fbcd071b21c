//! The sensitivity table (`sens.json`): per group of tensors, each type it may take, the bytes that
//! costs and the KL-divergence measured with only that group quantized. Written once by
//! `sensitivity`, read by `recipe` and the sweep; checked against the model it is used with.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::stock::TensorTypes;
use crate::gguf::{GgmlType, GgufFile};

pub const SENSITIVITY_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    /// Each tensor alone (llama.cpp keeps one tensor per layer and kind, experts stacked in it).
    Tensor,
    /// One group per kind (attn_q, ffn_down, …) over all layers.
    Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityTable {
    pub version: u32,
    pub model: ModelShape,
    /// The importance matrix every candidate was quantized with (recipes need the same one).
    pub imatrix: Option<String>,
    pub calibration: Calibration,
    pub grouping: Grouping,
    pub groups: Vec<Group>,
    /// llama.cpp's own per-tensor types for each stock type, for `--like` and the comparison.
    pub stock: BTreeMap<String, TensorTypes>,
    pub seconds: f64,
    pub mpt_gguf_version: String,
    pub llama_cpp: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
    pub file: String,
    pub n_params: u64,
    /// Bytes before the tensor data (metadata and tensor descriptions) in the input file.
    pub data_offset: u64,
    pub alignment: u64,
    pub tensors: Vec<TensorShape>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorShape {
    pub name: String,
    pub dims: Vec<u64>,
    /// Its type in the input (what it keeps when no group holds it).
    #[serde(rename = "type")]
    pub ggml_type: GgmlType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub file: String,
    pub n_ctx: u32,
    pub n_chunk: u32,
    /// Positions whose next-token distribution was compared.
    pub n_scored: u64,
    pub tokens_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub tensors: Vec<String>,
    pub choices: Vec<Choice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(rename = "type")]
    pub ggml_type: GgmlType,
    /// Bytes of the group's tensors in this type, each padded to the file's alignment.
    pub bytes: u64,
    /// Mean KL-divergence from the unquantized model with only this group quantized to this type.
    pub kld: f64,
    /// The importance-weighted squared error of the quantized weights (the cheap proxy, for
    /// comparison only: the solver uses `kld`).
    pub proxy: f64,
}

impl ModelShape {
    pub fn of(file: &GgufFile) -> Self {
        Self {
            file: file.path().display().to_string(),
            n_params: file.parameter_count(),
            data_offset: file.data_offset(),
            alignment: file.alignment(),
            tensors: file
                .tensors()
                .iter()
                .map(|t| TensorShape {
                    name: t.name.clone(),
                    dims: t.dims.clone(),
                    ggml_type: t.ggml_type,
                })
                .collect(),
        }
    }

    /// Bytes tensor `t` takes in type `ty`, padded as the file aligns it; `None` if the type
    /// cannot hold its rows.
    pub fn padded_bytes(&self, t: &TensorShape, ty: GgmlType) -> Option<u64> {
        let raw = ty.tensor_bytes(&t.dims)?;
        Some(raw.div_ceil(self.alignment.max(1)) * self.alignment.max(1))
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorShape> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

impl SensitivityTable {
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::util::write_atomic(path, &serde_json::to_vec_pretty(self)?)
    }

    /// Reads and checks a table: every group's tensors exist and each choice fits its tensors.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("{}: cannot read the sensitivity table", path.display()))?;
        let table: SensitivityTable = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a sensitivity table ({e}); make one with `mpt-gguf sensitivity MODEL --calib TEXT -o {}`",
                path.display(),
                path.display()
            )
        })?;
        table
            .check()
            .with_context(|| format!("{}: inconsistent sensitivity table", path.display()))?;
        Ok(table)
    }

    fn check(&self) -> Result<()> {
        ensure!(
            self.version == SENSITIVITY_VERSION,
            "version {} (this mpt-gguf reads {SENSITIVITY_VERSION}); measure it again",
            self.version
        );
        ensure!(!self.groups.is_empty(), "it has no groups");
        let mut seen = std::collections::HashSet::new();
        for g in &self.groups {
            ensure!(!g.choices.is_empty(), "group {} has no choices", g.name);
            for name in &g.tensors {
                let t = self
                    .model
                    .tensor(name)
                    .with_context(|| format!("group {} names unknown tensor {name}", g.name))?;
                ensure!(seen.insert(name), "tensor {name} is in two groups");
                for c in &g.choices {
                    ensure!(
                        self.model.padded_bytes(t, c.ggml_type).is_some(),
                        "tensor {name} cannot be stored as {}",
                        c.ggml_type.ggml_name()
                    );
                }
            }
            for c in &g.choices {
                ensure!(
                    c.kld.is_finite() && c.bytes > 0,
                    "group {} has a choice with bytes {} and KLD {}",
                    g.name,
                    c.bytes,
                    c.kld
                );
            }
        }
        Ok(())
    }

    /// Fails unless `file` has exactly the tensors (names and shapes) the table was measured on.
    pub fn check_model(&self, file: &GgufFile, table_path: &Path) -> Result<()> {
        let theirs = file.tensors();
        let differ = |what: String| -> Result<()> {
            bail!(
                "{}: the sensitivity table {} was measured on another model ({what}); measure this one with `mpt-gguf sensitivity`",
                file.path().display(),
                table_path.display()
            )
        };
        for t in &self.model.tensors {
            match theirs.iter().find(|x| x.name == t.name) {
                None => differ(format!("it has no tensor {}", t.name))?,
                Some(x) if x.dims != t.dims => differ(format!(
                    "tensor {} is {:?} here, {:?} in the table",
                    t.name, x.dims, t.dims
                ))?,
                Some(_) => {}
            }
        }
        if let Some(extra) = theirs.iter().find(|x| self.model.tensor(&x.name).is_none()) {
            differ(format!("the table has no tensor {}", extra.name))?;
        }
        Ok(())
    }

    /// Bytes of the tensors no group holds, in their input types.
    pub fn fixed_bytes(&self) -> u64 {
        let grouped: std::collections::HashSet<&str> = self
            .groups
            .iter()
            .flat_map(|g| g.tensors.iter().map(String::as_str))
            .collect();
        self.model
            .tensors
            .iter()
            .filter(|t| !grouped.contains(t.name.as_str()))
            .filter_map(|t| self.model.padded_bytes(t, t.ggml_type))
            .sum()
    }

    /// Padded tensor bytes of a whole-model assignment (tensor → type name; others keep theirs).
    pub fn bytes_of(&self, types: &TensorTypes) -> Result<u64> {
        self.model
            .tensors
            .iter()
            .map(|t| {
                let ty = match types.get(&t.name) {
                    Some(name) => GgmlType::from_name(name)
                        .with_context(|| format!("unknown type {name} for {}", t.name))?,
                    None => t.ggml_type,
                };
                self.model.padded_bytes(t, ty).with_context(|| {
                    format!(
                        "tensor {} cannot be stored as {name}",
                        t.name,
                        name = ty.ggml_name()
                    )
                })
            })
            .sum()
    }
}
