//! Quantization: the type table, llama.cpp's quantizer with llama-quantize's options, and the
//! importance matrix computed in-process.

pub mod calibrate;
pub mod imatrix;
pub mod imatrix_file;
pub mod quantize;
pub mod stats;
pub mod tensor_type_file;
pub mod types;
