//! `mpt-gguf sweep` as a user runs it on the real model: a small ladder end to end, its numbers
//! against llama-perplexity, resume, refusals, a failing rung, and Ctrl-C.

use crate::support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mpt_gguf::results::SweepResults;
use mpt_gguf::sweep::records::{self, RungRecord};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The sweep command with small settings: 2 chunks of 256 tokens, a tiny bench.
fn sweep_cmd(model: &Path, out: &Path, types: &str, extra: &[&str]) -> Command {
    sweep_with_chunks(model, out, types, "2", extra)
}

fn sweep_with_chunks(
    model: &Path,
    out: &Path,
    types: &str,
    chunks: &str,
    extra: &[&str],
) -> Command {
    let mut c = support::mpt_command();
    let text = support::eval_text();
    c.args(["sweep", s(model), "-o", s(out), "-f", s(&text)])
        .args(["-c", "256", "--chunks", chunks, "-t", "2"])
        .args(["-p", "32", "-n", "4", "-r", "2", "--types", types])
        .args(extra);
    c
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "sweep failed: {err}");
    err
}

fn refused(o: &Output, fragments: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    for f in fragments {
        assert!(last.contains(f), "'{f}' missing from: {last}");
    }
}

fn gguf_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".gguf") || n.ends_with(".partial"))
        .collect();
    v.sort();
    v
}

/// llama-perplexity's `Final estimate: PPL = x +/- y` on the same chunks.
fn llama_ppl(model: &Path) -> (f64, f64) {
    let text = support::eval_text();
    let o = Command::new(support::require_reference("llama-perplexity"))
        .args([
            "-m",
            s(model),
            "-f",
            s(&text),
            "-c",
            "256",
            "--chunks",
            "2",
            "-t",
            "2",
        ])
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let line = all
        .lines()
        .find(|l| l.contains("Final estimate: PPL ="))
        .unwrap_or_else(|| panic!("no estimate from llama-perplexity: {all}"));
    let nums: Vec<f64> = line
        .split("PPL =")
        .nth(1)
        .unwrap()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse().ok())
        .collect();
    (nums[0], nums[1])
}

fn sig4(a: f64, b: f64) -> bool {
    format!("{a:.4e}") == format!("{b:.4e}")
}

