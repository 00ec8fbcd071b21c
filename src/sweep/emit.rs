//! A sweep as a chain of jobs for the scheduler a cluster already runs: the shared stages, the rung
//! shards as one array, the merge, each asking for what the resource plan predicts. One trait,
//! one implementation per scheduler.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// What one job asks the scheduler for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub seconds: f64,
    pub gpu: bool,
}

/// The sweep's jobs: the same command with `--stage` (and `--shard`) added per job.
#[derive(Debug, Clone)]
pub struct JobChain {
    /// The program and its arguments, without stage, shard or emit flags.
    pub command: Vec<String>,
    /// Where the jobs run (relative paths in the command are relative to it).
    pub workdir: PathBuf,
    /// The sweep's output folder; the job files go in a folder inside it.
    pub out_dir: PathBuf,
    pub name: String,
    pub shards: u32,
    pub prepare: Request,
    pub rung: Request,
    pub merge: Request,
    /// Scheduler options passed through as they are (partition, account, ...).
    pub options: Vec<String>,
}

/// One file an emitter writes: a path inside the job folder, its text, whether it is run.
pub struct JobFile {
    pub name: String,
    pub text: String,
    pub executable: bool,
}

pub trait Emitter {
    /// The folder inside the sweep folder the files go in (`slurm`).
    fn folder(&self) -> &'static str;
    fn files(&self, chain: &JobChain) -> Vec<JobFile>;
    /// What to tell the user after writing them.
    fn next_step(&self, folder: &Path) -> String;
}

/// Writes the chain's files into `OUT/<folder>/` (each atomically) and returns the folder.
pub fn write(chain: &JobChain, emitter: &dyn Emitter) -> Result<PathBuf> {
    let folder = chain.out_dir.join(emitter.folder());
    let logs = folder.join("logs");
    std::fs::create_dir_all(&logs)
        .with_context(|| format!("{}: cannot create the folder", logs.display()))?;
    for f in emitter.files(chain) {
        let path = folder.join(&f.name);
        crate::util::write_atomic(&path, f.text.as_bytes())?;
        if f.executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("{}: cannot make it executable", path.display()))?;
        }
    }
    Ok(folder)
}

/// A word quoted for `sh`.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn command_line(chain: &JobChain, extra: &[&str]) -> String {
    let words = chain
        .command
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied());
    words.map(shell_quote).collect::<Vec<_>>().join(" ")
}

/// Slurm: `prepare.sbatch`, `rungs.sbatch` (a job array, one task per shard), `merge.sbatch`,
/// and `submit.sh`, which chains them with `--dependency=afterok` and prints the job ids.
pub struct Slurm;

impl Slurm {
    fn header(chain: &JobChain, stage: &str, req: &Request, log: &str) -> String {
        let mut h = vec![
            "#!/bin/bash".to_string(),
            format!(
                "#SBATCH --job-name={}",
                shell_quote(&format!("mpt-{}-{stage}", chain.name))
            ),
            format!(
                "#SBATCH --chdir={}",
                shell_quote(&chain.workdir.display().to_string())
            ),
            format!(
                "#SBATCH --output={}",
                shell_quote(
                    &chain
                        .out_dir
                        .join("slurm/logs")
                        .join(log)
                        .display()
                        .to_string()
                )
            ),
            "#SBATCH --nodes=1".into(),
            "#SBATCH --ntasks=1".into(),
            format!("#SBATCH --cpus-per-task={}", req.cpus),
            format!(
                "#SBATCH --mem={}M",
                req.memory_bytes.div_ceil(1 << 20).max(1)
            ),
            format!("#SBATCH --time={}", slurm_time(req.seconds)),
        ];
        if req.gpu {
            h.push("#SBATCH --gres=gpu:1".into());
        }
        h.extend(chain.options.iter().map(|o| format!("#SBATCH {o}")));
        h.join("\n")
    }
}

/// Minutes, rounded up, as Slurm's `D-HH:MM:SS`.
fn slurm_time(seconds: f64) -> String {
    let minutes = (seconds / 60.0).ceil().max(1.0) as u64;
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    format!("{d}-{h:02}:{m:02}:00")
}

