//! The two hot loops of [`super::block`] eight lanes to a register: the same operations on the
//! same values, so the same bits.

use std::arch::x86_64::*;

use super::format::{BLOCK, LEVELS, NEXT};

/// [`super::block::try_sums`]: lane `t` is try `t`, over the block's values in order.
#[target_feature(enable = "avx2")]
pub(super) fn try_sums(
    x: &[f32; BLOCK],
    weight: &[f32; BLOCK],
    inverse: &[f32; 16],
) -> ([f32; 16], [f32; 16]) {
    let halves = inverse.as_chunks::<8>().0;
    // SAFETY: unaligned loads of two 8-float arrays.
    let inv = unsafe { [0, 1].map(|h| _mm256_loadu_ps(halves[h].as_ptr())) };
    let mut sumqx = [_mm256_setzero_ps(); 2];
    let mut sumq2 = [_mm256_setzero_ps(); 2];
    for (&xj, &wj) in x.iter().zip(weight) {
        let (xv, w) = (_mm256_set1_ps(xj), _mm256_set1_ps(wj));
        for h in 0..2 {
            let v = _mm256_mul_ps(inv[h], xv);
            let (lo, hi, _) = neighbours(v);
            let nearer_lo = _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_sub_ps(v, lo), _mm256_sub_ps(hi, v));
            let q = _mm256_blendv_ps(hi, lo, nearer_lo);
            let wq = _mm256_mul_ps(w, q);
            sumqx[h] = _mm256_add_ps(sumqx[h], _mm256_mul_ps(wq, xv));
            sumq2[h] = _mm256_add_ps(sumq2[h], _mm256_mul_ps(wq, q));
        }
    }
    let store = |v: [__m256; 2]| {
        let mut out = [0f32; 16];
        // SAFETY: two unaligned stores of 8 floats into 16.
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr(), v[0]);
            _mm256_storeu_ps(out.as_mut_ptr().add(8), v[1]);
        }
        out
    };
    (store(sumqx), store(sumq2))
}

/// [`super::block::level_index`] of finite values: the number of levels at or below a value,
/// less one where the level below is the nearer.
#[target_feature(enable = "avx2")]
pub(super) fn level_indices(v: &[f32; BLOCK]) -> [u8; BLOCK] {
    let mut out = [0u8; BLOCK];
    for (vs, out) in v.as_chunks::<8>().0.iter().zip(out.as_chunks_mut::<8>().0) {
        // SAFETY: an unaligned load of 8 floats.
        let v = unsafe { _mm256_loadu_ps(vs.as_ptr()) };
        let (lo, hi, count) = neighbours(v);
        let nearer_lo = _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_sub_ps(v, lo), _mm256_sub_ps(hi, v));
        let index = _mm256_add_epi32(count, _mm256_castps_si256(nearer_lo));
        let mut lanes = [0i32; 8];
        // SAFETY: an unaligned store of 8 ints.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), index) };
        *out = lanes.map(|i| i as u8);
    }
    out
}

/// For finite values: the level at or below each (−∞ below the first), the level above (+∞
/// past the last), and how many levels are at or below it.
#[target_feature(enable = "avx2")]
fn neighbours(v: __m256) -> (__m256, __m256, __m256i) {
    let mut lo = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut hi = _mm256_set1_ps(f32::from(LEVELS[0]));
    let mut count = _mm256_setzero_si256();
    for (&level, &next) in LEVELS.iter().zip(&NEXT) {
        let level = _mm256_set1_ps(f32::from(level));
        let below = _mm256_cmp_ps::<_CMP_LE_OQ>(level, v);
        lo = _mm256_blendv_ps(lo, level, below);
        hi = _mm256_blendv_ps(hi, _mm256_set1_ps(next), below);
        count = _mm256_sub_epi32(count, _mm256_castps_si256(below));
    }
    (lo, hi, count)
}
