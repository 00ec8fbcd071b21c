//! llama.cpp mode against llama-perplexity itself, on the F16 baseline and the same files:
//! HellaSwag (400 tasks), WinoGrande (400 tasks, and its random selection of 20), and the binary
//! multiple-choice format (a file written here, read by both). The reference's output is kept in
//! the fixtures folder, keyed by a hash of its inputs, so a second run only runs our side.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::tasks::*;
use mpt_gguf::engine::{Model, ModelOptions};
use mpt_gguf::tasks::formats::llamacpp::{write_choice_tasks, ChoiceTask};
use mpt_gguf::tasks::{evaluate, EvalOptions, Mode, TaskReport, TaskSet};
use sha2::Digest;

/// The first `n` lines of a shared llama.cpp file, as a fixture.
fn head_lines(src: &str, n: usize, name: &str) -> PathBuf {
    support::fixture(name, |out| {
        let text = std::fs::read_to_string(tasks_dir().join(src)).unwrap();
        let lines: Vec<&str> = text.lines().take(n).collect();
        std::fs::write(out, lines.join("\n") + "\n").unwrap();
    })
}

/// llama-perplexity's stdout and stderr for `args` on the F16 baseline, run once per input.
fn reference(input: &Path, args: &[&str]) -> String {
    let model = support::model_f16();
    let key = format!(
        "{}{}{}",
        mpt_gguf::util::sha256_file(input).unwrap(),
        mpt_gguf::util::sha256_file(&model).unwrap(),
        args.join(" ")
    );
    let hash = format!("{:x}", sha2::Sha256::digest(key.as_bytes()));
    let out = support::fixture(&format!("llama-perplexity-{}.out", &hash[..16]), |out| {
        let bin = support::require_reference("llama-perplexity");
        let t = Instant::now();
        let run = Command::new(bin)
            .arg("-m")
            .arg(&model)
            .arg("-f")
            .arg(input)
            .args(args)
            .args(["-t", "2"])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "llama-perplexity failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        eprintln!(
            "llama-perplexity {} took {:.1} s",
            args.join(" "),
            t.elapsed().as_secs_f64()
        );
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::write(out, text).unwrap();
    });
    std::fs::read_to_string(out).unwrap()
}

fn ours(model: &Model, spec: &str, limit: Option<usize>) -> TaskReport {
    ours_np(model, spec, limit, None)
}

fn ours_np(model: &Model, spec: &str, limit: Option<usize>, n_parallel: Option<u32>) -> TaskReport {
    let set = TaskSet::load(spec, &Default::default()).unwrap();
    let opts = EvalOptions {
        limit,
        n_parallel,
        mode: Mode::LlamaCpp,
        n_threads: 2,
        ..Default::default()
    };
    let t = Instant::now();
    let r = evaluate(model, &set, &opts, &mut |_, _| {}).unwrap();
    eprintln!(
        "mpt-gguf {spec} (llama.cpp mode) took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    r
}

/// Per task, whether it was right, from llama-perplexity's running accuracy (`N\tACC...`).
fn running_correct(out: &str) -> Vec<bool> {
    let mut correct = Vec::new();
    let mut prev = 0i64;
    for line in out.lines() {
        let mut f = line.split('\t');
        let (Some(n), Some(acc)) = (f.next(), f.next()) else {
            continue;
        };
        let (Ok(n), Ok(acc)) = (n.parse::<i64>(), acc.trim_end_matches('%').parse::<f64>()) else {
            continue;
        };
        if n != correct.len() as i64 + 1 {
            continue;
        }
        let k = (acc * n as f64 / 100.0).round() as i64;
        correct.push(k > prev);
        prev = k;
    }
    correct
}

fn model() -> Model {
    Model::load(&support::model_f16(), &ModelOptions::default()).unwrap()
}

#[test]
fn hellaswag_400_tasks_equal_llama_perplexity() {
    let input = head_lines(
        "llama.cpp/hellaswag_val_full.txt",
        6 * 400,
        "hellaswag-400.txt",
    );
    let out = reference(&input, &["--hellaswag", "--hellaswag-tasks", "400"]);
    let expected = running_correct(&out);
    assert_eq!(expected.len(), 400, "{out}");
    let r = ours(&model(), &format!("hellaswag={}", input.display()), None);
    // llama-perplexity shuffles the tasks (mt19937 seeded with 1): same order, same verdicts.
    let got: Vec<bool> = r.items.iter().map(|i| i.pred == i.gold).collect();
    assert_eq!(got, expected);
    let last = out.lines().rfind(|l| l.starts_with("400\t")).unwrap();
    assert!(
        last.starts_with(&format!("400\t{:.8}%", 100.0 * r.acc.value)),
        "{last}"
    );
    eprintln!("hellaswag 400: acc {:.2}% in both", 100.0 * r.acc.value);
}

/// `N\tACC\tSCORE1  SCORE2  PICK  ANSWER` lines of `--winogrande`.
fn winogrande_lines(out: &str) -> Vec<(f64, f64, usize)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 6 || f[0].parse::<usize>().is_err() {
                return None;
            }
            Some((f[2].parse().ok()?, f[3].parse().ok()?, f[4].parse().ok()?))
        })
        .collect()
}

