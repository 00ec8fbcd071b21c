//! The quantization type table against llama.cpp's own enum and names.

use llama_cpp_sys_2 as sys;
use mpt_gguf::engine;
use mpt_gguf::quant::types::{self, QUANT_TYPES};

#[test]
fn table_matches_llama_ftype_enum() {
    let expected: &[(&str, u32)] = &[
        ("F32", sys::LLAMA_FTYPE_ALL_F32),
        ("F16", sys::LLAMA_FTYPE_MOSTLY_F16),
        ("BF16", sys::LLAMA_FTYPE_MOSTLY_BF16),
        ("Q4_0", sys::LLAMA_FTYPE_MOSTLY_Q4_0),
        ("Q4_1", sys::LLAMA_FTYPE_MOSTLY_Q4_1),
        ("Q5_0", sys::LLAMA_FTYPE_MOSTLY_Q5_0),
        ("Q5_1", sys::LLAMA_FTYPE_MOSTLY_Q5_1),
        ("Q8_0", sys::LLAMA_FTYPE_MOSTLY_Q8_0),
        ("Q1_0", sys::LLAMA_FTYPE_MOSTLY_Q1_0),
        ("Q2_0", sys::LLAMA_FTYPE_MOSTLY_Q2_0),
        ("Q2_K", sys::LLAMA_FTYPE_MOSTLY_Q2_K),
        ("Q2_K_S", sys::LLAMA_FTYPE_MOSTLY_Q2_K_S),
        ("Q3_K_S", sys::LLAMA_FTYPE_MOSTLY_Q3_K_S),
        ("Q3_K_M", sys::LLAMA_FTYPE_MOSTLY_Q3_K_M),
        ("Q3_K_L", sys::LLAMA_FTYPE_MOSTLY_Q3_K_L),
        ("Q4_K_S", sys::LLAMA_FTYPE_MOSTLY_Q4_K_S),
        ("Q4_K_M", sys::LLAMA_FTYPE_MOSTLY_Q4_K_M),
        ("Q5_K_S", sys::LLAMA_FTYPE_MOSTLY_Q5_K_S),
        ("Q5_K_M", sys::LLAMA_FTYPE_MOSTLY_Q5_K_M),
        ("Q6_K", sys::LLAMA_FTYPE_MOSTLY_Q6_K),
        ("IQ1_S", sys::LLAMA_FTYPE_MOSTLY_IQ1_S),
        ("IQ1_M", sys::LLAMA_FTYPE_MOSTLY_IQ1_M),
        ("IQ2_XXS", sys::LLAMA_FTYPE_MOSTLY_IQ2_XXS),
        ("IQ2_XS", sys::LLAMA_FTYPE_MOSTLY_IQ2_XS),
        ("IQ2_S", sys::LLAMA_FTYPE_MOSTLY_IQ2_S),
        ("IQ2_M", sys::LLAMA_FTYPE_MOSTLY_IQ2_M),
        ("IQ3_XXS", sys::LLAMA_FTYPE_MOSTLY_IQ3_XXS),
        ("IQ3_XS", sys::LLAMA_FTYPE_MOSTLY_IQ3_XS),
        ("IQ3_S", sys::LLAMA_FTYPE_MOSTLY_IQ3_S),
        ("IQ3_M", sys::LLAMA_FTYPE_MOSTLY_IQ3_M),
        ("IQ4_NL", sys::LLAMA_FTYPE_MOSTLY_IQ4_NL),
        ("IQ4_XS", sys::LLAMA_FTYPE_MOSTLY_IQ4_XS),
        ("TQ1_0", sys::LLAMA_FTYPE_MOSTLY_TQ1_0),
        ("TQ2_0", sys::LLAMA_FTYPE_MOSTLY_TQ2_0),
        ("MXFP4_MOE", sys::LLAMA_FTYPE_MOSTLY_MXFP4_MOE),
    ];
    assert_eq!(
        QUANT_TYPES.len(),
        expected.len(),
        "table and llama-quantize's list differ in length"
    );
    for (name, ftype) in expected {
        let t = types::find(name).unwrap_or_else(|| panic!("{name} missing from the table"));
        assert_eq!(t.ftype, *ftype, "{name}: ftype id");
        assert!(
            !engine::ftype_name(t.ftype).starts_with("unknown"),
            "{name}: llama.cpp does not know ftype {}",
            t.ftype
        );
        let (_, _, ggml_name) =
            engine::ggml_type_layout(t.default_ggml_type).expect("default ggml type exists");
        // The default ggml type shares the family prefix of the name (Q4_K_M -> q4_K, IQ2_M -> iq2_s, ...).
        let stem = name.to_ascii_lowercase();
        let prefix = &stem[..stem.find('_').map_or(stem.len(), |i| i.min(3))];
        assert!(
            ggml_name.to_ascii_lowercase().starts_with(prefix),
            "{name}: default type {ggml_name}"
        );
    }
}

#[test]
fn unknown_names_suggest_close_ones() {
    let err = types::parse("Q4_KM").unwrap_err().to_string();
    assert!(err.contains("Q4_K_M"), "{err}");
    assert!(types::parse("q4_k").is_ok(), "alias Q4_K, case-insensitive");
}

#[test]
fn ladders_are_complete() {
    let t5: Vec<&str> = types::ladder("table5")
        .unwrap()
        .iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        t5,
        ["IQ1_M", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"]
    );
    assert_eq!(types::ladder("all").unwrap().len(), QUANT_TYPES.len());
    assert!(types::ladder("k")
        .unwrap()
        .iter()
        .all(|t| t.name.contains("_K")));
    assert!(types::ladder("bogus").is_none());
}
