//! What a file holds, in numbers: parameters and bytes per ggml type and per layer, and the measured
//! bits per weight (tensor bytes × 8 / parameters). Sweeps record it, so it serialises.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::reader::{GgufFile, TensorInfo};
use super::types::GgmlType;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub path: String,
    pub architecture: Option<String>,
    pub name: Option<String>,
    pub version: u32,
    pub file_size: u64,
    pub alignment: u64,
    pub data_offset: u64,
    pub metadata_count: usize,
    pub tensor_count: usize,
    pub parameters: u64,
    /// Bytes of tensor data, without padding.
    pub tensor_bytes: u64,
    /// Measured: tensor bytes × 8 / parameters.
    pub bits_per_weight: f64,
    /// One row per ggml type present, most bytes first.
    pub types: Vec<TypeRow>,
    /// One row per `blk.N` layer, in layer order.
    pub layers: Vec<LayerRow>,
    /// Tensors outside the layers (embeddings, output, norms).
    pub outside_layers: Totals,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub tensors: usize,
    pub parameters: u64,
    pub bytes: u64,
    pub bits_per_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeRow {
    #[serde(rename = "type")]
    pub ggml_type: GgmlType,
    #[serde(flatten)]
    pub totals: Totals,
    /// Bytes of this type / file size.
    pub share_of_file: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    pub layer: u32,
    #[serde(flatten)]
    pub totals: Totals,
}

impl Totals {
    fn add(&mut self, t: &TensorInfo) {
        self.tensors += 1;
        self.parameters += t.n_elements();
        self.bytes += t.size;
        self.bits_per_weight = bpw(self.bytes, self.parameters);
    }

    fn of<'a>(tensors: impl IntoIterator<Item = &'a TensorInfo>) -> Totals {
        let mut totals = Totals::default();
        tensors.into_iter().for_each(|t| totals.add(t));
        totals
    }
}

/// Bits per weight; 0 for no weights, so JSON never sees a NaN.
pub fn bpw(bytes: u64, parameters: u64) -> f64 {
    if parameters == 0 {
        0.0
    } else {
        bytes as f64 * 8.0 / parameters as f64
    }
}

impl Summary {
    pub fn of(file: &GgufFile) -> Summary {
        let tensors = file.tensors();
        let all = Totals::of(tensors);

        let mut by_type: BTreeMap<GgmlType, Totals> = BTreeMap::new();
        let mut by_layer: BTreeMap<u32, Totals> = BTreeMap::new();
        let mut outside = Totals::default();
        for t in tensors {
            by_type.entry(t.ggml_type).or_default().add(t);
            match t.layer() {
                Some(n) => by_layer.entry(n).or_default().add(t),
                None => outside.add(t),
            }
        }
        let file_size = file.file_size();
        let mut types: Vec<TypeRow> = by_type
            .into_iter()
            .map(|(ggml_type, totals)| TypeRow {
                ggml_type,
                totals,
                share_of_file: if file_size == 0 {
                    0.0
                } else {
                    totals.bytes as f64 / file_size as f64
                },
            })
            .collect();
        types.sort_by(|a, b| {
            b.totals
                .bytes
                .cmp(&a.totals.bytes)
                .then(a.ggml_type.cmp(&b.ggml_type))
        });

        Summary {
            path: file.path().display().to_string(),
            architecture: file.architecture().map(str::to_owned),
            name: file.name().map(str::to_owned),
            version: file.version(),
            file_size,
            alignment: file.alignment(),
            data_offset: file.data_offset(),
            metadata_count: file.metadata().len(),
            tensor_count: tensors.len(),
            parameters: all.parameters,
            tensor_bytes: all.bytes,
            bits_per_weight: all.bits_per_weight,
            types,
            layers: by_layer
                .into_iter()
                .map(|(layer, totals)| LayerRow { layer, totals })
                .collect(),
            outside_layers: outside,
        }
    }
}
