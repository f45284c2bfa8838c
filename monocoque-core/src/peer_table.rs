//! A slab of peers addressed by generation-checked ids.

use std::fmt;

/// Identifies one entry of a [`PeerTable`] for as long as it stays in the table.
///
/// An id names a slot and the generation of that slot's occupant. Removing the occupant bumps
/// the generation, so an id kept after its peer left never reaches whoever takes the slot next.
/// Ids come only from [`PeerTable::insert`]. They order by slot, then generation.
///
/// ```rust
/// use monocoque_core::PeerTable;
///
/// let mut peers = PeerTable::new();
/// let id = peers.insert("first");
/// assert_eq!(id.to_string(), "peer#0.0");
/// assert_eq!((id.index(), id.generation()), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId {
    index: u32,
    generation: u32,
}

/// Peers of one socket, stored densely and addressed by [`PeerId`].
///
/// Inserting, looking up and removing take constant time. A removed slot is reused by a later
/// insert under a new generation; a slot whose generation is exhausted (after 2³² reuses) is
/// retired rather than wrapped, so an id is never handed out twice.
///
/// ```rust
/// use monocoque_core::PeerTable;
///
/// let mut peers = PeerTable::new();
/// let a = peers.insert("a");
/// assert_eq!(peers.remove(a), Some("a"));
/// let b = peers.insert("b"); // reuses a's slot
/// assert_eq!(a.index(), b.index());
/// assert_eq!(peers.get(a), None); // the stale id misses
/// assert_eq!(peers.get(b), Some(&"b"));
/// assert_eq!(b.to_string(), "peer#0.1");
/// ```
#[derive(Clone)]
pub struct PeerTable<T> {
    slots: Vec<Slot<T>>,
    /// Indices of vacant slots that may be reused.
    free: Vec<u32>,
    len: usize,
}

impl PeerId {
    /// The slot this id names.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// How many earlier occupants the slot had.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}.{}", self.index, self.generation)
    }
}

impl<T> PeerTable<T> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// An empty table with room for `capacity` peers before it reallocates.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Stores `value` and returns its new id.
    ///
    /// # Panics
    ///
    /// If the table would need more than `u32::MAX` slots.
    pub fn insert(&mut self, value: T) -> PeerId {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            let generation = slot.generation;
            slot.value = Some(value);
            return PeerId { index, generation };
        }
        let index = u32::try_from(self.slots.len())
            .ok()
            .filter(|&index| index < u32::MAX)
            .expect("a PeerTable holds fewer than u32::MAX slots");
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        PeerId {
            index,
            generation: 0,
        }
    }

    /// The value stored under `id`, unless it was removed.
    pub fn get(&self, id: PeerId) -> Option<&T> {
        self.slots
            .get(id.index as usize)
            .filter(|slot| slot.generation == id.generation)
            .and_then(|slot| slot.value.as_ref())
    }

    /// The value stored under `id`, mutably, unless it was removed.
    pub fn get_mut(&mut self, id: PeerId) -> Option<&mut T> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|slot| slot.generation == id.generation)
            .and_then(|slot| slot.value.as_mut())
    }

    /// Whether `id` still names a value in the table.
    pub fn contains(&self, id: PeerId) -> bool {
        self.get(id).is_some()
    }

    /// Removes and returns the value stored under `id`; `None` if it was already removed.
    pub fn remove(&mut self, id: PeerId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        self.len -= 1;
        // Wrapping would let a very old id match again, so an exhausted slot stays vacant.
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push(id.index);
        }
        Some(value)
    }

    /// How many values are stored.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is stored.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The stored values with their ids, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &T)> {
        (0u32..).zip(&self.slots).filter_map(|(index, slot)| {
            let id = PeerId {
                index,
                generation: slot.generation,
            };
            slot.value.as_ref().map(|value| (id, value))
        })
    }

    /// The stored values, mutably, with their ids, in slot order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (PeerId, &mut T)> {
        (0u32..).zip(&mut self.slots).filter_map(|(index, slot)| {
            let id = PeerId {
                index,
                generation: slot.generation,
            };
            slot.value.as_mut().map(|value| (id, value))
        })
    }

    /// The ids of the stored values, in slot order.
    pub fn ids(&self) -> impl Iterator<Item = PeerId> {
        self.iter().map(|(id, _)| id)
    }
}

impl<T> Default for PeerTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for PeerTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(id, value)| (DisplayAsDebug(id), value)))
            .finish()
    }
}

