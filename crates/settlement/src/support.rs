//! The two small helpers every task uses: a bounded wait on a settlement layer that names what
//! it waited for, and a lock that survives a panicked holder.

use std::{
    future::IntoFuture,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use crate::error::{LayerCall, LayerError};

/// Awaits `call` for at most `timeout`; a timeout or an error names `what` was asked.
pub(crate) async fn within<T, E: Into<LayerError>>(
    timeout: Duration,
    what: &str,
    call: impl IntoFuture<Output = Result<T, E>>,
) -> Result<T, LayerCall> {
    match tokio::time::timeout(timeout, call.into_future()).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(LayerCall::new(what, err)),
        Err(_) => Err(LayerCall::new(what, LayerError::Timeout(timeout))),
    }
}

/// Locks `mutex`. A task that panicked while holding it stops the whole ExEx (see
/// [`crate::supervisor`]), so the data it guarded is only read on the way out: poisoning is
/// ignored rather than spread to every other task.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_call_times_out_naming_what_it_asked() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, LayerError>(1)
        };
        let err = within(Duration::from_millis(10), "reading the head", slow).await.unwrap_err();
        assert_eq!(err.to_string(), "reading the head: no answer within 10ms");
        let fast = async { Ok::<_, LayerError>(7) };
        assert_eq!(within(Duration::from_secs(1), "x", fast).await.unwrap(), 7);
    }
}
