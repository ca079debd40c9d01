//! What the replicator knows about the link, shared with status and ops.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};

use waymark_proto::v1::LinkState;

#[derive(Debug, Default)]
pub struct LinkStatus {
    state: AtomicU8,
    last_ack_ms: AtomicI64,
}

impl LinkStatus {
    pub fn set(&self, state: LinkState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub fn state(&self) -> LinkState {
        LinkState::try_from(i32::from(self.state.load(Ordering::Relaxed))).unwrap_or(LinkState::Unspecified)
    }

    pub fn acked_now(&self) {
        self.last_ack_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// 0 until the first ack.
    pub fn last_ack_ms(&self) -> i64 {
        self.last_ack_ms.load(Ordering::Relaxed)
    }
}
