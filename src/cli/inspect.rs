use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// GGUF file to read.
    pub file: PathBuf,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    anyhow::bail!("{}: inspect is not written yet", args.file.display())
}
