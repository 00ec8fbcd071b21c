//! Reading a GGUF file: header, metadata and tensor infos are parsed and checked up front; tensor
//! data stays in the bytes handed in (a memory map made by `engine::open_gguf`, or a buffer) and is
//! only sliced on request.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cursor::Cursor;
use super::error::{ErrorKind, Fail, GgufError};
use super::types::GgmlType;
use super::value::{Value, ValueType};

pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
pub const MAX_DIMS: u32 = 4;
/// llama.cpp's `GGML_MAX_NAME`: names must be shorter than this (it keeps a NUL terminator).
pub const MAX_NAME: usize = 64;

/// One tensor as the file describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ggml_type: GgmlType,
    /// ggml order: `dims[0]` is the row length (the contiguous dimension).
    pub dims: Vec<u64>,
    /// Byte offset of the data, relative to the start of the data section.
    pub offset: u64,
    /// Bytes of data (`GgmlType::tensor_bytes` of the dims).
    #[serde(rename = "bytes")]
    pub size: u64,
}

impl TensorInfo {
    pub fn type_id(&self) -> u32 {
        self.ggml_type.id()
    }

    /// Number of weights (checked not to overflow when the file was read).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// The `N` of a `blk.N.` name: which transformer layer the tensor belongs to.
    pub fn layer(&self) -> Option<u32> {
        self.name
            .strip_prefix("blk.")?
            .split('.')
            .next()?
            .parse()
            .ok()
    }
}

/// The mapped file, or bytes already in memory (synthetic files, tests).
enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A validated GGUF file.
pub struct GgufFile {
    path: PathBuf,
    bytes: Bytes,
    parsed: Parsed,
    keys: HashMap<String, usize>,
    names: HashMap<String, usize>,
}

struct Parsed {
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
}

impl GgufFile {
    /// Validates a file already mapped by the caller (`engine::open_gguf` maps it; mapping is
    /// `unsafe`, so it is not done here). `path` names the file in errors and in [`Self::path`].
    pub fn from_map(path: impl Into<PathBuf>, map: memmap2::Mmap) -> Result<GgufFile, GgufError> {
        Self::build(path.into(), Bytes::Map(map))
    }

    /// Validates bytes already in memory; `path` is only used to name the file in errors.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::build(path.into(), Bytes::Owned(bytes))
    }

    /// Validates without keeping anything: what `from_bytes` checks, for bytes in memory.
    pub fn check_bytes(path: &Path, bytes: &[u8]) -> Result<(), GgufError> {
        parse(bytes)
            .map(|_| ())
            .map_err(|f| GgufError::from_fail(path, f))
    }

    fn build(path: PathBuf, bytes: Bytes) -> Result<GgufFile, GgufError> {
        let parsed = parse(&bytes).map_err(|f| GgufError::from_fail(&path, f))?;
        let keys = parsed
            .metadata
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        let names = parsed
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(GgufFile {
            path,
            bytes,
            parsed,
            keys,
            names,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn version(&self) -> u32 {
        self.parsed.version
    }

    pub fn alignment(&self) -> u64 {
        self.parsed.alignment
    }

    /// Absolute position of the data section (tensor offsets are relative to it).
    pub fn data_offset(&self) -> u64 {
        self.parsed.data_offset
    }

    pub fn file_size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// All key-value pairs in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.parsed.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.keys
            .get(key)
            .and_then(|&i| self.parsed.metadata.get(i))
            .map(|(_, v)| v)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }

    /// `general.architecture` (`llama`, `qwen2`, …).
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// `general.name`.
    pub fn name(&self) -> Option<&str> {
        self.get_str("general.name")
    }

    /// An architecture-specific integer such as `block_count` (reads `llama.block_count`).
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        self.get_u64(&format!("{}.{suffix}", self.architecture()?))
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.parsed.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.names
            .get(name)
            .and_then(|&i| self.parsed.tensors.get(i))
    }

    /// The tensor's bytes, borrowed from the map (empty for a tensor that is not from this file).
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let start = self
            .parsed
            .data_offset
            .checked_add(t.offset)
            .and_then(|s| usize::try_from(s).ok());
        let end = start.and_then(|s| s.checked_add(usize::try_from(t.size).ok()?));
        match (start, end) {
            (Some(s), Some(e)) => self.bytes.get(s..e).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Total number of weights.
    pub fn parameter_count(&self) -> u64 {
        self.tensors().iter().map(|t| t.n_elements()).sum()
    }

    /// Total bytes of tensor data (without padding).
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors().iter().map(|t| t.size).sum()
    }
}

