//! Quantization: the type table, llama.cpp's quantizer with llama-quantize's options, and the
//! importance matrix computed in-process.

pub mod calibrate;
pub mod imatrix;
// pub mod imatrix_file; pub mod quantize; -- wait for the GGUF reader/writer
pub mod types;
