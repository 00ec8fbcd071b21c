//! The native ggml type table against llama.cpp's own numbers, for every type id it reserves.

use mpt_gguf::engine::ggml_type_layout;
use mpt_gguf::gguf::types::{GgmlType, GGML_TYPE_COUNT, TABLE};

#[test]
fn type_count_matches_linked_llama_cpp() {
    assert_eq!(GGML_TYPE_COUNT, llama_cpp_sys_2::GGML_TYPE_COUNT);
}

#[test]
fn every_id_matches_llama_cpp_both_ways() {
    // Past the end too: neither side may know an id beyond GGML_TYPE_COUNT.
    for id in 0..GGML_TYPE_COUNT + 8 {
        match (GgmlType::from_id(id), ggml_type_layout(id)) {
            (Some(t), Some((block, bytes, name))) => {
                assert_eq!(t.id(), id);
                assert_eq!(t.block_size(), block, "{t}: block size");
                assert_eq!(t.block_bytes(), bytes, "{t}: bytes per block");
                assert_eq!(t.ggml_name(), name, "id {id}: name");
            }
            (None, None) => assert!(
                id >= GGML_TYPE_COUNT || GgmlType::retired_name(id).is_some(),
                "id {id} unexplained gap"
            ),
            (ours, theirs) => panic!("id {id}: our table has {ours:?}, llama.cpp has {theirs:?}"),
        }
    }
}

#[test]
fn table_is_in_id_order_and_names_round_trip() {
    assert!(TABLE.windows(2).all(|w| w[0].0.id() < w[1].0.id()));
    for t in GgmlType::all() {
        assert_eq!(GgmlType::from_name(t.ggml_name()), Some(t));
        assert_eq!(GgmlType::from_name(&t.to_string()), Some(t));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<GgmlType>(&json).unwrap(), t);
    }
    assert_eq!(GgmlType::Q4_K.to_string(), "Q4_K");
    assert_eq!(GgmlType::IQ2_XXS.to_string(), "IQ2_XXS");
}

#[test]
fn bits_per_weight() {
    let bpw = |t: GgmlType| t.bits_per_weight();
    assert_eq!(bpw(GgmlType::F32), 32.0);
    assert_eq!(bpw(GgmlType::F16), 16.0);
    assert_eq!(bpw(GgmlType::Q4_0), 4.5);
    assert_eq!(bpw(GgmlType::Q4_1), 5.0);
    assert_eq!(bpw(GgmlType::Q8_0), 8.5);
    assert_eq!(bpw(GgmlType::Q4_K), 4.5);
    assert_eq!(bpw(GgmlType::Q6_K), 6.5625);
    assert_eq!(bpw(GgmlType::IQ2_XXS), 2.0625);
    assert_eq!(GgmlType::Q4_K.tensor_bytes(&[512, 3]), Some(144 * 2 * 3));
    assert_eq!(GgmlType::Q4_K.tensor_bytes(&[100]), None);
    assert_eq!(GgmlType::F32.tensor_bytes(&[]), Some(4));
}
