//! Sparsity on the real model: the zeros are where magnitude / Wanda / N:M put them, every other
//! weight keeps its bits, and the pruned model still runs (with a higher NLL).

use crate::support;

use std::path::Path;

use crate::support::prune::{block_matrices, eval_excerpt, floats, mean_nll};
use mpt_gguf::engine::open_gguf;
use mpt_gguf::gguf::GgufFile;
use mpt_gguf::prune::{
    prune_file, NmPattern, PruneMethod, PruneOptions, PruneReport, PruneSpec, SparsitySpec,
};

fn sparsify(input: &Path, out: &Path, sp: SparsitySpec) -> PruneReport {
    let spec = PruneSpec {
        depth: None,
        sparsity: Some(sp),
    };
    prune_file(input, out, &spec, &PruneOptions::default()).unwrap()
}

/// For every pruned row: `check(original row, pruned row)`; other tensors must be byte-identical.
/// (tensor name, original row, pruned row).
type RowCheck<'a> = &'a mut dyn FnMut(&str, &[f32], &[f32]);

fn for_each_pruned_row(input: &Path, out: &Path, check: RowCheck<'_>) {
    let src = open_gguf(input).unwrap();
    let dst = open_gguf(out).unwrap();
    let targets: Vec<String> = block_matrices(&src)
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(targets.len(), 210);
    for t in src.tensors() {
        let d = dst.tensor(&t.name).unwrap();
        assert_eq!((d.ggml_type, &d.dims), (t.ggml_type, &t.dims), "{}", t.name);
        if !targets.contains(&t.name) {
            assert_eq!(src.tensor_data(t), dst.tensor_data(d), "{} changed", t.name);
            continue;
        }
        let (a, b) = (floats(&src, t), floats(&dst, d));
        let ne0 = t.dims[0] as usize;
        for (ra, rb) in a.chunks(ne0).zip(b.chunks(ne0)) {
            check(&t.name, ra, rb);
        }
    }
}

#[test]
fn magnitude_half_zeroes_half_of_every_row_and_the_model_still_runs() {
    let input = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mag50.gguf");
    let report = sparsify(
        &input,
        &out,
        SparsitySpec::unstructured(0.5, PruneMethod::Magnitude),
    );
    assert_eq!(report.tensors.len(), 210);
    let (mut rows, mut extra) = (0, 0);
    for_each_pruned_row(&input, &out, &mut |name, orig, pruned| {
        let k = orig.len() / 2;
        let zeros = pruned.iter().filter(|&&x| x == 0.0).count();
        let zeros_before = orig.iter().filter(|&&x| x == 0.0).count();
        assert_eq!(zeros, k.max(zeros_before), "{name}");
        extra += usize::from(zeros > k);
        // Kept weights keep their value; every zeroed weight is no larger than any kept one.
        let mut largest_zeroed = 0f32;
        let mut smallest_kept = f32::INFINITY;
        for (&o, &p) in orig.iter().zip(pruned) {
            if p == 0.0 {
                largest_zeroed = largest_zeroed.max(o.abs());
            } else {
                assert_eq!(o, p, "{name}");
                smallest_kept = smallest_kept.min(o.abs());
            }
        }
        assert!(
            largest_zeroed <= smallest_kept,
            "{name}: {largest_zeroed} > {smallest_kept}"
        );
        rows += 1;
    });
    assert!(rows > 100_000);
    assert!(extra < rows / 100, "{extra} rows had more zeros than asked");
    // The report agrees with the file.
    assert!((report.sparsity - 0.5).abs() < 1e-3, "{}", report.sparsity);
    let zeros: u64 = report.tensors.iter().map(|t| t.zeros).sum();
    assert_eq!(
        report.nonzero_parameters_after,
        report.parameters_after - zeros
    );

    // Pruning hurts: a higher NLL than the unpruned model, still finite.
    let text = eval_excerpt();
    let base = mean_nll(&input, &text, 300);
    let pruned = mean_nll(&out, &text, 300);
    eprintln!("NLL over 300 tokens: F16 {base:.4}, 50% magnitude {pruned:.4}");
    assert!(
        pruned.is_finite() && pruned > base + 0.1,
        "{base} vs {pruned}"
    );
}

