//! llama.cpp's IQ4_NL and IQ4_XS quantizers (`quantize_iq4_nl`, `quantize_iq4_xs`), the same
//! bytes without their branches.
//!
//! Both fit each block of 32 values with 16 candidate scales, and for each scale find every
//! value's nearest level with a binary search whose branches the CPU cannot predict, which makes
//! them slow. IQ4_NL is also what llama.cpp falls back to for IQ1..IQ3 tensors whose rows are not
//! a multiple of 256, so it runs inside those quantizations too. Here the 16 scales run side by
//! side and each value's neighbouring levels come from comparing it with all 16 levels, then the
//! C code's own comparison between the two ([`block`], [`avx2`]).
//!
//! How it is bound: the executable is linked with `--wrap` for both functions (build.rs), so
//! ggml's calls in `ggml_quantize_chunk` land in the `__wrap_` functions here, and the
//! `__real_` ones are llama.cpp's own.
//!
//! Same bytes: every floating-point operation is the C code's, in its order. That holds while
//! the C build does not fuse multiplies and adds (ggml's base library is built for plain x86-64):
//! the first call of a process quantizes test rows both ways and, should the bytes differ, every
//! call goes to the C function. Rows holding a non-finite value go to it too (there the C search
//! can meet NaN, where comparing with every level answers differently).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod block;
mod format;

use std::ffi::c_void;
use std::sync::OnceLock;

use format::{BLOCK, SUPER};

type QuantizeFn = unsafe extern "C" fn(*const f32, *mut c_void, i64, i64, *const f32) -> usize;

/// Declares llama.cpp's function as `__real_NAME` and defines `__wrap_NAME`, which ggml calls in
/// its place: [`quantize_rows`] with `quantize_block`.
macro_rules! wrap {
    ($wrap:ident, $real:ident, $quantize_block:path, $c_name:literal) => {
        extern "C" {
            fn $real(
                src: *const f32,
                dst: *mut c_void,
                nrow: i64,
                n_per_row: i64,
                quant_weights: *const f32,
            ) -> usize;
        }

        #[doc = concat!("ggml's `", $c_name, "`, quantized here.")]
        ///
        /// # Safety
        /// As the C function's: `src` holds `nrow * n_per_row` floats, `dst` room for `nrow` rows
        /// of blocks, `quant_weights` is null or holds `n_per_row` floats.
        #[no_mangle]
        pub unsafe extern "C" fn $wrap(
            src: *const f32,
            dst: *mut c_void,
            nrow: i64,
            n_per_row: i64,
            quant_weights: *const f32,
        ) -> usize {
            static MATCHES_C: OnceLock<bool> = OnceLock::new();
            #[cfg(test)]
            tests::WRAPPED_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // SAFETY: the caller's promise, passed on.
            unsafe {
                quantize_rows(
                    (src, dst, nrow, n_per_row, quant_weights),
                    $real,
                    &MATCHES_C,
                    $quantize_block,
                )
            }
        }
    };
}

wrap!(
    __wrap_quantize_iq4_nl,
    __real_quantize_iq4_nl,
    block::quantize_nl,
    "quantize_iq4_nl"
);
wrap!(
    __wrap_quantize_iq4_xs,
    __real_quantize_iq4_xs,
    block::quantize_xs,
    "quantize_iq4_xs"
);

