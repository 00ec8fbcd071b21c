//! A bounds-checked little-endian reader over the mapped file: every read says how many bytes it
//! needs first, so nothing is allocated or sliced on the word of a length field alone.

use byteorder::{ByteOrder, LittleEndian as LE};

use super::error::{ErrorKind, Fail};

#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn pos(&self) -> u64 {
        self.pos as u64
    }

    pub fn left(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    pub fn fail(&self, kind: ErrorKind) -> Fail {
        Fail::new(self.pos(), kind)
    }

    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], Fail> {
        let truncated = || {
            Fail::new(
                self.pos as u64,
                ErrorKind::Truncated {
                    what,
                    need: n,
                    left: self.left(),
                },
            )
        };
        let n = usize::try_from(n).map_err(|_| truncated())?;
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, Fail> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, Fail> {
        Ok(LE::read_u32(self.take(4, what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, Fail> {
        Ok(LE::read_u64(self.take(8, what)?))
    }

    /// Reads a count of items that each take at least `min_item_bytes`, refusing counts the rest of
    /// the file could not hold. The error points at the count field itself.
    pub fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<u64, Fail> {
        let at = self.pos();
        let count = self.u64(what)?;
        match count.checked_mul(min_item_bytes) {
            Some(need) if need <= self.left() => Ok(count),
            _ => Err(Fail::new(at, ErrorKind::TooLarge { what, count })),
        }
    }

    /// A GGUF string: u64 byte length, then UTF-8 bytes (no terminator).
    pub fn str(&mut self, what: &'static str) -> Result<&'a str, Fail> {
        let at = self.pos();
        let bytes = self.raw_str(what)?;
        std::str::from_utf8(bytes).map_err(|_| Fail::new(at, ErrorKind::NotUtf8(what)))
    }

    /// The bytes of a GGUF string, not yet checked to be UTF-8.
    pub fn raw_str(&mut self, what: &'static str) -> Result<&'a [u8], Fail> {
        let at = self.pos();
        let len = self.u64(what)?;
        if len > self.left() {
            return Err(Fail::new(at, ErrorKind::StrTooLong { what, len }));
        }
        self.take(len, what)
    }
}
