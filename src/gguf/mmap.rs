//! Read-only memory maps of GGUF files. Mapping a file is `unsafe`; it is kept in this one small
//! module (the only `unsafe` outside `engine`) so that the native format code needs nothing of the
//! llama.cpp wrapper: `engine` may use `gguf`, never the reverse.

use std::fs::File;
use std::io;

/// Maps the whole file read-only.
///
/// The map stays valid while it lives; if another process truncates or rewrites the file meanwhile,
/// reads through it may see the new bytes or fault. Model files are not edited in place by our
/// tools (writers go through a temporary file and a rename), which is what makes this acceptable.
pub fn map_file(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and owned by the caller; see the note above on concurrent edits.
    unsafe { memmap2::Mmap::map(file) }
}
