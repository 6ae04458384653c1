// SPDX-License-Identifier: Apache-2.0
//! What the benchmarks share: printing a set of timings, and their settings.

use std::time::Duration;

/// Print `samples` as one line: count, min, p50, p95, max in milliseconds.
pub fn report(what: &str, mut samples: Vec<Duration>) {
    assert!(!samples.is_empty(), "no samples for {what}");
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{what:<36} n={:<3} min {:>7.1} ms  p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms",
        samples.len(),
        ms(samples[0]),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(samples[samples.len() - 1])
    );
}

/// A numeric setting from the environment, e.g. `BENCH_RUNS`.
pub fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
