//! The evaluation text: read once with clear errors, tokenized once (every rung of a sweep shares the
//! vocabulary, so the same tokens serve them all).

use std::path::Path;

use anyhow::{bail, Context as _, Result};

use crate::engine::{Model, Token};

/// Reads a UTF-8 text file; refuses missing, empty and binary files with a one-line reason.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        bail!("{}: empty text", path.display());
    }
    // A NUL byte never occurs in text but almost always in binary files (models, archives).
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        bail!(
            "{}: binary file, not text (NUL byte at offset {at})",
            path.display()
        );
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Tokenizes the whole text as llama-perplexity does (`common_tokenize(ctx, text, add_special = true)`:
/// BOS in front when the model wants it, special-token text left as plain text).
pub fn tokenize(model: &Model, text: &str) -> Result<Vec<Token>> {
    model
        .tokenize(text, true, false)
        .with_context(|| format!("{}: cannot tokenize the text", model.path().display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn bad_files_are_refused_with_their_name_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let err = |p: &Path| format!("{:#}", read_text(p).unwrap_err());
        let missing = dir.path().join("missing.txt");
        assert!(err(&missing).contains("missing.txt: cannot read"));
        let empty = write(dir.path(), "empty.txt", b" \r\n\n");
        assert!(err(&empty).contains("empty.txt: empty text"));
        let binary = write(dir.path(), "model.bin", b"GGUF\x03\x00\x00\x00");
        assert!(err(&binary).contains("model.bin: binary file, not text (NUL byte at offset 5)"));
        let latin1 = write(dir.path(), "latin1.txt", b"caf\xe9 au lait");
        assert!(err(&latin1).contains("latin1.txt: not UTF-8 text (invalid byte at offset 3)"));
        let ok = write(dir.path(), "ok.txt", "café\n".as_bytes());
        assert_eq!(read_text(&ok).unwrap(), "café\n");
    }
}
