//! Errors from reading a GGUF file: always one line naming the file, what is wrong and where.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What is wrong with a file. The position and the file name live in [`GgufError`].
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot read the file: {0}")]
    Io(io::Error),
    #[error("not a regular file")]
    NotAFile,
    #[error("not a GGUF file (starts with {0}, expected \"GGUF\")")]
    BadMagic(String),
    #[error("GGUF version {0} is not supported (this reader handles versions 2 and 3)")]
    UnsupportedVersion(u32),
    #[error("GGUF version field {0:#010x} looks byte-swapped: big-endian files are not supported")]
    BigEndian(u32),
    #[error("the file ends while reading {what}: needs {need} bytes, {left} left")]
    Truncated {
        what: &'static str,
        need: u64,
        left: u64,
    },
    #[error("{what} {count} needs more bytes than the file has")]
    TooLarge { what: &'static str, count: u64 },
    #[error("{what} length {len} needs more bytes than the file has")]
    StrTooLong { what: &'static str, len: u64 },
    #[error("{0} overflows 64 bits")]
    Overflow(&'static str),
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("unknown metadata value type {0}")]
    UnknownValueType(u32),
    #[error("arrays nested more than {0} deep")]
    TooDeep(usize),
    #[error("duplicate metadata key")]
    DuplicateKey,
    #[error("general.alignment must be a u32, not {0}")]
    AlignmentType(&'static str),
    #[error("alignment {0} is not a nonzero power of two")]
    BadAlignment(u64),
    #[error("unknown ggml type {0}")]
    UnknownTensorType(u32),
    #[error("ggml type {id} ({name}) has been removed from llama.cpp")]
    RetiredTensorType { id: u32, name: &'static str },
    #[error("{0} dimensions, at most 4 are allowed")]
    TooManyDims(u32),
    #[error("dimension {index} is {value}, must be at least 1")]
    BadDim { index: usize, value: i64 },
    #[error("{ne0} elements per row is not a multiple of the {ty} block size {block}")]
    PartialBlock {
        ne0: u64,
        ty: super::GgmlType,
        block: u64,
    },
    #[error("duplicate tensor name")]
    DuplicateTensor,
    #[error("name is {0} bytes long, llama.cpp allows at most 63")]
    NameTooLong(usize),
    #[error("data offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned { offset: u64, alignment: u64 },
    #[error("data at {start}..{end} lies outside the {size}-byte data section")]
    OutOfBounds { start: u64, end: u64, size: u64 },
    #[error("data at {start}..{end} overlaps tensor '{other}'")]
    Overlap { start: u64, end: u64, other: String },
}

/// A failure inside the parser: what and where, before the file name is attached.
#[derive(Debug)]
pub(crate) struct Fail {
    pub offset: u64,
    pub context: Option<String>,
    pub kind: ErrorKind,
}

impl Fail {
    pub fn new(offset: u64, kind: ErrorKind) -> Self {
        Fail {
            offset,
            context: None,
            kind,
        }
    }

    /// Names the item being read (`key 'general.name'`, `tensor 'output.weight'`) unless an inner
    /// reader already did.
    pub fn within(mut self, context: impl FnOnce() -> String) -> Self {
        self.context.get_or_insert_with(context);
        self
    }
}

/// The error every GGUF read returns. Displays as one line:
/// `model.gguf: tensor 'blk.0.attn_q.weight': dimension 1 is 0, must be at least 1 (offset 1234)`.
#[derive(Debug)]
pub struct GgufError {
    pub path: PathBuf,
    /// Byte position in the file where the problem was found (`None` for open/read failures).
    pub offset: Option<u64>,
    /// The item being read, if any.
    pub context: Option<String>,
    pub kind: ErrorKind,
}

impl GgufError {
    pub(crate) fn io(path: &Path, err: io::Error) -> Self {
        GgufError {
            path: path.to_path_buf(),
            offset: None,
            context: None,
            kind: ErrorKind::Io(err),
        }
    }

    pub(crate) fn not_a_file(path: &Path) -> Self {
        GgufError {
            path: path.to_path_buf(),
            offset: None,
            context: None,
            kind: ErrorKind::NotAFile,
        }
    }

    pub(crate) fn from_fail(path: &Path, fail: Fail) -> Self {
        GgufError {
            path: path.to_path_buf(),
            offset: Some(fail.offset),
            context: fail.context,
            kind: fail.kind,
        }
    }
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        if let Some(ctx) = &self.context {
            write!(f, "{ctx}: ")?;
        }
        // Keep it on one line whatever an OS message contains.
        let kind = self.kind.to_string().replace(['\n', '\r'], " ");
        write!(f, "{kind}")?;
        if let Some(offset) = self.offset {
            write!(f, " (offset {offset})")?;
        }
        Ok(())
    }
}

// No `source()`: the Display line already says everything, and the CLI prints the whole chain.
impl std::error::Error for GgufError {}
