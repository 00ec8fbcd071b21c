//! `quantize_row_iq4_nl_impl` of ggml-quants.c (with `ntry` 7, as both callers use it), one
//! block at a time: IQ4_NL's blocks of 32 values and IQ4_XS's super-blocks of 256. Every
//! floating-point operation is the C code's, in its order; only the search for levels differs.

use super::format::{BLOCK, LEVELS, NL_BYTES, SUPER, XS_BYTES};

/// Scales tried either side of the first guess (`ntry`).
const NTRY: i32 = 7;
const GROUP_MAX_EPS: f32 = 1e-15;

/// One IQ4_NL block.
pub(super) fn quantize_nl(
    x: &[f32; BLOCK],
    quant_weights: Option<&[f32; BLOCK]>,
    out: &mut [u8; NL_BYTES],
) {
    let scale = block_scale(x, quant_weights, sigma2(x));
    out[..2].copy_from_slice(&fp16(scale));
    let id = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    pack(&level_indices(&x.map(|v| id * v)), &mut out[2..]);
}

/// One IQ4_XS super-block: a scale per block of 32, each stored as a 6-bit multiple of the
/// super-block's scale.
pub(super) fn quantize_xs(
    x: &[f32; SUPER],
    quant_weights: Option<&[f32; SUPER]>,
    out: &mut [u8; XS_BYTES],
) {
    let sigma2 = sigma2(x);
    let blocks = x.as_chunks::<BLOCK>().0;
    let weights = quant_weights.map(|w| w.as_chunks::<BLOCK>().0);
    let scales: [f32; SUPER / BLOCK] =
        std::array::from_fn(|ib| block_scale(&blocks[ib], weights.map(|w| &w[ib]), sigma2));
    let (mut amax_scale, mut max_scale) = (0f32, 0f32);
    for &d in &scales {
        if d.abs() > amax_scale {
            amax_scale = d.abs();
            max_scale = d;
        }
    }
    let d = -max_scale / 32.0;
    out[..2].copy_from_slice(&fp16(d));
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (mut scales_h, mut scales_l) = (0u16, [0u8; SUPER / 64]);
    let qs = &mut out[8..];
    for (ib, (xb, &scale)) in blocks.iter().zip(&scales).enumerate() {
        let l = nearest_int(id * scale).clamp(-32, 31);
        let dl = d * l as f32;
        let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
        pack(
            &level_indices(&xb.map(|v| idl * v)),
            &mut qs[ib * BLOCK / 2..],
        );
        let l = (l + 32) as u8;
        scales_l[ib / 2] |= (l & 0xf) << (4 * (ib % 2));
        scales_h |= u16::from(l >> 4) << (2 * (ib % 8));
    }
    out[2..4].copy_from_slice(&scales_h.to_ne_bytes());
    out[4..8].copy_from_slice(&scales_l);
}

/// The super-block's spread: twice the mean square of its values.
fn sigma2(x: &[f32]) -> f32 {
    let mut sigma2 = 0f32;
    for v in x {
        sigma2 += v * v;
    }
    sigma2 * (2.0 / x.len() as f32)
}

/// The weighted best scale of one block of 32 (0 for a block of near-zeros).
fn block_scale(x: &[f32; BLOCK], quant_weights: Option<&[f32; BLOCK]>, sigma2: f32) -> f32 {
    let weight: [f32; BLOCK] = match quant_weights {
        Some(qw) => std::array::from_fn(|j| qw[j] * (sigma2 + x[j] * x[j]).sqrt()),
        None => x.map(|v| v * v),
    };
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        return 0.0;
    }
    let mut inverse = [0f32; 16];
    inverse[0] = 1.0 / (-max / f32::from(LEVELS[0]));
    for (t, id) in inverse[1..].iter_mut().enumerate() {
        *id = (t as i32 - NTRY + i32::from(LEVELS[0])) as f32 / max;
    }
    let (sumqx, sumq2) = try_sums(x, &weight, &inverse);
    let mut d = if sumq2[0] > 0.0 {
        sumqx[0] / sumq2[0]
    } else {
        0.0
    };
    let mut best = d * sumqx[0];
    for t in 1..16 {
        if sumq2[t] > 0.0 && sumqx[t] * sumqx[t] > best * sumq2[t] {
            d = sumqx[t] / sumq2[t];
            best = d * sumqx[t];
        }
    }
    d
}

