//! Statistical tests of `rjax::random` with fixed keys.
//!
//! # Thresholds
//!
//! Every check computes a p-value — the probability that a *correct*
//! generator gives a statistic at least this extreme — and requires it to
//! exceed [`ALPHA`] = 10^-6 / [`CHECKS`], where [`CHECKS`] bounds the number
//! of checks in this file. By the union (Bonferroni) bound, a correct
//! generator fails any of them with probability below 10^-6 for a random
//! key; with the fixed keys here the outcome is deterministic. The p-values
//! come from:
//!
//! - Kolmogorov–Smirnov: the asymptotic Kolmogorov distribution
//!   `Q(t) = 2 Σ (−1)^(k−1) e^(−2k²t²)` at `t = D (√n + 0.12 + 0.11/√n)`
//!   (Stephens' finite-n correction). The samples are discrete at `2^-23`
//!   (f32) or finer, far below the ~3·10^-3 deviations that matter at
//!   n = 10^6.
//! - Pearson chi-square over classes: the χ² distribution with
//!   (classes − 1) degrees of freedom; every expected count here is at
//!   least 10^4, where the χ² approximation holds deep into the tail.
//! - z-scores (correlations, covariance entries): `z²` against χ² with one
//!   degree of freedom, i.e. the two-sided normal tail; the statistics are
//!   means of 10^6 independent bounded or Gaussian-product terms, so the
//!   central limit theorem applies. The mean of Gaussian samples is
//!   exactly Gaussian, so its Mahalanobis statistic is exactly χ².
//!
//! The distribution functions are implemented below and checked against
//! textbook quantiles (`p_value_functions_match_known_quantiles`).

use rjax::prelude::*;

/// An upper bound on the number of checks in this file.
const CHECKS: f64 = 50.0;
/// The per-check significance level: 10^-6 in all.
const ALPHA: f64 = 1e-6 / CHECKS;
/// Samples per statistical check.
const N: usize = 1_000_000;

// ---- distribution functions ----------------------------------------------------------

/// `ln Γ(x)` for `x >= 0.5` (Lanczos, g = 7, 9 terms; error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    assert!(x >= 0.5);
    let x = x - 1.0;
    let t = x + 7.5;
    let a = C[0] + (1..9).map(|i| C[i] / (x + i as f64)).sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised upper incomplete gamma function `Q(a, x)` (series below
/// `a + 1`, Lentz's continued fraction above, as in Numerical Recipes).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let prefix = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        while term.abs() > sum.abs() * 1e-16 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
        }
        return 1.0 - sum * prefix;
    }
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let (mut c, mut d) = (1.0 / tiny, 1.0 / b);
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        d = if d.abs() < tiny { tiny } else { d };
        c = b + an / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-16 {
            break;
        }
    }
    prefix * h
}

/// `P(χ²_k >= x)`.
fn chi2_sf(x: f64, k: usize) -> f64 {
    gamma_q(k as f64 / 2.0, x / 2.0)
}

/// `P(D_n >= d)` for the Kolmogorov–Smirnov statistic of `n` samples.
fn ks_sf(d: f64, n: usize) -> f64 {
    let rn = (n as f64).sqrt();
    let t = d * (rn + 0.12 + 0.11 / rn);
    let sum: f64 = (1..=100)
        .map(|k| {
            let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
            sign * (-2.0 * (k * k) as f64 * t * t).exp()
        })
        .sum();
    (2.0 * sum).clamp(0.0, 1.0)
}

#[test]
fn p_value_functions_match_known_quantiles() {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b;
    assert!(close(chi2_sf(3.841_458_820_694_124, 1), 0.05));
    assert!(close(chi2_sf(23.209_251_158_954_356, 10), 0.01));
    assert!(close(chi2_sf(149.449_252_779_038, 100), 0.001));
    // Two-sided normal tail at z = 4.891638: 1e-6.
    assert!(close(chi2_sf(4.891_638_475_699f64.powi(2), 1), 1e-6));
    assert!(close(ln_gamma(10.0), 362_880f64.ln()));
    // Kolmogorov's 5% point is t = 1.358099.
    let d = 1.358_099 / ((1e6f64).sqrt() + 0.12 + 0.11 / 1e3);
    assert!(close(ks_sf(d, N), 0.05));
}

// ---- checks ------------------------------------------------------------------------

/// Asserts that a p-value clears the threshold.
#[track_caller]
fn check(what: &str, p: f64) {
    eprintln!("{what}: p = {p:.3e}");
    assert!(p > ALPHA, "{what}: p = {p:e} <= {ALPHA:e}");
}

