//! Metadata values: the 13 GGUF value types, read and written in their on-disk encoding.
//!
//! Arrays keep their elements in typed vectors (a `u8` array is a `Vec<u8>`, not a vector of
//! enums), so memory stays proportional to the bytes the file really has.

use byteorder::{ByteOrder, LittleEndian as LE};

use super::cursor::Cursor;
use super::error::{ErrorKind, Fail};
use super::strings::StrArray;

/// Arrays inside arrays deeper than this are refused (each level would be a stack frame).
pub const MAX_ARRAY_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        [
            U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64,
        ]
        .get(id as usize)
        .copied()
    }

    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// Smallest encoding of one value of this type (strings: the length; arrays: type and count).
    fn min_bytes(self) -> u64 {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A homogeneous array; nested arrays may each have their own element type.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(StrArray),
    Array(Vec<Array>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

/// Applies the same expression to the vector inside any array variant.
macro_rules! each_array {
    ($arr:expr, $v:ident => $body:expr) => {
        match $arr {
            Array::U8($v) => $body,
            Array::I8($v) => $body,
            Array::U16($v) => $body,
            Array::I16($v) => $body,
            Array::U32($v) => $body,
            Array::I32($v) => $body,
            Array::F32($v) => $body,
            Array::Bool($v) => $body,
            Array::String($v) => $body,
            Array::Array($v) => $body,
            Array::U64($v) => $body,
            Array::I64($v) => $body,
            Array::F64($v) => $body,
        }
    };
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// Any integer that is not negative, whatever its width on disk.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// Any number, as a float.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            Value::U64(v) => Some(v as f64),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Reads a value of type `ty` (the type id has already been read).
    pub(crate) fn read(cur: &mut Cursor, ty: ValueType, depth: usize) -> Result<Value, Fail> {
        Ok(match ty {
            ValueType::U8 => Value::U8(cur.u8("u8 value")?),
            ValueType::I8 => Value::I8(cur.u8("i8 value")? as i8),
            ValueType::U16 => Value::U16(LE::read_u16(cur.take(2, "u16 value")?)),
            ValueType::I16 => Value::I16(LE::read_i16(cur.take(2, "i16 value")?)),
            ValueType::U32 => Value::U32(cur.u32("u32 value")?),
            ValueType::I32 => Value::I32(LE::read_i32(cur.take(4, "i32 value")?)),
            ValueType::F32 => Value::F32(LE::read_f32(cur.take(4, "f32 value")?)),
            ValueType::Bool => Value::Bool(cur.u8("bool value")? != 0),
            ValueType::String => Value::String(cur.str("string")?.to_owned()),
            ValueType::Array => Value::Array(Array::read(cur, depth)?),
            ValueType::U64 => Value::U64(cur.u64("u64 value")?),
            ValueType::I64 => Value::I64(LE::read_i64(cur.take(8, "i64 value")?)),
            ValueType::F64 => Value::F64(LE::read_f64(cur.take(8, "f64 value")?)),
        })
    }

    /// Appends the encoding that [`Value::read`] reads (without the type id).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::U8(v) => out.push(*v),
            Value::I8(v) => out.push(*v as u8),
            Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Bool(v) => out.push(u8::from(*v)),
            Value::String(s) => write_str(out, s),
            Value::Array(a) => a.write(out),
            Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Decodes `count` fixed-size items after checking the file holds them all.
fn fixed<T>(
    cur: &mut Cursor,
    count: u64,
    size: u64,
    decode: fn(&[u8]) -> T,
) -> Result<Vec<T>, Fail> {
    let bytes = cur.take(count * size, "array items")?; // count * size was checked by `Cursor::count`
    Ok(bytes.chunks_exact(size as usize).map(decode).collect())
}

impl Array {
    pub fn elem_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::Array(_) => ValueType::Array,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
        }
    }

    pub fn len(&self) -> usize {
        each_array!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as a value of its own (copied).
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(v) => Value::U8(*v.get(i)?),
            Array::I8(v) => Value::I8(*v.get(i)?),
            Array::U16(v) => Value::U16(*v.get(i)?),
            Array::I16(v) => Value::I16(*v.get(i)?),
            Array::U32(v) => Value::U32(*v.get(i)?),
            Array::I32(v) => Value::I32(*v.get(i)?),
            Array::F32(v) => Value::F32(*v.get(i)?),
            Array::Bool(v) => Value::Bool(*v.get(i)?),
            Array::String(v) => Value::String(v.get(i)?.to_owned()),
            Array::Array(v) => Value::Array(v.get(i)?.clone()),
            Array::U64(v) => Value::U64(*v.get(i)?),
            Array::I64(v) => Value::I64(*v.get(i)?),
            Array::F64(v) => Value::F64(*v.get(i)?),
        })
    }

    pub fn as_strings(&self) -> Option<&StrArray> {
        match self {
            Array::String(v) => Some(v),
            _ => None,
        }
    }

    /// Reads element type, count and elements.
    pub(crate) fn read(cur: &mut Cursor, depth: usize) -> Result<Array, Fail> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(cur.fail(ErrorKind::TooDeep(MAX_ARRAY_DEPTH)));
        }
        let at = cur.pos();
        let id = cur.u32("array element type")?;
        let ty =
            ValueType::from_id(id).ok_or_else(|| Fail::new(at, ErrorKind::UnknownValueType(id)))?;
        let n = cur.count("array length", ty.min_bytes())?;
        Ok(match ty {
            ValueType::U8 => Array::U8(cur.take(n, "array items")?.to_vec()),
            ValueType::I8 => Array::I8(fixed(cur, n, 1, |b| b[0] as i8)?),
            ValueType::Bool => Array::Bool(fixed(cur, n, 1, |b| b[0] != 0)?),
            ValueType::U16 => Array::U16(fixed(cur, n, 2, LE::read_u16)?),
            ValueType::I16 => Array::I16(fixed(cur, n, 2, LE::read_i16)?),
            ValueType::U32 => Array::U32(fixed(cur, n, 4, LE::read_u32)?),
            ValueType::I32 => Array::I32(fixed(cur, n, 4, LE::read_i32)?),
            ValueType::F32 => Array::F32(fixed(cur, n, 4, LE::read_f32)?),
            ValueType::U64 => Array::U64(fixed(cur, n, 8, LE::read_u64)?),
            ValueType::I64 => Array::I64(fixed(cur, n, 8, LE::read_i64)?),
            ValueType::F64 => Array::F64(fixed(cur, n, 8, LE::read_f64)?),
            ValueType::String => Array::String(StrArray::read(cur, n)?),
            // The count check bounds this allocation by the bytes left in the file.
            ValueType::Array => {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(Array::read(cur, depth + 1)?);
                }
                Array::Array(v)
            }
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.elem_type() as u32).to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        match self {
            Array::U8(v) => out.extend_from_slice(v),
            Array::String(v) => v.iter().for_each(|s| write_str(out, s)),
            Array::Array(v) => v.iter().for_each(|a| a.write(out)),
            _ => (0..self.len())
                .filter_map(|i| self.get(i))
                .for_each(|x| x.write(out)),
        }
    }
}

macro_rules! from_scalar {
    ($($t:ty => $variant:ident),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(v)
            }
        }
        impl From<Vec<$t>> for Value {
            fn from(v: Vec<$t>) -> Value {
                Value::Array(Array::$variant(v))
            }
        }
    )*};
}

from_scalar!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, u64 => U64, i64 => I64, f64 => F64);

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::String(v)
    }
}

impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Value {
        Value::Array(Array::String(v.into_iter().collect()))
    }
}

impl From<StrArray> for Value {
    fn from(v: StrArray) -> Value {
        Value::Array(Array::String(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::String(v.to_owned())
    }
}

impl From<Array> for Value {
    fn from(v: Array) -> Value {
        Value::Array(v)
    }
}
