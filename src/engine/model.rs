//! A loaded model: vocabulary, tokenizer and the facts measurements need.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use anyhow::{bail, Context as _, Result};
use llama_cpp_sys_2 as sys;

pub type Token = i32;

#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Layers to offload to the GPU (`-ngl`); 0 on CPU-only builds.
    pub n_gpu_layers: u32,
    pub use_mmap: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            n_gpu_layers: 0,
            use_mmap: true,
        }
    }
}

pub struct Model {
    ptr: NonNull<sys::llama_model>,
    vocab: NonNull<sys::llama_vocab>,
    path: PathBuf,
    n_gpu_layers: u32,
}

// SAFETY: a llama_model is immutable after loading and llama.cpp allows using it from several threads.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

/// What llama.cpp would load and then stop the process on while computing: a 1-dimensional tensor
/// (a norm's weight, a bias) in a block-quantized type, which its element-wise kernels do not take.
/// llama.cpp's tools keep such tensors in F32.
fn check_runnable(file: &crate::gguf::GgufFile) -> Result<()> {
    let bad = file
        .tensors()
        .iter()
        .find(|t| t.dims.len() == 1 && t.ggml_type.block_size() > 1);
    if let Some(t) = bad {
        bail!(
            "{}: tensor '{}' is 1-dimensional but stored as {}, which llama.cpp cannot compute with (its tools keep such tensors in F32): the file is damaged or was not written by llama.cpp's tools",
            file.path().display(),
            t.name,
            t.ggml_type.ggml_name()
        );
    }
    Ok(())
}

impl Model {
    /// Loads a GGUF model. The file is validated by our own reader first, because llama.cpp
    /// aborts the whole process on some malformed files instead of returning an error.
    pub fn load(path: &Path, opts: &ModelOptions) -> Result<Model> {
        super::init();
        check_runnable(&super::mmap::open_gguf(path)?)?;
        let cpath = path_cstring(path)?;
        // SAFETY: default params are plain data; the path is a valid C string for the call.
        let raw = unsafe {
            let mut params = sys::llama_model_default_params();
            params.n_gpu_layers = opts.n_gpu_layers.min(i32::MAX as u32) as i32;
            params.load_mode = if opts.use_mmap {
                sys::LLAMA_LOAD_MODE_MMAP
            } else {
                sys::LLAMA_LOAD_MODE_NONE
            };
            sys::llama_model_load_from_file(cpath.as_ptr(), params)
        };
        let Some(ptr) = NonNull::new(raw) else {
            let why = super::log::take_last_error().unwrap_or_else(|| "no reason given".into());
            bail!(
                "{}: llama.cpp could not load the model ({why})",
                path.display()
            );
        };
        // SAFETY: ptr is a live model; the vocab it returns lives as long as the model.
        let vocab = unsafe { sys::llama_model_get_vocab(ptr.as_ptr()) };
        let vocab = NonNull::new(vocab.cast_mut()).context("model has no vocabulary")?;
        Ok(Model {
            ptr,
            vocab,
            path: path.to_path_buf(),
            n_gpu_layers: opts.n_gpu_layers,
        })
    }