fn same_winogrande(r: &TaskReport, expected: &[(f64, f64, usize)]) {
    assert_eq!(r.items.len(), expected.len());
    for (item, &(s1, s2, pick)) in r.items.iter().zip(expected) {
        // Printed with 6 decimals.
        assert!(
            (item.scores[0] - s1).abs() < 1e-6 && (item.scores[1] - s2).abs() < 1e-6,
            "{item:?} vs {s1} {s2}"
        );
        assert_eq!(item.pred + 1, pick, "{}", item.row);
    }
}

#[test]
fn winogrande_400_tasks_and_a_random_20_equal_llama_perplexity() {
    // llama-perplexity never reads the last line of its CSV: 401 lines hold its 400 tasks.
    let input = head_lines("llama.cpp/winogrande_dev.csv", 401, "winogrande-401.csv");
    let model = model();
    let out = reference(&input, &["--winogrande"]);
    let expected = winogrande_lines(&out);
    assert_eq!(expected.len(), 400);
    let r = ours(&model, &format!("winogrande={}", input.display()), None);
    same_winogrande(&r, &expected);
    // Its final line, computed in single precision as it does.
    let (n, k) = (
        r.n as f32,
        r.items.iter().filter(|i| i.pred == i.gold).count() as f32,
    );
    let p = k / n;
    let sigma = 100.0 * (p * (1.0 - p) / (n - 1.0)).sqrt();
    let line = format!(
        "Final Winogrande score(400 tasks): {:.4} +/- {:.4}",
        100.0 * p,
        sigma
    );
    assert!(out.contains(&line), "{line} not in the reference output");
    eprintln!("winogrande 400: {line} in both");

    // --winogrande-tasks 20: llama.cpp's own random pick (mt19937, float-scaled draws).
    let out = reference(&input, &["--winogrande", "--winogrande-tasks", "20"]);
    let expected = winogrande_lines(&out);
    assert_eq!(expected.len(), 20);
    same_winogrande(
        &ours(&model, &format!("winogrande={}", input.display()), Some(20)),
        &expected,
    );
}

#[test]
fn binary_multiple_choice_files_score_as_llama_perplexity() {
    let input = support::fixture("arc-easy-40.bin", |out| {
        let tasks: Vec<ChoiceTask> = rows("arc_easy_validation.jsonl")[..40]
            .iter()
            .map(|r| {
                let key = r["answerKey"].as_str().unwrap();
                ChoiceTask {
                    question: format!("Question: {}\nAnswer:", r["question"].as_str().unwrap()),
                    answers: r["choices"]["text"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_string())
                        .collect(),
                    labels: r["choices"]["label"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| i32::from(l.as_str() == Some(key)))
                        .collect(),
                }
            })
            .collect();
        write_choice_tasks(out, &tasks).unwrap();
    });
    let model = model();
    // Some ARC questions have 5 answers: more parallel sequences than the default 4.
    let out = reference(&input, &["--multiple-choice", "-np", "8"]);
    assert!(
        out.contains("there are 40 tasks in prompt"),
        "llama-perplexity read the file we wrote: {out}"
    );
    let expected = running_correct(&out);
    assert_eq!(expected.len(), 40);
    let r = ours_np(
        &model,
        &format!("arc-easy={}", input.display()),
        None,
        Some(8),
    );
    assert_eq!(
        r.items.iter().map(|i| i.pred == i.gold).collect::<Vec<_>>(),
        expected
    );
    let (p, n) = (r.acc.value as f32, r.n as f32);
    let line = format!(
        "Final result: {:.4} +/- {:.4}",
        100.0 * p,
        100.0 * (p * (1.0 - p) / (n - 1.0)).sqrt()
    );
    assert!(out.contains(&line), "{line} not in the reference output");

    // --multiple-choice-tasks 12: its random pick.
    let out = reference(
        &input,
        &[
            "--multiple-choice",
            "--multiple-choice-tasks",
            "12",
            "-np",
            "8",
        ],
    );
    let expected = running_correct(&out);
    assert_eq!(expected.len(), 12);
    let r = ours_np(
        &model,
        &format!("arc-easy={}", input.display()),
        Some(12),
        Some(8),
    );
    assert_eq!(
        r.items.iter().map(|i| i.pred == i.gold).collect::<Vec<_>>(),
        expected
    );
}
