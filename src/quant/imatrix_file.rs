//! Importance-matrix files: llama.cpp's GGUF format (what current llama-quantize reads) and the
//! legacy `.dat` format. Both are read wherever an imatrix is accepted.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use byteorder::{LittleEndian as LE, ReadBytesExt, WriteBytesExt};

use super::imatrix::{Imatrix, ImatrixEntry};
use crate::gguf::{GgmlType, GgufBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImatrixFormat {
    Gguf,
    Dat,
}

/// Reads either format, told apart by the GGUF magic.
pub fn load(path: &Path) -> Result<Imatrix> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read the imatrix", path.display()))?;
    if bytes.starts_with(b"GGUF") {
        load_gguf(path)
    } else {
        parse_legacy(&bytes).with_context(|| {
            format!(
                "{}: not an imatrix (neither GGUF nor legacy .dat)",
                path.display()
            )
        })
    }
}

pub fn save(path: &Path, imatrix: &Imatrix, format: ImatrixFormat) -> Result<()> {
    match format {
        ImatrixFormat::Gguf => save_gguf(path, imatrix),
        ImatrixFormat::Dat => crate::util::write_atomic(path, &legacy_bytes(imatrix)),
    }
}

fn load_gguf(path: &Path) -> Result<Imatrix> {
    let file = crate::engine::open_gguf(path)?;
    let ctx = |what: &str| format!("{}: {what}", path.display());
    let mut im = Imatrix {
        datasets: file
            .get("imatrix.datasets")
            .and_then(|v| v.as_array())
            .and_then(|a| a.as_strings())
            .map(|a| a.iter().map(String::from).collect())
            .unwrap_or_default(),
        chunk_count: file.get_u64("imatrix.chunk_count").unwrap_or(0) as u32,
        chunk_size: file.get_u64("imatrix.chunk_size").unwrap_or(0) as u32,
        ..Default::default()
    };
    for t in file.tensors() {
        let (name, is_sums) = if let Some(n) = t.name.strip_suffix(".in_sum2") {
            (n, true)
        } else if let Some(n) = t.name.strip_suffix(".counts") {
            (n, false)
        } else {
            continue;
        };
        if t.ggml_type != GgmlType::F32 {
            bail!(ctx(&format!(
                "tensor {} must be F32, is {}",
                t.name,
                t.ggml_type.ggml_name()
            )));
        }
        let values: Vec<f32> = file
            .tensor_data(t)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let e = im.entries.entry(name.to_string()).or_default();
        if is_sums {
            e.sums = values;
        } else {
            e.counts = values.iter().map(|&c| c.round().max(0.0) as u64).collect();
        }
    }
    for (name, e) in &im.entries {
        if e.sums.is_empty() || e.counts.is_empty() || e.sums.len() % e.counts.len() != 0 {
            bail!(ctx(&format!("mismatched sums and counts for {name}")));
        }
    }
    if im.entries.is_empty() {
        bail!(ctx("no imatrix entries (is it an imatrix file?)"));
    }
    Ok(im)
}

fn save_gguf(path: &Path, im: &Imatrix) -> Result<()> {
    let mut b = GgufBuilder::new();
    b.set("general.type", "imatrix");
    b.set("imatrix.datasets", im.datasets.clone());
    b.set("imatrix.chunk_count", im.chunk_count);
    b.set("imatrix.chunk_size", im.chunk_size);
    // Sorted by name (BTreeMap) like llama-imatrix, for deterministic files.
    for (name, e) in &im.entries {
        let nmat = e.counts.len().max(1) as u64;
        let sums: Vec<u8> = e.sums.iter().flat_map(|v| v.to_le_bytes()).collect();
        let counts: Vec<u8> = e
            .counts
            .iter()
            .flat_map(|&c| (c as f32).to_le_bytes())
            .collect();
        b.add_tensor(
            format!("{name}.in_sum2"),
            GgmlType::F32,
            &[e.sums.len() as u64 / nmat, nmat],
            sums,
        )?;
        b.add_tensor(format!("{name}.counts"), GgmlType::F32, &[1, nmat], counts)?;
    }
    b.write(path)?;
    Ok(())
}

