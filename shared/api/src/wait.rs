//! Waiting for a concurrent request to finish what it claimed.
//!
//! A request that loses a claim to another request doing the same thing (the same settlement
//! number sent twice at once, a client retrying while its first attempt still runs) should get
//! that request's result, not an error: it waits, bounded, for the result to be written.

use std::time::Duration;
use store::StoreResult;

/// How often and how long a request looks for another request's result: the winner of a claim
/// writes within a few key-value operations, so this covers a busy store with room to spare
/// while never holding an instance for more than about a second.
const LOOKS: u32 = 40;
const PAUSE: Duration = Duration::from_millis(25);

/// Calls `look` until it finds something (`Some`), pausing between looks; `None` when the other
/// request did not finish within the bound (it is slow, or it died: the caller answers 409
/// and the client retries later).
pub async fn for_result<T, F, Fut>(mut look: F) -> StoreResult<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<Option<T>>>,
{
    for n in 0..LOOKS {
        if n > 0 {
            pause().await;
        }
        if let Some(found) = look().await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[cfg(target_arch = "wasm32")]
async fn pause() {
    spin_sdk::time::sleep(PAUSE).await;
}

/// Native builds (unit tests of the components' pure parts) have no Spin clock to wait on.
#[cfg(not(target_arch = "wasm32"))]
async fn pause() {
    std::thread::sleep(PAUSE);
}
