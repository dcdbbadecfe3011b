//! Retrying a request inside one call (the HTTP providers, Paddle): the server's `Retry-After`
//! when it gives one, else our own backoff, within a number of attempts and a longest wait
//! (longer waits are left to the caller's own retry, e.g. Temporal's).

use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct Retries {
    /// Tries in one call, the first included.
    pub attempts: u32,
    /// The longest wait a call holds for; a longer `Retry-After` gives up instead.
    pub max_wait: Duration,
}

impl Retries {
    /// How long to wait before try `attempt + 1` (after `attempt` failed): `retry_after` if the
    /// server named it, else `backoff`; `None` to give up.
    pub fn next_wait(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        backoff: Duration,
    ) -> Option<Duration> {
        let wait = retry_after.unwrap_or(backoff);
        (attempt < self.attempts && wait <= self.max_wait).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_decides_the_wait_within_the_attempts_and_the_longest_wait() {
        let r = Retries {
            attempts: 4,
            max_wait: Duration::from_secs(30),
        };
        let backoff = Duration::from_millis(500);
        assert_eq!(r.next_wait(1, None, backoff), Some(backoff));
        assert_eq!(
            r.next_wait(1, Some(Duration::from_secs(3)), backoff),
            Some(Duration::from_secs(3))
        );
        assert_eq!(r.next_wait(1, Some(Duration::from_secs(31)), backoff), None);
        assert_eq!(r.next_wait(3, None, backoff), Some(backoff));
        assert_eq!(r.next_wait(4, None, backoff), None);
    }
}