fn legacy_bytes(im: &Imatrix) -> Vec<u8> {
    let chunk = im.chunk_size.max(1) as u64;
    let stored: Vec<(&String, &ImatrixEntry)> = im
        .entries
        .iter()
        .filter(|(_, e)| e.counts.iter().any(|&c| c > 0))
        .collect();
    let mut out = Vec::new();
    out.write_i32::<LE>(stored.len() as i32).ok();
    for (name, e) in stored {
        out.write_i32::<LE>(name.len() as i32).ok();
        out.write_all(name.as_bytes()).ok();
        let ncall = e.counts.iter().copied().max().unwrap_or(0).div_ceil(chunk);
        out.write_i32::<LE>(ncall as i32).ok();
        out.write_i32::<LE>(e.sums.len() as i32).ok();
        let per = e.sums.len() / e.counts.len().max(1);
        for (i, &v) in e.sums.iter().enumerate() {
            let count = e.counts.get(i / per.max(1)).copied().unwrap_or(0) as f32;
            let (v, count) = if count == 0.0 { (1.0, 1.0) } else { (v, count) };
            out.write_f32::<LE>((v / count) * ncall as f32).ok();
        }
    }
    out.write_i32::<LE>(im.chunk_count as i32).ok();
    let ds = im.datasets.last().map(String::as_str).unwrap_or("");
    out.write_i32::<LE>(ds.len() as i32).ok();
    out.write_all(ds.as_bytes()).ok();
    out
}

fn parse_legacy(bytes: &[u8]) -> Result<Imatrix> {
    let mut r = Cursor::new(bytes);
    let remaining = |r: &Cursor<&[u8]>| bytes.len() as u64 - r.position();
    let n_entries = r.read_i32::<LE>().context("file too short")?;
    if n_entries < 1 || n_entries as u64 > remaining(&r) / 12 {
        bail!("entry count {n_entries} does not fit the file");
    }
    let mut im = Imatrix {
        is_legacy: true,
        ..Default::default()
    };
    for i in 0..n_entries {
        let len = r
            .read_i32::<LE>()
            .with_context(|| format!("entry {i}: truncated"))?;
        if len < 1 || len as u64 > remaining(&r) {
            bail!("entry {i}: name length {len} does not fit the file");
        }
        let mut name = vec![0u8; len as usize];
        r.read_exact(&mut name)?;
        let name =
            String::from_utf8(name).with_context(|| format!("entry {i}: name is not UTF-8"))?;
        let ncall = r
            .read_i32::<LE>()
            .with_context(|| format!("entry {i}: truncated"))?;
        let nval = r
            .read_i32::<LE>()
            .with_context(|| format!("entry {i}: truncated"))?;
        if nval < 1 || nval as u64 * 4 > remaining(&r) {
            bail!("entry {i} ({name}): {nval} values do not fit the file");
        }
        let mut sums = vec![0f32; nval as usize];
        r.read_f32_into::<LE>(&mut sums)?;
        im.entries.insert(
            name,
            ImatrixEntry {
                sums,
                counts: vec![ncall.max(0) as u64],
            },
        );
    }
    if remaining(&r) >= 4 {
        im.chunk_count = r.read_i32::<LE>()?.max(0) as u32;
        if let Ok(len) = r.read_i32::<LE>() {
            if len > 0 && len as u64 <= remaining(&r) {
                let mut ds = vec![0u8; len as usize];
                r.read_exact(&mut ds)?;
                im.datasets.push(String::from_utf8_lossy(&ds).into_owned());
            }
        }
    }
    Ok(im)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_round_trip_scales_like_llama_imatrix() {
        let mut im = Imatrix {
            chunk_size: 512,
            chunk_count: 2,
            datasets: vec!["cal.txt".into()],
            ..Default::default()
        };
        im.entries.insert(
            "blk.0.ffn_up.weight".into(),
            ImatrixEntry {
                sums: vec![1024.0, 2048.0],
                counts: vec![1024],
            },
        );
        let back = parse_legacy(&legacy_bytes(&im)).unwrap();
        let e = &back.entries["blk.0.ffn_up.weight"];
        // Stored as (sum / count) * ncall with ncall = ceil(1024 / 512) = 2.
        assert_eq!(e.sums, vec![2.0, 4.0]);
        assert_eq!(e.counts, vec![2]);
        assert_eq!(back.chunk_count, 2);
        assert_eq!(back.datasets, vec!["cal.txt".to_string()]);
        // Both forms give the quantizer the same importance: sum / count.
        assert_eq!(back.for_quantize()[0].1, im.for_quantize()[0].1);
    }

    #[test]
    fn legacy_rejects_lengths_beyond_the_file() {
        let mut bytes = Vec::new();
        bytes.write_i32::<LE>(1_000_000).unwrap();
        assert!(parse_legacy(&bytes).is_err());
        let mut bytes = Vec::new();
        bytes.write_i32::<LE>(1).unwrap();
        bytes.write_i32::<LE>(i32::MAX).unwrap();
        bytes.extend_from_slice(&[0; 16]);
        assert!(parse_legacy(&bytes).is_err());
    }
}