/// Quantizes rows of `N`-value blocks into `B`-byte blocks with `quantize_block`, or hands them
/// to llama.cpp's `real` function: all of them if the arguments are unusual or the two disagree
/// on test rows, and one at a time the rows holding a non-finite value.
///
/// # Safety
/// As `real`'s: `src` holds `nrow * n_per_row` floats, `dst` room for `nrow` rows of blocks,
/// `quant_weights` is null or holds `n_per_row` floats.
unsafe fn quantize_rows<const N: usize, const B: usize>(
    (src, dst, nrow, n_per_row, quant_weights): (*const f32, *mut c_void, i64, i64, *const f32),
    real: QuantizeFn,
    matches_c: &OnceLock<bool>,
    quantize_block: fn(&[f32; N], Option<&[f32; N]>, &mut [u8; B]),
) -> usize {
    let call_real = |src: *const f32, dst: *mut c_void, nrow: i64| {
        // SAFETY: the caller's promise, passed on (or a part of it: whole rows).
        unsafe { real(src, dst, nrow, n_per_row, quant_weights) }
    };
    let (Ok(rows), Ok(n)) = (usize::try_from(nrow), usize::try_from(n_per_row)) else {
        return call_real(src, dst, nrow);
    };
    let row_bytes = n / N * B;
    let (Some(n_src), Some(n_dst)) = (rows.checked_mul(n), rows.checked_mul(row_bytes)) else {
        return call_real(src, dst, nrow);
    };
    let usual = n > 0 && n.is_multiple_of(N) && !src.is_null() && !dst.is_null();
    if !usual || !*matches_c.get_or_init(|| same_as_c(real, quantize_block)) {
        return call_real(src, dst, nrow);
    }
    // SAFETY: the caller promises these lengths (checked above not to overflow).
    let (src, out, weights) = unsafe {
        (
            std::slice::from_raw_parts(src, n_src),
            std::slice::from_raw_parts_mut(dst.cast::<u8>(), n_dst),
            (!quant_weights.is_null()).then(|| std::slice::from_raw_parts(quant_weights, n)),
        )
    };
    for (x, q) in src.chunks_exact(n).zip(out.chunks_exact_mut(row_bytes)) {
        if x.iter().all(|v| v.is_finite()) {
            quantize_row(x, weights, q, quantize_block);
        } else {
            call_real(x.as_ptr(), q.as_mut_ptr().cast(), 1);
        }
    }
    n_dst
}

/// One row of finite values (a multiple of `N`), block by block.
fn quantize_row<const N: usize, const B: usize>(
    x: &[f32],
    weights: Option<&[f32]>,
    q: &mut [u8],
    quantize_block: fn(&[f32; N], Option<&[f32; N]>, &mut [u8; B]),
) {
    let blocks = x.as_chunks::<N>().0;
    let outs = q.as_chunks_mut::<B>().0;
    for (i, (xb, out)) in blocks.iter().zip(outs).enumerate() {
        let w = weights.and_then(|w| w[i * N..].first_chunk::<N>());
        quantize_block(xb, w, out);
    }
}

/// Whether `quantize_block` gives `real`'s bytes on test rows, with and without weights.
fn same_as_c<const N: usize, const B: usize>(
    real: QuantizeFn,
    quantize_block: fn(&[f32; N], Option<&[f32; N]>, &mut [u8; B]),
) -> bool {
    const ROWS: usize = 8;
    let (x, weights) = test_rows(ROWS, SUPER);
    let same = [None, Some(&weights[..])].into_iter().all(|w| {
        let mut ours = vec![0u8; ROWS * SUPER / N * B];
        let mut theirs = ours.clone();
        for (row, q) in x
            .chunks_exact(SUPER)
            .zip(ours.chunks_exact_mut(SUPER / N * B))
        {
            quantize_row(row, w, q, quantize_block);
        }
        let qw = w.map_or(std::ptr::null(), <[f32]>::as_ptr);
        // SAFETY: ROWS rows of SUPER floats in, room for as many rows of blocks out, SUPER weights.
        unsafe {
            real(
                x.as_ptr(),
                theirs.as_mut_ptr().cast(),
                ROWS as i64,
                SUPER as i64,
                qw,
            )
        };
        ours == theirs
    });
    same
}

