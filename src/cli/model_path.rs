//! The model argument of the commands that take it either way: `sweep MODEL` or `sweep -m MODEL`.

/// The model file, as a positional argument or, as llama.cpp's tools take it, `-m/--model`.
#[derive(clap::Args, Debug)]
#[group(multiple = false)]
pub struct ModelPath {
    /// Model (GGUF file).
    #[arg(value_name = "MODEL")]
    model: Option<std::path::PathBuf>,
    /// The model, spelled as llama.cpp's tools do (instead of MODEL).
    #[arg(short = 'm', long = "model", value_name = "MODEL")]
    model_flag: Option<std::path::PathBuf>,
}

impl ModelPath {
    pub fn get(self) -> Option<std::path::PathBuf> {
        self.model.or(self.model_flag)
    }
}
