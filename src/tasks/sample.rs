//! Choosing which items to evaluate: a seeded sample for `--limit`, and llama-perplexity's own
//! task selection (`std::mt19937` seeded with 1) for the llama.cpp mode.

/// SplitMix64: small, fixed forever, so a `--limit/--seed` sample never changes between versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Indices of `limit` items out of `n`, drawn with `seed`, returned in file order.
/// Without a limit (or a limit ≥ n) every index.
pub fn seeded_sample(n: usize, limit: Option<usize>, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let Some(limit) = limit.filter(|&l| l < n) else {
        return idx;
    };
    let mut rng = SplitMix64(seed);
    // Partial Fisher-Yates: the first `limit` places get a uniform sample.
    for i in 0..limit {
        let j = i + (rng.next() % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(limit);
    idx.sort_unstable();
    idx
}

/// The 32-bit Mersenne Twister, `std::mt19937`.
pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            state[i] = 1_812_433_253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: 624 }
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.state[i] = v;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// libstdc++'s `uniform_int_distribution<size_t>(0, range - 1)` over a 32-bit engine
    /// (Lemire's nearly divisionless method, GCC 11 and later).
    pub fn uniform_below(&mut self, range: u32) -> u32 {
        let mut product = self.next_u32() as u64 * range as u64;
        let mut low = product as u32;
        if low < range {
            let threshold = range.wrapping_neg() % range;
            while low < threshold {
                product = self.next_u32() as u64 * range as u64;
                low = product as u32;
            }
        }
        (product >> 32) as u32
    }

    /// `int(scale * rng() * n)` with `scale = 1/(1 + max)` in single precision, as llama-perplexity
    /// picks WinoGrande and multiple-choice tasks.
    pub fn scaled_index(&mut self, n: usize) -> usize {
        let scale = 1.0f32 / (1.0f32 + u32::MAX as f32);
        let j = (scale * self.next_u32() as f32 * n as f32) as usize;
        j.min(n.saturating_sub(1))
    }
}

/// llama-perplexity's HellaSwag order: always shuffled, `count` draws without replacement of the
/// remaining tasks (`uniform_int_distribution`, then erase), returning original indices.
pub fn llama_hellaswag_order(n: usize, count: usize) -> Vec<usize> {
    let mut rng = Mt19937::new(1);
    let mut left: Vec<usize> = (0..n).collect();
    (0..count.min(n))
        .map(|_| {
            let k = rng.uniform_below(left.len() as u32) as usize;
            left.remove(k)
        })
        .collect()
}

/// llama-perplexity's WinoGrande / multiple-choice selection of `count` of `n` tasks (swap-remove
/// of a float-scaled draw); every task in file order when `count` is 0 or ≥ n.
pub fn llama_scaled_selection(n: usize, count: usize) -> Vec<usize> {
    if count == 0 || count >= n {
        return (0..n).collect();
    }
    let mut rng = Mt19937::new(1);
    let mut aux: Vec<usize> = (0..n).collect();
    (0..count)
        .map(|_| {
            let j = rng.scaled_index(aux.len());
            aux.swap_remove(j)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_the_standard() {
        // C++11 requires the 10000th output of a default-seeded (5489) mt19937 to be 4123659995.
        let mut rng = Mt19937::new(5489);
        let mut v = 0;
        for _ in 0..10000 {
            v = rng.next_u32();
        }
        assert_eq!(v, 4_123_659_995);
    }

    #[test]
    fn seeded_samples_are_stable_and_sorted() {
        let a = seeded_sample(100, Some(10), 7);
        assert_eq!(a, seeded_sample(100, Some(10), 7));
        assert_ne!(a, seeded_sample(100, Some(10), 8));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.len() == 10);
        assert_eq!(seeded_sample(5, Some(10), 1), vec![0, 1, 2, 3, 4]);
    }
}
