//! The compact KL-divergence base: what a quantized model is compared against, computed once from the
//! base model and reused for every rung, a few hundred bytes per scored token instead of the whole
//! vocabulary (llama.cpp's `--kl-divergence-base` file holds 2 bytes per vocabulary entry per token).
//!
//! Per scored token it keeps the base's log-probability of the correct token (Δp and the PPL ratio are
//! exact), its `k` most likely tokens with their log-probabilities (the first is the top token: "same
//! top" is exact), the log of the probability mass outside them and `m` tokens sampled from that tail
//! ([`super::kld_record`] has the estimator). With k = m = 32, `tests/it/measure_kld.rs` holds the mean
//! KLD to within 1% of the full-vocabulary value, at 520 bytes per scored token whatever the
//! vocabulary size.
//!
//! File layout (little endian): magic `MPTKLDB1`, u32 length of a JSON header ([`KldBaseMeta`]), the
//! header, then `n_chunk·n_ctx` i32 tokens, then four arrays over the `n_scored` positions: f32
//! correct-token log-prob, f32 tail log-mass, `k + m` u32 token ids each (top, then tail samples;
//! `u32::MAX` pads), `k + m` f32 log-probs each.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, ensure, Context as _, Result};
use byteorder::{ByteOrder, LittleEndian};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::kld::TokenKld;
use super::kld_record::{sample_offset, BaseRecord, RecordRef};
use crate::engine::{Model, Token};
use crate::logits::LogSumExp;

const MAGIC: &[u8; 8] = b"MPTKLDB1";
pub const KLD_BASE_VERSION: u32 = 1;
/// Top tokens kept per position.
pub const DEFAULT_TOP_K: usize = 32;
/// Tail tokens sampled per position: as many as the top tokens kept, which keeps the estimate's
/// noise well inside the bound `tests/it/measure_kld.rs` checks (8 top tokens and 24 samples did worse).
pub const DEFAULT_TAIL_SAMPLES: usize = 32;

/// What makes a quantized run comparable with the base, and what the base measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KldBaseMeta {
    pub version: u32,
    pub n_vocab: u32,
    /// sha256 over every token's bytes (see [`vocab_fingerprint`]).
    pub vocab_fingerprint: String,
    pub add_bos: bool,
    pub n_ctx: u32,
    pub n_chunk: u32,
    pub top_k: u32,
    pub tail_samples: u32,
    pub n_scored: u64,
    /// sha256 of the evaluated tokens (i32 little endian).
    pub tokens_sha256: String,
    /// The base model's file and llama.cpp's description of it.
    pub model: String,
    pub model_description: String,
    pub ppl: f64,
    pub ppl_err: f64,
    pub mpt_gguf_version: String,
    pub llama_cpp: String,
}

/// The top tokens and tail samples kept per position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordShape {
    pub top_k: usize,
    pub tail_samples: usize,
}

impl RecordShape {
    /// Summarizes the base's logits at scored position `index` (see [`BaseRecord::capture`]; the
    /// tail samples are placed by the index alone).
    pub fn capture(&self, index: u64, row: &[f32], lse: &LogSumExp, token: usize) -> BaseRecord {
        let (k, m) = (self.top_k, self.tail_samples);
        BaseRecord::capture(row, lse, token, k, m, sample_offset(index))
    }
}

/// A compact base in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct KldBase {
    pub meta: KldBaseMeta,
    tokens: Vec<Token>,
    correct_logp: Vec<f32>,
    tail_logp: Vec<f32>,
    /// `top_k + tail_samples` per position.
    ids: Vec<u32>,
    logp: Vec<f32>,
}

/// sha256 of the vocabulary: token count and every token's bytes, length-prefixed.
pub fn vocab_fingerprint(model: &Model) -> String {
    let mut h = Sha256::new();
    let n = model.n_vocab();
    h.update((n as u32).to_le_bytes());
    for t in 0..n {
        let piece = model.token_bytes(t as Token, true);
        h.update((piece.len() as u32).to_le_bytes());
        h.update(&piece);
    }
    format!("{:x}", h.finalize())
}

pub fn tokens_sha256(tokens: &[Token]) -> String {
    let mut h = Sha256::new();
    for t in tokens {
        h.update(t.to_le_bytes());
    }
    format!("{:x}", h.finalize())
}

impl KldBase {
    /// An empty base for `tokens` (the `n_chunk·n_ctx` evaluated tokens) to which records are added in
    /// scoring order.
    pub fn new(
        model: &Model,
        tokens: &[Token],
        n_ctx: u32,
        n_chunk: u32,
        top_k: usize,
        tail_samples: usize,
    ) -> Self {
        Self {
            meta: KldBaseMeta {
                version: KLD_BASE_VERSION,
                n_vocab: model.n_vocab() as u32,
                vocab_fingerprint: vocab_fingerprint(model),
                add_bos: model.adds_bos(),
                n_ctx,
                n_chunk,
                top_k: top_k as u32,
                tail_samples: tail_samples as u32,
                n_scored: 0,
                tokens_sha256: tokens_sha256(tokens),
                model: model.path().display().to_string(),
                model_description: model.description(),
                ppl: f64::NAN,
                ppl_err: f64::NAN,
                mpt_gguf_version: crate::engine::build_info::MPT_VERSION.into(),
                llama_cpp: crate::engine::build_info::LLAMA_REVISION.into(),
            },
            tokens: tokens.to_vec(),
            correct_logp: Vec::new(),
            tail_logp: Vec::new(),
            ids: Vec::new(),
            logp: Vec::new(),
        }
    }

