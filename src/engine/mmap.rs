//! Opening a GGUF file from disk: the file is memory-mapped here and the map handed to the safe
//! native reader ([`GgufFile::from_map`]). Mapping is the reader's only `unsafe`, so it lives in
//! `engine` (which may use `gguf`, never the reverse); nothing here touches llama.cpp.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::gguf::{GgufError, GgufFile};

/// Maps and validates a GGUF file. Errors name the file, the problem and its byte offset.
///
/// This is what every command calls before handing a file to llama.cpp, which may abort the whole
/// process on a malformed file instead of returning an error.
pub fn open_gguf(path: &Path) -> Result<GgufFile, GgufError> {
    let file = File::open(path).map_err(|e| GgufError::io(path, e))?;
    let meta = file.metadata().map_err(|e| GgufError::io(path, e))?;
    if !meta.is_file() {
        return Err(GgufError::not_a_file(path));
    }
    // An empty file cannot be mapped; it is simply too short.
    if meta.len() == 0 {
        return GgufFile::from_bytes(path, Vec::new());
    }
    let map = map_file(&file).map_err(|e| GgufError::io(path, e))?;
    GgufFile::from_map(path, map)
}

/// Maps the whole file read-only.
///
/// Unsafe because the map is only sound while the file is not changed: if another process
/// truncates or rewrites it while mapped, reads through the map may see the new bytes or fault.
/// Model files are not edited in place by our tools (writers go through a temporary file and a
/// rename), which is what makes this acceptable.
fn map_file(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and owned by the caller; see the note above on concurrent edits.
    unsafe { memmap2::Mmap::map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mapped file reads exactly as the same bytes in memory: same result, same error text.
    #[test]
    fn mapped_file_reads_like_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut header = b"GGUF".to_vec();
        header.extend(3u32.to_le_bytes());
        header.extend(0u64.to_le_bytes());
        header.extend(0u64.to_le_bytes());
        let mut padded = header.clone();
        padded.resize(32, 0);
        for (name, bytes) in [
            ("empty", Vec::new()),
            ("magic", b"GGUX\x03\0\0\0".to_vec()),
            ("header", header),
            ("padded", padded),
        ] {
            let path = dir.path().join(format!("{name}.gguf"));
            std::fs::write(&path, &bytes).unwrap();
            let mapped = open_gguf(&path).map(|f| (f.version(), f.file_size()));
            let owned = GgufFile::from_bytes(&path, bytes).map(|f| (f.version(), f.file_size()));
            match (mapped, owned) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{name}"),
                (a, b) => panic!("{name}: mapped {a:?}, in memory {b:?}"),
            }
        }
        let padded = open_gguf(&dir.path().join("padded.gguf")).unwrap();
        assert_eq!((padded.version(), padded.tensors().len()), (3, 0));
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let msg = open_gguf(dir.path()).err().unwrap().to_string();
        assert_eq!(msg, format!("{}: not a regular file", dir.path().display()));
        let missing = dir.path().join("missing.gguf");
        let msg = open_gguf(&missing).err().unwrap().to_string();
        let prefix = format!("{}: cannot read the file: ", missing.display());
        assert!(msg.starts_with(&prefix), "{msg}");
    }
}
