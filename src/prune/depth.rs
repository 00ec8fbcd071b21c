//! Depth pruning: which blocks go, how the others are renumbered, and the metadata that follows
//! (`{arch}.block_count` and every per-layer array, such as per-layer head counts).

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::gguf::{Array, GgufFile, Value};

/// Arrays under `{arch}.` that have a fixed length of their own, whatever the block count.
const NOT_PER_LAYER: &[&str] = &["rope.dimension_sections"];

/// The blocks to remove, checked against the model: inside it, and not all of them.
pub fn check_layers(file: &str, layers: &[u32], block_count: u32) -> Result<BTreeSet<u32>> {
    if let Some(&bad) = layers.iter().find(|&&l| l >= block_count) {
        bail!(
            "{file}: block {bad} is outside the model, which has {block_count} blocks (0-{})",
            block_count.saturating_sub(1)
        );
    }
    let set: BTreeSet<u32> = layers.iter().copied().collect();
    if set.len() as u32 >= block_count {
        bail!("{file}: removing all {block_count} blocks would leave no model");
    }
    Ok(set)
}

/// Old block index → new block index, for the blocks that stay.
pub fn renumbering(block_count: u32, removed: &BTreeSet<u32>) -> Vec<Option<u32>> {
    let mut next = 0;
    (0..block_count)
        .map(|b| {
            if removed.contains(&b) {
                None
            } else {
                next += 1;
                Some(next - 1)
            }
        })
        .collect()
}

/// `blk.N.rest` with N renumbered; `None` for a tensor of a removed block; other names unchanged.
pub fn rename(name: &str, map: &[Option<u32>]) -> Option<String> {
    let Some(rest) = name.strip_prefix("blk.") else {
        return Some(name.to_string());
    };
    let (num, tail) = rest.split_once('.').unwrap_or((rest, ""));
    let Ok(old) = num.parse::<usize>() else {
        return Some(name.to_string());
    };
    match map.get(old) {
        Some(Some(new)) => Some(if tail.is_empty() {
            format!("blk.{new}")
        } else {
            format!("blk.{new}.{tail}")
        }),
        Some(None) => None,
        // A block beyond the count (not a layer llama.cpp knows about): keep it as it is.
        None => Some(name.to_string()),
    }
}

/// The input's metadata with the block count lowered and the removed entries taken out of every
/// per-layer array. Returns the metadata and the keys that changed.
pub fn prune_metadata(
    file: &GgufFile,
    arch: &str,
    block_count: u32,
    removed: &BTreeSet<u32>,
) -> (Vec<(String, Value)>, Vec<String>) {
    let prefix = format!("{arch}.");
    let count_key = format!("{arch}.block_count");
    let kept = block_count - removed.len() as u32;
    let mut changed = Vec::new();
    let metadata = file
        .metadata()
        .iter()
        .map(|(key, value)| {
            let new = if *key == count_key {
                Some(same_width(value, kept))
            } else if let (Some(suffix), Value::Array(a)) = (key.strip_prefix(&prefix), value) {
                let per_layer = a.len() == block_count as usize && !NOT_PER_LAYER.contains(&suffix);
                per_layer.then(|| Value::Array(drop_indices(a, removed)))
            } else {
                None
            };
            match new {
                Some(v) if !removed.is_empty() => {
                    changed.push(key.clone());
                    (key.clone(), v)
                }
                _ => (key.clone(), value.clone()),
            }
        })
        .collect();
    (metadata, changed)
}

/// `n` in the integer type `like` has (the block count is usually u32).
fn same_width(like: &Value, n: u32) -> Value {
    match like {
        Value::U64(_) => Value::U64(n.into()),
        Value::I32(_) => Value::I32(n as i32),
        Value::I64(_) => Value::I64(n.into()),
        Value::U16(_) => Value::U16(n as u16),
        _ => Value::U32(n),
    }
}