/// The KS statistic of `samples` against the CDF `cdf` (applied to the
/// sorted samples, all at once).
fn ks_statistic(mut samples: Vec<f64>, cdf: impl Fn(&[f64]) -> Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len() as f64;
    cdf(&samples)
        .iter()
        .enumerate()
        .map(|(i, &f)| (f - i as f64 / n).max((i + 1) as f64 / n - f))
        .fold(0.0, f64::max)
}

/// The standard normal CDF through the `erf` primitive (libm in the
/// reference interpreter).
fn phi(x: &[f64]) -> Vec<f64> {
    let a = Array::from_vec(x.to_vec(), &[x.len()]).unwrap();
    let e = lax::erf(&(a / std::f64::consts::SQRT_2));
    e.to_vec::<f64>()
        .unwrap()
        .iter()
        .map(|v| 0.5 * (1.0 + v))
        .collect()
}

/// Pearson's chi-square of `counts` against `expected` counts.
fn chi2_of(counts: &[u64], expected: &[f64]) -> f64 {
    counts
        .iter()
        .zip(expected)
        .map(|(&c, &e)| (c as f64 - e).powi(2) / e)
        .sum()
}

#[test]
fn uniform_passes_kolmogorov_smirnov() {
    for (seed, dtype) in [(100, DType::F32), (101, DType::F64)] {
        let x = random::uniform(&random::key(seed), &[N], dtype, -1.0, 3.0);
        let d = ks_statistic(x.to_f64_vec().unwrap(), |s| {
            s.iter().map(|v| (v + 1.0) / 4.0).collect()
        });
        check(&format!("KS uniform {dtype} (D = {d:e})"), ks_sf(d, N));
    }
}

#[test]
fn normal_passes_kolmogorov_smirnov() {
    for (seed, dtype) in [(110, DType::F32), (111, DType::F64)] {
        let z = random::normal(&random::key(seed), &[N], dtype);
        let d = ks_statistic(z.to_f64_vec().unwrap(), phi);
        check(&format!("KS normal {dtype} (D = {d:e})"), ks_sf(d, N));
    }
}

#[test]
fn truncated_normal_passes_kolmogorov_smirnov() {
    let (a, b) = (-0.5, 1.5);
    let ends = phi(&[a, b]);
    for (seed, dtype) in [(120, DType::F32), (121, DType::F64)] {
        let t = random::truncated_normal(&random::key(seed), a, b, &[N], dtype);
        let d = ks_statistic(t.to_f64_vec().unwrap(), |s| {
            phi(s)
                .iter()
                .map(|f| (f - ends[0]) / (ends[1] - ends[0]))
                .collect()
        });
        check(
            &format!("KS truncated normal {dtype} (D = {d:e})"),
            ks_sf(d, N),
        );
    }
}

#[test]
fn bit_bytes_are_uniform() {
    let words = random::bits(&random::key(130), &[N])
        .to_vec::<u32>()
        .unwrap();
    let mut counts = vec![0u64; 256];
    for w in words {
        for byte in w.to_le_bytes() {
            counts[byte as usize] += 1;
        }
    }
    let expected = vec![4.0 * N as f64 / 256.0; 256];
    check(
        "chi-square of bytes",
        chi2_sf(chi2_of(&counts, &expected), 255),
    );
}

#[test]
fn randint_classes_are_uniform() {
    // Small spans: one class per value.
    for (seed, lo, hi, dtype) in [(140, 0, 10, DType::I32), (141, -3, 4, DType::I32)] {
        let x = random::randint(&random::key(seed), &[N], lo, hi, dtype);
        let span = (hi - lo) as usize;
        let mut counts = vec![0u64; span];
        for v in x.to_vec::<i32>().unwrap() {
            counts[(v as i64 - lo) as usize] += 1;
        }
        let expected = vec![N as f64 / span as f64; span];
        let p = chi2_sf(chi2_of(&counts, &expected), span - 1);
        check(&format!("chi-square randint [{lo}, {hi})"), p);
    }
    // A span of 3·2^30, binned into 16 ranges of (almost) equal size: one
    // 32-bit word reduced modulo it would make the values below 2^30 (the
    // first third of the range) twice as likely as the rest.
    let span: u64 = 3 << 30;
    let x = random::randint(&random::key(142), &[N], 0, span as i64, DType::U32);
    let mut counts = vec![0u64; 16];
    for v in x.to_vec::<u32>().unwrap() {
        counts[(v as u64 * 16 / span) as usize] += 1;
    }
    // Values v with v·16/span = b: ceil((b+1)·span/16) − ceil(b·span/16).
    let first = |b: u64| (b * span).div_ceil(16);
    let expected: Vec<f64> = (0..16)
        .map(|b| N as f64 * (first(b + 1) - first(b)) as f64 / span as f64)
        .collect();
    check(
        "chi-square randint over 3·2^30",
        chi2_sf(chi2_of(&counts, &expected), 15),
    );
}

