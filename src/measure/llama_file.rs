//! llama.cpp's `--kl-divergence-base` file, read and written as llama-perplexity does, so bases move
//! between the two tools. Layout (little endian): `_logits_`, u32 n_ctx, i32 n_vocab, i32 n_chunk,
//! `n_ctx·n_chunk` i32 tokens, then per scored position `nv = 2·⌈n_vocab/2⌉ + 4` u16: an f32 scale and
//! an f32 minimum log-probability, then every token's log-probability quantized to 16 bits over the
//! 16 nats below the top. The arithmetic below is llama-perplexity's, in f32 where it uses float.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _, Result};
use byteorder::{LittleEndian, ReadBytesExt};

use super::kld::TokenKld;
use crate::engine::Token;
use crate::util::AtomicFile;

const MAGIC: &[u8; 8] = b"_logits_";

/// u16 values per position for a vocabulary.
pub fn row_len(n_vocab: usize) -> usize {
    2 * n_vocab.div_ceil(2) + 4
}

/// Scored positions per chunk (the second half, minus the last token).
fn scored_per_chunk(n_ctx: usize) -> usize {
    n_ctx - 1 - n_ctx / 2
}

/// llama-perplexity's `log_softmax(n_vocab, logits, log_prob, tok)`: fills `out` (row_len u16) and
/// returns the token's negative log-likelihood.
pub fn encode_row(logits: &[f32], token: usize, out: &mut [u16]) -> f64 {
    let mut max_logit = logits[0];
    let mut min_logit = logits[0];
    for &l in &logits[1..] {
        max_logit = max_logit.max(l);
        min_logit = min_logit.min(l);
    }
    min_logit = min_logit.max(max_logit - 16.0);
    let sum_exp: f64 = logits.iter().map(|&l| (l - max_logit).exp() as f64).sum();
    let log_sum_exp = sum_exp.ln() as f32;
    let min_log_prob = min_logit - max_logit - log_sum_exp;
    let scale = (max_logit - min_logit) / 65535.0;
    let (head, values) = out.split_at_mut(4);
    let s = scale.to_le_bytes();
    let m = min_log_prob.to_le_bytes();
    head[0] = u16::from_le_bytes([s[0], s[1]]);
    head[1] = u16::from_le_bytes([s[2], s[3]]);
    head[2] = u16::from_le_bytes([m[0], m[1]]);
    head[3] = u16::from_le_bytes([m[2], m[3]]);
    values.fill(0);
    if scale != 0.0 {
        let inv_scale = 1.0 / scale;
        for (v, &l) in values.iter_mut().zip(logits) {
            if l > min_logit {
                // llama.cpp's nearest_int: round half to even, then the low 16 bits.
                *v = (inv_scale * (l - min_logit)).round_ties_even() as i32 as u16;
            }
        }
    }
    (max_logit + log_sum_exp - logits[token]) as f64
}

fn row_head(row: &[u16]) -> (f32, f32) {
    let f = |a: u16, b: u16| {
        let (a, b) = (a.to_le_bytes(), b.to_le_bytes());
        f32::from_le_bytes([a[0], a[1], b[0], b[1]])
    };
    (f(row[0], row[1]), f(row[2], row[3]))
}

/// llama-perplexity's KL-divergence of one position against a stored row (its float arithmetic).
pub fn compare_row(logits: &[f32], base: &[u16], token: usize) -> TokenKld {
    let n_vocab = logits.len();
    let mut max_logit = logits[0];
    let mut imax = 0;
    for (i, &l) in logits.iter().enumerate().skip(1) {
        if l > max_logit {
            max_logit = l;
            imax = i;
        }
    }
    let sum_exp: f64 = logits.iter().map(|&l| (l - max_logit).exp() as f64).sum();
    let log_sum_exp = sum_exp.ln() as f32;
    let (scale, min_log_prob) = row_head(base);
    let base = &base[4..4 + n_vocab];
    let nll: f32 = max_logit + log_sum_exp - logits[token];
    let nll_base: f32 = -(scale * base[token] as f32 + min_log_prob);
    let max_logit = max_logit + log_sum_exp;
    let mut sum = 0.0f64;
    let mut imax_base = 0;
    let mut p_log_base_max = 0.0f32;
    for (i, (&b, &l)) in base.iter().zip(logits).enumerate() {
        let p_log_base = scale * b as f32 + min_log_prob;
        if i == 0 || p_log_base > p_log_base_max {
            p_log_base_max = p_log_base;
            imax_base = i;
        }
        if p_log_base > -16.0 {
            let p_base = p_log_base.exp();
            sum += (p_base * (p_log_base - l + max_logit)) as f64;
        }
    }
    let p_diff = (-nll).exp() - (-nll_base).exp();
    TokenKld {
        nll: nll as f64,
        nll_base: nll_base as f64,
        kld: sum,
        p_diff: p_diff as f64,
        same_top: imax == imax_base,
    }
}

