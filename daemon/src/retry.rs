// SPDX-License-Identifier: Apache-2.0
//! Per-interface retry state of `multinicd run`. An interface whose change failed or
//! was rolled back is tried again after a delay that doubles from 2 s to 5 min
//! (with ±20 % jitter, so that a fleet does not retry in step), not on every pass:
//! a NIC without carrier would otherwise be rolled back and retried for ever, each
//! time with renames, profile writes and a checkpoint. The wait ends early when its
//! spec changes, its NIC reappears (another link index) or gets its carrier back.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use multinic_api::{InterfaceState, MacAddr, Reason};

use crate::backend::Retry;
use crate::observe::Host;
use crate::pass::Record;
use crate::plan::{Hold, HoldKind, Step};

/// The first delay.
const FIRST: Duration = Duration::from_secs(2);
/// The longest delay.
const LONGEST: Duration = Duration::from_secs(300);

/// One interface waiting for its next attempt.
#[derive(Clone, Debug)]
struct Waiting {
    mac: MacAddr,
    config_hash: String,
    failures: u32,
    next: Instant,
    /// The link as it was when the attempt failed.
    index: u32,
    carrier: bool,
    reason: Reason,
    message: String,
}

/// The interfaces waiting to be tried again.
#[derive(Default, Debug)]
pub struct Backoff {
    waiting: Vec<Waiting>,
}

impl Backoff {
    /// Holds for the interfaces still waiting at `now` on this host. Forgets those
    /// whose NIC reappeared or got its carrier back: they are tried at once (their
    /// failure count stays, in case they fail again the same way).
    pub fn holds(&mut self, host: &Host, now: Instant) -> Vec<Hold> {
        for w in &mut self.waiting {
            let link = host.links.iter().find(|l| l.hw_mac() == Some(w.mac));
            let changed = link.is_none_or(|l| l.index != w.index || (!w.carrier && l.has_carrier()));
            if changed && w.next > now {
                tracing::info!(mac = %w.mac, "the NIC reappeared or got its carrier back: trying it again now");
                w.next = now;
            }
        }
        self.waiting
            .iter()
            .filter(|w| w.next > now)
            .map(|w| Hold {
                mac: w.mac,
                config_hash: w.config_hash.clone(),
                reason: w.reason.clone(),
                message: w.message.clone(),
                kind: HoldKind::Backoff,
            })
            .collect()
    }

    /// After a pass: an attempt that failed waits (its outcome's message says how
    /// long), one that succeeded or is no longer attempted is forgotten. Returns
    /// the reasons of the attempts now waiting to be retried.
    pub fn record(&mut self, records: &mut [Record], host: &Host, now: Instant) -> Vec<Reason> {
        let previous = std::mem::take(&mut self.waiting);
        let mut retries = Vec::new();
        for Record { plan: ip, outcome: o } in records {
            let same = |w: &&Waiting| w.mac == ip.mac && w.config_hash == ip.config_hash;
            match &ip.step {
                Step::Held(h) if h.kind == HoldKind::Backoff => {
                    self.waiting.extend(previous.iter().find(same).cloned());
                }
                Step::Create { .. } | Step::Update { .. } => {
                    if o.state != InterfaceState::Failed || o.retry != Retry::Normal {
                        continue;
                    }
                    let failures = previous.iter().find(same).map_or(0, |w| w.failures) + 1;
                    let delay = delay(failures);
                    o.message = format!("{}; retrying in {}", o.message, human(delay));
                    let link = host.links.iter().find(|l| l.hw_mac() == Some(ip.mac));
                    retries.push(o.reason.clone());
                    self.waiting.push(Waiting {
                        mac: ip.mac,
                        config_hash: ip.config_hash.clone(),
                        failures,
                        next: now + delay,
                        index: link.map_or(0, |l| l.index),
                        carrier: link.is_some_and(|l| l.has_carrier()),
                        reason: o.reason.clone(),
                        message: o.message.clone(),
                    });
                }
                _ => {}
            }
        }
        retries
    }

    /// How long until the next interface is due, if one waits.
    pub fn next_due(&self, now: Instant) -> Option<Duration> {
        self.waiting.iter().map(|w| w.next.saturating_duration_since(now)).min()
    }
}

