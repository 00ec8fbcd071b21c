//! Helpers for the GGUF tests: the real model's path and a raw byte writer for crafting files
//! (including broken ones the library's own writer would refuse to produce).
#![allow(dead_code)]

use byteorder::{WriteBytesExt, LE};

/// Little-endian bytes, built up field by field.
#[derive(Clone, Default)]
pub struct Raw(pub Vec<u8>);

impl Raw {
    /// Magic, version and the two counts.
    pub fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        Raw::default()
            .bytes(b"GGUF")
            .u32(version)
            .u64(n_tensors)
            .u64(n_kv)
    }
    pub fn bytes(mut self, b: &[u8]) -> Raw {
        self.0.extend_from_slice(b);
        self
    }
    pub fn u8(mut self, v: u8) -> Raw {
        self.0.push(v);
        self
    }
    pub fn u32(mut self, v: u32) -> Raw {
        self.0.write_u32::<LE>(v).unwrap();
        self
    }
    pub fn u64(mut self, v: u64) -> Raw {
        self.0.write_u64::<LE>(v).unwrap();
        self
    }
    /// A GGUF string: u64 length, then the bytes.
    pub fn str(self, s: &[u8]) -> Raw {
        self.u64(s.len() as u64).bytes(s)
    }
    pub fn kv_u32(self, key: &str, v: u32) -> Raw {
        self.str(key.as_bytes()).u32(4).u32(v)
    }
    pub fn kv_str(self, key: &str, v: &str) -> Raw {
        self.str(key.as_bytes()).u32(8).str(v.as_bytes())
    }
    /// Tensor info: name, dims, ggml type id, data offset.
    pub fn tensor(self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Raw {
        let mut r = self.str(name.as_bytes()).u32(dims.len() as u32);
        for &d in dims {
            r = r.u64(d);
        }
        r.u32(ty).u64(offset)
    }
    /// Zero bytes up to the next multiple of `align`.
    pub fn pad(mut self, align: usize) -> Raw {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }
    pub fn zeros(mut self, n: usize) -> Raw {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A small valid file: one string key, one F32 tensor of 32 values.
pub fn minimal() -> Raw {
    Raw::header(3, 1, 1)
        .kv_str("general.architecture", "llama")
        .tensor("t", &[32], 0, 0)
        .pad(32)
        .zeros(128)
}