/// Rows that reach every branch of the quantizers: blocks of zeros, of tiny values, of values
/// tied in magnitude, with spikes, ordinary ones, and a last row of zeros; positive weights.
fn test_rows(rows: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x2545_f491_4f6c_dd1d);
    let mut uniform = move || rng.gen_range(-1.0f32..1.0);
    let mut x: Vec<f32> = (0..rows * n)
        .map(|i| match (i / BLOCK) % 8 {
            _ if i >= (rows - 1) * n => 0.0,
            0 => 0.0,
            1 => uniform() * 1e-16,
            2 => (uniform() * 8.0).round() * 0.125,
            3 if i % 7 == 0 => uniform() * 40.0,
            _ => uniform() * uniform() * 0.1,
        })
        .collect();
    // Two values of the same magnitude lead block 5: the first one sets the sign of the scale.
    x[BLOCK * 5 + 5] = 0.5;
    x[BLOCK * 5 + 9] = -0.5;
    let weights = (0..n).map(|_| uniform().abs() * 3.0 + 1e-3).collect();
    (x, weights)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::format::{NL_BYTES, XS_BYTES};
    use super::*;

    /// Calls of the `__wrap_` functions, from any test.
    pub(super) static WRAPPED_CALLS: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn ggml_quantize_chunk_calls_land_here() {
        use llama_cpp_sys_2::{ggml_quantize_chunk, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS};
        let (x, weights) = test_rows(4, SUPER);
        for (ty, bytes) in [
            (GGML_TYPE_IQ4_NL, 32 * NL_BYTES),
            (GGML_TYPE_IQ4_XS, 4 * XS_BYTES),
        ] {
            let mut out = vec![0u8; bytes];
            let before = WRAPPED_CALLS.load(Ordering::SeqCst);
            // SAFETY: 4 rows of 256 floats in, room for 4 rows of blocks out, 256 weights.
            let n = unsafe {
                ggml_quantize_chunk(
                    ty,
                    x.as_ptr(),
                    out.as_mut_ptr().cast(),
                    0,
                    4,
                    256,
                    weights.as_ptr(),
                )
            };
            assert_eq!(n, bytes);
            assert!(
                WRAPPED_CALLS.load(Ordering::SeqCst) > before,
                "type {ty} did not come here"
            );
        }
    }

    /// Calls `wrapped` and `real` on the same rows and compares the bytes.
    fn compare(
        wrapped: QuantizeFn,
        real: QuantizeFn,
        x: &[f32],
        n: usize,
        w: Option<&[f32]>,
        bytes: usize,
    ) {
        let rows = x.len() / n;
        let (mut ours, mut theirs) = (vec![0u8; bytes], vec![0u8; bytes]);
        let qw = w.map_or(std::ptr::null(), <[f32]>::as_ptr);
        // SAFETY: `rows` rows of `n` floats in, `bytes` of room out, `n` weights or none.
        let sizes = unsafe {
            [
                wrapped(
                    x.as_ptr(),
                    ours.as_mut_ptr().cast(),
                    rows as i64,
                    n as i64,
                    qw,
                ),
                real(
                    x.as_ptr(),
                    theirs.as_mut_ptr().cast(),
                    rows as i64,
                    n as i64,
                    qw,
                ),
            ]
        };
        assert_eq!(sizes, [bytes, bytes]);
        assert!(ours == theirs, "weights: {}", w.is_some());
    }

    #[test]
    fn rows_are_the_c_functions_bytes() {
        let (x, weights) = test_rows(64, 576);
        for w in [None, Some(&weights[..])] {
            compare(
                __wrap_quantize_iq4_nl,
                __real_quantize_iq4_nl,
                &x,
                576,
                w,
                64 * 18 * NL_BYTES,
            );
        }
        let (x, weights) = test_rows(16, 1536);
        for w in [None, Some(&weights[..])] {
            compare(
                __wrap_quantize_iq4_xs,
                __real_quantize_iq4_xs,
                &x,
                1536,
                w,
                16 * 6 * XS_BYTES,
            );
        }
        // Both took their own path: the C functions agreed on the test rows.
        assert!(same_as_c(__real_quantize_iq4_nl, block::quantize_nl));
        assert!(same_as_c(__real_quantize_iq4_xs, block::quantize_xs));
    }

    #[test]
    fn non_finite_rows_go_to_the_c_function() {
        let (mut x, _) = test_rows(2, 256);
        x[300] = f32::NAN;
        x[400] = f32::INFINITY;
        compare(
            __wrap_quantize_iq4_nl,
            __real_quantize_iq4_nl,
            &x,
            256,
            None,
            16 * NL_BYTES,
        );
        compare(
            __wrap_quantize_iq4_xs,
            __real_quantize_iq4_xs,
            &x,
            256,
            None,
            2 * XS_BYTES,
        );
    }

    #[test]
    fn a_disagreeing_quantizer_is_caught() {
        let off_by_one: fn(&[f32; BLOCK], Option<&[f32; BLOCK]>, &mut [u8; NL_BYTES]) =
            |x, w, out| {
                block::quantize_nl(x, w, out);
                out[2] ^= 1;
            };
        assert!(!same_as_c(__real_quantize_iq4_nl, off_by_one));
    }
}
