//! A model with random weights in the shape family of another: the template's architecture,
//! tokenizer and other metadata, with the number of layers, widths and heads given. Its outputs are
//! noise; its time and memory are those of a real model of that size, which is what it is for
//! (planning a sweep, measuring how cost grows, testing a cluster's chain before fetching weights).

use std::borrow::Cow;
use std::path::Path;

use anyhow::{bail, ensure, Context as _, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::reader::GgufFile;
use super::types::GgmlType;
use super::value::Value;
use super::writer::GgufBuilder;

/// The sizes of the model to write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthShape {
    pub layers: u64,
    pub width: u64,
    pub ffn: u64,
    pub heads: u64,
    pub kv_heads: u64,
}

impl SynthShape {
    fn kv_width(&self) -> u64 {
        self.width / self.heads * self.kv_heads
    }

    fn check(&self) -> Result<()> {
        ensure!(
            self.layers > 0
                && self.width > 0
                && self.ffn > 0
                && self.heads > 0
                && self.kv_heads > 0,
            "every size must be above 0"
        );
        ensure!(
            self.width.is_multiple_of(self.heads) && self.heads.is_multiple_of(self.kv_heads),
            "the width ({}) must divide into the heads ({}), and the heads into the KV heads ({})",
            self.width,
            self.heads,
            self.kv_heads
        );
        ensure!(
            self.width.is_multiple_of(32) && self.ffn.is_multiple_of(32),
            "the width and the feed-forward width must be multiples of 32 (llama.cpp's blocks)"
        );
        Ok(())
    }
}

/// What a tensor's dimension is, by the tensor's role in a llama-family layer.
#[derive(Clone, Copy)]
enum Dim {
    Width,
    Ffn,
    KvWidth,
    Same(u64),
}

/// The dimensions of a tensor of `name` in the new shape, from its role.
fn roles(name: &str, dims: &[u64]) -> Result<Vec<Dim>> {
    let kind = name
        .trim_end_matches(".weight")
        .trim_end_matches(".bias")
        .rsplit('.')
        .next()
        .unwrap_or("");
    Ok(match (kind, dims.len()) {
        ("token_embd" | "output", 2) => vec![Dim::Width, Dim::Same(dims[1])],
        ("attn_norm" | "ffn_norm" | "output_norm", 1) => vec![Dim::Width],
        ("attn_q" | "attn_output", 2) => vec![Dim::Width, Dim::Width],
        ("attn_k" | "attn_v", 2) => vec![Dim::Width, Dim::KvWidth],
        ("ffn_gate" | "ffn_up", 2) => vec![Dim::Width, Dim::Ffn],
        ("ffn_down", 2) => vec![Dim::Ffn, Dim::Width],
        _ => bail!("tensor {name} has no place in a llama-family layer; the template must be one (llama, SmolLM2, Qwen2, Mistral)"),
    })
}

/// Writes a random model of `shape` shaped like `template` to `out`; returns its parameters.
pub fn write_random(template: &GgufFile, shape: &SynthShape, out: &Path, seed: u64) -> Result<u64> {
    shape.check()?;
    let arch = template
        .architecture()
        .context("the template names no architecture")?
        .to_string();
    let mut b = GgufBuilder::new();
    for (k, v) in template.metadata() {
        b.set(k.clone(), v.clone());
    }
    let head_dim = shape.width / shape.heads;
    for (key, value) in [
        ("block_count", shape.layers),
        ("embedding_length", shape.width),
        ("feed_forward_length", shape.ffn),
        ("attention.head_count", shape.heads),
        ("attention.head_count_kv", shape.kv_heads),
        ("rope.dimension_count", head_dim),
    ] {
        b.set(format!("{arch}.{key}"), Value::U32(value as u32));
    }
    b.remove(&format!("{arch}.attention.key_length"));
    b.remove(&format!("{arch}.attention.value_length"));
    let name = format!("random {}L {}", shape.layers, shape.width);
    b.set("general.name", Value::String(name));

    let mut rng = StdRng::seed_from_u64(seed);
    let layer0: Vec<_> = template
        .tensors()
        .iter()
        .filter(|t| t.layer() == Some(0))
        .collect();
    let others = template.tensors().iter().filter(|t| t.layer().is_none());
    let mut params = 0;
    let mut add = |b: &mut GgufBuilder<'_>, name: String, template_dims: &[u64]| -> Result<()> {
        let dims: Vec<u64> = roles(&name, template_dims)?
            .into_iter()
            .map(|d| match d {
                Dim::Width => shape.width,
                Dim::Ffn => shape.ffn,
                Dim::KvWidth => shape.kv_width(),
                Dim::Same(n) => n,
            })
            .collect();
        let n: u64 = dims.iter().product();
        params += n;
        if dims.len() == 1 {
            let ones: Vec<u8> = (0..n).flat_map(|_| 1.0f32.to_le_bytes()).collect();
            b.add_tensor(name, GgmlType::F32, &dims, Cow::Owned(ones))?;
        } else {
            // Small values, as trained weights have: activations stay finite through the layers.
            let data: Vec<u8> = (0..n)
                .flat_map(|_| half::f16::from_f32(rng.gen_range(-0.04f32..0.04)).to_le_bytes())
                .collect();
            b.add_tensor(name, GgmlType::F16, &dims, Cow::Owned(data))?;
        }
        Ok(())
    };
    for t in others {
        add(&mut b, t.name.clone(), &t.dims)?;
    }
    for layer in 0..shape.layers {
        for t in &layer0 {
            let name = t.name.replacen("blk.0.", &format!("blk.{layer}."), 1);
            add(&mut b, name, &t.dims)?;
        }
    }
    b.write(out)?;
    Ok(params)
}
