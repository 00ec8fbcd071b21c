//! The work of running a model, counted from its own shapes: FLOPs (every matrix multiplication, and
//! attention over the positions each token sees) and bytes read from memory (weights, KV cache).
//!
//! Counted as llama.cpp runs a decode call: every layer's weights multiply every token, except the
//! last layer's feed-forward block and the output head, which only multiply the tokens whose logits
//! are asked for (llama.cpp drops the other rows before them: one per prompt batch in a benchmark,
//! every generated token). The token embedding is a row lookup, not a multiplication. Norms, RoPE,
//! softmax and activations are left out (well under 1% of the FLOPs of a transformer layer).

use anyhow::{bail, Result};

use crate::gguf::{GgufFile, TensorInfo};

/// Bytes of one K or V element in the cache (llama.cpp's default F16 cache).
const KV_ELEMENT_BYTES: u64 = 2;

/// What one token costs, from the model file.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelWork {
    /// Weights in the layers' multiplications that one token goes through (in mixture-of-experts
    /// layers, only the experts it is routed to), the last layer's feed-forward block excepted.
    pub layer_weights: u64,
    /// The last layer's feed-forward weights, which only rows with logits go through.
    pub last_ffn_weights: u64,
    /// Bytes of all layer weights read by a pass for one token, and by a pass over many tokens
    /// (which between them are routed to every expert).
    pub layer_weight_bytes: u64,
    pub layer_weight_bytes_all_experts: u64,
    /// The output head's weights and bytes (the token embedding when the model ties them).
    pub output_weights: u64,
    pub output_bytes: u64,
    /// One row of the token embedding, read per token.
    pub embedding_row_bytes: u64,
    /// FLOPs of attention per position attended, over all layers: Σ 2·heads·(key + value length).
    pub attention_flops_per_position: u64,
    /// Bytes of K and V one cached position holds, over all layers.
    pub kv_bytes_per_position: u64,
}

/// The work of one benchmark test, summed over its tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestWork {
    pub n_tokens: u64,
    /// Passes over the weights (micro-batches of the prompt, generated tokens).
    pub n_passes: u64,
    pub flops: f64,
    /// Bytes read from memory: weights once per pass, the KV cache each pass attends to.
    pub bytes: f64,
}

impl TestWork {
    pub fn flops_per_token(&self) -> f64 {
        self.flops / self.n_tokens.max(1) as f64
    }

    pub fn bytes_per_token(&self) -> f64 {
        self.bytes / self.n_tokens.max(1) as f64
    }

    /// What one pass reads: the working set a bandwidth peak must be measured at.
    pub fn bytes_per_pass(&self) -> f64 {
        self.bytes / self.n_passes.max(1) as f64
    }
}

/// A per-layer figure: the key's value for every layer (an array, or one number for all).
fn per_layer(file: &GgufFile, key: &str, n_layer: u64, default: u64) -> Vec<u64> {
    let Some(arch) = file.architecture() else {
        return vec![default; n_layer as usize];
    };
    let value = file.get(&format!("{arch}.{key}"));
    match value.and_then(|v| v.as_array()) {
        Some(a) => (0..n_layer as usize)
            .map(|i| a.get(i).and_then(|v| v.as_u64()).unwrap_or(default))
            .collect(),
        None => vec![value.and_then(|v| v.as_u64()).unwrap_or(default); n_layer as usize],
    }
}

/// A multiplication in a layer that runs: 2-D or 3-D weights of `blk.N.`, N below `n_run`.
fn runs(t: &TensorInfo, n_run: u64) -> bool {
    t.name.ends_with(".weight")
        && t.dims.len() >= 2
        && t.layer().is_some_and(|l| (l as u64) < n_run)
}

