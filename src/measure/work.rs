//! The work of running a model, counted from its own shapes: FLOPs (every matrix multiplication, and
//! attention over the positions each token sees) and bytes read from memory (weights, KV cache).
//!
//! Counted as llama.cpp runs a decode call: every layer's weights multiply every token; the output
//! head only multiplies the tokens whose logits are asked for (one per prompt batch in a benchmark,
//! every generated token); the token embedding is a row lookup, not a multiplication. Norms, RoPE,
//! softmax and activations are left out (well under 1% of the FLOPs of a transformer layer).

use anyhow::{bail, Result};

use crate::gguf::GgufFile;

/// Bytes of one K or V element in the cache (llama.cpp's default F16 cache).
const KV_ELEMENT_BYTES: u64 = 2;

/// What one token costs, from the model file.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelWork {
    /// Weights in the layers' multiplications that one token goes through (with mixture-of-experts
    /// layers, only the experts it is routed to).
    pub layer_weights: u64,
    /// Their bytes, read once per decode call (per generated token).
    pub layer_weight_bytes: u64,
    /// The output head's weights and bytes (the token embedding when the model ties them).
    pub output_weights: u64,
    pub output_bytes: u64,
    /// One row of the token embedding, read per token.
    pub embedding_row_bytes: u64,
    /// FLOPs of attention per layer per position attended: 2·heads·(key + value length).
    pub attention_flops_per_position: u64,
    /// Bytes of K and V one cached position holds, over all layers.
    pub kv_bytes_per_position: u64,
}

/// The work of one benchmark test, summed over its tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestWork {
    pub n_tokens: u64,
    pub flops: f64,
    /// Bytes read from memory: weights once per decode call, the KV cache each token attends to.
    pub bytes: f64,
}

impl TestWork {
    pub fn flops_per_token(&self) -> f64 {
        self.flops / self.n_tokens.max(1) as f64
    }

    pub fn bytes_per_token(&self) -> f64 {
        self.bytes / self.n_tokens.max(1) as f64
    }
}

fn is_layer_matmul(name: &str, n_dims: usize) -> bool {
    name.starts_with("blk.") && name.ends_with(".weight") && n_dims >= 2
}

impl ModelWork {
    /// Reads the shapes of a model file.
    pub fn from_gguf(file: &GgufFile) -> Result<ModelWork> {
        let path = file.path().display();
        let arch_u64 = |key: &str| file.arch_u64(key);
        let Some(n_layer) = arch_u64("block_count") else {
            bail!("{path}: no block_count in the metadata; FLOPs per token cannot be counted");
        };
        let n_embd = arch_u64("embedding_length").unwrap_or(0);
        let n_head = arch_u64("attention.head_count").unwrap_or(0);
        let n_head_kv = arch_u64("attention.head_count_kv").unwrap_or(n_head);
        let head_dim = n_embd.checked_div(n_head).unwrap_or(0);
        let key_len = arch_u64("attention.key_length").unwrap_or(head_dim);
        let value_len = arch_u64("attention.value_length").unwrap_or(head_dim);
        let n_expert = arch_u64("expert_count").unwrap_or(0);
        let n_expert_used = arch_u64("expert_used_count").unwrap_or(n_expert);

        let (mut layer_weights, mut layer_weight_bytes) = (0u64, 0u64);
        for t in file.tensors() {
            if !is_layer_matmul(&t.name, t.dims.len()) {
                continue;
            }
            let (weights, bytes) = match (t.dims.len(), n_expert) {
                // Expert stacks [in, out, n_expert]: a token goes through n_expert_used of them.
                (3, e) if e > 0 => (
                    t.n_elements() / e * n_expert_used,
                    t.size / e * n_expert_used,
                ),
                _ => (t.n_elements(), t.size),
            };
            layer_weights += weights;
            layer_weight_bytes += bytes;
        }
        let embedding = file.tensor("token_embd.weight");
        let output = file.tensor("output.weight").or(embedding);
        let Some(output) = output else {
            bail!("{path}: neither output.weight nor token_embd.weight; FLOPs per token cannot be counted");
        };
        let embedding_row_bytes = embedding
            .and_then(|e| Some(e.size / e.dims.get(1).copied().filter(|&r| r > 0)?))
            .unwrap_or(0);
        Ok(ModelWork {
            layer_weights,
            layer_weight_bytes,
            output_weights: output.n_elements(),
            output_bytes: output.size,
            embedding_row_bytes,
            attention_flops_per_position: 2 * n_head * (key_len + value_len) * n_layer,
            kv_bytes_per_position: n_head_kv * (key_len + value_len) * KV_ELEMENT_BYTES * n_layer,
        })
    }

    /// FLOPs of one token that attends to `context` positions (itself included) and whose logits
    /// are computed.
    pub fn flops_per_token(&self, context: u64) -> f64 {
        2.0 * (self.layer_weights + self.output_weights) as f64
            + (self.attention_flops_per_position * context) as f64
    }

    /// A prompt of `n_prompt` tokens decoded `n_batch` per call (logits of each call's last token)
    /// and `n_ubatch` per pass over the weights, then `n_gen` tokens generated one per call, as
    /// llama-bench runs a test.
    pub fn test(&self, n_prompt: u64, n_gen: u64, n_batch: u64, n_ubatch: u64) -> TestWork {
        let step = n_batch.min(n_ubatch).max(1);
        let prompt_steps = n_prompt.div_ceil(step);
        let n_tokens = n_prompt + n_gen;
        let n_outputs = n_prompt.div_ceil(n_batch.max(1)) + n_gen;
        // Position p (0-based) attends to p + 1 positions: Σ over all tokens is n(n+1)/2.
        let attended = n_tokens * (n_tokens + 1) / 2;
        let flops = 2.0 * self.layer_weights as f64 * n_tokens as f64
            + 2.0 * self.output_weights as f64 * n_outputs as f64
            + self.attention_flops_per_position as f64 * attended as f64;
        // A pass reads the layers' weights once, and the cache up to its last position once; the
        // head is read for each logits row; each token reads its embedding row and writes its K, V.
        let prompt_cache: u64 = (1..=prompt_steps).map(|s| (s * step).min(n_prompt)).sum();
        let gen_cache: u64 = (n_prompt + 1..=n_tokens).sum();
        let bytes = self.layer_weight_bytes as f64 * (prompt_steps + n_gen) as f64
            + self.output_bytes as f64 * n_outputs as f64
            + self.embedding_row_bytes as f64 * n_tokens as f64
            + self.kv_bytes_per_position as f64 * (prompt_cache + gen_cache + n_tokens) as f64;
        TestWork {
            n_tokens,
            flops,
            bytes,
        }
    }
}
