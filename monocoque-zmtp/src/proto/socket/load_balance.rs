//! Load-balancing (RFC 28's round-robin for PUSH, DEALER and REQ): each message goes to the next
//! pipe in turn that can take it.

use monocoque_core::PeerId;

/// The pipes that take part in routing, in attach order, and whose turn is next.
#[derive(Debug, Default)]
pub(crate) struct LoadBalance {
    order: Vec<PeerId>,
    cursor: usize,
}

impl LoadBalance {
    /// Adds a pipe at the end of the rotation.
    pub(crate) fn join(&mut self, id: PeerId) {
        self.order.push(id);
    }

    /// Takes a pipe out of the rotation; the pipe that was next stays next.
    pub(crate) fn leave(&mut self, id: PeerId) {
        if let Some(pos) = self.order.iter().position(|&p| p == id) {
            self.order.remove(pos);
            if self.cursor > pos {
                self.cursor -= 1;
            }
        }
    }

    /// The pipes in attach order.
    pub(crate) fn ids(&self) -> &[PeerId] {
        &self.order
    }

    /// Whether `id` is in the rotation.
    pub(crate) fn contains(&self, id: PeerId) -> bool {
        self.order.contains(&id)
    }

    /// The next pipe in turn for which `ready` holds; the turn moves past it. Each pipe is asked
    /// at most once.
    #[inline]
    pub(crate) fn next(&mut self, mut ready: impl FnMut(PeerId) -> bool) -> Option<PeerId> {
        let n = self.order.len();
        for _ in 0..n {
            if self.cursor >= n {
                self.cursor = 0;
            }
            let id = self.order[self.cursor];
            self.cursor += 1;
            if ready(id) {
                return Some(id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use monocoque_core::PeerTable;

    use super::*;

    fn ids(n: usize) -> (PeerTable<()>, Vec<PeerId>) {
        let mut table = PeerTable::new();
        let ids = (0..n).map(|_| table.insert(())).collect();
        (table, ids)
    }

    #[test]
    fn takes_turns_in_attach_order() {
        let (_table, ids) = ids(3);
        let mut lb = LoadBalance::default();
        ids.iter().for_each(|&id| lb.join(id));
        let picked: Vec<_> = (0..6).map(|_| lb.next(|_| true).unwrap()).collect();
        assert_eq!(picked, [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2]]);
    }

    #[test]
    fn skips_pipes_that_cannot_take_a_message_and_asks_each_once() {
        let (_table, ids) = ids(3);
        let mut lb = LoadBalance::default();
        ids.iter().for_each(|&id| lb.join(id));
        assert_eq!(lb.next(|id| id == ids[2]), Some(ids[2]));
        let mut asked = Vec::new();
        assert_eq!(
            lb.next(|id| {
                asked.push(id);
                false
            }),
            None
        );
        assert_eq!(asked, [ids[0], ids[1], ids[2]]);
    }

    #[test]
    fn a_pipe_leaving_keeps_the_next_one_next() {
        let (_table, ids) = ids(4);
        let mut lb = LoadBalance::default();
        ids.iter().for_each(|&id| lb.join(id));
        assert_eq!(lb.next(|_| true), Some(ids[0]));
        assert_eq!(lb.next(|_| true), Some(ids[1]));
        // ids[2] is next; removing one before it must not skip it.
        lb.leave(ids[0]);
        assert_eq!(lb.next(|_| true), Some(ids[2]));
        lb.leave(ids[3]);
        assert_eq!(lb.next(|_| true), Some(ids[1]));
        assert!(!lb.contains(ids[3]));
        assert_eq!(lb.ids(), [ids[1], ids[2]]);
    }

    #[test]
    fn an_empty_rotation_has_no_turn() {
        let mut lb = LoadBalance::default();
        assert_eq!(lb.next(|_| true), None);
    }
}
