//! What llama.cpp's static tables say about a type: a ggml tensor type's block layout and name, a
//! file type's name.

use std::ffi::CStr;

/// Block size (elements), block size in bytes and name of a ggml type, as llama.cpp itself reports
/// them; `None` for ids it does not know or has retired.
pub fn ggml_type_layout(type_id: u32) -> Option<(u64, u64, String)> {
    if type_id >= llama_cpp_sys_2::GGML_TYPE_COUNT {
        return None;
    }
    // SAFETY: the id is below GGML_TYPE_COUNT, so it indexes ggml's static type-traits table.
    let (blck, size, name) = unsafe {
        let blck = llama_cpp_sys_2::ggml_blck_size(type_id);
        let size = llama_cpp_sys_2::ggml_type_size(type_id);
        let name = llama_cpp_sys_2::ggml_type_name(type_id);
        let name = if name.is_null() {
            String::new()
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        };
        (blck, size, name)
    };
    if blck <= 0 || size == 0 {
        return None;
    }
    Some((blck as u64, size as u64, name))
}

/// llama.cpp's own name for a file type, e.g. `Q4_K - Medium`.
pub fn ftype_name(ftype: u32) -> String {
    // SAFETY: llama_ftype_name returns a static string for any value ("unknown, may not work" otherwise).
    unsafe { CStr::from_ptr(llama_cpp_sys_2::llama_ftype_name(ftype)) }
        .to_string_lossy()
        .into_owned()
}

/// ggml's name for a type id (`q4_K`), or the id itself when ggml has no such type.
pub fn type_name(type_id: u32) -> String {
    ggml_type_layout(type_id).map_or_else(|| format!("type {type_id}"), |(_, _, name)| name)
}
