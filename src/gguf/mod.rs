//! Native GGUF: read (validating every length against the file), write, and summarise.
//!
//! Safe code only: the reader validates bytes it is handed ([`GgufFile::from_map`],
//! [`GgufFile::from_bytes`]). Opening a file from disk maps it, which is `unsafe`, so that lives in
//! `engine::open_gguf`; this module imports nothing from `engine`.

mod cursor;
pub mod error;
pub mod reader;
pub mod show;
pub mod strings;
pub mod summary;
pub mod synth;
pub mod types;
pub mod value;
pub mod writer;

pub use error::{ErrorKind, GgufError};
pub use reader::{GgufFile, TensorInfo, DEFAULT_ALIGNMENT};
pub use strings::StrArray;
pub use summary::Summary;
pub use types::GgmlType;
pub use value::{Array, Value, ValueType};
pub use writer::GgufBuilder;