/// Each try's weighted sums Σ w·q·x and Σ w·q² over the block, in the C loop's order (value by
/// value), the 16 tries (the first guess, then −7..7 around the first level) side by side.
pub(super) fn try_sums(
    x: &[f32; BLOCK],
    weight: &[f32; BLOCK],
    inverse: &[f32; 16],
) -> ([f32; 16], [f32; 16]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { super::avx2::try_sums(x, weight, inverse) };
    }
    let (mut sumqx, mut sumq2) = ([0f32; 16], [0f32; 16]);
    for (&xj, &w) in x.iter().zip(weight) {
        for t in 0..16 {
            let q = f32::from(LEVELS[usize::from(level_index(inverse[t] * xj))]);
            sumqx[t] += w * q * xj;
            sumq2[t] += w * q * q;
        }
    }
    (sumqx, sumq2)
}

/// [`level_index`] of each value.
pub(super) fn level_indices(v: &[f32; BLOCK]) -> [u8; BLOCK] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && v.iter().all(|v| v.is_finite()) {
        // SAFETY: the CPU has AVX2.
        return unsafe { super::avx2::level_indices(v) };
    }
    v.map(level_index)
}

/// ggml's `best_index_int8(16, kvalues_iq4nl, v)`, as written (any `v`, NaN included).
pub(super) fn level_index(v: f32) -> u8 {
    let at = |i: usize| f32::from(LEVELS[i]);
    if v <= at(0) {
        return 0;
    }
    if v >= at(15) {
        return 15;
    }
    let (mut ml, mut mu) = (0, 15);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if v < at(mav) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if v - at(mu - 1) < at(mu) - v {
        (mu - 1) as u8
    } else {
        mu as u8
    }
}

/// ggml's `nearest_int`: round to nearest (ties to even) by the float-add trick.
fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// Two 4-bit levels per byte: value j in the low half of byte j, value 16 + j in the high half.
fn pack(levels: &[u8; BLOCK], qs: &mut [u8]) {
    for j in 0..BLOCK / 2 {
        qs[j] = levels[j] | (levels[BLOCK / 2 + j] << 4);
    }
}

/// ggml's own f32 → f16 conversion, so that even NaN comes out as the C code writes it.
fn fp16(v: f32) -> [u8; 2] {
    // SAFETY: a plain conversion function of ggml, no pointers.
    unsafe { llama_cpp_sys_2::ggml_fp32_to_fp16(v) }.to_ne_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_indices_are_the_binary_searchs() {
        let mut probes: Vec<f32> = (0..BLOCK * 40)
            .map(|i| (i as f32 - 640.0) * 0.2371)
            .collect();
        for w in LEVELS.windows(2) {
            let (a, b) = (f32::from(w[0]), f32::from(w[1]));
            for v in [a, (a + b) / 2.0, b] {
                probes.extend([v, v.next_down(), v.next_up()]);
            }
        }
        probes.extend([0.0, -0.0, 1e-30, -1e-30, 134.9, -134.9, 1e9, -1e9]);
        probes.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        for group in probes.chunks(BLOCK) {
            let mut v = [0f32; BLOCK];
            v[..group.len()].copy_from_slice(group);
            assert_eq!(level_indices(&v), v.map(level_index), "values {v:?}");
        }
    }

    #[test]
    fn nearest_int_rounds_half_to_even() {
        let cases = [
            (0.4, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (-31.7, -32),
            (31.2, 31),
        ];
        for (v, want) in cases {
            assert_eq!(nearest_int(v), want, "{v}");
        }
    }
}
