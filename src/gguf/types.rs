//! The ggml tensor types of the vendored llama.cpp: one table with each type's id, name and block layout.
//!
//! `tests/it/gguf_types.rs` checks every row against llama.cpp's own `ggml_blck_size`/`ggml_type_size`,
//! so when the pinned llama.cpp gains or drops a type that test names the row to change.

use std::fmt;

/// Number of type ids llama.cpp reserves (`GGML_TYPE_COUNT`); ids at or above it are unknown.
pub const GGML_TYPE_COUNT: u32 = 43;

macro_rules! ggml_types {
    ($($variant:ident = $id:literal, $name:literal, $block:literal, $bytes:literal;)*) => {
        /// A ggml tensor type that llama.cpp can load. Retired ids have no variant.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum GgmlType {
            $($variant = $id,)*
        }

        /// Every type, in id order: (type, ggml name, elements per block, bytes per block).
        pub const TABLE: &[(GgmlType, &str, u64, u64)] = &[
            $((GgmlType::$variant, $name, $block, $bytes),)*
        ];

        impl GgmlType {
            pub fn from_id(id: u32) -> Option<GgmlType> {
                match id {
                    $($id => Some(GgmlType::$variant),)*
                    _ => None,
                }
            }

            /// (ggml name, elements per block, bytes per block).
            fn layout(self) -> (&'static str, u64, u64) {
                match self {
                    $(GgmlType::$variant => ($name, $block, $bytes),)*
                }
            }
        }
    };
}

ggml_types! {
    F32 = 0, "f32", 1, 4;
    F16 = 1, "f16", 1, 2;
    Q4_0 = 2, "q4_0", 32, 18;
    Q4_1 = 3, "q4_1", 32, 20;
    Q5_0 = 6, "q5_0", 32, 22;
    Q5_1 = 7, "q5_1", 32, 24;
    Q8_0 = 8, "q8_0", 32, 34;
    Q8_1 = 9, "q8_1", 32, 36;
    Q2_K = 10, "q2_K", 256, 84;
    Q3_K = 11, "q3_K", 256, 110;
    Q4_K = 12, "q4_K", 256, 144;
    Q5_K = 13, "q5_K", 256, 176;
    Q6_K = 14, "q6_K", 256, 210;
    Q8_K = 15, "q8_K", 256, 292;
    IQ2_XXS = 16, "iq2_xxs", 256, 66;
    IQ2_XS = 17, "iq2_xs", 256, 74;
    IQ3_XXS = 18, "iq3_xxs", 256, 98;
    IQ1_S = 19, "iq1_s", 256, 50;
    IQ4_NL = 20, "iq4_nl", 32, 18;
    IQ3_S = 21, "iq3_s", 256, 110;
    IQ2_S = 22, "iq2_s", 256, 82;
    IQ4_XS = 23, "iq4_xs", 256, 136;
    I8 = 24, "i8", 1, 1;
    I16 = 25, "i16", 1, 2;
    I32 = 26, "i32", 1, 4;
    I64 = 27, "i64", 1, 8;
    F64 = 28, "f64", 1, 8;
    IQ1_M = 29, "iq1_m", 256, 56;
    BF16 = 30, "bf16", 1, 2;
    TQ1_0 = 34, "tq1_0", 256, 54;
    TQ2_0 = 35, "tq2_0", 256, 66;
    MXFP4 = 39, "mxfp4", 32, 17;
    NVFP4 = 40, "nvfp4", 64, 36;
    Q1_0 = 41, "q1_0", 128, 18;
    Q2_0 = 42, "q2_0", 64, 18;
}

/// Ids llama.cpp once used and has removed; files carrying them cannot be loaded.
pub const RETIRED: &[(u32, &str)] = &[
    (4, "Q4_2"),
    (5, "Q4_3"),
    (31, "Q4_0_4_4"),
    (32, "Q4_0_4_8"),
    (33, "Q4_0_8_8"),
    (36, "IQ4_NL_4_4"),
    (37, "IQ4_NL_4_8"),
    (38, "IQ4_NL_8_8"),
];

impl GgmlType {
    /// Parses either spelling, `q4_K` (ggml) or `Q4_K` (gguf-py, llama-quantize).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TABLE
            .iter()
            .find(|row| row.1.eq_ignore_ascii_case(name))
            .map(|row| row.0)
    }

    /// The name of a retired id, for error messages.
    pub fn retired_name(id: u32) -> Option<&'static str> {
        RETIRED.iter().find(|r| r.0 == id).map(|r| r.1)
    }

    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().map(|row| row.0)
    }

    pub fn id(self) -> u32 {
        self as u32
    }

    /// ggml's own name, as `ggml_type_name` returns it (`q4_K`).
    pub fn ggml_name(self) -> &'static str {
        self.layout().0
    }

    /// Elements per block.
    pub fn block_size(self) -> u64 {
        self.layout().1
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        self.layout().2
    }

    /// Storage cost per weight, scales included (Q4_K: 144 bytes per 256 weights = 4.5).
    pub fn bits_per_weight(self) -> f64 {
        (self.block_bytes() * 8) as f64 / self.block_size() as f64
    }

    /// Whether the type is block-quantized (as opposed to plain floats and integers).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes of one row of `ne0` elements; `None` when `ne0` is not a whole number of blocks.
    pub fn row_bytes(self, ne0: u64) -> Option<u64> {
        if !ne0.is_multiple_of(self.block_size()) {
            return None;
        }
        (ne0 / self.block_size()).checked_mul(self.block_bytes())
    }

    /// Bytes of a tensor with these dimensions; `None` on a partial block or overflow.
    pub fn tensor_bytes(self, dims: &[u64]) -> Option<u64> {
        let (&ne0, rest) = dims.split_first().unwrap_or((&1, &[]));
        rest.iter()
            .try_fold(self.row_bytes(ne0)?, |acc, &d| acc.checked_mul(d))
    }
}

/// Upper-case name as llama-quantize and gguf-py print it (`Q4_K`, `IQ2_XXS`, `BF16`).
impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.ggml_name().chars() {
            write!(f, "{}", c.to_ascii_uppercase())?;
        }
        Ok(())
    }
}

impl serde::Serialize for GgmlType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GgmlType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        GgmlType::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown ggml type '{name}'")))
    }
}
