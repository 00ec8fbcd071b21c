//! The IQ4_NL and IQ4_XS formats as ggml lays them out: values per block, bytes per block, and the
//! 16 levels every value is rounded to.

/// Values per block, and bytes per IQ4_NL block (`ggml_half d; uint8_t qs[16]`).
pub(super) const BLOCK: usize = 32;
pub(super) const NL_BYTES: usize = 2 + BLOCK / 2;
/// Values per IQ4_XS super-block, and its bytes (`d`, `scales_h`, `scales_l[4]`, `qs[128]`).
pub(super) const SUPER: usize = 256;
pub(super) const XS_BYTES: usize = 2 + 2 + SUPER / 64 + SUPER / 2;
/// ggml's `kvalues_iq4nl`: the 16 levels, ascending.
pub(super) const LEVELS: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];
/// `NEXT[k]`: the level after level `k`, infinite after the last.
pub(super) const NEXT: [f32; 16] = {
    let mut t = [f32::INFINITY; 16];
    let mut k = 0;
    while k < 15 {
        t[k] = LEVELS[k + 1] as f32;
        k += 1;
    }
    t
};
