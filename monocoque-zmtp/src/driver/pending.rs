//! The cap on handshakes in progress on a listener: a peer that has proven nothing must not make
//! a server hold connections without bound. Counted per listener and per remote IP address;
//! a connection counts from its accept until its handshake completes or it ends.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

/// The default of `max_pending_handshakes`: connections of one listener still in their
/// handshake.
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 1024;

/// The default of `max_pending_handshakes_per_address`.
pub const DEFAULT_MAX_PENDING_PER_ADDRESS: usize = 256;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One listener's handshakes in progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingHandshakes(Rc<RefCell<Counts>>);

/// Why an accepted connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Listener(usize),
    Address(usize),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Listener(max) => {
                write!(f, "{max} handshakes already in progress on this listener")
            }
            Self::Address(max) => {
                write!(f, "{max} handshakes already in progress from this address")
            }
        }
    }
}

impl PendingHandshakes {
    /// Counts one more handshake from `address`, unless a limit is reached.
    pub(crate) fn admit(
        &self,
        address: Option<IpAddr>,
        max_total: usize,
        max_per_address: usize,
    ) -> Result<PendingGuard, Refused> {
        let mut counts = self.0.borrow_mut();
        if counts.total >= max_total {
            return Err(Refused::Listener(max_total));
        }
        if let Some(ip) = address {
            let n = counts.by_address.entry(ip).or_default();
            if *n >= max_per_address {
                return Err(Refused::Address(max_per_address));
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(PendingGuard {
            counts: self.0.clone(),
            address,
        })
    }

    #[cfg(test)]
    fn total(&self) -> usize {
        self.0.borrow().total
    }
}

/// A handshake's place in the count, given back when dropped.
#[derive(Debug)]
pub(crate) struct PendingGuard {
    counts: Rc<RefCell<Counts>>,
    address: Option<IpAddr>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.borrow_mut();
        counts.total -= 1;
        if let Some(ip) = self.address {
            if let Some(n) = counts.by_address.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    counts.by_address.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_hold_per_address_and_per_listener_and_places_come_back() {
        let pending = PendingHandshakes::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = pending.admit(Some(a), 3, 2).unwrap();
        let _second = pending.admit(Some(a), 3, 2).unwrap();
        assert_eq!(
            pending.admit(Some(a), 3, 2).unwrap_err(),
            Refused::Address(2)
        );
        let _third = pending.admit(Some(b), 3, 2).unwrap();
        assert_eq!(pending.admit(None, 3, 2).unwrap_err(), Refused::Listener(3));
        drop(first);
        assert_eq!(pending.total(), 2);
        let _again = pending.admit(Some(a), 3, 2).unwrap();
    }
}