#[test]
fn categorical_frequencies_follow_the_softmax() {
    let probs = [0.1f64, 0.2, 0.3, 0.4];
    let logits: Vec<f32> = probs.iter().map(|p| p.ln() as f32).collect();
    let logits = Array::from_vec(logits, &[4]).unwrap();
    let c = random::categorical(&random::key(150), &logits, -1, Some(&[N]));
    let mut counts = vec![0u64; 4];
    for k in c.to_vec::<i32>().unwrap() {
        counts[k as usize] += 1;
    }
    let expected: Vec<f64> = probs.iter().map(|p| p * N as f64).collect();
    check(
        "chi-square categorical",
        chi2_sf(chi2_of(&counts, &expected), 3),
    );
    // A batch of two distributions along axis 0, in f64, with unnormalised
    // logits: classes are rows.
    let rows = [[1.0f64, 2.0, 3.0], [5.0, 1.0, 1.0]];
    let logits: Vec<f64> = (0..3).flat_map(|k| [rows[0][k], rows[1][k]]).collect();
    let logits = Array::from_vec(logits, &[3, 2]).unwrap();
    let c = random::categorical(&random::key(151), &logits, 0, Some(&[N / 2, 2]));
    let mut counts = vec![0u64; 6];
    for (i, k) in c.to_vec::<i32>().unwrap().into_iter().enumerate() {
        counts[(i % 2) * 3 + k as usize] += 1;
    }
    let mut expected = Vec::new();
    for row in rows {
        let z: f64 = row.iter().map(|l| l.exp()).sum();
        expected.extend(row.iter().map(|l| l.exp() / z * (N / 2) as f64));
    }
    check(
        "chi-square batched categorical",
        chi2_sf(chi2_of(&counts, &expected), 4),
    );
}

#[test]
fn bernoulli_frequency_is_p() {
    // A Rust p for every element.
    let b = random::bernoulli(&random::key(160), 0.3, &[N])
        .to_vec::<bool>()
        .unwrap();
    let ones = b.iter().filter(|&&v| v).count() as u64;
    let stat = chi2_of(&[ones, N as u64 - ones], &[0.3 * N as f64, 0.7 * N as f64]);
    check("chi-square bernoulli", chi2_sf(stat, 1));
    // Per-column f64 probabilities: two independent binomials, so the two
    // one-degree statistics add up to a χ² with two degrees.
    let p = [0.3f64, 0.7];
    let per_column = Array::from_vec(p.to_vec(), &[2]).unwrap();
    let b = random::bernoulli(&random::key(161), &per_column, &[N / 2, 2])
        .to_vec::<bool>()
        .unwrap();
    let stat: f64 = (0..2)
        .map(|c| {
            let ones = b.iter().skip(c).step_by(2).filter(|&&v| v).count() as u64;
            let n = (N / 2) as f64;
            chi2_of(
                &[ones, (N / 2) as u64 - ones],
                &[p[c] * n, (1.0 - p[c]) * n],
            )
        })
        .sum();
    check("chi-square bernoulli per column", chi2_sf(stat, 2));
}