#[test]
fn a_small_ladder_end_to_end_then_resume_and_refusals() {
    let f16 = support::model_f16();
    support::machine_peaks();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    // Q1_0 cannot be made for this model (rows of 576): recorded as failed, the sweep goes on.
    let types = "F16,Q8_0,Q4_K_M,Q1_0";
    let arc = format!(
        "arc-easy={}",
        support::tasks_dir()
            .join("arc_easy_validation.jsonl")
            .display()
    );
    let tasks: &[&str] = &["--tasks", &arc, "--task-limit", "12"];
    let first: Vec<&str> = [&["--keep-models"][..], tasks].concat();
    let err = ok(&sweep_cmd(&f16, &out, types, &first).output().unwrap());
    assert!(err.contains("Q1_0") && err.contains("FAILED"), "{err}");

    let r = SweepResults::load(&out).unwrap();
    let names: Vec<&str> = r.rungs.iter().map(|r| r.rung.as_str()).collect();
    assert_eq!(names, ["F16", "Q8_0", "Q4_K_M", "Q1_0"]);
    // llama.cpp's column-padded log line, on one line with single spaces.
    let why = r.rungs[3].error.as_deref().unwrap();
    assert!(
        why.contains("ncols 576 not divisible by 128") && !why.contains("  "),
        "{why}"
    );
    let base = r.base.as_ref().unwrap();
    assert_eq!(r.rungs[0].ppl, base.ppl, "the F16 rung is the base itself");
    for rung in &r.rungs[..3] {
        let arc = rung
            .task("arc-easy")
            .expect("ARC-Easy measured on every rung");
        assert_eq!(arc.n, 12);
        assert!((0.0..=1.0).contains(&arc.acc) && arc.acc_err > 0.0);
        assert!(rung.bpw.unwrap() > 4.0 && rung.size_bytes.unwrap() > 50_000_000);
        assert!(rung.pp_ts.unwrap() > 0.0 && rung.tg_ts.unwrap() > 0.0);
    }
    // The default --imatrix-for iq: no IQ rung, so no matrix and K-quants made as llama-quantize makes them.
    assert_eq!(r.rungs[2].imatrix, Some(false));
    assert_eq!(r.settings.imatrix, None);
    let q4 = &r.rungs[2];
    let kld = q4.kld.as_ref().unwrap();
    assert!(kld.mean > 0.0 && kld.mean < 0.5, "{}", kld.mean);
    assert!(q4.ppl.unwrap() > base.ppl.unwrap());
    // Independent reference: llama.cpp's own perplexity on the same kept files and chunks.
    for (rung, file) in [(base, f16.clone()), (q4, out.join("model-Q4_K_M.gguf"))] {
        let (ppl, err) = llama_ppl(&file);
        assert!(
            sig4(rung.ppl.unwrap(), ppl),
            "{}: {:?} vs llama.cpp {ppl}",
            rung.rung,
            rung.ppl
        );
        assert!(
            sig4(rung.ppl_err.unwrap(), err),
            "{}: ± {:?} vs {err}",
            rung.rung,
            rung.ppl_err
        );
    }
    // Rendered outputs parse back.
    let table = std::fs::read_to_string(out.join("table5.csv")).unwrap();
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(table.as_bytes());
    let scheme = rows.records().next().unwrap().unwrap();
    assert_eq!(&scheme[1], "Quant Scheme");
    assert!(table.contains("Q4_K_M") && table.contains("FP16"));
    let arc_row = table.lines().find(|l| l.contains("ARC-E")).unwrap();
    assert_eq!(
        arc_row.matches("0.").count(),
        3,
        "ARC-E of F16, Q8_0, Q4_K_M: {arc_row}"
    );
    assert!(out.join("charts/ppl_vs_bpw.png").exists());
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .contains("charts/ppl_vs_bpw.png"));
    // Machine use: every benched rung against the peaks recorded once for the sweep.
    assert!(r.peaks.as_ref().and_then(|p| p.flops.as_ref()).is_some());
    for rung in &r.rungs[..3] {
        let (pp, tg) = (rung.pp_use.as_ref().unwrap(), rung.tg_use.as_ref().unwrap());
        for v in [pp.mfu, tg.mfu, tg.bandwidth_use] {
            assert!(
                v.is_some_and(|v| v > 0.0 && v <= 1.0),
                "{}: {v:?}",
                rung.rung
            );
        }
    }
    let csv_text = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut tidy = csv::Reader::from_reader(csv_text.as_bytes());
    let header = tidy.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (mfu, bw) = (column("pp_mfu_pct"), column("tg_bw_use_pct"));
    for rec in tidy
        .records()
        .map(Result::unwrap)
        .filter(|r| r[1] != *"Q1_0")
    {
        for i in [mfu, bw] {
            let pct: f64 = rec[i].parse().unwrap();
            assert!(pct > 0.0 && pct <= 100.0, "{}: {pct}", &rec[1]);
        }
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Machine use") && report.contains("Closest to the machine's limit"));
    assert!(out.join("charts/machine_use_vs_bits.png").exists());

    // The same command again: nothing re-measured (failed rungs are retried and fail again), and
    // the unfinished files a killed run leaves (kill -9 gives no chance to clean up) are removed.
    let stale = [
        out.join(".model-Q2_K.gguf.Ab12Cd.partial"),
        out.join("charts/.ppl_vs_bpw.png.Xy34Zw.partial"),
    ];
    for p in &stale {
        std::fs::write(p, b"half a file").unwrap();
    }
    let err = ok(&sweep_cmd(&f16, &out, types, tasks).output().unwrap());
    assert!(err.contains("removed 2 unfinished file(s)"), "{err}");
    assert!(stale.iter().all(|p| !p.exists()));
    assert!(err.contains("done in an earlier run"), "{err}");
    assert!(
        !err.contains(" bpw  PPL "),
        "a rung was measured again: {err}"
    );
    let again = SweepResults::load(&out).unwrap();
    assert_eq!(again.rungs[..3], r.rungs[..3]);

    // A changed setting is refused, naming it.
    let o = sweep_with_chunks(&f16, &out, types, "3", &[])
        .output()
        .unwrap();
    refused(
        &o,
        &["other inputs or settings", "chunks: 2 -> 3", "--force"],
    );
    // Not an F16 input.
    let o = sweep_cmd(&support::model_q4_1(), &dir.path().join("q"), "Q8_0", &[])
        .output()
        .unwrap();
    refused(&o, &["already quantized", "--allow-requantize"]);
    // A folder holding something else.
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("thesis.tex"), "x").unwrap();
    let o = sweep_cmd(&f16, &busy, "Q8_0", &[]).output().unwrap();
    refused(&o, &["busy", "not empty"]);
    // No evaluation text and no cached demo text: says how to get one (the model given as
    // llama.cpp's tools take it, -m).
    let o = support::mpt_command()
        .args(["sweep", "-m", s(&f16), "-o", s(&dir.path().join("no-text"))])
        .env("MPT_DEMO_DIR", dir.path().join("no-demo"))
        .output()
        .unwrap();
    refused(&o, &["no evaluation text", "-f TEXT", "fetch-demo-text.sh"]);
    // No model at all.
    let o = support::mpt_command()
        .args(["sweep", "-o", s(&dir.path().join("no-model"))])
        .output()
        .unwrap();
    refused(&o, &["no model", "-m MODEL.gguf"]);
}

