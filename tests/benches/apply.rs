// SPDX-License-Identifier: Apache-2.0
//! Benchmark (prints figures, asserts no timing): in a lab with a real
//! NetworkManager, then one with a real systemd-networkd, and 10 NICs, the wall time of `multinicd apply` from scratch and of
//! an idempotent re-apply, as whole processes, over `BENCH_RUNS` runs (default 20);
//! plus the D-Bus writes of a re-apply. Run through `tests/bench.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use multinic_lab::bench::{env_or, report};
use std::time::Instant;

use multinic_lab::{Lab, Manager, NM_WRITE_METHODS, nic, spec};

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let runs: usize = env_or("BENCH_RUNS", 20) as usize;
    for manager in [Manager::NetworkManager, Manager::Networkd] {
        bench(manager, runs);
    }
}

fn bench(manager: Manager, runs: usize) {
    let lab = Lab::start_with(manager)
        .expect("the benchmark needs a lab (root, NetworkManager, networkd): run tests/setup.sh");
    let mut interfaces = Vec::new();
    for i in 0..10u32 {
        let mac = format!("02:00:00:00:03:{i:02x}");
        lab.add_nic(&format!("ens{}", 10 + i), &mac, 1500);
        interfaces.push(nic(i + 1, &mac, &format!("198.51.100.{}", 10 + i), "198.51.100.0/24", ", mtu: 9000"));
    }
    let file = lab.write("ten.yaml", &spec(&interfaces));
    let bin = multinic_lab::multinicd_bin();
    let run = |args: &[&str]| {
        let start = Instant::now();
        let out = lab.command(bin.to_str().unwrap()).args(args).env("MULTINIC_LOG", "warn").output().unwrap();
        let took = start.elapsed();
        assert!(out.status.success(), "multinicd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        took
    };
    let (mut fresh, mut again) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        run(&["cleanup"]);
        fresh.push(run(&["apply", "--file", &file, "-o", "json"]));
        again.push(run(&["apply", "--file", &file, "-o", "json"]));
    }
    let monitor = lab.monitor_calls();
    run(&["apply", "--file", &file, "-o", "json"]);
    let calls = monitor.stop();
    let writes = calls.iter().filter(|m| NM_WRITE_METHODS.contains(&m.as_str())).count();
    println!(
        "multinicd {} ({}), {} lab, 10 NICs",
        bin.display(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        manager.backend()
    );
    report("apply 10 NICs from scratch", fresh);
    report("idempotent re-apply", again);
    println!("idempotent re-apply: {} D-Bus calls to the manager, {writes} of them writes", calls.len());
}
