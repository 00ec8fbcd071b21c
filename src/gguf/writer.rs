//! Writing GGUF files: a builder for metadata and tensors, laid out as llama.cpp lays them out
//! (tensor data in info order, each piece padded to the alignment with zeros), written atomically.
//!
//! Reading a file written by llama.cpp or gguf-py and writing it back unchanged gives the same bytes.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

use super::reader::{label, GgufFile, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS, MAX_NAME};
use super::types::GgmlType;
use super::value::{write_str, Value};
use crate::util::AtomicFile;

/// A tensor to write: its description and its bytes (borrowed from an open file, or owned).
#[derive(Debug, Clone)]
pub struct NewTensor<'a> {
    pub name: String,
    pub ggml_type: GgmlType,
    pub dims: Vec<u64>,
    pub data: Cow<'a, [u8]>,
}

/// Metadata and tensors of a GGUF file to be written.
#[derive(Debug, Clone)]
pub struct GgufBuilder<'a> {
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<NewTensor<'a>>,
}

impl Default for GgufBuilder<'_> {
    fn default() -> Self {
        GgufBuilder {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }
}

impl<'a> GgufBuilder<'a> {
    /// An empty GGUF v3 file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything in `file` (same version, metadata and tensor order), tensor data borrowed from it.
    pub fn from_file(file: &'a GgufFile) -> Self {
        let tensors = file
            .tensors()
            .iter()
            .map(|t| NewTensor {
                name: t.name.clone(),
                ggml_type: t.ggml_type,
                dims: t.dims.clone(),
                data: Cow::Borrowed(file.tensor_data(t)),
            })
            .collect();
        GgufBuilder {
            version: file.version(),
            metadata: file.metadata().to_vec(),
            tensors,
        }
    }