/// The array without the elements at `removed`.
fn drop_indices(a: &Array, removed: &BTreeSet<u32>) -> Array {
    fn keep<T: Clone>(v: &[T], removed: &BTreeSet<u32>) -> Vec<T> {
        v.iter()
            .enumerate()
            .filter(|(i, _)| !removed.contains(&(*i as u32)))
            .map(|(_, x)| x.clone())
            .collect()
    }
    match a {
        Array::U8(v) => Array::U8(keep(v, removed)),
        Array::I8(v) => Array::I8(keep(v, removed)),
        Array::U16(v) => Array::U16(keep(v, removed)),
        Array::I16(v) => Array::I16(keep(v, removed)),
        Array::U32(v) => Array::U32(keep(v, removed)),
        Array::I32(v) => Array::I32(keep(v, removed)),
        Array::F32(v) => Array::F32(keep(v, removed)),
        Array::Bool(v) => Array::Bool(keep(v, removed)),
        Array::U64(v) => Array::U64(keep(v, removed)),
        Array::I64(v) => Array::I64(keep(v, removed)),
        Array::F64(v) => Array::F64(keep(v, removed)),
        Array::Array(v) => Array::Array(keep(v, removed)),
        Array::String(v) => Array::String(
            v.iter()
                .enumerate()
                .filter(|(i, _)| !removed.contains(&(*i as u32)))
                .map(|(_, s)| s)
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufBuilder;

    #[test]
    fn renumbers_the_blocks_that_stay() {
        let removed: BTreeSet<u32> = [1, 2].into();
        let map = renumbering(5, &removed);
        assert_eq!(map, vec![Some(0), None, None, Some(1), Some(2)]);
        assert_eq!(
            rename("blk.3.attn_q.weight", &map).unwrap(),
            "blk.1.attn_q.weight"
        );
        assert_eq!(rename("blk.1.attn_q.weight", &map), None);
        assert_eq!(rename("output.weight", &map).unwrap(), "output.weight");
        assert_eq!(rename("blk.x.weight", &map).unwrap(), "blk.x.weight");
    }

    #[test]
    fn checks_layer_lists() {
        assert!(check_layers("m", &[0, 3], 4).is_ok());
        let e = check_layers("m.gguf", &[4], 4).unwrap_err().to_string();
        assert!(
            e.contains("m.gguf") && e.contains("block 4 is outside"),
            "{e}"
        );
        let e = check_layers("m.gguf", &[0, 1, 2, 3], 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("all 4 blocks"), "{e}");
    }

    #[test]
    fn per_layer_arrays_lose_the_removed_entries() {
        let mut b = GgufBuilder::new();
        b.set("general.architecture", "llama")
            .set("llama.block_count", 4u32)
            .set("llama.attention.head_count", vec![8u32, 9, 10, 11])
            .set("llama.rope.dimension_sections", vec![1i32, 2, 3, 4])
            .set(
                "llama.names",
                vec!["a".to_string(), "b".into(), "c".into(), "d".into()],
            )
            .set("tokenizer.ggml.scores", vec![1f32, 2., 3., 4.]);
        let file = GgufFile::from_bytes("t.gguf", b.to_bytes().unwrap()).unwrap();
        let removed: BTreeSet<u32> = [1].into();
        let (meta, changed) = prune_metadata(&file, "llama", 4, &removed);
        let get = |k: &str| meta.iter().find(|(key, _)| key == k).unwrap().1.clone();
        assert_eq!(get("llama.block_count"), Value::U32(3));
        assert_eq!(get("llama.attention.head_count"), vec![8u32, 10, 11].into());
        assert_eq!(
            get("llama.rope.dimension_sections"),
            vec![1i32, 2, 3, 4].into()
        );
        assert_eq!(
            get("llama.names"),
            vec!["a".to_string(), "c".into(), "d".into()].into()
        );
        assert_eq!(get("tokenizer.ggml.scores"), vec![1f32, 2., 3., 4.].into());
        assert_eq!(
            changed,
            [
                "llama.block_count",
                "llama.attention.head_count",
                "llama.names"
            ]
        );
    }
}
