//! Fair-queuing (RFC 28's for PULL, DEALER, ROUTER, REP and SUB): the pipes with input take turns,
//! one message each, so that a busy peer cannot starve the others.

use std::collections::VecDeque;

use monocoque_core::PeerId;

/// The pipes that have input, in the order of their turns.
#[derive(Debug, Default)]
pub(crate) struct FairQueue {
    turns: VecDeque<PeerId>,
}

impl FairQueue {
    /// A pipe's queue went from empty to not empty: it waits for its turn at the back.
    #[inline]
    pub(crate) fn ready(&mut self, id: PeerId) {
        self.turns.push_back(id);
    }

    /// The pipe whose turn it is.
    #[inline]
    pub(crate) fn next(&self) -> Option<PeerId> {
        self.turns.front().copied()
    }

    /// Takes the turn of the pipe at the front. If it still has input after its message is
    /// taken, it waits for its next turn at the back ([`ready`](Self::ready) again).
    #[inline]
    pub(crate) fn take_turn(&mut self) -> Option<PeerId> {
        self.turns.pop_front()
    }

    /// Takes a pipe out (its queue emptied out of turn, or it is gone).
    #[inline]
    pub(crate) fn remove(&mut self, id: PeerId) {
        self.turns.retain(|&p| p != id);
    }

    /// Whether any pipe has input.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// How many turns `id` holds (one while it has input, for invariant checks).
    pub(crate) fn turns_of(&self, id: PeerId) -> usize {
        self.turns.iter().filter(|&&p| p == id).count()
    }

    /// Every pipe holding a turn.
    pub(crate) fn iter(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.turns.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use monocoque_core::PeerTable;

    use super::*;

    #[test]
    fn pipes_with_input_take_one_turn_each() {
        let mut table = PeerTable::new();
        let (a, b) = (table.insert(()), table.insert(()));
        let mut fq = FairQueue::default();
        fq.ready(a);
        fq.ready(b);
        let mut order = Vec::new();
        // a has three messages, b one: a, b, a, a.
        let mut left = [(a, 3), (b, 1)];
        while let Some(id) = fq.take_turn() {
            order.push(id);
            let slot = left.iter_mut().find(|(p, _)| *p == id).unwrap();
            slot.1 -= 1;
            if slot.1 > 0 {
                fq.ready(id);
            }
        }
        assert_eq!(order, [a, b, a, a]);
        assert!(fq.is_empty());
    }

    #[test]
    fn a_removed_pipe_loses_its_turn() {
        let mut table = PeerTable::new();
        let (a, b) = (table.insert(()), table.insert(()));
        let mut fq = FairQueue::default();
        fq.ready(a);
        fq.ready(b);
        fq.remove(a);
        assert_eq!(fq.next(), Some(b));
        assert_eq!(fq.turns_of(a), 0);
        assert_eq!(fq.turns_of(b), 1);
        assert_eq!(fq.iter().collect::<Vec<_>>(), [b]);
    }
}