    fn width(&self) -> usize {
        (self.meta.top_k + self.meta.tail_samples) as usize
    }

    /// What a position's record holds, apart from the base (for capturing on other threads).
    pub fn shape(&self) -> RecordShape {
        RecordShape {
            top_k: self.meta.top_k as usize,
            tail_samples: self.meta.tail_samples as usize,
        }
    }

    pub fn push(&mut self, r: &BaseRecord) {
        let (k, m) = (self.meta.top_k as usize, self.meta.tail_samples as usize);
        self.correct_logp.push(r.correct_logp);
        self.tail_logp.push(r.tail_logp);
        let mut put = |ids: &[u32], lps: &[f32], n: usize| {
            for i in 0..n {
                self.ids.push(ids.get(i).copied().unwrap_or(u32::MAX));
                self.logp
                    .push(lps.get(i).copied().unwrap_or(f32::NEG_INFINITY));
            }
        };
        put(&r.top_ids, &r.top_logp, k);
        put(&r.sample_ids, &r.sample_logp, m);
        self.meta.n_scored += 1;
    }

    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The record of scored position `i` (chunk-major, as they were pushed).
    pub fn record(&self, i: usize) -> RecordRef<'_> {
        let (k, w) = (self.meta.top_k as usize, self.width());
        let (ids, logp) = (
            &self.ids[i * w..(i + 1) * w],
            &self.logp[i * w..(i + 1) * w],
        );
        let used = |s: &[u32]| s.iter().take_while(|&&id| id != u32::MAX).count();
        let (nt, ns) = (used(&ids[..k]), used(&ids[k..]));
        RecordRef {
            correct_logp: self.correct_logp[i],
            tail_logp: self.tail_logp[i],
            top_ids: &ids[..nt],
            top_logp: &logp[..nt],
            sample_ids: &ids[k..k + ns],
            sample_logp: &logp[k..k + ns],
        }
    }

    /// Compares the quantized model's logits at scored position `i` with the base.
    pub fn compare_at(&self, i: usize, row: &[f32], token: usize) -> TokenKld {
        self.record(i).compare(row, token)
    }

    /// Bytes the saved file takes.
    pub fn file_size(&self) -> u64 {
        self.encode_header().len() as u64 + 12 + self.data_size()
    }

    fn data_size(&self) -> u64 {
        let m = &self.meta;
        4 * self.tokens.len() as u64 + m.n_scored * (8 + 8 * self.width() as u64)
    }

    fn encode_header(&self) -> Vec<u8> {
        serde_json::to_vec(&self.meta).unwrap_or_default()
    }

    /// Writes the base atomically (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        let header = self.encode_header();
        let mut out = crate::util::AtomicFile::create(path)?;
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut out);
            let mut put = |bytes: &[u8]| {
                w.write_all(bytes)
                    .with_context(|| format!("{}: write failed", path.display()))
            };
            put(MAGIC)?;
            put(&(header.len() as u32).to_le_bytes())?;
            put(&header)?;
            put(&i32_bytes(&self.tokens))?;
            put(&f32_bytes(&self.correct_logp))?;
            put(&f32_bytes(&self.tail_logp))?;
            let ids: Vec<u8> = self.ids.iter().flat_map(|v| v.to_le_bytes()).collect();
            put(&ids)?;
            put(&f32_bytes(&self.logp))?;
            w.flush()
                .with_context(|| format!("{}: write failed", path.display()))?;
        }
        out.commit()
    }

    /// Reads a saved base, checking its layout, sizes and token hash.
    pub fn open(path: &Path) -> Result<KldBase> {
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        Self::decode(&bytes)
            .with_context(|| format!("{}: not a usable KL-divergence base", path.display()))
    }

    fn decode(bytes: &[u8]) -> Result<KldBase> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            if bytes.starts_with(b"_logits_") {
                bail!("this is a llama.cpp --kl-divergence-base file; pass it with --kl-divergence-base FILE --kl-divergence");
            }
            bail!("not an mpt-gguf KL-divergence base (no MPTKLDB1 magic)");
        }
        let hlen = LittleEndian::read_u32(&bytes[8..12]) as usize;
        let header = bytes.get(12..12 + hlen).context("truncated header")?;
        let meta: KldBaseMeta = serde_json::from_slice(header).context("malformed header")?;
        ensure!(
            meta.version <= KLD_BASE_VERSION,
            "format version {} is newer than this mpt-gguf reads ({KLD_BASE_VERSION})",
            meta.version
        );
        // u128 sizes: a crafted header cannot overflow what it implies about the file.
        let k = meta.top_k as u128 + meta.tail_samples as u128;
        let n_ctx = meta.n_ctx as u128;
        let n_tok = n_ctx * meta.n_chunk as u128;
        let n = meta.n_scored as u128;
        let scored_per_chunk = n_ctx.saturating_sub(1 + n_ctx / 2);
        ensure!(
            n == scored_per_chunk * meta.n_chunk as u128,
            "header says {n} scored tokens, but {} chunks of {} score {}",
            meta.n_chunk,
            meta.n_ctx,
            scored_per_chunk * meta.n_chunk as u128
        );
        let want = 12 + hlen as u128 + 4 * n_tok + n * (8 + 8 * k);
        ensure!(
            bytes.len() as u128 == want,
            "{} bytes, expected {want} (truncated or corrupt)",
            bytes.len()
        );
        // The sizes now fit the file, so they fit usize.
        let (k, n_tok, n) = (k as usize, n_tok as usize, n as usize);
        let mut at = 12 + hlen;
        let mut take = |len: usize| {
            let s = &bytes[at..at + len];
            at += len;
            s
        };
        let tokens: Vec<Token> = take(4 * n_tok)
            .chunks_exact(4)
            .map(LittleEndian::read_i32)
            .collect();
        let f32s =
            |b: &[u8]| -> Vec<f32> { b.chunks_exact(4).map(LittleEndian::read_f32).collect() };
        let correct_logp = f32s(take(4 * n));
        let tail_logp = f32s(take(4 * n));
        let ids: Vec<u32> = take(4 * n * k)
            .chunks_exact(4)
            .map(LittleEndian::read_u32)
            .collect();
        let logp = f32s(take(4 * n * k));
        ensure!(
            tokens_sha256(&tokens) == meta.tokens_sha256,
            "token hash does not match its header (corrupt file)"
        );
        if let Some(t) = tokens.iter().find(|&&t| t < 0 || t as u32 >= meta.n_vocab) {
            bail!(
                "token id {t} outside its vocabulary of {} (corrupt file)",
                meta.n_vocab
            );
        }
        Ok(KldBase {
            meta,
            tokens,
            correct_logp,
            tail_logp,
            ids,
            logp,
        })
    }

    /// Refuses a quantized model (or run settings) that cannot be compared with this base.
    pub fn check_model(&self, model: &Model) -> Result<()> {
        let m = &self.meta;
        let n_vocab = model.n_vocab() as u32;
        if n_vocab != m.n_vocab {
            bail!(
                "{}: vocabulary of {n_vocab} tokens, but the KL-divergence base was computed with {} tokens ({}); compare models of the same vocabulary",
                model.path().display(),
                m.n_vocab,
                m.model
            );
        }
        if vocab_fingerprint(model) != m.vocab_fingerprint {
            bail!(
                "{}: a different vocabulary from the KL-divergence base's model {} (same size, other tokens)",
                model.path().display(),
                m.model
            );
        }
        if model.adds_bos() != m.add_bos {
            bail!(
                "{}: {} BOS, unlike the KL-divergence base's model {}",
                model.path().display(),
                if model.adds_bos() {
                    "adds"
                } else {
                    "does not add"
                },
                m.model
            );
        }
        Ok(())
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seed: u32, n: usize) -> Vec<f32> {
        (0..n as u32)
            .map(|i| ((i ^ seed).wrapping_mul(2_654_435_761) % 10_000) as f32 / 800.0)
            .collect()
    }

    #[test]
    fn file_round_trips_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let tokens: Vec<Token> = (0..8).collect();
        let mut b = KldBase {
            meta: KldBaseMeta {
                version: KLD_BASE_VERSION,
                n_vocab: 300,
                vocab_fingerprint: "v".into(),
                add_bos: true,
                n_ctx: 4,
                n_chunk: 2,
                top_k: 3,
                tail_samples: 5,
                n_scored: 0,
                tokens_sha256: tokens_sha256(&tokens),
                model: "m".into(),
                model_description: "d".into(),
                ppl: 1.5,
                ppl_err: 0.1,
                mpt_gguf_version: "x".into(),
                llama_cpp: "y".into(),
            },
            tokens,
            correct_logp: vec![],
            tail_logp: vec![],
            ids: vec![],
            logp: vec![],
        };
        let r = row(3, 300);
        let lse = LogSumExp::of(&r);
        let shape = b.shape();
        let (r0, r1) = (shape.capture(0, &r, &lse, 1), shape.capture(1, &r, &lse, 2));
        b.push(&r0);
        b.push(&r1);
        let p = dir.path().join("base.kld");
        b.save(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), b.file_size());
        let back = KldBase::open(&p).unwrap();
        assert_eq!(back, b);
        let q = row(5, 300);
        assert_eq!(back.compare_at(1, &q, 2), r1.compare(&q, 2));

        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        let e = format!("{:#}", KldBase::open(&p).unwrap_err());
        assert!(
            e.contains("base.kld") && e.contains("truncated or corrupt"),
            "{e}"
        );
        std::fs::write(&p, b"_logits_\0\0\0\0\0\0\0\0").unwrap();
        let e = format!("{:#}", KldBase::open(&p).unwrap_err());
        assert!(e.contains("llama.cpp --kl-divergence-base file"), "{e}");
    }
}
