//! `qsort` for the llama.cpp code linked into this executable: the C library's merge sort, in Rust.
//!
//! llama.cpp sorts with `qsort` only in its IQ quantizers: the IQ grid initialization sorts 63,000
//! arrays of 2048 pairs, a good part of an IQ1 quantization, and IQ1 blocks are sorted as they
//! are quantized. glibc's `qsort` lives in libc.so, far from the comparator in our statically
//! linked executable, and calling the comparator from there is slower than from a `qsort` beside
//! it (as when ggml is a shared library, in llama-quantize). Defined here, this symbol takes
//! precedence over libc's for the C code linked into the executable.
//!
//! It is glibc 2.36's algorithm (top-down merge, left half `n / 2`, ties keep the left element),
//! so it calls the comparator on the same pairs in the same order and returns the same order,
//! also for comparators that are not a total order: the quantized bytes stay llama-quantize's
//! (tests/it/quant_parity.rs). It never panics, whatever the comparator returns.
//!
//! One shortcut: the grid sorts (two `int`s per element, ordered by the first, then the second)
//! spend most of their time in calls to the comparator. Arrays of at least
//! [`NATIVE_MIN`] 8-byte elements are first sorted in Rust by that key (by counting, when the first
//! ints span a small range and the second ones ascend, as in a grid), and the result is kept
//! only when the caller's comparator says every element sorts strictly before the next one. For
//! a comparator that orders consistently (what C's `qsort` requires) that is the one order any
//! sort returns, glibc's included; otherwise (ties, another key) the array is put back and merged.

use std::ffi::{c_int, c_void};

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

/// # Safety
/// As C's `qsort`: `base` points to `n` initialized elements of `size` bytes, and `compare`
/// can be called on any two of them.
#[no_mangle]
pub unsafe extern "C" fn qsort(base: *mut c_void, n: usize, size: usize, compare: Option<Compare>) {
    let Some(compare) = compare else { return };
    if n < 2 || size == 0 || base.is_null() {
        return;
    }
    let Some(len) = n.checked_mul(size) else {
        return;
    };
    // SAFETY: the caller promises `n * size` readable and writable bytes at `base`.
    let bytes = unsafe { std::slice::from_raw_parts_mut(base.cast::<u8>(), len) };
    // SAFETY (closures): they only pass pointers to elements of `bytes` to the caller's comparator.
    let cmp = |a: *const u8, b: *const u8| unsafe { compare(a.cast(), b.cast()) };
    let after = |a: *const u8, b: *const u8| cmp(a, b) > 0;
    match size {
        4 => sort_elements::<4>(bytes, after),
        8 if n >= NATIVE_MIN && sorted_by_int_pairs(bytes.as_chunks_mut::<8>().0, cmp) => {}
        8 => sort_elements::<8>(bytes, after),
        16 => sort_elements::<16>(bytes, after),
        _ => {
            // Other sizes: sort the indices, then move the elements into place.
            let mut order: Vec<usize> = (0..n).collect();
            let at = |i: usize| bytes[i * size..].as_ptr();
            merge_sort(&mut order, &mut Vec::with_capacity(n), &mut |a, b| {
                after(at(*a), at(*b))
            });
            let sorted: Vec<u8> = order
                .iter()
                .flat_map(|&i| bytes[i * size..(i + 1) * size].iter().copied())
                .collect();
            bytes.copy_from_slice(&sorted);
        }
    }
}

/// Shortest array worth a native sort first: IQ1's sorts of 16 or 32 values (often tied) go
/// straight to the merge, the grids (256 to 2048 elements) try the native key.
const NATIVE_MIN: usize = 64;

