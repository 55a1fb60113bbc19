//! When to shed a rung: the ladder is measured once a second (CPU of its
//! threads, how far its output trails the source) and a rung goes when it
//! is over its CPU budget for two measurements in a row, or when any rung
//! trails by more than the allowed lag. Sans-IO: the caller passes the time.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShedReason {
    OverBudget { cores: f64, budget: f64 },
    Lagging { lag_ms: u64, limit_ms: u64 },
}

impl std::fmt::Display for ShedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShedReason::OverBudget { cores, budget } => write!(f, "the ladder used {cores:.2} cores, over its budget of {budget:.2} (ladder.max_cores)"),
            ShedReason::Lagging { lag_ms, limit_ms } => {
                write!(f, "a rung fell {lag_ms} ms behind the source, over the limit of {limit_ms} ms (ladder.max_lag_ms)")
            }
        }
    }
}

/// After a shed, the next measurements still include the shed rung's work.
const SETTLE: Duration = Duration::from_secs(3);
const OVER_BUDGET_SAMPLES: u32 = 2;

pub struct ShedPolicy {
    max_cores: Option<f64>,
    max_lag: Duration,
    last: Option<(Instant, Duration)>,
    over_budget: u32,
    settle_until: Option<Instant>,
    /// Cores the ladder used over the last measurement.
    pub cores: f64,
}

impl ShedPolicy {
    pub fn new(max_cores: Option<f64>, max_lag: Duration) -> ShedPolicy {
        ShedPolicy { max_cores, max_lag, last: None, over_budget: 0, settle_until: None, cores: 0.0 }
    }

    /// `cpu` is the CPU time the ladder's threads have used in all; `worst_lag`
    /// the largest delay from a source frame's arrival to a rung's encoded frame
    /// since the last measurement.
    pub fn observe(&mut self, now: Instant, cpu: Duration, worst_lag: Duration) -> Option<ShedReason> {
        let previous = self.last.replace((now, cpu));
        let (then, cpu_then) = previous?;
        let wall = now.duration_since(then).as_secs_f64();
        if wall <= 0.0 {
            return None;
        }
        self.cores = cpu.saturating_sub(cpu_then).as_secs_f64() / wall;
        if self.settle_until.is_some_and(|until| now < until) {
            return None;
        }
        let over = self.max_cores.filter(|budget| self.cores > *budget);
        self.over_budget = if over.is_some() { self.over_budget + 1 } else { 0 };
        let reason = if worst_lag > self.max_lag {
            Some(ShedReason::Lagging { lag_ms: worst_lag.as_millis() as u64, limit_ms: self.max_lag.as_millis() as u64 })
        } else if let (Some(budget), true) = (over, self.over_budget >= OVER_BUDGET_SAMPLES) {
            Some(ShedReason::OverBudget { cores: self.cores, budget })
        } else {
            None
        };
        if reason.is_some() {
            self.over_budget = 0;
            self.settle_until = Some(now + SETTLE);
        }
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn over_budget_twice_in_a_row_sheds_then_waits_to_settle() {
        let start = Instant::now();
        let mut policy = ShedPolicy::new(Some(0.5), Duration::from_millis(1500));
        let at = |s: u64| start + SECOND * s as u32;
        let cpu = |ms: u64| Duration::from_millis(ms);
        assert_eq!(policy.observe(at(0), cpu(0), Duration::ZERO), None);
        assert_eq!(policy.observe(at(1), cpu(800), Duration::ZERO), None, "one measurement over is not enough");
        assert!((policy.cores - 0.8).abs() < 1e-9);
        assert!(matches!(policy.observe(at(2), cpu(1600), Duration::ZERO), Some(ShedReason::OverBudget { .. })));
        assert_eq!(policy.observe(at(3), cpu(2400), Duration::ZERO), None, "settling after a shed");
        assert_eq!(policy.observe(at(4), cpu(3200), Duration::ZERO), None);
        assert_eq!(policy.observe(at(5), cpu(4000), Duration::ZERO), None, "first over-budget measurement after settling");
        assert!(policy.observe(at(6), cpu(4800), Duration::ZERO).is_some());
    }

    #[test]
    fn under_budget_keeps_every_rung() {
        let start = Instant::now();
        let mut policy = ShedPolicy::new(Some(1.0), Duration::from_millis(1500));
        for s in 0..10u32 {
            assert_eq!(policy.observe(start + SECOND * s, Duration::from_millis(u64::from(s) * 400), Duration::from_millis(100)), None);
        }
    }

    #[test]
    fn falling_behind_sheds_at_once() {
        let start = Instant::now();
        let mut policy = ShedPolicy::new(None, Duration::from_millis(1500));
        policy.observe(start, Duration::ZERO, Duration::ZERO);
        let reason = policy.observe(start + SECOND, Duration::from_millis(900), Duration::from_millis(2000));
        assert_eq!(reason, Some(ShedReason::Lagging { lag_ms: 2000, limit_ms: 1500 }));
    }
}
