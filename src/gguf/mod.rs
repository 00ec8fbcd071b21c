//! Native GGUF: read (validating every length against the file), write, and summarise.
//! (placeholder until the reader lands: checks the magic only)
use std::path::Path;

pub struct GgufFile;

impl GgufFile {
    pub fn open(path: &Path) -> anyhow::Result<GgufFile> {
        use std::io::Read;
        let mut f =
            std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut magic = [0u8; 4];
        f.read_exact(&mut magic)
            .map_err(|_| anyhow::anyhow!("{}: too short for a GGUF file", path.display()))?;
        anyhow::ensure!(
            &magic == b"GGUF",
            "{}: not a GGUF file (bad magic)",
            path.display()
        );
        Ok(GgufFile)
    }
}
