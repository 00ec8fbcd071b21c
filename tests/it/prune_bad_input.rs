//! Bad input to `mpt-gguf prune`: one-line errors naming the file, exit status 2, nothing written.

use crate::support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use mpt_gguf::gguf::{GgmlType, GgufBuilder};

/// Runs `prune IN OUT ARGS...` in a fresh folder and checks the failure; returns stderr.
fn fails(input: &Path, args: &[&str], names: &Path, says: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gguf");
    let mut argv: Vec<OsString> = vec!["prune".into(), input.into(), out.clone().into()];
    argv.extend(args.iter().map(OsString::from));
    let argv: Vec<&std::ffi::OsStr> = argv.iter().map(|a| a.as_os_str()).collect();
    let run = support::mpt(&argv);
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(&names.display().to_string()),
        "{args:?}: does not name {}: {stderr}",
        names.display()
    );
    assert!(
        stderr.contains(says),
        "{args:?}: expected '{says}': {stderr}"
    );
    assert!(
        run.stdout.is_empty(),
        "{args:?}: printed {:?}",
        String::from_utf8_lossy(&run.stdout)
    );
    let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "{args:?}: left {left:?}");
    stderr
}

#[test]
fn depth_outside_the_model_or_everything() {
    let f16 = support::model_f16();
    fails(
        &f16,
        &["--layers", "28-31"],
        &f16,
        "block 30 is outside the model, which has 30 blocks",
    );
    fails(&f16, &["--layers", "0-29"], &f16, "removing all 30 blocks");
    fails(&f16, &["--layers", "2-x"], &f16, "is not a block index");
    let calib = support::calibration_text();
    fails(
        &f16,
        &["--drop", "30", "-f", calib.to_str().unwrap()],
        &f16,
        "would leave no model",
    );
    fails(
        &f16,
        &["--drop", "2", "-f", "/nonexistent/calib.txt"],
        Path::new("/nonexistent/calib.txt"),
        "cannot read",
    );
}

#[test]
fn sparsity_outside_zero_to_one_and_bad_patterns() {
    let f16 = support::model_f16();
    for p in ["1", "1.5", "-0.1", "NaN"] {
        fails(&f16, &["--sparsity", p], &f16, "is outside [0, 1)");
    }
    fails(
        &f16,
        &["--pattern", "4:4"],
        &f16,
        "N must be at least 1 and below M",
    );
    fails(
        &f16,
        &["--pattern", "2:4", "--sparsity", "0.3"],
        &f16,
        "not the sparsity 0.3",
    );
    // 576-weight rows do not split into groups of 5.
    fails(
        &f16,
        &["--pattern", "2:5"],
        &f16,
        "do not split into groups of 5",
    );
    fails(&f16, &["--method", "wanda"], &f16, "need --sparsity");
}

#[test]
fn wanda_needs_an_imatrix_of_this_model() {
    let f16 = support::model_f16();
    fails(
        &f16,
        &["--sparsity", "0.5", "--method", "wanda"],
        &f16,
        "needs an importance matrix",
    );

    let dir = tempfile::tempdir().unwrap();
    // Another model's matrix: a weight this model has, at another width.
    let other = dir.path().join("other-model-imatrix.gguf");
    write_imatrix(&other, &[("blk.0.attn_q.weight", 960)]);
    fails(
        &f16,
        &[
            "--sparsity",
            "0.5",
            "--method",
            "wanda",
            "--imatrix",
            other.to_str().unwrap(),
        ],
        &other,
        "another model",
    );
    // A matrix with a weight this model does not have.
    let foreign = dir.path().join("foreign-imatrix.gguf");
    write_imatrix(&foreign, &[("blk.0.ssm_in.weight", 576)]);
    fails(
        &f16,
        &[
            "--sparsity",
            "0.5",
            "--method",
            "wanda",
            "--imatrix",
            foreign.to_str().unwrap(),
        ],
        &foreign,
        "names no tensor of the model",
    );
    // A matrix that covers only part of the model (e.g. one of a depth-pruned model).
    let partial = dir.path().join("partial-imatrix.gguf");
    write_imatrix(&partial, &[("blk.0.attn_q.weight", 576)]);
    fails(
        &f16,
        &[
            "--sparsity",
            "0.5",
            "--method",
            "wanda",
            "--imatrix",
            partial.to_str().unwrap(),
        ],
        &partial,
        "no activation statistics for blk.0.attn_k.weight",
    );
    let missing = dir.path().join("missing.gguf");
    fails(
        &f16,
        &[
            "--sparsity",
            "0.5",
            "--method",
            "wanda",
            "--imatrix",
            missing.to_str().unwrap(),
        ],
        &missing,
        "cannot read",
    );
}

#[test]
fn quantized_tensors_are_refused_and_other_bad_files() {
    let q4 = support::model_q4_1();
    fails(
        &q4,
        &["--sparsity", "0.5"],
        &q4,
        "is Q4_1; sparsity needs F32, F16 or BF16 weights",
    );

    let f16 = support::model_f16();
    // Output onto the input.
    let run = support::mpt([
        "prune".as_ref(),
        f16.as_os_str(),
        f16.as_os_str(),
        "--layers".as_ref(),
        "3".as_ref(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("would replace the input"));

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"GGUF but not really").unwrap();
    fails(&junk, &["--layers", "1"], &junk, "junk.gguf");
    fails(&f16, &[], &f16, "nothing to prune");
}

/// A GGUF imatrix with the given (weight, width) entries, as `mpt-gguf imatrix` writes them.
fn write_imatrix(path: &Path, entries: &[(&str, u64)]) {
    let mut b = GgufBuilder::new();
    b.set("general.type", "imatrix");
    for (name, width) in entries {
        let sums: Vec<u8> = (0..*width).flat_map(|i| (i as f32).to_le_bytes()).collect();
        b.add_tensor(format!("{name}.in_sum2"), GgmlType::F32, &[*width, 1], sums)
            .unwrap();
        b.add_tensor(
            format!("{name}.counts"),
            GgmlType::F32,
            &[1, 1],
            512f32.to_le_bytes().to_vec(),
        )
        .unwrap();
    }
    b.write(path).unwrap();
}
