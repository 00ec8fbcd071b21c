//! A string array kept as one buffer plus end offsets: a 49152-entry vocabulary is two allocations
//! instead of 49152, which keeps opening (and validating) a model fast.

use std::fmt;

use super::cursor::Cursor;
use super::error::{ErrorKind, Fail};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct StrArray {
    text: String,
    ends: Vec<usize>,
}

impl StrArray {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `n` GGUF strings (`n` already checked against the bytes left). UTF-8 is checked once
    /// over all of them: valid as a whole with every item boundary on a char boundary means every
    /// item is valid on its own.
    pub(crate) fn read(cur: &mut Cursor, n: u64) -> Result<StrArray, Fail> {
        let start = cur.clone();
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(n as usize);
        for _ in 0..n {
            bytes.extend_from_slice(cur.raw_str("string")?);
            ends.push(bytes.len());
        }
        match String::from_utf8(bytes) {
            Ok(text) if ends.iter().all(|&e| text.is_char_boundary(e)) => {
                Ok(StrArray { text, ends })
            }
            // Find the bad item again, one by one, to report where it is.
            _ => {
                let mut again = start.clone();
                for _ in 0..n {
                    again.str("string")?;
                }
                Err(start.fail(ErrorKind::NotUtf8("string")))
            }
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { *self.ends.get(i - 1)? };
        self.text.get(start..*self.ends.get(i)?)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// Position of the first item equal to `s` (token lookups in tests and tools).
    pub fn position(&self, s: &str) -> Option<usize> {
        self.iter().position(|x| x == s)
    }
}

impl<S: AsRef<str>> FromIterator<S> for StrArray {
    fn from_iter<I: IntoIterator<Item = S>>(items: I) -> Self {
        let mut a = StrArray::new();
        items.into_iter().for_each(|s| a.push(s.as_ref()));
        a
    }
}

impl fmt::Debug for StrArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
