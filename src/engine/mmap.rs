//! Read-only memory maps, kept here because mapping a file is `unsafe` and this module is the only
//! place allowed to say so.

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