/// One slot: its current generation and, when occupied, the value.
#[derive(Clone)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Shows ids as `peer#3.1` in a table's `Debug` output.
struct DisplayAsDebug(PeerId);

impl fmt::Debug for DisplayAsDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn insert_get_remove() {
        let mut table = PeerTable::new();
        let a = table.insert(1);
        let b = table.insert(2);
        assert_ne!(a, b);
        assert_eq!(
            (table.len(), table.get(a), table.get(b)),
            (2, Some(&1), Some(&2))
        );
        *table.get_mut(b).unwrap() += 10;
        assert_eq!(table.remove(b), Some(12));
        assert_eq!(table.remove(b), None);
        assert!(!table.contains(b));
        assert!(table.contains(a));
        assert_eq!(table.len(), 1);
        assert_eq!(table.remove(a), Some(1));
        assert!(table.is_empty());
    }

    #[test]
    fn stale_id_misses_the_new_occupant() {
        let mut table = PeerTable::new();
        let old = table.insert("old");
        table.remove(old);
        let new = table.insert("new");
        assert_eq!(new.index(), old.index());
        assert_eq!(new.generation(), old.generation() + 1);
        assert_eq!(table.get(old), None);
        assert_eq!(table.get_mut(old), None);
        assert_eq!(table.remove(old), None);
        assert_eq!(table.get(new), Some(&"new"));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn exhausted_slot_is_retired() {
        let mut table = PeerTable::new();
        let id = table.insert(());
        table.slots[0].generation = u32::MAX;
        let last = PeerId {
            index: id.index,
            generation: u32::MAX,
        };
        assert_eq!(table.remove(last), Some(()));
        let next = table.insert(());
        assert_eq!(
            next,
            PeerId {
                index: 1,
                generation: 0
            }
        );
        assert_eq!(table.get(last), None);
    }

    #[test]
    fn iteration_skips_vacant_slots() {
        let mut table = PeerTable::with_capacity(4);
        let ids: Vec<_> = (0..4).map(|i| table.insert(i)).collect();
        table.remove(ids[1]);
        table.remove(ids[2]);
        assert_eq!(
            table.iter().collect::<Vec<_>>(),
            [(ids[0], &0), (ids[3], &3)]
        );
        assert_eq!(table.ids().collect::<Vec<_>>(), [ids[0], ids[3]]);
        table.iter_mut().for_each(|(_, v)| *v *= 10);
        assert_eq!(table.get(ids[3]), Some(&30));
        assert_eq!(format!("{table:?}"), "{peer#0.0: 0, peer#3.0: 30}");
    }

    #[test]
    fn ids_order_by_slot_then_generation() {
        let a = PeerId {
            index: 1,
            generation: 5,
        };
        let b = PeerId {
            index: 2,
            generation: 0,
        };
        let c = PeerId {
            index: 2,
            generation: 1,
        };
        assert!(a < b && b < c);
        assert_eq!(c.to_string(), "peer#2.1");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16),
        /// Picks an issued id, live or stale, by position modulo the number issued.
        Remove(usize),
        Get(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<u16>().prop_map(Op::Insert),
            any::<usize>().prop_map(Op::Remove),
            any::<usize>().prop_map(Op::Get),
        ]
    }

    proptest! {
        #[test]
        fn matches_a_hash_map(ops in proptest::collection::vec(op(), 0..200)) {
            let mut table = PeerTable::new();
            let mut model = HashMap::new();
            let mut issued = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(value) => {
                        let id = table.insert(value);
                        prop_assert!(!issued.contains(&id), "{id} issued twice");
                        issued.push(id);
                        model.insert(id, value);
                    }
                    Op::Remove(pick) if !issued.is_empty() => {
                        let id = issued[pick % issued.len()];
                        prop_assert_eq!(table.remove(id), model.remove(&id));
                    }
                    Op::Get(pick) if !issued.is_empty() => {
                        let id = issued[pick % issued.len()];
                        prop_assert_eq!(table.get(id), model.get(&id));
                        prop_assert_eq!(table.contains(id), model.contains_key(&id));
                    }
                    Op::Remove(_) | Op::Get(_) => {}
                }
                prop_assert_eq!(table.len(), model.len());
                let mut live: Vec<_> = table.iter().map(|(id, v)| (id, *v)).collect();
                let mut expected: Vec<_> = model.iter().map(|(id, v)| (*id, *v)).collect();
                live.sort_unstable();
                expected.sort_unstable();
                prop_assert_eq!(live, expected);
            }
        }
    }
}
