//! Measurement: perplexity, KL-divergence against a base, throughput.

pub mod logits;
