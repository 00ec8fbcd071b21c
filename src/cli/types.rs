use anyhow::Result;
use serde::Serialize;

use mpt_gguf::quant::types::{QuantType, QUANT_TYPES};

#[derive(clap::Args, Debug)]
pub struct TypesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    t: &'a QuantType,
    nominal_bpw: f64,
    llama_name: String,
}

pub fn run(args: TypesArgs) -> Result<()> {
    let rows: Vec<Row> = QUANT_TYPES
        .iter()
        .map(|t| Row {
            t,
            nominal_bpw: t.nominal_bpw(),
            llama_name: mpt_gguf::engine::ftype_name(t.ftype),
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<10} {:>5} {:>4} {:>7} {:>7} {:<8} {:<24} aliases",
        "type", "ftype", "bits", "bpw", "imatrix", "family", "llama.cpp name"
    );
    for r in &rows {
        println!(
            "{:<10} {:>5} {:>4} {:>7.4} {:>7} {:<8} {:<24} {}",
            r.t.name,
            r.t.ftype,
            r.t.bits,
            r.nominal_bpw,
            if r.t.needs_imatrix { "needed" } else { "-" },
            format!("{:?}", r.t.family).to_lowercase(),
            r.llama_name,
            r.t.aliases.join(",")
        );
    }
    println!("\nbpw: bits per weight of the type most tensors get; a file's measured bpw differs (see `mpt-gguf inspect`).");
    Ok(())
}