#[test]
fn quantized_files_are_deleted_and_ctrl_c_keeps_finished_rungs() {
    let f16 = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("sweep");
    let types = "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q3_K_M";
    let mut child = sweep_cmd(&f16, &out, types, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the line that reports a finished rung, then interrupt as a terminal would.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut err = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "the sweep ended before a rung finished: {err}");
        err.push_str(&line);
        if line.contains(" bpw  PPL ") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    stderr.read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    // Each finished rung is its own record; the merge gathers them when the sweep completes.
    let kept: Vec<RungRecord> = std::fs::read_dir(out.join("rungs"))
        .unwrap()
        .map(|e| records::read(&e.unwrap().path()).unwrap())
        .filter(|r| !r.base)
        .collect();
    assert!(!kept.is_empty() && kept.iter().all(|r| r.result.ok()));
    assert!(kept.len() < 5, "interrupted before the end");
    assert!(
        gguf_files(&out)
            .iter()
            .all(|f| !f.starts_with("model-") && !f.ends_with(".partial")),
        "the interrupted rung's model is gone: {:?}",
        gguf_files(&out)
    );
    // Resuming finishes the rest; every quantized model is deleted after it is measured.
    ok(&sweep_cmd(&f16, &out, types, &[]).output().unwrap());
    let done = SweepResults::load(&out).unwrap();
    assert_eq!(done.rungs.len(), 5);
    let first = kept.iter().find(|r| r.result.rung == "Q8_0").unwrap();
    assert_eq!(
        first.result, done.rungs[0],
        "finished rungs are kept as they were"
    );
    assert!(gguf_files(&out).is_empty(), "{:?}", gguf_files(&out));
}

#[test]
fn prune_grid_cells_are_measured_like_rungs() {
    let f16 = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid");
    let cal = support::calibration_text();
    let extra = [
        "--prune",
        "magnitude=0.3",
        "--prune",
        "depth=2",
        "--calib",
        s(&cal),
        "--imatrix-chunks",
        "1",
        "--imatrix-for",
        "all",
        "--no-bench",
    ];
    ok(&sweep_cmd(&f16, &out, "F16,Q8_0", &extra).output().unwrap());
    let r = SweepResults::load(&out).unwrap();
    let names: Vec<&str> = r.rungs.iter().map(|r| r.rung.as_str()).collect();
    assert_eq!(
        names,
        [
            "F16",
            "Q8_0",
            "F16+magnitude-0.3",
            "Q8_0+magnitude-0.3",
            "F16+drop-2",
            "Q8_0+drop-2"
        ]
    );
    // --imatrix-for all: every quantized cell got the matrix (renumbered for the depth-pruned one).
    assert_eq!(r.settings.extra["imatrix_for"], "all");
    assert!(r
        .settings
        .imatrix
        .as_deref()
        .unwrap()
        .ends_with("imatrix.gguf"));
    let with: Vec<Option<bool>> = r.rungs.iter().map(|r| r.imatrix).collect();
    assert_eq!(with, [None, Some(true), None, Some(true), None, Some(true)]);
    let base_ppl = r.base.as_ref().unwrap().ppl.unwrap();
    for cell in &r.rungs[2..] {
        assert!(cell.ok(), "{}: {:?}", cell.rung, cell.error);
        let p = cell.prune.as_ref().unwrap();
        assert!(
            cell.ppl.unwrap() > base_ppl,
            "{}: pruning costs quality",
            cell.rung
        );
        assert!(cell.kld.as_ref().unwrap().mean > 0.0);
        match p.method.as_str() {
            "magnitude" => {
                assert_eq!(p.level, 0.3);
                let sp = p.achieved_sparsity.unwrap();
                assert!((0.29..=0.31).contains(&sp), "{sp}");
            }
            "depth" => {
                assert_eq!(p.removed_layers.len(), 2);
                assert!(cell.n_params.unwrap() < r.base.as_ref().unwrap().n_params.unwrap());
            }
            m => panic!("unexpected method {m}"),
        }
    }
    // The grid's columns and charts.
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let headers = rd.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(&rows[3][col("prune_method")], "magnitude");
    assert!(!rows[3][col("theoretical_compression_rate")].is_empty());
    assert!(out.join("charts/ppl_vs_sparsity.png").exists());
    assert!(out.join("charts/prune_quant_heatmap.png").exists());
    assert!(
        gguf_files(&out).iter().all(|f| f == "imatrix.gguf"),
        "{:?}",
        gguf_files(&out)
    );
}