/// Writes a llama.cpp logits file row by row, in scoring order; nothing is left behind unless
/// [`LlamaLogitsWriter::finish`] is reached.
pub struct LlamaLogitsWriter {
    out: BufWriter<AtomicFile>,
    path: PathBuf,
    rows_left: u64,
}

impl LlamaLogitsWriter {
    pub fn create(
        path: &Path,
        n_ctx: u32,
        n_vocab: usize,
        n_chunk: u32,
        tokens: &[Token],
    ) -> Result<Self> {
        ensure!(
            tokens.len() == n_ctx as usize * n_chunk as usize,
            "internal: {} tokens for {n_chunk} chunks of {n_ctx}",
            tokens.len()
        );
        let mut out = BufWriter::with_capacity(1 << 22, AtomicFile::create(path)?);
        let mut header = Vec::with_capacity(20 + 4 * tokens.len());
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&n_ctx.to_le_bytes());
        header.extend_from_slice(&(n_vocab as i32).to_le_bytes());
        header.extend_from_slice(&(n_chunk as i32).to_le_bytes());
        for t in tokens {
            header.extend_from_slice(&t.to_le_bytes());
        }
        out.write_all(&header)
            .with_context(|| format!("{}: write failed", path.display()))?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            rows_left: n_chunk as u64 * scored_per_chunk(n_ctx as usize) as u64,
        })
    }

    pub fn write_row(&mut self, row: &[u16]) -> Result<()> {
        ensure!(
            self.rows_left > 0,
            "internal: more rows than the header announced"
        );
        self.rows_left -= 1;
        let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.out
            .write_all(&bytes)
            .with_context(|| format!("{}: write failed (disk full?)", self.path.display()))
    }

    pub fn finish(self) -> Result<()> {
        ensure!(
            self.rows_left == 0,
            "internal: {} rows missing",
            self.rows_left
        );
        let path = self.path;
        let file = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("{}: write failed", path.display()))?;
        file.commit()
    }
}

/// Reads a llama.cpp logits file chunk by chunk (it may be far larger than memory).
pub struct LlamaLogitsReader {
    input: BufReader<File>,
    path: PathBuf,
    pub n_ctx: u32,
    pub n_vocab: usize,
    pub n_chunk: u32,
    pub tokens: Vec<Token>,
}