/// A name for error messages: escaped onto one line and cut if long.
pub(crate) fn label(s: &str) -> String {
    let escaped = super::show::escape(s);
    match escaped.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped,
    }
}

fn parse(bytes: &[u8]) -> Result<Parsed, Fail> {
    let mut cur = Cursor::new(bytes);
    let head = bytes.get(..4).unwrap_or(bytes);
    if !GGUF_MAGIC.starts_with(head) {
        return Err(Fail::new(
            0,
            ErrorKind::BadMagic(format!("\"{}\"", head.escape_ascii())),
        ));
    }
    cur.take(4, "the magic")?;
    let version = cur.u32("the version")?;
    match version {
        2 | 3 => {}
        v if v & 0xFFFF == 0 => return Err(Fail::new(4, ErrorKind::BigEndian(v))),
        v => return Err(Fail::new(4, ErrorKind::UnsupportedVersion(v))),
    }
    // Smallest tensor info: name length, n_dims, type, offset. Smallest pair: key of 1 byte, type, u8.
    let n_tensors = cur.count("tensor count", 8 + 4 + 4 + 8)?;
    let n_kv = cur.count("metadata count", 8 + 1 + 4 + 1)?;

    let (metadata, alignment) = read_metadata(&mut cur, n_kv)?;
    let (tensors, offset_fields) = read_tensor_infos(&mut cur, n_tensors)?;

    // The data section starts at the next multiple of the alignment.
    let end = cur.pos();
    let padded = end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| cur.fail(ErrorKind::Overflow("data section offset")))?;
    let file_len = bytes.len() as u64;
    let data_offset = if padded <= file_len || n_tensors == 0 {
        padded.min(file_len)
    } else {
        let need = padded - end;
        return Err(cur.fail(ErrorKind::Truncated {
            what: "the padding before tensor data",
            need,
            left: cur.left(),
        }));
    };
    check_extents(&tensors, &offset_fields, alignment, file_len - data_offset)?;
    Ok(Parsed {
        version,
        alignment,
        data_offset,
        metadata,
        tensors,
    })
}

fn read_metadata(cur: &mut Cursor, n_kv: u64) -> Result<(Vec<(String, Value)>, u64), Fail> {
    let mut metadata = Vec::with_capacity(n_kv as usize); // bounded by `count`'s check
    let mut seen = HashMap::with_capacity(n_kv as usize);
    let mut alignment = DEFAULT_ALIGNMENT;
    for i in 0..n_kv {
        let at = cur.pos();
        let key = cur
            .str("key")
            .map_err(|f| f.within(|| format!("metadata pair #{i}")))?;
        let ctx = || format!("key '{}'", label(key));
        if key.is_empty() {
            return Err(
                Fail::new(at, ErrorKind::Empty("key")).within(|| format!("metadata pair #{i}"))
            );
        }
        if seen.insert(key, at).is_some() {
            return Err(Fail::new(at, ErrorKind::DuplicateKey).within(ctx));
        }
        let type_at = cur.pos();
        let id = cur.u32("value type").map_err(|f| f.within(ctx))?;
        let ty = ValueType::from_id(id)
            .ok_or_else(|| Fail::new(type_at, ErrorKind::UnknownValueType(id)).within(ctx))?;
        let value = Value::read(cur, ty, 0).map_err(|f| f.within(ctx))?;
        if key == "general.alignment" {
            alignment = match value {
                Value::U32(a) if a.is_power_of_two() => a.into(),
                Value::U32(a) => {
                    return Err(Fail::new(type_at, ErrorKind::BadAlignment(a.into())).within(ctx))
                }
                _ => {
                    return Err(Fail::new(type_at, ErrorKind::AlignmentType(ty.name())).within(ctx))
                }
            };
        }
        metadata.push((key.to_owned(), value));
    }
    Ok((metadata, alignment))
}

