//! The integration tests, one binary: each module tests one area against an independent reference
//! (llama.cpp's own tools, hand computations, files parsed back); `support` holds the fixtures.

mod support;

mod engine;
mod faults;
mod gguf_bad_input;
mod gguf_real;
mod gguf_types;
mod machine_use;
mod measure_api;
mod measure_bench;
mod measure_cli;
mod measure_kld;
mod measure_perplexity;
mod prune_bad_input;
mod prune_depth;
mod prune_sparsity;
mod quant_all_types;
mod quant_bad_input;
mod quant_parity;
mod quant_types;
mod recipe;
mod report_cli;
mod report_fit;
mod report_outputs;
mod slurm;
mod sweep;
mod sweep_shared;
mod tasks_bad_input;
mod tasks_cli;
mod tasks_formats;
mod tasks_harness;
mod tasks_llamacpp;
