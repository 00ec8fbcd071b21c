//! Every quantization target the vendored llama.cpp accepts (llama-quantize's list), in one table.

use serde::Serialize;

/// How a target is built, for ladder presets and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Block quantization with one scale (and offset) per 32 weights: Q4_0, Q5_1, Q8_0, …
    Legacy,
    /// K-quants: super-blocks of 256 with quantized scales, mixed per tensor by the ftype.
    K,
    /// I-quants: lattice/non-linear codebooks; the smallest need an importance matrix.
    Iq,
    /// Ternary: TQ1_0, TQ2_0.
    Ternary,
    /// Microscaling FP4 for MoE experts.
    Mxfp,
    /// Unquantized: F32, F16, BF16.
    Float,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuantType {
    /// Name as llama-quantize spells it.
    pub name: &'static str,
    /// `llama_ftype` id.
    pub ftype: u32,
    /// ggml type id most tensors get (`llama_ftype_get_default_type`).
    pub default_ggml_type: u32,
    /// The bit width the type is filed under (the columns of Table 5).
    pub bits: u32,
    /// Whether llama.cpp refuses to make it without an importance matrix.
    pub needs_imatrix: bool,
    pub family: Family,
    /// Other names llama-quantize accepts for it.
    pub aliases: &'static [&'static str],
    /// llama-quantize's own one-line description.
    pub description: &'static str,
}

macro_rules! q {
    ($name:literal, $ftype:expr, $ggml:expr, $bits:expr, $imat:expr, $fam:ident, [$($alias:literal),*], $desc:literal) => {
        QuantType { name: $name, ftype: $ftype, default_ggml_type: $ggml, bits: $bits, needs_imatrix: $imat,
            family: Family::$fam, aliases: &[$($alias),*], description: $desc }
    };
}

/// ggml type ids (`enum ggml_type`) used as default types below.
mod ggml {
    pub const F32: u32 = 0;
    pub const F16: u32 = 1;
    pub const Q4_0: u32 = 2;
    pub const Q4_1: u32 = 3;
    pub const Q5_0: u32 = 6;
    pub const Q5_1: u32 = 7;
    pub const Q8_0: u32 = 8;
    pub const Q2_K: u32 = 10;
    pub const Q3_K: u32 = 11;
    pub const Q4_K: u32 = 12;
    pub const Q5_K: u32 = 13;
    pub const Q6_K: u32 = 14;
    pub const IQ2_XXS: u32 = 16;
    pub const IQ2_XS: u32 = 17;
    pub const IQ3_XXS: u32 = 18;
    pub const IQ1_S: u32 = 19;
    pub const IQ4_NL: u32 = 20;
    pub const IQ3_S: u32 = 21;
    pub const IQ2_S: u32 = 22;
    pub const IQ4_XS: u32 = 23;
    pub const IQ1_M: u32 = 29;
    pub const BF16: u32 = 30;
    pub const TQ1_0: u32 = 34;
    pub const TQ2_0: u32 = 35;
    pub const MXFP4: u32 = 39;
    pub const Q1_0: u32 = 41;
    pub const Q2_0: u32 = 42;
}