#[test]
fn two_four_keeps_two_of_every_four() {
    let input = support::model_f16();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("2of4.gguf");
    let report = sparsify(
        &input,
        &out,
        SparsitySpec::semi_structured(NmPattern { n: 2, m: 4 }, PruneMethod::Magnitude),
    );
    assert_eq!(report.tensors.len(), 210);
    let mut groups = 0u64;
    for_each_pruned_row(&input, &out, &mut |name, orig, pruned| {
        for (go, gp) in orig.chunks(4).zip(pruned.chunks(4)) {
            let zeros = gp.iter().filter(|&&x| x == 0.0).count();
            let before = go.iter().filter(|&&x| x == 0.0).count();
            assert_eq!(zeros, before.max(2), "{name}: {go:?} -> {gp:?}");
            let kept_min = gp
                .iter()
                .filter(|&&x| x != 0.0)
                .map(|x| x.abs())
                .fold(f32::INFINITY, f32::min);
            for (&o, &p) in go.iter().zip(gp) {
                if p == 0.0 {
                    assert!(o.abs() <= kept_min, "{name}: {go:?} -> {gp:?}");
                } else {
                    assert_eq!(o, p);
                }
            }
            groups += 1;
        }
    });
    assert_eq!(
        groups * 4,
        report
            .tensors
            .iter()
            .map(|t| t.row_len * t.rows)
            .sum::<u64>()
    );
    let nll = mean_nll(&out, &eval_excerpt(), 128);
    assert!(nll.is_finite());
}

/// Wanda on two rows, redone by hand from the importance matrix file read natively here:
/// score_j = |W_j| · √(Σx²_j / n); the half of the row with the lowest scores is zero.
#[test]
fn wanda_zeroes_what_a_hand_computation_picks() {
    let input = support::model_f16();
    let imatrix = support::imatrix_f16();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wanda50.gguf");
    sparsify(
        &input,
        &out,
        SparsitySpec::unstructured(0.5, PruneMethod::Wanda).with_imatrix(&imatrix),
    );
    let mag_out = dir.path().join("mag50.gguf");
    sparsify(
        &input,
        &mag_out,
        SparsitySpec::unstructured(0.5, PruneMethod::Magnitude),
    );

    let im = open_gguf(&imatrix).unwrap();
    let src = open_gguf(&input).unwrap();
    let dst = open_gguf(&out).unwrap();
    let mag = open_gguf(&mag_out).unwrap();
    for (name, row) in [
        ("blk.3.ffn_down.weight", 17usize),
        ("blk.11.attn_q.weight", 200),
    ] {
        let sums = floats(&im, im.tensor(&format!("{name}.in_sum2")).unwrap());
        let count = floats(&im, im.tensor(&format!("{name}.counts")).unwrap())[0];
        let t = src.tensor(name).unwrap();
        let ne0 = t.dims[0] as usize;
        assert_eq!(sums.len(), ne0);
        let w = &floats(&src, t)[row * ne0..(row + 1) * ne0];
        let score: Vec<f64> = (0..ne0)
            .map(|j| (w[j] as f64).abs() * (sums[j] as f64 / count as f64).sqrt())
            .collect();
        let mut order: Vec<usize> = (0..ne0).collect();
        order.sort_by(|&a, &b| score[a].total_cmp(&score[b]).then(a.cmp(&b)));
        let mut want: Vec<usize> = order[..ne0 / 2].to_vec();
        want.sort_unstable();

        let zeros_of = |f: &GgufFile| -> Vec<usize> {
            let r = &floats(f, f.tensor(name).unwrap())[row * ne0..(row + 1) * ne0];
            (0..ne0).filter(|&j| r[j] == 0.0).collect()
        };
        let got = zeros_of(&dst);
        assert_eq!(got, want, "{name} row {row}");
        // The activations matter: Wanda's choice is not magnitude's.
        assert_ne!(got, zeros_of(&mag), "{name} row {row}");
    }
}