/// Reads the tensor infos; also returns where each one's offset field is, for later errors.
fn read_tensor_infos(cur: &mut Cursor, n: u64) -> Result<(Vec<TensorInfo>, Vec<u64>), Fail> {
    let mut tensors = Vec::with_capacity(n as usize); // bounded by `count`'s check
    let mut offset_fields = Vec::with_capacity(n as usize);
    let mut seen = HashMap::with_capacity(n as usize);
    for i in 0..n {
        let at = cur.pos();
        let name = cur
            .str("tensor name")
            .map_err(|f| f.within(|| format!("tensor #{i}")))?;
        let ctx = || format!("tensor '{}'", label(name));
        if name.len() >= MAX_NAME {
            return Err(Fail::new(at, ErrorKind::NameTooLong(name.len())).within(ctx));
        }
        if seen.insert(name, i).is_some() {
            return Err(Fail::new(at, ErrorKind::DuplicateTensor).within(ctx));
        }
        let (ggml_type, dims) = read_shape(cur).map_err(|f| f.within(ctx))?;
        let at = cur.pos();
        let size = ggml_type
            .tensor_bytes(&dims)
            .ok_or_else(|| Fail::new(at, ErrorKind::Overflow("tensor size")).within(ctx))?;
        offset_fields.push(cur.pos());
        let offset = cur.u64("tensor data offset").map_err(|f| f.within(ctx))?;
        tensors.push(TensorInfo {
            name: name.to_owned(),
            ggml_type,
            dims,
            offset,
            size,
        });
    }
    Ok((tensors, offset_fields))
}

/// Number of dimensions, the dimensions, and the ggml type.
fn read_shape(cur: &mut Cursor) -> Result<(GgmlType, Vec<u64>), Fail> {
    let at = cur.pos();
    let n_dims = cur.u32("number of dimensions")?;
    if n_dims > MAX_DIMS {
        return Err(Fail::new(at, ErrorKind::TooManyDims(n_dims)));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    let mut elements: i64 = 1;
    for index in 0..n_dims as usize {
        let at = cur.pos();
        let d = cur.u64("dimension")?;
        // Dimensions are signed in ggml; a u64 above i64::MAX is a negative number there.
        let signed = d as i64;
        if signed <= 0 {
            return Err(Fail::new(
                at,
                ErrorKind::BadDim {
                    index,
                    value: signed,
                },
            ));
        }
        elements = elements
            .checked_mul(signed)
            .ok_or_else(|| Fail::new(at, ErrorKind::Overflow("element count")))?;
        dims.push(d);
    }
    let at = cur.pos();
    let id = cur.u32("tensor type")?;
    let ggml_type = GgmlType::from_id(id).ok_or_else(|| {
        let kind = match GgmlType::retired_name(id) {
            Some(name) => ErrorKind::RetiredTensorType { id, name },
            None => ErrorKind::UnknownTensorType(id),
        };
        Fail::new(at, kind)
    })?;
    let ne0 = dims.first().copied().unwrap_or(1);
    let block = ggml_type.block_size();
    if ne0 % block != 0 {
        return Err(Fail::new(
            at,
            ErrorKind::PartialBlock {
                ne0,
                ty: ggml_type,
                block,
            },
        ));
    }
    Ok((ggml_type, dims))
}

/// Every tensor's data must be aligned, inside the data section, and not shared with another tensor.
fn check_extents(
    tensors: &[TensorInfo],
    fields: &[u64],
    alignment: u64,
    data_size: u64,
) -> Result<(), Fail> {
    let fail = |i: usize, kind| {
        Fail::new(fields.get(i).copied().unwrap_or(0), kind).within(|| tensor_ctx(tensors, i))
    };
    for (i, t) in tensors.iter().enumerate() {
        if t.offset % alignment != 0 {
            return Err(fail(
                i,
                ErrorKind::Misaligned {
                    offset: t.offset,
                    alignment,
                },
            ));
        }
        let end = t
            .offset
            .checked_add(t.size)
            .ok_or_else(|| fail(i, ErrorKind::Overflow("tensor data end")))?;
        if end > data_size {
            return Err(fail(
                i,
                ErrorKind::OutOfBounds {
                    start: t.offset,
                    end,
                    size: data_size,
                },
            ));
        }
    }
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by_key(|&i| tensors.get(i).map(|t| (t.offset, t.size)));
    for pair in order.windows(2) {
        if let (Some(a), Some(b)) = (tensors.get(pair[0]), tensors.get(pair[1])) {
            if b.offset < a.offset + a.size {
                let other = label(&a.name);
                return Err(fail(
                    pair[1],
                    ErrorKind::Overlap {
                        start: b.offset,
                        end: b.offset + b.size,
                        other,
                    },
                ));
            }
        }
    }
    Ok(())
}

fn tensor_ctx(tensors: &[TensorInfo], i: usize) -> String {
    tensors
        .get(i)
        .map(|t| format!("tensor '{}'", label(&t.name)))
        .unwrap_or_default()
}
