//! How many transactions each client (by IP address) may have traced: a token bucket per
//! address, so one client cannot keep the sequencer's tracer busy for everyone.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Traces a client earns per second, by default.
pub const DEFAULT_TRACES_PER_SECOND: f64 = 4.0;
/// Traces a client may use at once, by default.
pub const DEFAULT_TRACE_BURST: u32 = 32;
/// Clients remembered before full buckets are forgotten.
const MAX_CLIENTS: usize = 10_000;

/// Token buckets per client address.
#[derive(Debug)]
pub(crate) struct TraceBudgets {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl TraceBudgets {
    /// `per_second` below zero or not a number counts as zero (no refill).
    pub(crate) fn new(per_second: f64, burst: u32) -> Self {
        let per_second = if per_second > 0.0 && per_second.is_finite() { per_second } else { 0.0 };
        Self { per_second, burst: f64::from(burst), buckets: Mutex::default() }
    }

    /// Takes one trace for `client`; `Err` with how long until one is earned.
    pub(crate) fn take(&self, client: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_CLIENTS {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else if self.per_second > 0.0 {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        } else {
            Err(Duration::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_per_client() {
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let slow = TraceBudgets::new(0.001, 3);
        for _ in 0..3 {
            assert!(slow.take(a).is_ok());
        }
        let wait = slow.take(a).unwrap_err();
        assert!(wait > Duration::from_secs(100), "{wait:?}");
        assert!(slow.take(b).is_ok(), "another client has its own budget");
        let fast = TraceBudgets::new(1000.0, 1);
        assert!(fast.take(a).is_ok());
        std::thread::sleep(Duration::from_millis(20));
        assert!(fast.take(a).is_ok(), "refilled at 1000 per second");
        let none = TraceBudgets::new(-1.0, 1);
        assert!(none.take(a).is_ok());
        assert_eq!(none.take(a), Err(Duration::MAX), "a negative rate never refills, never panics");
    }
}