/// The table. Order: by bit width, then as llama-quantize lists them.
pub const QUANT_TYPES: &[QuantType] = &[
    q!(
        "IQ1_S",
        24,
        ggml::IQ1_S,
        1,
        true,
        Iq,
        [],
        "1.56 bpw quantization"
    ),
    q!(
        "IQ1_M",
        31,
        ggml::IQ1_M,
        1,
        true,
        Iq,
        [],
        "1.75 bpw quantization"
    ),
    q!(
        "TQ1_0",
        36,
        ggml::TQ1_0,
        1,
        false,
        Ternary,
        [],
        "1.69 bpw ternarization"
    ),
    q!(
        "Q1_0",
        40,
        ggml::Q1_0,
        1,
        false,
        Legacy,
        [],
        "1.125 bpw quantization"
    ),
    q!(
        "IQ2_XXS",
        19,
        ggml::IQ2_XXS,
        2,
        true,
        Iq,
        [],
        "2.06 bpw quantization"
    ),
    q!(
        "IQ2_XS",
        20,
        ggml::IQ2_XS,
        2,
        true,
        Iq,
        [],
        "2.31 bpw quantization"
    ),
    q!(
        "IQ2_S",
        28,
        ggml::IQ2_XS,
        2,
        true,
        Iq,
        [],
        "2.5 bpw quantization"
    ),
    q!(
        "IQ2_M",
        29,
        ggml::IQ2_S,
        2,
        true,
        Iq,
        [],
        "2.7 bpw quantization"
    ),
    q!(
        "TQ2_0",
        37,
        ggml::TQ2_0,
        2,
        false,
        Ternary,
        [],
        "2.06 bpw ternarization"
    ),
    q!(
        "Q2_0",
        41,
        ggml::Q2_0,
        2,
        false,
        Legacy,
        [],
        "2.25 bpw quantization (group 64)"
    ),
    q!(
        "Q2_K",
        10,
        ggml::Q2_K,
        2,
        false,
        K,
        [],
        "2.96G, +3.5199 ppl @ Llama-3-8B"
    ),
    q!(
        "Q2_K_S",
        21,
        ggml::Q2_K,
        2,
        true,
        K,
        [],
        "2.96G, +3.1836 ppl @ Llama-3-8B"
    ),
    q!(
        "IQ3_XXS",
        23,
        ggml::IQ3_XXS,
        3,
        true,
        Iq,
        [],
        "3.06 bpw quantization"
    ),
    q!(
        "IQ3_XS",
        22,
        ggml::IQ3_S,
        3,
        false,
        Iq,
        [],
        "3.3 bpw quantization"
    ),
    q!(
        "IQ3_S",
        26,
        ggml::IQ3_S,
        3,
        false,
        Iq,
        [],
        "3.44 bpw quantization"
    ),
    q!(
        "IQ3_M",
        27,
        ggml::IQ3_S,
        3,
        false,
        Iq,
        [],
        "3.66 bpw quantization mix"
    ),
    q!(
        "Q3_K_S",
        11,
        ggml::Q3_K,
        3,
        false,
        K,
        [],
        "3.41G, +1.6321 ppl @ Llama-3-8B"
    ),
    q!(
        "Q3_K_M",
        12,
        ggml::Q3_K,
        3,
        false,
        K,
        ["Q3_K"],
        "3.74G, +0.6569 ppl @ Llama-3-8B"
    ),
    q!(
        "Q3_K_L",
        13,
        ggml::Q3_K,
        3,
        false,
        K,
        [],
        "4.03G, +0.5562 ppl @ Llama-3-8B"
    ),
    q!(
        "IQ4_NL",
        25,
        ggml::IQ4_NL,
        4,
        false,
        Iq,
        [],
        "4.50 bpw non-linear quantization"
    ),
    q!(
        "IQ4_XS",
        30,
        ggml::IQ4_XS,
        4,
        false,
        Iq,
        [],
        "4.25 bpw non-linear quantization"
    ),
    q!(
        "Q4_0",
        2,
        ggml::Q4_0,
        4,
        false,
        Legacy,
        [],
        "4.34G, +0.4685 ppl @ Llama-3-8B"
    ),
    q!(
        "Q4_1",
        3,
        ggml::Q4_1,
        4,
        false,
        Legacy,
        [],
        "4.78G, +0.4511 ppl @ Llama-3-8B"
    ),
    q!(
        "Q4_K_S",
        14,
        ggml::Q4_K,
        4,
        false,
        K,
        [],
        "4.37G, +0.2689 ppl @ Llama-3-8B"
    ),
    q!(
        "Q4_K_M",
        15,
        ggml::Q4_K,
        4,
        false,
        K,
        ["Q4_K"],
        "4.58G, +0.1754 ppl @ Llama-3-8B"
    ),
    q!(
        "MXFP4_MOE",
        38,
        ggml::MXFP4,
        4,
        false,
        Mxfp,
        [],
        "MXFP4 MoE"
    ),
    q!(
        "Q5_0",
        8,
        ggml::Q5_0,
        5,
        false,
        Legacy,
        [],
        "5.21G, +0.1316 ppl @ Llama-3-8B"
    ),
    q!(
        "Q5_1",
        9,
        ggml::Q5_1,
        5,
        false,
        Legacy,
        [],
        "5.65G, +0.1062 ppl @ Llama-3-8B"
    ),
    q!(
        "Q5_K_S",
        16,
        ggml::Q5_K,
        5,
        false,
        K,
        [],
        "5.21G, +0.1049 ppl @ Llama-3-8B"
    ),
    q!(
        "Q5_K_M",
        17,
        ggml::Q5_K,
        5,
        false,
        K,
        ["Q5_K"],
        "5.33G, +0.0569 ppl @ Llama-3-8B"
    ),
    q!(
        "Q6_K",
        18,
        ggml::Q6_K,
        6,
        false,
        K,
        [],
        "6.14G, +0.0217 ppl @ Llama-3-8B"
    ),
    q!(
        "Q8_0",
        7,
        ggml::Q8_0,
        8,
        false,
        Legacy,
        [],
        "7.96G, +0.0026 ppl @ Llama-3-8B"
    ),
    q!(
        "F16",
        1,
        ggml::F16,
        16,
        false,
        Float,
        ["FP16"],
        "14.00G, +0.0020 ppl @ Mistral-7B"
    ),
    q!(
        "BF16",
        32,
        ggml::BF16,
        16,
        false,
        Float,
        [],
        "14.00G, -0.0050 ppl @ Mistral-7B"
    ),
    q!(
        "F32",
        0,
        ggml::F32,
        32,
        false,
        Float,
        ["FP32"],
        "26.00G @ 7B"
    ),
];