    /// Layers it was asked to offload (`-ngl`; 0: computed on the CPU).
    pub fn n_gpu_layers(&self) -> u32 {
        self.n_gpu_layers
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn raw(&self) -> *mut sys::llama_model {
        self.ptr.as_ptr()
    }

    pub fn n_vocab(&self) -> usize {
        // SAFETY: vocab is live while self is.
        unsafe { sys::llama_vocab_n_tokens(self.vocab.as_ptr()) }.max(0) as usize
    }

    pub fn n_ctx_train(&self) -> u32 {
        // SAFETY: model pointer is live.
        unsafe { sys::llama_model_n_ctx_train(self.raw()) }.max(0) as u32
    }

    pub fn n_embd(&self) -> u32 {
        // SAFETY: model pointer is live.
        unsafe { sys::llama_model_n_embd(self.raw()) }.max(0) as u32
    }

    pub fn n_layer(&self) -> u32 {
        // SAFETY: model pointer is live.
        unsafe { sys::llama_model_n_layer(self.raw()) }.max(0) as u32
    }

    pub fn n_params(&self) -> u64 {
        // SAFETY: model pointer is live.
        unsafe { sys::llama_model_n_params(self.raw()) }
    }

    /// Bytes of all weight tensors, as llama.cpp counts them (llama-bench's `model_size`).
    pub fn size_bytes(&self) -> u64 {
        // SAFETY: model pointer is live.
        unsafe { sys::llama_model_size(self.raw()) }
    }

    /// llama.cpp's short description, e.g. `llama ?B Q4_K - Medium` (llama-bench's `model_type`).
    pub fn description(&self) -> String {
        let mut buf = vec![0u8; 256];
        // SAFETY: buf is writable for its length; llama.cpp NUL-terminates within it.
        let n = unsafe { sys::llama_model_desc(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
        buf.truncate(n.clamp(0, 255) as usize);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Whether the tokenizer puts BOS in front of a text (llama.cpp's `add_bos`).
    pub fn adds_bos(&self) -> bool {
        // SAFETY: vocab is live.
        unsafe { sys::llama_vocab_get_add_bos(self.vocab.as_ptr()) }
    }

    pub fn bos(&self) -> Token {
        // SAFETY: vocab is live.
        unsafe { sys::llama_vocab_bos(self.vocab.as_ptr()) }
    }

    /// Tokenizes like llama.cpp's `common_tokenize(ctx, text, add_special, parse_special)`.
    pub fn tokenize(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<Token>> {
        let len = i32::try_from(text.len()).context("text over 2 GiB cannot be tokenized")?;
        // A text never has more tokens than bytes, plus BOS/EOS.
        let mut out: Vec<Token> = vec![0; text.len() + 2];
        let mut n = self.tokenize_into(text, len, &mut out, add_special, parse_special);
        if n < 0 {
            out.resize(n.unsigned_abs() as usize, 0);
            n = self.tokenize_into(text, len, &mut out, add_special, parse_special);
        }
        if n < 0 {
            bail!("tokenizer failed ({n})");
        }
        out.truncate(n as usize);
        Ok(out)
    }

    fn tokenize_into(
        &self,
        text: &str,
        len: i32,
        out: &mut [Token],
        add: bool,
        special: bool,
    ) -> i32 {
        let cap = out.len().min(i32::MAX as usize) as i32;
        // SAFETY: text is valid for `len` bytes and out is writable for `cap` tokens.
        unsafe {
            sys::llama_tokenize(
                self.vocab.as_ptr(),
                text.as_ptr().cast(),
                len,
                out.as_mut_ptr(),
                cap,
                add,
                special,
            )
        }
    }

    /// The bytes a token stands for (may be part of a UTF-8 character).
    pub fn token_bytes(&self, token: Token, special: bool) -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        for _ in 0..2 {
            // SAFETY: buf is writable for its length.
            let n = unsafe {
                sys::llama_token_to_piece(
                    self.vocab.as_ptr(),
                    token,
                    buf.as_mut_ptr().cast(),
                    buf.len() as i32,
                    0,
                    special,
                )
            };
            if n >= 0 {
                buf.truncate(n as usize);
                return buf;
            }
            buf.resize(n.unsigned_abs() as usize, 0);
        }
        Vec::new()
    }

    /// Joins token pieces back into text.
    pub fn detokenize(&self, tokens: &[Token]) -> String {
        let bytes: Vec<u8> = tokens
            .iter()
            .flat_map(|&t| self.token_bytes(t, false))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The vocabulary as byte pieces, to compare two models' tokenizers.
    pub fn vocab_fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let n = self.n_vocab();
        n.hash(&mut h);
        for t in (0..n).step_by(97) {
            self.token_bytes(t as Token, true).hash(&mut h);
        }
        h.finish()
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the pointer came from llama_model_load_from_file and is freed once.
        unsafe { sys::llama_model_free(self.ptr.as_ptr()) }
    }
}

pub(crate) fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .with_context(|| format!("{}: path contains a NUL byte", path.display()))
}
