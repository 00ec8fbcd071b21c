//! `mpt-gguf fit RESULTS...`: the phase-transition fit of saved results, printed (or as JSON).

use std::path::PathBuf;

use std::fmt::Write as _;

use anyhow::Result;
use mpt_gguf::report::{self, format::sig, ReportOptions};

#[derive(clap::Args, Debug)]
pub struct FitArgs {
    /// Saved results: sweep folders, results.json or manifest.json files.
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub options: ReportOptions,
}

pub fn run(args: FitArgs) -> Result<()> {
    let results = report::load_all(&args.results)?;
    let fits = report::fit_all(&report::with_recipe_series(&results), &args.options);
    let text = if args.json {
        serde_json::to_string_pretty(&fits)? + "\n"
    } else {
        let mut s = String::new();
        for f in &fits {
            let _ = writeln!(s, "{}\n", f.verdict());
            let _ = writeln!(
                s,
                "  {:<24} {:>9} {:>12} {:>12} {:>6}  in the fit",
                "rung",
                f.axis.unit(),
                "PPL",
                "fitted PPL",
                "safe",
            );
            for p in &f.points {
                let fitted = f
                    .predict_ppl(p.x)
                    .map(|v| sig(v, 5))
                    .unwrap_or_else(|| "-".into());
                let safe = match p.safe {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                };
                let in_fit = match &p.beaten_by {
                    None => "yes".to_string(),
                    Some(by) => format!("no, beaten by {by}"),
                };
                let _ = writeln!(
                    s,
                    "  {:<24} {:>9.4} {:>12} {:>12} {:>6}  {in_fit}",
                    p.rung,
                    p.x,
                    sig(p.ppl, 5),
                    fitted,
                    safe
                );
            }
            s.push('\n');
        }
        s
    };
    match &args.output {
        Some(path) => mpt_gguf::util::write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}
