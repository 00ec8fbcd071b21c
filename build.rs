//! Records, for `--version` and result files, which llama.cpp this binary carries and which backends it
//! was built with. The vendored llama.cpp tree has no git metadata, so the revision is named by the
//! llama-cpp-sys-2 release that vendors it, that release's llama-cpp-rs commit and the ggml version.
use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let sys_version = fs::read_to_string(manifest.join("Cargo.lock"))
        .ok()
        .and_then(|lock| locked_version(&lock, "llama-cpp-sys-2"))
        .unwrap_or_else(|| "unknown".into());

    let (mut vcs, mut ggml) = ("unknown".to_string(), "unknown".to_string());
    if let Some(dir) = find_sys_source(&sys_version) {
        if let Ok(info) = fs::read_to_string(dir.join(".cargo_vcs_info.json")) {
            if let Some(i) = info.find("\"sha1\"") {
                let rest = &info[i + 6..];
                let sha: String = rest
                    .chars()
                    .skip_while(|c| !c.is_ascii_hexdigit())
                    .take_while(|c| c.is_ascii_hexdigit())
                    .collect();
                if sha.len() >= 8 {
                    vcs = sha[..12.min(sha.len())].to_string();
                }
            }
        }
        if let Ok(cm) = fs::read_to_string(dir.join("llama.cpp/ggml/CMakeLists.txt")) {
            let part = |key: &str| {
                cm.lines()
                    .find(|l| l.contains(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .map(|s| s.trim_end_matches(')').to_string())
            };
            if let (Some(a), Some(b), Some(c)) = (
                part("GGML_VERSION_MAJOR"),
                part("GGML_VERSION_MINOR"),
                part("GGML_VERSION_PATCH"),
            ) {
                ggml = format!("{a}.{b}.{c}");
            }
        }
    }
    // llama.cpp's IQ4_NL and IQ4_XS quantizers are replaced by src/engine/iq4 (the same bytes,
    // faster): GNU ld sends ggml's calls to our `__wrap_` functions, which can still call the
    // originals as `__real_`; `--undefined` makes the linker take our definitions from the library
    // before it meets ggml's calls. Elsewhere llama.cpp's own functions run.
    println!("cargo::rustc-check-cfg=cfg(wrap_iq4)");
    let target = |key: &str| env::var(format!("CARGO_CFG_TARGET_{key}")).unwrap_or_default();
    if target("OS") == "linux" && target("ENV") == "gnu" && target("ARCH") == "x86_64" {
        println!("cargo:rustc-cfg=wrap_iq4");
        for f in ["quantize_iq4_nl", "quantize_iq4_xs"] {
            println!("cargo:rustc-link-arg=-Wl,--wrap={f}");
            println!("cargo:rustc-link-arg=-Wl,--undefined=__wrap_{f}");
        }
    }
    let mut backends = vec!["cpu"];
    if env::var_os("CARGO_FEATURE_CUDA").is_some() {
        backends.push("cuda");
    }
    let revision = format!("llama-cpp-sys-2 {sys_version} (llama-cpp-rs {vcs}, ggml {ggml})");
    println!("cargo:rustc-env=MPT_LLAMA_REVISION={revision}");
    println!("cargo:rustc-env=MPT_LLAMA_SYS_VERSION={sys_version}");
    println!("cargo:rustc-env=MPT_BACKENDS={}", backends.join(","));
    let native = env::var("CARGO_ENCODED_RUSTFLAGS")
        .unwrap_or_default()
        .contains("target-cpu=native");
    println!(
        "cargo:rustc-env=MPT_TARGET_CPU={}",
        if native { "native" } else { "generic" }
    );
}

fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            let v = lines.next()?;
            return v
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(String::from);
        }
    }
    None
}

fn find_sys_source(version: &str) -> Option<PathBuf> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let src = home.join("registry/src");
    for entry in fs::read_dir(src).ok()?.flatten() {
        let dir = entry.path().join(format!("llama-cpp-sys-2-{version}"));
        if dir.is_dir() {
            return Some(dir);
        }
    }
    None
}
