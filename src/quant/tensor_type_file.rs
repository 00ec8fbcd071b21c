//! Recipe files in llama.cpp's `--tensor-type-file` format: `PATTERN=TYPE` tokens separated by
//! whitespace and nothing else (llama-quantize reads the file token by token, lower-cases each
//! pattern, and the first pattern a tensor's name matches gives its type). `quantize --recipe`
//! reads them, checks them against the model first and the written file after.

use std::path::{Path, PathBuf};

use crate::gguf::{GgmlType, GgufFile};
use anyhow::{bail, Context as _, Result};
use regex::Regex;

/// Tensor name → ggml type name (llama.cpp's spelling, `q4_K`).
pub type TensorTypes = std::collections::BTreeMap<String, String>;

/// A parsed recipe: (pattern as written, compiled pattern, type), in file order.
pub struct TensorTypeFile {
    pub path: PathBuf,
    entries: Vec<(String, Regex, GgmlType)>,
}

/// The tokens of a recipe naming each tensor exactly (`^blk\.0\.attn_q\.weight$=q5_0`).
pub fn render(types: &TensorTypes) -> String {
    types
        .iter()
        .map(|(name, ty)| format!("^{}$={}\n", regex::escape(name), ty.to_ascii_lowercase()))
        .collect()
}

impl TensorTypeFile {
    pub fn open(path: &Path) -> Result<TensorTypeFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the recipe", path.display()))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<TensorTypeFile> {
        let bad = |token: &str, why: String| -> anyhow::Error {
            anyhow::anyhow!(
                "{}: token '{token}' {why}; a recipe holds only PATTERN=TYPE tokens separated by whitespace (llama-quantize's --tensor-type-file format, no comments)",
                path.display()
            )
        };
        let mut entries = Vec::new();
        for token in text.split_whitespace() {
            let Some((pattern, ty)) = token.split_once('=') else {
                return Err(bad(token, "has no '='".into()));
            };
            if pattern.is_empty() || ty.is_empty() {
                return Err(bad(token, "lacks a pattern or a type".into()));
            }
            // llama-quantize lower-cases the pattern, so the same is matched here.
            let pattern = pattern.to_ascii_lowercase();
            let re = Regex::new(&pattern)
                .map_err(|e| bad(token, format!("is not a valid pattern ({e})")))?;
            let ty = GgmlType::from_name(ty)
                .ok_or_else(|| bad(token, format!("names unknown type '{ty}'")))?;
            entries.push((pattern, re, ty));
        }
        if entries.is_empty() {
            bail!("{}: the recipe is empty", path.display());
        }
        Ok(TensorTypeFile {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// (pattern, type name) pairs for the quantizer's `--tensor-type` overrides.
    pub fn overrides(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|(p, _, t)| (p.clone(), t.ggml_name().to_string()))
            .collect()
    }

    /// The type the first matching pattern gives `tensor`.
    pub fn type_for(&self, tensor: &str) -> Option<GgmlType> {
        self.entries
            .iter()
            .find(|(_, re, _)| re.is_match(tensor))
            .map(|e| e.2)
    }

    /// Fails when a pattern matches no tensor of `model` (a recipe for another model, or a typo),
    /// or gives a tensor a type its rows cannot take.
    pub fn check_against(&self, model: &GgufFile) -> Result<()> {
        for (pattern, re, _) in &self.entries {
            if !model.tensors().iter().any(|t| re.is_match(&t.name)) {
                bail!(
                    "{}: pattern '{pattern}' matches no tensor of {} (is the recipe for another model?)",
                    self.path.display(),
                    model.path().display()
                );
            }
        }
        for t in model.tensors() {
            if let Some(ty) = self.type_for(&t.name) {
                if ty.tensor_bytes(&t.dims).is_none() {
                    bail!(
                        "{}: tensor {} has rows of {} values, which {} cannot store (blocks of {})",
                        self.path.display(),
                        t.name,
                        t.dims.first().copied().unwrap_or(0),
                        ty.ggml_name(),
                        ty.block_size()
                    );
                }
            }
        }
        Ok(())
    }

    /// After quantizing: every tensor a pattern names has that type in the written file.
    pub fn verify(&self, written: &GgufFile) -> Result<()> {
        for t in written.tensors() {
            if let Some(ty) = self.type_for(&t.name) {
                if ty != t.ggml_type {
                    bail!(
                        "{}: tensor {} is {} but the recipe {} gives it {}: the recipe was not applied",
                        written.path().display(),
                        t.name,
                        t.ggml_type.ggml_name(),
                        self.path.display(),
                        ty.ggml_name()
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_tokens_llama_quantize_reads_back() {
        let types: TensorTypes = [
            ("blk.0.attn_q.weight".to_string(), "q5_0".to_string()),
            ("token_embd.weight".to_string(), "Q8_0".to_string()),
        ]
        .into();
        let text = render(&types);
        assert!(!text.contains('#'));
        let r = TensorTypeFile::parse(Path::new("r.txt"), &text).unwrap();
        assert_eq!(r.type_for("blk.0.attn_q.weight"), Some(GgmlType::Q5_0));
        assert_eq!(r.type_for("blk.10.attn_q.weight"), None);
        assert_eq!(r.type_for("token_embd.weight"), Some(GgmlType::Q8_0));
    }

    #[test]
    fn refuses_what_llama_quantize_refuses() {
        for bad in ["# comment", "blk.0=q9_9", "=q4_0", "x=", "([=q4_0", ""] {
            let err = TensorTypeFile::parse(Path::new("r.txt"), bad)
                .err()
                .unwrap();
            assert!(err.to_string().starts_with("r.txt: "), "{err}");
        }
    }
}