impl ModelWork {
    /// Reads the shapes of a model file.
    pub fn from_gguf(file: &GgufFile) -> Result<ModelWork> {
        let path = file.path().display();
        let Some(n_layer) = file
            .arch_u64("block_count")
            .filter(|&n| n > 0 && n < 1 << 20)
        else {
            bail!(
                "{path}: no usable block_count in the metadata; FLOPs per token cannot be counted"
            );
        };
        // Multi-token-prediction layers (`nextn`) are stored after the others and do not run.
        let n_run = n_layer.saturating_sub(file.arch_u64("nextn_predict_layers").unwrap_or(0));
        let n_embd = file.arch_u64("embedding_length").unwrap_or(0);
        let heads = per_layer(file, "attention.head_count", n_layer, 0);
        let heads_kv: Vec<u64> = per_layer(file, "attention.head_count_kv", n_layer, u64::MAX)
            .iter()
            .zip(&heads)
            .map(|(&kv, &h)| if kv == u64::MAX { h } else { kv })
            .collect();
        let head_dim = n_embd
            .checked_div(heads.iter().copied().max().unwrap_or(0))
            .unwrap_or(0);
        let key_len = file.arch_u64("attention.key_length").unwrap_or(head_dim);
        let value_len = file.arch_u64("attention.value_length").unwrap_or(head_dim);
        let n_expert = file.arch_u64("expert_count").unwrap_or(0);
        let n_expert_used = file.arch_u64("expert_used_count").unwrap_or(n_expert);

        let mut w = ModelWork {
            layer_weights: 0,
            last_ffn_weights: 0,
            layer_weight_bytes: 0,
            layer_weight_bytes_all_experts: 0,
            output_weights: 0,
            output_bytes: 0,
            embedding_row_bytes: 0,
            attention_flops_per_position: 0,
            kv_bytes_per_position: 0,
        };
        for t in file.tensors().iter().filter(|t| runs(t, n_run)) {
            // Expert stacks `ffn_*_exps` [in, out, n_expert]: a token goes through n_expert_used.
            let (weights, bytes) = match n_expert {
                e if e > 0 && t.name.contains("_exps.") => (
                    t.n_elements() / e * n_expert_used,
                    t.size / e * n_expert_used,
                ),
                _ => (t.n_elements(), t.size),
            };
            let last_ffn = t.layer() == Some(n_run as u32 - 1) && t.name.contains(".ffn_");
            if last_ffn {
                w.last_ffn_weights += weights;
            } else {
                w.layer_weights += weights;
            }
            w.layer_weight_bytes += bytes;
            w.layer_weight_bytes_all_experts += t.size;
        }
        let embedding = file.tensor("token_embd.weight");
        let Some(output) = file.tensor("output.weight").or(embedding) else {
            bail!("{path}: neither output.weight nor token_embd.weight; FLOPs per token cannot be counted");
        };
        w.output_weights = output.n_elements();
        w.output_bytes = output.size;
        w.embedding_row_bytes = embedding
            .and_then(|e| Some(e.size / e.dims.get(1).copied().filter(|&r| r > 0)?))
            .unwrap_or(0);
        let per_position = key_len.saturating_add(value_len);
        for (&h, &kv) in heads.iter().zip(&heads_kv).take(n_run as usize) {
            w.attention_flops_per_position = w
                .attention_flops_per_position
                .saturating_add(2u64.saturating_mul(h).saturating_mul(per_position));
            w.kv_bytes_per_position = w.kv_bytes_per_position.saturating_add(
                kv.saturating_mul(per_position)
                    .saturating_mul(KV_ELEMENT_BYTES),
            );
        }
        Ok(w)
    }

    /// FLOPs of one token that attends to `context` positions (itself included) and whose logits
    /// are computed.
    pub fn flops_per_token(&self, context: u64) -> f64 {
        2.0 * (self.layer_weights + self.last_ffn_weights + self.output_weights) as f64
            + self.attention_flops_per_position as f64 * context as f64
    }

    /// A prompt of `n_prompt` tokens decoded `n_batch` per call (logits of each call's last token)
    /// and `n_ubatch` per pass over the weights, then `n_gen` tokens generated one per call, as
    /// llama-bench runs a test. Attention counts the positions each token attends to (the cache
    /// llama.cpp reads is padded beyond them, so the bytes are a lower bound).
    pub fn test(&self, n_prompt: u64, n_gen: u64, n_batch: u64, n_ubatch: u64) -> TestWork {
        let step = n_batch.min(n_ubatch).max(1);
        let prompt_passes = n_prompt.div_ceil(step);
        let n_tokens = n_prompt + n_gen;
        let n_outputs = n_prompt.div_ceil(n_batch.max(1)) + n_gen;
        // Position p (0-based) attends to p + 1 positions: Σ over all tokens is n(n+1)/2.
        let attended = n_tokens as f64 * (n_tokens as f64 + 1.0) / 2.0;
        let flops = 2.0 * self.layer_weights as f64 * n_tokens as f64
            + 2.0 * (self.last_ffn_weights + self.output_weights) as f64 * n_outputs as f64
            + self.attention_flops_per_position as f64 * attended;
        // A pass reads the layers' weights once (all experts when it holds many tokens), and the
        // cache up to its last position once; the head is read for each logits row; each token
        // reads its embedding row and writes its K and V.
        let prompt_weights = if step > 1 {
            self.layer_weight_bytes_all_experts
        } else {
            self.layer_weight_bytes
        };
        let prompt_cache: u64 = (1..=prompt_passes).map(|s| (s * step).min(n_prompt)).sum();
        let gen_cache: u64 = (n_prompt + 1..=n_tokens).sum();
        let bytes = prompt_weights as f64 * prompt_passes as f64
            + self.layer_weight_bytes as f64 * n_gen as f64
            + self.output_bytes as f64 * n_outputs as f64
            + self.embedding_row_bytes as f64 * n_tokens as f64
            + self.kv_bytes_per_position as f64 * (prompt_cache + gen_cache + n_tokens) as f64;
        TestWork {
            n_tokens,
            n_passes: prompt_passes + n_gen,
            flops,
            bytes,
        }
    }
}