#[test]
fn multivariate_normal_has_the_right_mean_and_covariance() {
    let mu = [1.0, -2.0, 0.5];
    let sigma = [4.0, 1.2, -0.6, 1.2, 2.0, 0.3, -0.6, 0.3, 1.0];
    let mean = Array::from_vec(mu.to_vec(), &[3]).unwrap();
    let cov = Array::from_vec(sigma.to_vec(), &[3, 3]).unwrap();
    // Σ⁻¹ by the adjugate, for the Mahalanobis statistic.
    let s = |i: usize, j: usize| sigma[i * 3 + j];
    let det = s(0, 0) * (s(1, 1) * s(2, 2) - s(1, 2) * s(2, 1))
        - s(0, 1) * (s(1, 0) * s(2, 2) - s(1, 2) * s(2, 0))
        + s(0, 2) * (s(1, 0) * s(2, 1) - s(1, 1) * s(2, 0));
    let inv = |i: usize, j: usize| {
        let (r, c) = ([(j + 1) % 3, (j + 2) % 3], [(i + 1) % 3, (i + 2) % 3]);
        (s(r[0], c[0]) * s(r[1], c[1]) - s(r[0], c[1]) * s(r[1], c[0])) / det
    };
    for (seed, dtype) in [(170, DType::F64), (171, DType::F32)] {
        let x = random::multivariate_normal(&random::key(seed), &mean, &cov, &[N], dtype);
        let x = x.to_f64_vec().unwrap();
        let mut m = [0.0; 3];
        let mut c = [0.0; 9];
        for row in x.chunks(3) {
            for i in 0..3 {
                m[i] += row[i] / N as f64;
                for j in 0..3 {
                    c[i * 3 + j] += (row[i] - mu[i]) * (row[j] - mu[j]) / N as f64;
                }
            }
        }
        // N (m̂ − μ)ᵀ Σ⁻¹ (m̂ − μ) ~ χ²_3 exactly.
        let dm: Vec<f64> = (0..3).map(|i| m[i] - mu[i]).collect();
        let t: f64 = (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| dm[i] * inv(i, j) * dm[j])
            .sum::<f64>()
            * N as f64;
        check(&format!("mvn mean {dtype}"), chi2_sf(t, 3));
        // Each covariance entry (about the known mean) has variance
        // (Σii Σjj + Σij²) / N.
        for i in 0..3 {
            for j in i..3 {
                let sd = ((s(i, i) * s(j, j) + s(i, j).powi(2)) / N as f64).sqrt();
                let z = (c[i * 3 + j] - s(i, j)) / sd;
                check(&format!("mvn cov[{i}][{j}] {dtype}"), chi2_sf(z * z, 1));
            }
        }
    }
}

/// Pearson's correlation of two samples.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma).powi(2);
        bb += (y - mb).powi(2);
    }
    ab / (aa * bb).sqrt()
}

/// `N` uniforms from `key`, as f64.
fn uniforms(key: &Array) -> Vec<f64> {
    random::uniform(key, &[N], DType::F32, 0.0, 1.0)
        .to_f64_vec()
        .unwrap()
}

#[test]
fn sibling_and_folded_keys_are_uncorrelated() {
    // √N·r is standard normal for independent streams.
    let parent = random::key(180);
    let siblings: Vec<Vec<f64>> = random::split_vec(&parent, 4).iter().map(uniforms).collect();
    for i in 0..4 {
        for j in i + 1..4 {
            let r = correlation(&siblings[i], &siblings[j]);
            check(
                &format!("split siblings {i}, {j} (r = {r:e})"),
                chi2_sf(N as f64 * r * r, 1),
            );
        }
    }
    // The parent's own samples against its first child's.
    let r = correlation(&uniforms(&parent), &siblings[0]);
    check(
        &format!("parent and child (r = {r:e})"),
        chi2_sf(N as f64 * r * r, 1),
    );
    let folded: Vec<Vec<f64>> = (0..5u32)
        .map(|i| uniforms(&random::fold_in(&parent, i)))
        .collect();
    for i in 0..4 {
        let r = correlation(&folded[i], &folded[i + 1]);
        check(
            &format!("fold_in {i}, {} (r = {r:e})", i + 1),
            chi2_sf(N as f64 * r * r, 1),
        );
    }
}

#[test]
fn permutations_of_four_are_uniform() {
    // M independent shuffles of [0, 1, 2, 3] (one per row): each of the 24
    // orders is equally likely.
    let m = 240_000;
    let rows = lax::iota(DType::I32, &[m, 4], 1);
    let shuffled = random::shuffle_independent(&random::key(190), &rows, 1);
    let mut counts = vec![0u64; 256];
    for p in shuffled.to_vec::<i32>().unwrap().chunks(4) {
        let mut seen = [false; 4];
        p.iter().for_each(|&v| seen[v as usize] = true);
        assert!(seen.iter().all(|&s| s), "{p:?} is not a permutation");
        counts[p.iter().fold(0, |code, &v| code * 4 + v as usize)] += 1;
    }
    // Codes of the 24 permutations (the other 232 codes never occur).
    let perms: Vec<u64> = counts.iter().copied().filter(|&c| c > 0).collect();
    assert_eq!(perms.len(), 24);
    let expected = vec![m as f64 / 24.0; 24];
    check(
        "chi-square permutations of 4",
        chi2_sf(chi2_of(&perms, &expected), 23),
    );
}