/// Sorts `elements` as pairs of native-endian `i32`s (first, then second) and returns true when
/// `cmp` confirms each element sorts strictly before the next; otherwise restores the input
/// order and returns false.
fn sorted_by_int_pairs(
    elements: &mut [[u8; 8]],
    cmp: impl Fn(*const u8, *const u8) -> c_int,
) -> bool {
    let first = |e: &[u8; 8]| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
    let second = |e: &[u8; 8]| i32::from_ne_bytes([e[4], e[5], e[6], e[7]]);
    let input = elements.to_vec();
    let (lo, hi) = input
        .iter()
        .map(first)
        .fold((i32::MAX, i32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let span = (i64::from(hi) - i64::from(lo)) as usize;
    if span < 4 * input.len() && input.windows(2).all(|w| second(&w[0]) <= second(&w[1])) {
        // A grid's array: squared distances in a small range, indices ascending. Counting by the
        // first int keeps the input order among equal ones, so the pairs come out in order.
        let mut starts = vec![0usize; span + 2];
        for e in &input {
            starts[(first(e) - lo) as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        for e in &input {
            let slot = &mut starts[(first(e) - lo) as usize];
            elements[*slot] = *e;
            *slot += 1;
        }
    } else {
        // Flipping the sign bits makes unsigned order of the packed key the signed order of the pair.
        let flip = |v: i32| u64::from(v as u32 ^ 0x8000_0000);
        elements.sort_unstable_by_key(|e| (flip(first(e)) << 32) | flip(second(e)));
    }
    if elements
        .windows(2)
        .all(|w| cmp(w[0].as_ptr(), w[1].as_ptr()) < 0)
    {
        return true;
    }
    elements.copy_from_slice(&input);
    false
}

fn sort_elements<const S: usize>(bytes: &mut [u8], after: impl Fn(*const u8, *const u8) -> bool) {
    let (elements, _) = bytes.as_chunks_mut::<S>();
    let mut buf = Vec::with_capacity(elements.len());
    merge_sort(elements, &mut buf, &mut |a, b| {
        after(a.as_ptr(), b.as_ptr())
    });
}

/// glibc's `msort_with_tmp`: sorts both halves, then merges them through `buf`, taking the right
/// element only when the left one sorts after it (stable).
fn merge_sort<T: Copy>(v: &mut [T], buf: &mut Vec<T>, after: &mut impl FnMut(&T, &T) -> bool) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let mid = n / 2;
    merge_sort(&mut v[..mid], buf, after);
    merge_sort(&mut v[mid..], buf, after);
    buf.clear();
    let (mut i, mut j) = (0, mid);
    while i < mid && j < n {
        if after(&v[i], &v[j]) {
            buf.push(v[j]);
            j += 1;
        } else {
            buf.push(v[i]);
            i += 1;
        }
    }
    // What is left of the left half goes last; what is left of the right half is in place.
    buf.extend_from_slice(&v[i..mid]);
    let merged = buf.len();
    v[..merged].copy_from_slice(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn by_first_i32(a: *const c_void, b: *const c_void) -> c_int {
        // SAFETY: the tests sort elements that start with an i32.
        let (a, b) = unsafe {
            (
                a.cast::<i32>().read_unaligned(),
                b.cast::<i32>().read_unaligned(),
            )
        };
        (a > b) as c_int - (a < b) as c_int
    }

    /// Elements of `size` bytes: a key in the first 4 bytes (many ties), the original position
    /// after it where there is room, so stability shows in the bytes.
    fn elements(n: usize, size: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        let mut out = vec![0u8; n * size];
        for (i, e) in out.chunks_mut(size).enumerate() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = ((x >> 33) % 17) as i32 - 8;
            let mut bytes = key.to_ne_bytes().to_vec();
            bytes.extend((i as u32).to_ne_bytes());
            for (d, s) in e
                .iter_mut()
                .zip(bytes.iter().chain(std::iter::repeat(&0xAB)))
            {
                *d = *s;
            }
        }
        out
    }

    #[test]
    fn sorts_like_a_stable_sort_for_every_element_size() {
        for size in [4usize, 8, 12, 16, 24, 40] {
            for n in [0usize, 1, 2, 3, 7, 64, 1000, 2048] {
                let mut ours = elements(n, size, (size * 31 + n) as u64);
                let mut expected: Vec<Vec<u8>> = ours.chunks(size).map(|c| c.to_vec()).collect();
                // std's sort is stable: equal keys keep their input order.
                expected.sort_by_key(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                // SAFETY: `ours` holds n elements of `size` bytes that start with an i32.
                unsafe { qsort(ours.as_mut_ptr().cast(), n, size, Some(by_first_i32)) };
                assert_eq!(ours, expected.concat(), "size {size}, n {n}");
            }
        }
    }

    thread_local! {
        // Per thread: the tests run side by side and sort with the same comparator.
        static GRID_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// llama.cpp's `iq2_compare_func`: two ints, the first then the second; counts its calls.
    unsafe extern "C" fn by_int_pair(a: *const c_void, b: *const c_void) -> c_int {
        GRID_CALLS.set(GRID_CALLS.get() + 1);
        // SAFETY: the tests sort pairs of i32.
        let (a, b) = unsafe {
            (
                a.cast::<[i32; 2]>().read_unaligned(),
                b.cast::<[i32; 2]>().read_unaligned(),
            )
        };
        (a > b) as c_int - (a < b) as c_int
    }

    /// The second int, descending: sorted by the native key first, then put back and merged.
    unsafe extern "C" fn by_second_descending(a: *const c_void, b: *const c_void) -> c_int {
        // SAFETY: the tests sort pairs of i32.
        let (a, b) = unsafe {
            (
                a.cast::<[i32; 2]>().read_unaligned(),
                b.cast::<[i32; 2]>().read_unaligned(),
            )
        };
        (b[1] > a[1]) as c_int - (b[1] < a[1]) as c_int
    }

    /// Pairs as a grid search makes them: squared distances (many equal, negative ones too),
    /// then the grid index, ascending (as llama.cpp makes them: sorted by counting) or scrambled
    /// (sorted by the packed key).
    fn grid_pairs(n: usize, scrambled: bool) -> Vec<[i32; 2]> {
        let mut x = 12345u64;
        (0..n as i32)
            .map(|j| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let index = if scrambled {
                    j.wrapping_mul(-7919) ^ 3
                } else {
                    j
                };
                [((x >> 33) % 40) as i32 - 5, index]
            })
            .collect()
    }

    #[test]
    fn grid_sorts_take_the_native_key_and_equal_the_merge() {
        for (n, scrambled) in [
            (NATIVE_MIN, false),
            (NATIVE_MIN, true),
            (2048, false),
            (2048, true),
        ] {
            let input = grid_pairs(n, scrambled);
            let mut merged = input.clone();
            merge_sort(
                &mut merged,
                &mut Vec::new(),
                &mut |a: &[i32; 2], b: &[i32; 2]| a > b,
            );
            let mut ours = input.clone();
            let before = GRID_CALLS.get();
            // SAFETY: `ours` holds n elements of 8 bytes.
            unsafe { qsort(ours.as_mut_ptr().cast(), n, 8, Some(by_int_pair)) };
            assert_eq!(ours, merged, "n {n}, scrambled {scrambled}");
            // Only the check of neighbours called the comparator (a merge makes ~n log n calls).
            let calls = GRID_CALLS.get() - before;
            assert_eq!(calls, n - 1, "n {n}, scrambled {scrambled}");
        }
    }

    #[test]
    fn another_key_or_ties_fall_back_to_the_merge() {
        let input = grid_pairs(500, true);
        let mut ours = input.clone();
        // SAFETY: `ours` holds 500 elements of 8 bytes.
        unsafe { qsort(ours.as_mut_ptr().cast(), 500, 8, Some(by_second_descending)) };
        let mut expected = input.clone();
        expected.sort_by_key(|p| std::cmp::Reverse(p[1]));
        assert_eq!(ours, expected);
        // Equal elements: the comparator confirms no strict order, the stable merge decides.
        let mut tied: Vec<[i32; 2]> = (0..200).map(|i| [i % 3, 7]).collect();
        let mut expected = tied.clone();
        expected.sort_by_key(|p| p[0]);
        // SAFETY: `tied` holds 200 elements of 8 bytes.
        unsafe { qsort(tied.as_mut_ptr().cast(), 200, 8, Some(by_int_pair)) };
        assert_eq!(tied, expected);
    }

    #[test]
    fn merges_in_glibcs_order() {
        // glibc 2.36's msort on [3, 1, 2]: halves [3] and [1, 2]; sorting the right one compares
        // 1 with 2, merging compares 3 with 1, then 3 with 2.
        let mut seen = Vec::new();
        let mut v = [3, 1, 2];
        merge_sort(&mut v, &mut Vec::new(), &mut |a: &i32, b: &i32| {
            seen.push((*a, *b));
            a > b
        });
        assert_eq!(v, [1, 2, 3]);
        assert_eq!(seen, [(1, 2), (3, 1), (3, 2)]);
    }

    #[test]
    fn an_inconsistent_comparator_neither_panics_nor_loses_elements() {
        unsafe extern "C" fn random_answer(a: *const c_void, b: *const c_void) -> c_int {
            ((a as usize ^ b as usize) % 3) as c_int - 1
        }
        let mut v: Vec<u64> = (0..500).collect();
        // SAFETY: v holds 500 elements of 8 bytes.
        unsafe { qsort(v.as_mut_ptr().cast(), v.len(), 8, Some(random_answer)) };
        v.sort_unstable();
        assert_eq!(v, (0..500).collect::<Vec<u64>>());
        // A null comparator or an empty array is left alone.
        unsafe { qsort(v.as_mut_ptr().cast(), v.len(), 8, None) };
        unsafe { qsort(std::ptr::null_mut(), 0, 8, Some(random_answer)) };
        assert_eq!(v, (0..500).collect::<Vec<u64>>());
    }
}