    /// GGUF version to write: 3 (the default) or 2, which has the same layout.
    pub fn version(&mut self, version: u32) -> Result<&mut Self> {
        ensure!(
            version == 2 || version == 3,
            "cannot write GGUF version {version}, only 2 or 3"
        );
        self.version = version;
        Ok(self)
    }

    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Adds a key, or replaces its value where it already is (keeping the key order).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        let (key, value) = (key.into(), value.into());
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.metadata.iter().position(|(k, _)| k == key)?;
        Some(self.metadata.remove(i).1)
    }

    pub fn tensors(&self) -> &[NewTensor<'a>] {
        &self.tensors
    }

    /// Appends a tensor after checking its name, shape and that `data` is exactly its size.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ggml_type: GgmlType,
        dims: &[u64],
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<&mut Self> {
        let t = NewTensor {
            name: name.into(),
            ggml_type,
            dims: dims.to_vec(),
            data: data.into(),
        };
        check_tensor(&t)?;
        ensure!(
            self.tensors.iter().all(|o| o.name != t.name),
            "tensor '{}' is already in the file",
            label(&t.name)
        );
        self.tensors.push(t);
        Ok(self)
    }

    pub fn remove_tensor(&mut self, name: &str) -> Option<NewTensor<'a>> {
        let i = self.tensors.iter().position(|t| t.name == name)?;
        Some(self.tensors.remove(i))
    }

    /// Keeps only the tensors `keep` says yes to (layer pruning, subsets).
    pub fn retain_tensors(&mut self, keep: impl FnMut(&NewTensor<'a>) -> bool) -> &mut Self {
        self.tensors.retain(keep);
        self
    }

    /// `general.alignment` if set (it must be a power-of-two u32), else 32.
    pub fn alignment(&self) -> Result<u64> {
        match self.get("general.alignment") {
            None => Ok(DEFAULT_ALIGNMENT),
            Some(Value::U32(a)) if a.is_power_of_two() => Ok((*a).into()),
            Some(v) => bail!("general.alignment must be a power-of-two u32, not {v:?}"),
        }
    }

    /// Header, metadata and tensor infos, padded to where the data section starts.
    pub fn header_bytes(&self) -> Result<Vec<u8>> {
        let alignment = self.alignment()?;
        let mut names = HashSet::new();
        let mut out = Vec::new();
        out.extend_from_slice(GGUF_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        let mut keys = HashSet::new();
        for (key, value) in &self.metadata {
            ensure!(!key.is_empty(), "metadata keys cannot be empty");
            ensure!(
                keys.insert(key.as_str()),
                "duplicate metadata key '{}'",
                label(key)
            );
            write_str(&mut out, key);
            out.extend_from_slice(&(value.value_type() as u32).to_le_bytes());
            value.write(&mut out);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            check_tensor(t)?;
            ensure!(
                names.insert(t.name.as_str()),
                "duplicate tensor name '{}'",
                label(&t.name)
            );
            write_str(&mut out, &t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            t.dims
                .iter()
                .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
            out.extend_from_slice(&t.ggml_type.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset = padded(offset, t.data.len() as u64, alignment)?;
        }
        out.resize(padded(0, out.len() as u64, alignment)? as usize, 0);
        Ok(out)
    }

    /// Writes the whole file to `w`; returns the number of bytes written.
    pub fn write_to(&self, w: &mut impl Write) -> Result<u64> {
        self.write_to_replacing(w, |_, _| Ok(None))
    }

    /// [`write_to`](Self::write_to), each tensor's data replaced by what `replace(index, tensor)`
    /// returns (`None`: its own data). A replacement is made just before it is written, so only one
    /// is held at a time (pruning a whole model), and must be the same size as the data it replaces.
    pub fn write_to_replacing(
        &self,
        w: &mut impl Write,
        mut replace: impl FnMut(usize, &NewTensor<'a>) -> Result<Option<Vec<u8>>>,
    ) -> Result<u64> {
        let alignment = self.alignment()?;
        let header = self.header_bytes()?;
        w.write_all(&header)?;
        let mut written = header.len() as u64;
        let zeros = vec![0u8; alignment as usize];
        for (i, t) in self.tensors.iter().enumerate() {
            crate::util::check_interrupted()?;
            let replacement = replace(i, t)?;
            let data = replacement.as_deref().unwrap_or(&t.data);
            ensure!(
                data.len() == t.data.len(),
                "tensor '{}': the replacement is {} bytes, the tensor {}",
                label(&t.name),
                data.len(),
                t.data.len()
            );
            w.write_all(data)?;
            let end = padded(written, t.data.len() as u64, alignment)?;
            let pad = (end - written - t.data.len() as u64) as usize;
            w.write_all(zeros.get(..pad).unwrap_or(&[]))?;
            written = end;
        }
        w.flush()?;
        Ok(written)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Writes to `path` atomically: a temporary file in the same folder, renamed when complete.
    pub fn write(&self, path: &Path) -> Result<u64> {
        let mut file = AtomicFile::create(path)?;
        let written = {
            let mut w = BufWriter::with_capacity(1 << 20, &mut file);
            self.write_to(&mut w)
                .with_context(|| format!("{}: write failed", path.display()))?
        };
        file.commit()?;
        Ok(written)
    }
}

/// Writes an opened file back to `path` with the same metadata and tensors.
pub fn write_back(file: &GgufFile, path: &Path) -> Result<u64> {
    GgufBuilder::from_file(file).write(path)
}

/// `start + len` rounded up to the alignment.
fn padded(start: u64, len: u64, alignment: u64) -> Result<u64> {
    start
        .checked_add(len)
        .and_then(|end| end.checked_next_multiple_of(alignment))
        .context("file size overflows 64 bits")
}

fn check_tensor(t: &NewTensor) -> Result<()> {
    let name = label(&t.name);
    ensure!(
        t.name.len() < MAX_NAME,
        "tensor name '{name}' is {} bytes, at most {} allowed",
        t.name.len(),
        MAX_NAME - 1
    );
    ensure!(
        t.dims.len() <= MAX_DIMS as usize,
        "tensor '{name}' has {} dimensions, at most 4 allowed",
        t.dims.len()
    );
    ensure!(
        t.dims.iter().all(|&d| d >= 1 && d <= i64::MAX as u64),
        "tensor '{name}' has a dimension outside 1..2^63: {:?}",
        t.dims
    );
    let size = t.ggml_type.tensor_bytes(&t.dims).with_context(|| {
        format!(
            "tensor '{name}': shape {:?} does not fit {} blocks",
            t.dims, t.ggml_type
        )
    })?;
    ensure!(
        size == t.data.len() as u64,
        "tensor '{name}': {} {:?} needs {size} bytes, got {}",
        t.ggml_type,
        t.dims,
        t.data.len()
    );
    Ok(())
}