impl LlamaLogitsReader {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut input = BufReader::with_capacity(1 << 22, file);
        let bad = |what: &str| format!("{}: {what}", path.display());
        let mut magic = [0u8; 8];
        input
            .read_exact(&mut magic)
            .with_context(|| bad("too short for a llama.cpp logits file"))?;
        if &magic != MAGIC {
            bail!(
                "{}",
                bad("not a llama.cpp --kl-divergence-base file (no _logits_ magic)")
            );
        }
        let mut header = || -> std::io::Result<(u32, i32, i32)> {
            Ok((
                input.read_u32::<LittleEndian>()?,
                input.read_i32::<LittleEndian>()?,
                input.read_i32::<LittleEndian>()?,
            ))
        };
        let (n_ctx, n_vocab, n_chunk) = header().with_context(|| bad("truncated header"))?;
        ensure!(
            n_ctx >= 4 && n_vocab > 0 && n_chunk > 0,
            "{}",
            bad(&format!(
                "implausible header (n_ctx {n_ctx}, n_vocab {n_vocab}, n_chunk {n_chunk})"
            ))
        );
        let (n_vocab, n_chunk_u) = (n_vocab as usize, n_chunk as u128);
        let n_tok = n_ctx as u128 * n_chunk_u;
        // u128: a crafted header cannot overflow the size it implies.
        let want = 20
            + 4 * n_tok
            + n_chunk_u * scored_per_chunk(n_ctx as usize) as u128 * 2 * row_len(n_vocab) as u128;
        ensure!(
            len as u128 == want,
            "{}",
            bad(&format!(
                "{len} bytes, but its header (n_ctx {n_ctx}, n_vocab {n_vocab}, {n_chunk} chunks) needs {want} (truncated or corrupt)"
            ))
        );
        let mut tokens = vec![0i32; n_tok as usize];
        input
            .read_i32_into::<LittleEndian>(&mut tokens)
            .with_context(|| bad("truncated tokens"))?;
        if let Some(t) = tokens.iter().find(|&&t| t < 0 || t as usize >= n_vocab) {
            bail!(
                "{}",
                bad(&format!(
                    "token id {t} outside its vocabulary of {n_vocab} (corrupt file)"
                ))
            );
        }
        Ok(Self {
            input,
            path: path.to_path_buf(),
            n_ctx,
            n_vocab,
            n_chunk: n_chunk as u32,
            tokens,
        })
    }

    /// The next chunk's rows, `scored_per_chunk · row_len` u16.
    pub fn read_chunk(&mut self, out: &mut Vec<u16>) -> Result<()> {
        out.resize(
            scored_per_chunk(self.n_ctx as usize) * row_len(self.n_vocab),
            0,
        );
        self.input
            .read_u16_into::<LittleEndian>(out)
            .with_context(|| format!("{}: truncated log-probabilities", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_rows_decode_to_log_probabilities() {
        let logits: Vec<f32> = (0..101)
            .map(|i| ((i * 37) % 23) as f32 * 0.7 - 20.0)
            .collect();
        let mut row = vec![0u16; row_len(logits.len())];
        assert_eq!(row.len(), 2 * 51 + 4);
        let nll = encode_row(&logits, 3, &mut row);
        let (want, _) = crate::logits::nll_and_prob(&logits, 3);
        assert!((nll - want).abs() < 1e-5, "{nll} vs {want}");
        let (scale, min_lp) = row_head(&row);
        let lse = crate::logits::LogSumExp::of(&logits);
        for (i, &l) in logits.iter().enumerate() {
            let lp = lse.log_prob(l);
            if lp > min_lp as f64 + 1e-3 {
                let back = scale as f64 * row[4 + i] as f64 + min_lp as f64;
                assert!((back - lp).abs() <= scale as f64, "{i}: {back} vs {lp}");
            }
        }
        // Against itself: no divergence, the same top token, no Δp beyond the 16-bit steps.
        let t = compare_row(&logits, &row, 3);
        assert!(t.kld.abs() < 1e-4, "{}", t.kld);
        assert!(t.same_top);
        assert!(t.p_diff.abs() < 1e-3);
    }

    #[test]
    fn written_files_read_back_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("base.bin");
        let tokens: Vec<Token> = (0..16).map(|i| i % 5).collect();
        let mut w = LlamaLogitsWriter::create(&p, 8, 5, 2, &tokens).unwrap();
        let row: Vec<u16> = (0..row_len(5) as u16).collect();
        for _ in 0..2 * 3 {
            w.write_row(&row).unwrap();
        }
        w.finish().unwrap();
        let mut r = LlamaLogitsReader::open(&p).unwrap();
        assert_eq!((r.n_ctx, r.n_vocab, r.n_chunk), (8, 5, 2));
        assert_eq!(r.tokens, tokens);
        let mut buf = Vec::new();
        r.read_chunk(&mut buf).unwrap();
        assert_eq!(&buf[..row.len()], &row[..]);

        let mut bytes = std::fs::read(&p).unwrap();
        bytes[20] = 7; // first token: id 7 in a 5-token vocabulary
        std::fs::write(&p, &bytes).unwrap();
        let e = format!("{:#}", LlamaLogitsReader::open(&p).err().unwrap());
        assert!(e.contains("token id 7 outside its vocabulary of 5"), "{e}");
        std::fs::write(&p, &bytes[..bytes.len() - 2]).unwrap();
        let e = format!("{:#}", LlamaLogitsReader::open(&p).err().unwrap());
        assert!(
            e.contains("base.bin") && e.contains("truncated or corrupt"),
            "{e}"
        );
        std::fs::write(&p, b"MPTKLDB1........").unwrap();
        let e = format!("{:#}", LlamaLogitsReader::open(&p).err().unwrap());
        assert!(e.contains("no _logits_ magic"), "{e}");
        // A writer dropped before finish leaves nothing.
        let q = dir.path().join("half.bin");
        drop(LlamaLogitsWriter::create(&q, 8, 5, 2, &tokens).unwrap());
        assert!(!q.exists());
    }
}