/// The wait after `failures` failures in a row, with jitter.
pub fn delay(failures: u32) -> Duration {
    jittered(delay_after(failures))
}

/// 2 s, 4 s, 8 s, … up to 5 min.
fn delay_after(failures: u32) -> Duration {
    FIRST.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(LONGEST)
}

/// `delay` ± 20 %, whole seconds.
fn jittered(delay: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let factor = 0.8 + 0.4 * (random % 1000) as f64 / 1000.0;
    Duration::from_secs(delay.mul_f64(factor).as_secs_f64().round().max(1.0) as u64)
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Action, Outcome};
    use crate::plan::tests::{host, mac, on, plan, want};
    use crate::plan::{Context, Policy};

    /// Every interface of `plan` with `outcome`.
    fn records(plan: &crate::plan::Plan, outcome: Outcome) -> Vec<Record> {
        plan.interfaces.iter().map(|ip| Record { plan: ip.clone(), outcome: outcome.clone() }).collect()
    }

    fn failed() -> Outcome {
        Outcome {
            state: InterfaceState::Failed,
            reason: Reason::VerifyFailed,
            message: "no carrier".into(),
            action: Some((Action::RolledBack, String::new())),
            retry: Retry::Normal,
        }
    }

    #[test]
    fn a_failed_attempt_waits_until_due_or_until_its_link_changes() {
        let links = host();
        let desired = [want(mac(1), "198.51.100.1/24")];
        let first = plan(&desired, &on(&links), &[], &[], &Policy::default());
        assert!(matches!(first.interfaces[0].step, Step::Create { .. }));
        let mut backoff = Backoff::default();
        let t0 = Instant::now();
        let mut outcomes = records(&first, failed());
        backoff.record(&mut outcomes, &on(&links), t0);
        let message = outcomes[0].outcome.message.clone();
        assert!(message.starts_with("no carrier; retrying in "), "{message}");
        let due = backoff.next_due(t0).unwrap();
        assert!((1..=3).contains(&due.as_secs()), "{due:?}");

        // Held while it waits, with the message of the failed attempt.
        let holds = backoff.holds(&on(&links), t0 + Duration::from_millis(500));
        assert_eq!(holds.len(), 1);
        assert_eq!((holds[0].kind, holds[0].message.as_str()), (HoldKind::Backoff, message.as_str()));
        let cx = |holds: &[Hold]| {
            crate::plan::plan(
                &desired,
                &on(&links),
                Context { owned: &[], keep: &[], holds, policy: &Policy::default(), vlans: &[] },
            )
        };
        let waiting = cx(&holds);
        assert!(matches!(waiting.interfaces[0].step, Step::Held(_)));
        // Due: tried again; failing again doubles the wait.
        assert!(backoff.holds(&on(&links), t0 + due).is_empty());
        backoff.record(&mut records(&first, failed()), &on(&links), t0 + due);
        let second = backoff.next_due(t0 + due).unwrap();
        assert!(second > due, "{second:?} after {due:?}");
        // Recorded while it still waits: the wait and the count stay.
        backoff.record(&mut records(&waiting, Outcome::pending()), &on(&links), t0 + due);
        assert_eq!(backoff.next_due(t0 + due), Some(second));

        // The carrier comes back: due at once.
        let mut up = links.clone();
        up[2].up = true;
        up[2].oper_state = "up".into();
        assert!(backoff.holds(&on(&up), t0 + due + Duration::from_millis(10)).is_empty());
        // Configured: forgotten.
        let ok = Outcome { state: InterfaceState::Configured, action: None, ..failed() };
        backoff.record(&mut records(&first, ok), &on(&up), t0 + due);
        assert_eq!(backoff.next_due(t0), None);
    }

    #[test]
    fn delays_double_up_to_five_minutes_with_jitter() {
        let secs: Vec<u64> = (1..=10).map(|n| delay_after(n).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(delay_after(u32::MAX), LONGEST);
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(40)).as_secs();
            assert!((32..=48).contains(&d), "{d}");
        }
        assert_eq!(human(Duration::from_secs(40)), "40s");
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(130)), "2m10s");
    }
}
