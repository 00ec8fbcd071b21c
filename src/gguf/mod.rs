//! Native GGUF: read (validating every length against the file), write, and summarise.
//!
//! [`GgufFile::open`] is what every command calls before handing a file to llama.cpp, which may
//! abort the whole process on a malformed file instead of returning an error.

mod cursor;
pub mod error;
mod mmap;
pub mod reader;
pub mod show;
pub mod strings;
pub mod summary;
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
