//! Seeded synthetic samples shared by the statistics unit tests (test builds only).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use statrs::distribution::LogNormal;

/// `n` draws from LogNormal(μ = 3, σ = 0.5) (median e³ ≈ 20, latency-like) from `seed`, times `scale`.
pub(crate) fn lognormal(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = LogNormal::new(3.0, 0.5).unwrap();
    (0..n)
        .map(|_| scale * rand::distributions::Distribution::sample(&d, &mut rng))
        .collect()
}