/// A disk that fills up mid-rung: the sweep stops with one line naming the file, the manifest keeps
/// the base and no half rung, no partial file stays; with space again the same command finishes.
/// The small disk is a tmpfs in a private mount namespace (`unshare -rm`, util-linux).
#[test]
fn a_full_disk_stops_the_sweep_and_the_same_command_resumes() {
    if let Err(why) = private_mounts_available() {
        eprintln!("skipped a_full_disk_stops_the_sweep_and_the_same_command_resumes: it mounts a small tmpfs in a user namespace, which this machine refuses ({why})");
        return;
    }
    let f16 = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let (disk, logs) = (dir.path().join("disk"), dir.path().join("logs"));
    std::fs::create_dir_all(&disk).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    let out = disk.join("out");
    // The base pass needs well under 1 MB; the Q8_0 rung's file is 145 MB.
    let cmd = sweep_cmd(&f16, &out, "Q8_0", &[]);
    let sweep = shell_line(&cmd);
    let (d, l) = (s(&disk), s(&logs));
    let script = format!(
        "mount -t tmpfs -o size=100m tmpfs '{d}' || exit 90
         {sweep} 2>'{l}/first.err'; echo $? >'{l}/first.rc'
         ls '{d}/out' >'{l}/files'; cp '{d}/out/manifest.json' '{l}/manifest.json'
         mount -o remount,size=400m '{d}' || exit 91
         {sweep} 2>'{l}/second.err'; echo $? >'{l}/second.rc'
         cp '{d}/out/results.json' '{l}/results.json'"
    );
    let st = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .status()
        .unwrap();
    assert!(st.success(), "the test's script failed ({st})");
    let read = |n: &str| std::fs::read_to_string(logs.join(n)).unwrap();
    let err = read("first.err");
    assert_eq!(read("first.rc").trim(), "2", "{err}");
    let last = err.trim().lines().last().unwrap();
    assert!(
        last.contains("model-Q8_0.gguf") && last.contains("no space left on the disk"),
        "{last}"
    );
    let kept = SweepResults::load(&logs.join("manifest.json")).unwrap();
    assert!(
        kept.base.is_some(),
        "the base was measured before the disk filled"
    );
    assert!(kept.rungs.is_empty(), "no half-finished rung is recorded");
    assert!(
        !read("files").contains("model-"),
        "the partial file is gone: {}",
        read("files")
    );
    assert_eq!(read("second.rc").trim(), "0", "{}", read("second.err"));
    let done = SweepResults::load(&logs.join("results.json")).unwrap();
    assert_eq!(done.base, kept.base, "the base is not measured again");
    assert!(done.rungs[0].ok() && done.rungs[0].ppl.is_some());
}