impl QuantType {
    /// Bits per weight of the default ggml type (what the name promises; files differ, see `inspect`).
    pub fn nominal_bpw(&self) -> f64 {
        match crate::engine::ggml_type_layout(self.default_ggml_type) {
            Some((blck, bytes, _)) => bytes as f64 * 8.0 / blck as f64,
            None => f64::NAN,
        }
    }

    pub fn is_float(&self) -> bool {
        self.family == Family::Float
    }
}

/// Looks a type up by name or alias, case-insensitively, or by ftype number.
pub fn find(name: &str) -> Option<&'static QuantType> {
    QUANT_TYPES
        .iter()
        .find(|t| {
            t.name.eq_ignore_ascii_case(name)
                || t.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        // llama-quantize also takes the ftype number (15 is Q4_K_M).
        .or_else(|| name.parse().ok().and_then(by_ftype))
}

/// Looks a type up, or fails with the closest valid names.
pub fn parse(name: &str) -> anyhow::Result<&'static QuantType> {
    find(name).ok_or_else(|| {
        let mut scored: Vec<(f64, &str)> = QUANT_TYPES
            .iter()
            .map(|t| {
                (
                    strsim::normalized_damerau_levenshtein(&name.to_ascii_uppercase(), t.name),
                    t.name,
                )
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let close: Vec<&str> = scored.iter().take(3).map(|s| s.1).collect();
        anyhow::anyhow!(
            "unknown quantization type '{name}' (closest: {}; `mpt-gguf types` lists all)",
            close.join(", ")
        )
    })
}

pub fn by_ftype(ftype: u32) -> Option<&'static QuantType> {
    QUANT_TYPES.iter().find(|t| t.ftype == ftype)
}

/// Named ladders for `sweep --ladder`.
pub fn ladder(name: &str) -> Option<Vec<&'static QuantType>> {
    let names: Vec<&str> = match name {
        "table5" => vec![
            "IQ1_M", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16",
        ],
        "k" => QUANT_TYPES
            .iter()
            .filter(|t| t.family == Family::K)
            .map(|t| t.name)
            .collect(),
        "iq" => QUANT_TYPES
            .iter()
            .filter(|t| t.family == Family::Iq)
            .map(|t| t.name)
            .collect(),
        "legacy" => QUANT_TYPES
            .iter()
            .filter(|t| t.family == Family::Legacy)
            .map(|t| t.name)
            .collect(),
        "all" => QUANT_TYPES.iter().map(|t| t.name).collect(),
        _ => return None,
    };
    Some(names.into_iter().filter_map(find).collect())
}

pub const LADDERS: &[&str] = &["table5", "k", "iq", "legacy", "all"];
