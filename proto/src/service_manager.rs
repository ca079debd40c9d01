//! Tells the service manager when a daemon is ready and when it starts to stop
//! (systemd's `Type=notify`: `READY=1`, `STOPPING=1` on `$NOTIFY_SOCKET`).
//!
//! Both daemons call it; outside systemd (`NOTIFY_SOCKET` unset) it does nothing.

use sd_notify::NotifyState;

/// Every listener is bound and serving. `status` (the daemon's ready line) is what
/// `systemctl status` shows. systemd holds back units ordered after this one, and
/// counts the start as failed if this never comes.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Shutdown has begun: systemd shows the unit as deactivating while it drains.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        // Under Type=notify a lost READY=1 gets the daemon killed at TimeoutStartSec.
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}