/// `cmd` as one line of `sh`, every word quoted.
fn shell_line(cmd: &Command) -> String {
    let quote = |a: &std::ffi::OsStr| format!("'{}'", a.to_str().unwrap().replace('\'', r"'\''"));
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `unshare -rm` can mount a tmpfs here (containers often forbid user namespaces).
fn private_mounts_available() -> Result<(), String> {
    let probe = tempfile::tempdir().unwrap();
    let script = format!("mount -t tmpfs -o size=1m tmpfs '{}'", s(probe.path()));
    match Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(format!("unshare: {e}")),
    }
}

#[test]
fn a_damaged_or_edited_manifest_keeps_the_finished_rungs() {
    let f16 = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let run = || {
        sweep_cmd(&f16, &out, "Q8_0", &["--no-bench"])
            .output()
            .unwrap()
    };
    ok(&run());
    let first = SweepResults::load(&out).unwrap();
    let manifest = out.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();

    // Truncated: rebuilt from the records of the base and the rung, nothing measured again.
    std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();
    let err = ok(&run());
    assert!(err.contains("rebuilt from 2 record(s)"), "{err}");
    assert!(
        err.contains("done in an earlier run") && !err.contains(" bpw  PPL "),
        "{err}"
    );
    assert!(out.join("manifest.json.damaged").exists());
    let again = SweepResults::load(&out).unwrap();
    assert_eq!((&again.base, &again.rungs), (&first.base, &first.rungs));

    // Edited by hand: the record's numbers are kept, and the sweep says so.
    let mut edited: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    edited["results"]["rungs"][0]["ppl"] = 1.0.into();
    std::fs::write(&manifest, edited.to_string()).unwrap();
    let err = ok(&run());
    assert!(
        err.contains("1 finished rung(s) taken from their records"),
        "{err}"
    );
    assert_eq!(SweepResults::load(&out).unwrap().rungs, first.rungs);

    // A damaged results.json: the folder's results are read from the manifest.
    std::fs::write(out.join("results.json"), "{\"results_version\": 1, \"mo").unwrap();
    let o = support::mpt_command()
        .args(["table", s(&out)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Q8_0"));

    // Damaged with no records left: a clear refusal that says what to do.
    std::fs::remove_dir_all(out.join("rungs")).unwrap();
    std::fs::write(&manifest, &text[..100]).unwrap();
    refused(&run(), &["manifest.json", "restore the file", "--force"]);
}

#[test]
fn a_read_only_output_folder_is_refused_and_its_rungs_stay() {
    if let Err(why) = private_mounts_available() {
        eprintln!("skipped a_read_only_output_folder_is_refused_and_its_rungs_stay: it bind-mounts a folder read-only in a user namespace, which this machine refuses ({why})");
        return;
    }
    let f16 = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    ok(&sweep_cmd(&f16, &out, "Q8_0", &["--no-bench"])
        .output()
        .unwrap());
    let before = std::fs::read(out.join("results.json")).unwrap();
    // The same sweep with one more rung, on the folder mounted read-only.
    let cmd = sweep_cmd(&f16, &out, "Q8_0,Q4_K_M", &["--no-bench"]);
    let sweep = shell_line(&cmd);
    let o = s(&out);
    let script = format!(
        "mount --bind '{o}' '{o}' && mount -o remount,bind,ro '{o}' || exit 90
         exec {sweep}"
    );
    let run = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .unwrap();
    refused(
        &run,
        &[
            "cannot create a file in",
            "Read-only",
            "make the folder writable",
        ],
    );
    assert_eq!(std::fs::read(out.join("results.json")).unwrap(), before);
}

#[test]
fn an_input_changed_between_runs_is_refused_naming_it() {
    let f16 = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let (out, text) = (dir.path().join("sweep"), dir.path().join("text.txt"));
    std::fs::copy(support::eval_text(), &text).unwrap();
    let run = || {
        sweep_cmd(&f16, &out, "Q8_0", &["--no-bench", "-f", s(&text)])
            .output()
            .unwrap()
    };
    ok(&run());
    let mut edited = std::fs::read_to_string(&text).unwrap();
    edited.push_str("\nOne more line.\n");
    std::fs::write(&text, edited).unwrap();
    refused(
        &run(),
        &[
            "other inputs or settings",
            "text: the file changed (sha256 ",
            "--force",
        ],
    );
    assert!(
        SweepResults::load(&out).unwrap().rungs[0].ok(),
        "the finished rung is kept"
    );
}
