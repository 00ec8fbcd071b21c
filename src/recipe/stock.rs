//! What llama.cpp gives each tensor under a stock type: its quantizer run dry (nothing is
//! quantized or written), the chosen types read from its log. Its per-type rules (more bits for
//! attn_v and some ffn_down layers, the head, the fallbacks of narrow rows) stay llama.cpp's own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{ensure, Result};

use crate::quant::quantize::{dry_run_tensor, quantize_file, QuantizeOptions};
use crate::quant::types::QuantType;

pub use crate::quant::tensor_type_file::TensorTypes;

/// Per-tensor types of several stock types, by type name.
pub type StockMixes = BTreeMap<String, TensorTypes>;

/// llama.cpp's per-tensor types for each of `qtypes` whose dry run succeeds (a failing one is left
/// out, and logged), each type run once.
pub fn stock_mixes<'a>(
    model: &Path,
    qtypes: impl IntoIterator<Item = &'a &'static QuantType>,
    imatrix: Option<&Path>,
) -> StockMixes {
    let mut mixes = StockMixes::new();
    for &q in qtypes {
        if mixes.contains_key(q.name) {
            continue;
        }
        match stock_types(model, q, imatrix) {
            Ok(types) => {
                mixes.insert(q.name.to_string(), types);
            }
            Err(e) => tracing::debug!("no stock {}: {e:#}", q.name),
        }
    }
    mixes
}

/// llama.cpp's per-tensor types for `qtype` on `model` (with the importance matrix, which changes
/// some of its choices).
pub fn stock_types(
    model: &Path,
    qtype: &'static QuantType,
    imatrix: Option<&Path>,
) -> Result<TensorTypes> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let mut opts = QuantizeOptions::new(qtype);
    opts.dry_run = true;
    opts.imatrix = imatrix.map(Path::to_path_buf);
    quantize_file(
        model,
        Path::new("unused"),
        &opts,
        Some(Box::new(move |_, _, line: &str| {
            if let Ok(mut l) = sink.lock() {
                l.push(line.to_string());
            }
        })),
    )?;
    let lines = std::mem::take(&mut *lines.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let types: TensorTypes = lines
        .iter()
        .filter_map(|l| dry_run_tensor(l))
        .map(|t| (t.name, t.ggml_type))
        .collect();
    ensure!(
        !types.is_empty(),
        "{}: llama.cpp's dry run of {} named no tensors",
        model.display(),
        qtype.name
    );
    Ok(types)
}
