//! llama.cpp's log, routed into ours: hidden unless `-v`, its errors kept for our error messages,
//! and a listener hook so a command (quantize) can turn log lines into progress.

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use llama_cpp_sys_2 as sys;

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Shows llama.cpp's own log (otherwise only its errors are kept, for our error messages).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::SeqCst);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::SeqCst)
}

type Listener = Box<dyn FnMut(&str) + Send>;

struct LogState {
    partial: String,
    recent_errors: Vec<String>,
    listener: Option<Listener>,
}

static STATE: Mutex<LogState> = Mutex::new(LogState {
    partial: String::new(),
    recent_errors: Vec::new(),
    listener: None,
});

pub(crate) fn install() {
    // SAFETY: `on_log` is a plain extern "C" function that lives for the whole program.
    unsafe {
        sys::llama_log_set(Some(on_log), std::ptr::null_mut());
        sys::ggml_log_set(Some(on_log), std::ptr::null_mut());
    }
}

unsafe extern "C" fn on_log(level: sys::ggml_log_level, text: *const c_char, _user: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the duration of the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let Ok(mut state) = STATE.lock() else { return };
    state.partial.push_str(&text);
    // Lines arrive in pieces (progress dots, GGML_LOG_LEVEL_CONT): emit whole lines only.
    while let Some(nl) = state.partial.find('\n') {
        let line: String = state.partial.drain(..=nl).collect();
        let line = line.trim_end().to_string();
        if line.is_empty() {
            continue;
        }
        if level == sys::GGML_LOG_LEVEL_ERROR {
            if state.recent_errors.len() >= 8 {
                state.recent_errors.remove(0);
            }
            state.recent_errors.push(line.clone());
        }
        if let Some(listener) = state.listener.as_mut() {
            listener(&line);
        }
        if verbose() {
            eprintln!("llama.cpp: {line}");
        }
    }
}

/// The last error line llama.cpp logged since the previous call, to explain a failed call, on one
/// line with single spaces (llama.cpp pads names into columns).
pub fn take_last_error() -> Option<String> {
    let mut state = STATE.lock().ok()?;
    let last = state.recent_errors.pop();
    state.recent_errors.clear();
    last.map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Runs `f` with every llama.cpp log line also handed to `listener`.
pub fn with_listener<R>(listener: impl FnMut(&str) + Send + 'static, f: impl FnOnce() -> R) -> R {
    if let Ok(mut s) = STATE.lock() {
        s.listener = Some(Box::new(listener));
    }
    let out = f();
    if let Ok(mut s) = STATE.lock() {
        s.listener = None;
    }
    out
}