impl Emitter for Slurm {
    fn folder(&self) -> &'static str {
        "slurm"
    }

    fn files(&self, chain: &JobChain) -> Vec<JobFile> {
        let job = |stage: &str, req: &Request, log: &str, args: &[&str]| {
            format!(
                "{}\nset -euo pipefail\n{}\n",
                Slurm::header(chain, stage, req, log),
                command_line(chain, args)
            )
        };
        let n = chain.shards;
        let shard = format!("\"$((SLURM_ARRAY_TASK_ID + 1))/{n}\"");
        let rungs = format!(
            "{}\n#SBATCH --array=0-{}\nset -euo pipefail\n# The shard is named explicitly, so a resubmitted subset of the array keeps its shards.\n{} --stage rungs --shard {shard}\n",
            Slurm::header(chain, "rungs", &chain.rung, "rungs-%A_%a.log"),
            n - 1,
            command_line(chain, &[])
        );
        vec![
            JobFile {
                name: "prepare.sbatch".into(),
                text: job(
                    "prepare",
                    &chain.prepare,
                    "prepare-%j.log",
                    &["--stage", "prepare"],
                ),
                executable: false,
            },
            JobFile {
                name: "rungs.sbatch".into(),
                text: rungs,
                executable: false,
            },
            JobFile {
                name: "merge.sbatch".into(),
                text: job("merge", &chain.merge, "merge-%j.log", &["--stage", "merge"]),
                executable: false,
            },
            JobFile {
                name: "submit.sh".into(),
                text: SUBMIT.replace("{N}", &n.to_string()),
                executable: true,
            },
        ]
    }

    fn next_step(&self, folder: &Path) -> String {
        format!(
            "submit with {0}/submit.sh (prints the job ids); resubmit failed shards with {0}/submit.sh SHARD...",
            folder.display()
        )
    }
}

const SUBMIT: &str = r#"#!/bin/sh
# Submits the sweep: the shared stages, then the {N} rung shards as one job array, then the merge,
# each after the one before succeeded (--dependency=afterok). Prints the job ids.
# usage: submit.sh             the whole chain
#        submit.sh SHARD...    only these shards (1-{N}) again, and a merge after them
set -eu
cd "$(dirname "$0")"
first() { sed 's/;.*//'; }
if [ $# -eq 0 ]; then
  prepare=$(sbatch --parsable prepare.sbatch | first)
  rungs=$(sbatch --parsable --dependency="afterok:$prepare" rungs.sbatch | first)
  echo "prepare: $prepare"
else
  tasks=""
  for s in "$@"; do
    case $s in *[!0-9]*|"") echo "submit.sh: $s is not a shard number (1-{N})" >&2; exit 2;; esac
    if [ "$s" -lt 1 ] || [ "$s" -gt {N} ]; then echo "submit.sh: shard $s is not in 1-{N}" >&2; exit 2; fi
    tasks="$tasks${tasks:+,}$((s - 1))"
  done
  rungs=$(sbatch --parsable --array="$tasks" rungs.sbatch | first)
fi
merge=$(sbatch --parsable --dependency="afterok:$rungs" merge.sbatch | first)
echo "rungs: $rungs"
echo "merge: $merge"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> JobChain {
        let req = Request {
            cpus: 4,
            memory_bytes: 3 << 30,
            seconds: 3700.0,
            gpu: false,
        };
        JobChain {
            command: ["/opt/mpt-gguf", "sweep", "m f16.gguf", "-o", "out"]
                .map(String::from)
                .to_vec(),
            workdir: "/work/x".into(),
            out_dir: "/work/x/out".into(),
            name: "m".into(),
            shards: 3,
            prepare: req,
            rung: Request { gpu: true, ..req },
            merge: req,
            options: vec!["--partition=short".into()],
        }
    }

    #[test]
    fn slurm_jobs_ask_for_the_plan_and_chain_the_stages() {
        let files = Slurm.files(&chain());
        let text = |n: &str| files.iter().find(|f| f.name == n).unwrap().text.clone();
        let prepare = text("prepare.sbatch");
        assert!(
            prepare.contains(
                "#SBATCH --cpus-per-task=4\n#SBATCH --mem=3072M\n#SBATCH --time=0-01:02:00"
            ),
            "{prepare}"
        );
        assert!(prepare.contains("#SBATCH --partition=short"));
        assert!(!prepare.contains("--gres"));
        assert!(
            prepare.ends_with("/opt/mpt-gguf sweep 'm f16.gguf' -o out --stage prepare\n"),
            "{prepare}"
        );
        let rungs = text("rungs.sbatch");
        assert!(rungs.contains("#SBATCH --array=0-2") && rungs.contains("#SBATCH --gres=gpu:1"));
        assert!(rungs.contains("--stage rungs --shard \"$((SLURM_ARRAY_TASK_ID + 1))/3\""));
        let submit = text("submit.sh");
        assert!(submit.contains("--dependency=\"afterok:$prepare\" rungs.sbatch"));
        assert!(submit.contains("shard $s is not in 1-3"));
        assert_eq!(slurm_time(59.0), "0-00:01:00");
        assert_eq!(slurm_time(86400.0 + 3600.0 + 61.0), "1-01:02:00");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
