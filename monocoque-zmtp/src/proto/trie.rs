//! Counted prefix subscriptions: who receives a published message.
//!
//! PUB and XPUB deliver a message to a peer when one of the peer's subscriptions is a prefix of the
//! message's first frame; the empty subscription matches everything (RFC 29/PUBSUB). Subscriptions
//! are counted: the same peer subscribing to the same topic twice holds two subscriptions, and
//! needs two cancels before the topic is gone (RFC 37/ZMTP, libzmq). XPUB forwards a subscription
//! upstream when a topic gains its first subscriber and a cancel when it loses its last one, so
//! both edges are reported to the caller.
//!
//! SUB and XSUB keep the same counted set for themselves, with one subscriber: a
//! [`SubscriptionSet`] filters incoming messages and lists the topics to replay to a new publisher.
//!
//! The trie is a radix tree (edges carry whole byte strings, not single bytes) stored in a `Vec`
//! arena. Every walk over it is a loop, never a recursion, so a topic as long as a frame cannot
//! exhaust the stack. Branches left without subscribers are pruned at once, so memory follows the
//! live subscriptions rather than everything ever subscribed.

use std::fmt;

use bytes::Bytes;
use smallvec::SmallVec;

/// For every topic prefix, which subscribers hold it and how many times.
///
/// `K` names a subscriber: a peer id on PUB and XPUB, `()` for a socket's own subscriptions (see
/// [`SubscriptionSet`]).
///
/// [`matches`](Self::matches) is the per-message hot path. It walks the trie along the message's
/// bytes only and allocates nothing beyond what it pushes into the caller's vector.
///
/// ```
/// use monocoque_zmtp::proto::{SubscriptionTrie, Unsubscribed};
///
/// let mut trie = SubscriptionTrie::new();
/// assert!(trie.subscribe(1, b"weather."));       // first subscriber: XPUB forwards it
/// assert!(!trie.subscribe(2, b"weather."));      // already known upstream
/// assert!(trie.subscribe(2, b""));               // peer 2 also takes everything
///
/// let mut peers = Vec::new();
/// trie.matches(b"weather.paris 21C", &mut peers);
/// assert_eq!(peers, [1, 2]);                     // peer 2 appears once
///
/// assert_eq!(trie.unsubscribe(1, b"weather."), Unsubscribed::StillSubscribed);
/// assert_eq!(trie.unsubscribe(2, b"weather."), Unsubscribed::LastRemoved);
/// assert_eq!(trie.unsubscribe(2, b"weather."), Unsubscribed::NotSubscribed);
/// assert_eq!(trie.remove_peer(2), [bytes::Bytes::new()]); // "" lost its last subscriber
/// assert!(trie.is_empty());
/// ```
#[derive(Clone)]
pub struct SubscriptionTrie<K> {
    /// The arena; index [`ROOT`] is the root, whose label is empty and which is never freed.
    nodes: Vec<Node<K>>,
    /// Arena slots that were freed and may be reused.
    free: Vec<usize>,
    /// How many nodes have at least one subscriber: the distinct topics.
    topics: usize,
}

/// A socket's own counted subscriptions, for SUB and XSUB.
///
/// SUB filters incoming messages with [`has_match`](SubscriptionTrie::has_match). XSUB and SUB
/// replay their subscriptions to every new publisher: [`topics`](SubscriptionTrie::topics) lists
/// each distinct topic once however many times it was subscribed, as libzmq's XSUB does, because
/// the count is local bookkeeping; the publisher needs the topic only once per connection.
///
/// ```
/// use monocoque_zmtp::proto::{SubscriptionSet, Unsubscribed};
///
/// let mut subscriptions = SubscriptionSet::new();
/// subscriptions.subscribe((), b"A");
/// subscriptions.subscribe((), b"A");
/// assert!(subscriptions.has_match(b"ABC"));
/// assert!(!subscriptions.has_match(b"BC"));
/// assert_eq!(subscriptions.topics().collect::<Vec<_>>(), ["A"]); // replayed once
///
/// assert_eq!(subscriptions.unsubscribe((), b"A"), Unsubscribed::StillSubscribed);
/// assert_eq!(subscriptions.unsubscribe((), b"A"), Unsubscribed::LastRemoved);
/// assert!(!subscriptions.has_match(b"ABC"));
/// ```
pub type SubscriptionSet = SubscriptionTrie<()>;

/// What [`SubscriptionTrie::unsubscribe`] did.
///
/// ```
/// use monocoque_zmtp::proto::{SubscriptionTrie, Unsubscribed};
///
/// let mut trie = SubscriptionTrie::new();
/// trie.subscribe('a', b"news");
/// trie.subscribe('b', b"news");
/// assert_eq!(trie.unsubscribe('c', b"news"), Unsubscribed::NotSubscribed);
/// assert_eq!(trie.unsubscribe('a', b"news"), Unsubscribed::StillSubscribed);
/// assert_eq!(trie.unsubscribe('b', b"news"), Unsubscribed::LastRemoved);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unsubscribed {
    /// The subscriber held no subscription to exactly this topic; nothing changed.
    NotSubscribed,
    /// One subscription was cancelled and the topic still has at least one (from this subscriber,
    /// which subscribed more than once, or from another).
    StillSubscribed,
    /// The cancelled subscription was the topic's last one, across all subscribers: XPUB passes
    /// the cancel upstream.
    LastRemoved,
}

/// The root's arena index.
const ROOT: usize = 0;

/// How many subscribed prefixes of one message [`SubscriptionTrie::matches`] merges one by one
/// (each merge is linear in what it has gathered so far) before it sorts instead.
const MERGED_RUNS: usize = 4;

/// Up to how many gathered keys [`SubscriptionTrie::matches`] sorts rather than merges.
const SORTED_LEN: usize = 32;

/// One node of the radix tree.
///
/// Invariants, restored by every operation that changes the tree:
/// - a node other than the root has a non-empty label, and has a subscriber or at least two
///   children (anything else is pruned or merged into its child);
/// - `children` is sorted by its byte, which is the first byte of that child's label;
/// - `subscribers` is sorted by key, holds each key once, and every count is at least 1.
#[derive(Clone)]
struct Node<K> {
    /// The bytes on the edge from the parent to this node.
    label: Box<[u8]>,
    /// `(first byte of the child's label, child index)`.
    children: SmallVec<[(u8, usize); 2]>,
    /// `(subscriber, how many subscriptions it holds to this node's topic)`.
    subscribers: SmallVec<[(K, u32); 1]>,
}

impl<K: Copy + Ord> SubscriptionTrie<K> {
    /// An empty trie.
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::empty()],
            free: Vec::new(),
            topics: 0,
        }
    }

    /// The number of distinct topics with at least one subscriber.
    pub fn len(&self) -> usize {
        self.topics
    }

    /// Whether no subscriber holds any subscription.
    pub fn is_empty(&self) -> bool {
        self.topics == 0
    }

    /// Adds one subscription of `subscriber` to `topic`.
    ///
    /// Returns `true` when the topic had no subscriber at all before, the moment XPUB forwards the
    /// subscription upstream. Subscribing again adds to the count instead; a count that reaches
    /// `u32::MAX` stays there.
    pub fn subscribe(&mut self, subscriber: K, topic: &[u8]) -> bool {
        let node = self.insert_path(topic);
        let subscribers = &mut self.nodes[node].subscribers;
        let was_empty = subscribers.is_empty();
        match find_subscriber(subscribers, subscriber) {
            Ok(at) => subscribers[at].1 = subscribers[at].1.saturating_add(1),
            Err(at) => subscribers.insert(at, (subscriber, 1)),
        }
        if was_empty {
            self.topics += 1;
        }
        was_empty
    }

    /// Whether `subscriber` holds at least one subscription to exactly `topic`.
    ///
    /// Takes `O(topic length + log s)`, `s` being the number of the topic's subscribers.
    pub fn contains(&self, subscriber: K, topic: &[u8]) -> bool {
        self.find(topic).is_some_and(|(node, _)| {
            find_subscriber(&self.nodes[node].subscribers, subscriber).is_ok()
        })
    }

    /// Cancels one subscription of `subscriber` to exactly `topic`.
    ///
    /// Cancelling a subscription that is not held changes nothing and returns
    /// [`Unsubscribed::NotSubscribed`]; a count never goes below zero.
    pub fn unsubscribe(&mut self, subscriber: K, topic: &[u8]) -> Unsubscribed {
        let Some((node, parent)) = self.find(topic) else {
            return Unsubscribed::NotSubscribed;
        };
        let subscribers = &mut self.nodes[node].subscribers;
        let Ok(at) = find_subscriber(subscribers, subscriber) else {
            return Unsubscribed::NotSubscribed;
        };
        subscribers[at].1 -= 1;
        if subscribers[at].1 > 0 {
            return Unsubscribed::StillSubscribed;
        }
        subscribers.remove(at);
        if !subscribers.is_empty() {
            return Unsubscribed::StillSubscribed;
        }
        self.topics -= 1;
        self.prune(node, parent);
        Unsubscribed::LastRemoved
    }

    /// Removes every subscription `subscriber` holds, as when a peer disconnects.
    ///
    /// Returns, in lexicographic order, the topics left with no subscriber at all: XPUB passes a
    /// cancel upstream for each. This visits the whole trie, `O(nodes + subscriptions)`; it runs
    /// once per disconnection, not per message.
    pub fn remove_peer(&mut self, subscriber: K) -> Vec<Bytes> {
        let mut gone = Vec::new();
        // Pre-order, children in byte order, so `gone` comes out sorted. `visited` keeps that
        // order for the pruning pass below.
        let mut visited = Vec::new();
        let mut stack = vec![(ROOT, 0)];
        let mut path = Vec::new();
        while let Some((index, depth)) = stack.pop() {
            visited.push(index);
            let node = &mut self.nodes[index];
            path.truncate(depth);
            path.extend_from_slice(&node.label);
            node.push_children(&mut stack, path.len());
            if let Ok(at) = find_subscriber(&node.subscribers, subscriber) {
                node.subscribers.remove(at);
                if node.subscribers.is_empty() {
                    gone.push(Bytes::copy_from_slice(&path));
                }
            }
        }
        if gone.is_empty() {
            // No node lost its last subscriber, so the shape of the tree still holds.
            return gone;
        }
        self.topics -= gone.len();
        // Reverse pre-order reaches every child before its parent, so each node is compacted
        // after its whole subtree is.
        for &index in visited.iter().rev() {
            self.compact(index);
        }
        self.reset_if_empty();
        gone
    }

    /// Appends to `out` every distinct subscriber holding a subscription that is a prefix of
    /// `message` (the message's first frame), each once, in ascending order.
    ///
    /// What `out` held before is left as it was; duplicates are removed only among the appended
    /// subscribers. With `p` the number of message bytes walked (the longest common prefix of
    /// `message` and any subscribed topic) and `m` the number of subscriptions found, this takes
    /// `O(p + m)` time when at most four prefixes of the message hold subscriptions (each node's
    /// subscribers are kept sorted, so they are merged), and `O(p + m log m)` beyond that (they
    /// are sorted). It allocates only to grow `out`.
    pub fn matches(&self, message: &[u8], out: &mut Vec<K>) {
        let start = out.len();
        let mut runs = 0usize;
        // Whether `out[start..]` is sorted. One node's subscribers are.
        let mut sorted = true;
        self.walk(message, |subscribers| {
            runs += 1;
            out.extend(subscribers.iter().map(|&(key, _)| key));
            if runs == 1 {
                return true;
            }
            let tail = &mut out[start..];
            if runs > MERGED_RUNS || tail.len() <= SORTED_LEN {
                // Sorting a few keys (by insertion) is cheaper than merging them.
                sorted = false;
            } else {
                if !sorted {
                    // At most `SORTED_LEN` keys, gathered from the earlier runs.
                    let earlier = tail.len() - subscribers.len();
                    tail[..earlier].sort_unstable();
                    sorted = true;
                }
                merge_run(tail, subscribers);
            }
            true
        });
        if !sorted {
            out[start..].sort_unstable();
        }
        if runs > 1 {
            // A subscriber holding several prefixes of this message is now listed once per
            // prefix, in adjacent slots.
            dedup_from(out, start);
        }
    }

    /// Whether any subscription is a prefix of `message`: SUB's filter on incoming messages.
    ///
    /// Stops at the first subscribed prefix: `O(p)` for the `p` message bytes walked, never more
    /// than for [`matches`](Self::matches).
    pub fn has_match(&self, message: &[u8]) -> bool {
        let mut found = false;
        self.walk(message, |_| {
            found = true;
            false
        });
        found
    }

    /// Every distinct topic with at least one subscriber, once each, in lexicographic order.
    ///
    /// SUB and XSUB replay these to each new publisher: one SUBSCRIBE per distinct topic, however
    /// many times it was subscribed, as libzmq's XSUB does. Each topic is copied out as it is
    /// reached.
    pub fn topics(&self) -> impl Iterator<Item = Bytes> + '_ {
        let mut stack = vec![(ROOT, 0)];
        let mut path = Vec::new();
        std::iter::from_fn(move || {
            while let Some((index, depth)) = stack.pop() {
                let node = &self.nodes[index];
                path.truncate(depth);
                path.extend_from_slice(&node.label);
                node.push_children(&mut stack, path.len());
                if !node.subscribers.is_empty() {
                    return Some(Bytes::copy_from_slice(&path));
                }
            }
            None
        })
    }

    /// Calls `visit` with the subscribers of each subscribed prefix of `message`, shortest first,
    /// until it returns `false` or the message leaves the trie.
    fn walk(&self, message: &[u8], mut visit: impl FnMut(&[(K, u32)]) -> bool) {
        let mut node = &self.nodes[ROOT];
        let mut rest = message;
        loop {
            if !node.subscribers.is_empty() && !visit(&node.subscribers) {
                return;
            }
            let Some(child) = rest.first().and_then(|&byte| node.child(byte)) else {
                return;
            };
            let child = &self.nodes[child];
            match rest.strip_prefix(&*child.label) {
                Some(after) => rest = after,
                None => return,
            }
            node = child;
        }
    }

    /// The node for exactly `topic` and its parent (the root is its own parent), if there is one.
    fn find(&self, topic: &[u8]) -> Option<(usize, usize)> {
        let mut node = ROOT;
        let mut parent = ROOT;
        let mut rest = topic;
        while let Some(&byte) = rest.first() {
            let child = self.nodes[node].child(byte)?;
            rest = rest.strip_prefix(&*self.nodes[child].label)?;
            parent = node;
            node = child;
        }
        Some((node, parent))
    }

    /// The node for exactly `topic`, created (splitting an edge if needed) if it was missing.
    fn insert_path(&mut self, topic: &[u8]) -> usize {
        let mut node = ROOT;
        let mut rest = topic;
        while let Some(&byte) = rest.first() {
            let slot = match self.nodes[node].child_slot(byte) {
                Ok(slot) => slot,
                Err(slot) => {
                    let leaf = self.alloc(Node::with_label(rest));
                    self.nodes[node].children.insert(slot, (byte, leaf));
                    return leaf;
                }
            };
            let child = self.nodes[node].children[slot].1;
            let label = &self.nodes[child].label;
            let common = common_prefix_len(label, rest);
            if common < label.len() {
                // `rest` leaves the edge part way along: split it with a node at the fork,
                // which takes the child's place under `node`.
                let mut fork = Node::with_label(&label[..common]);
                let tail: Box<[u8]> = label[common..].into();
                fork.children.push((tail[0], child));
                self.nodes[child].label = tail;
                let fork = self.alloc(fork);
                self.nodes[node].children[slot].1 = fork;
                node = fork;
            } else {
                node = child;
            }
            rest = &rest[common..];
        }
        node
    }

    /// Restores the invariants after `node` lost its last subscriber. `parent` is its parent.
    fn prune(&mut self, node: usize, parent: usize) {
        if node == ROOT {
            self.reset_if_empty();
            return;
        }
        match self.nodes[node].children.len() {
            0 => {
                let byte = self.nodes[node].label[0];
                if let Ok(slot) = self.nodes[parent].child_slot(byte) {
                    self.nodes[parent].children.remove(slot);
                }
                self.release(node);
                // A parent without subscribers had two children or more; it may be down to one.
                if parent == ROOT {
                    self.reset_if_empty();
                } else {
                    self.compact(parent);
                }
            }
            1 => self.absorb_only_child(node),
            _ => {}
        }
    }

    /// Frees the children of `node` that have neither subscribers nor children, then merges
    /// `node` with its only child if it is left without subscribers and one child.
    ///
    /// Only `node` and its children change; its index, and so its parent's link to it, stays.
    fn compact(&mut self, node: usize) {
        let mut slot = 0;
        while slot < self.nodes[node].children.len() {
            let child = self.nodes[node].children[slot].1;
            let dead = &self.nodes[child];
            if dead.subscribers.is_empty() && dead.children.is_empty() {
                self.nodes[node].children.remove(slot);
                self.release(child);
            } else {
                slot += 1;
            }
        }
        let this = &self.nodes[node];
        if node != ROOT && this.subscribers.is_empty() && this.children.len() == 1 {
            self.absorb_only_child(node);
        }
    }

    /// Moves the only child of `node` into `node`, joining their labels.
    fn absorb_only_child(&mut self, node: usize) {
        let child = self.nodes[node].children[0].1;
        let Node {
            label: tail,
            children,
            subscribers,
        } = std::mem::replace(&mut self.nodes[child], Node::empty());
        let this = &mut self.nodes[node];
        this.label = [&*this.label, &*tail].concat().into();
        this.children = children;
        this.subscribers = subscribers;
        self.free.push(child);
    }

    /// Takes an arena slot for `node`, reusing a freed one when there is one.
    fn alloc(&mut self, node: Node<K>) -> usize {
        if let Some(index) = self.free.pop() {
            self.nodes[index] = node;
            index
        } else {
            self.nodes.push(node);
            self.nodes.len() - 1
        }
    }

    /// Returns a slot to the arena, dropping what its node owned.
    fn release(&mut self, index: usize) {
        self.nodes[index] = Node::empty();
        self.free.push(index);
    }

    /// Shrinks the arena back to the bare root once the last subscription is gone.
    fn reset_if_empty(&mut self) {
        let root = &self.nodes[ROOT];
        if root.children.is_empty() && root.subscribers.is_empty() {
            self.nodes.truncate(1);
            self.free.clear();
        }
    }
}

impl<K: Copy + Ord> Default for SubscriptionTrie<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> fmt::Debug for SubscriptionTrie<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionTrie")
            .field("topics", &self.topics)
            .field("nodes", &(self.nodes.len() - self.free.len()))
            .finish_non_exhaustive()
    }
}

impl<K> Node<K> {
    fn empty() -> Self {
        Self::with_label(&[])
    }

    fn with_label(label: &[u8]) -> Self {
        Self {
            label: label.into(),
            children: SmallVec::new(),
            subscribers: SmallVec::new(),
        }
    }

    /// Where the child whose label starts with `byte` is, or would be inserted.
    fn child_slot(&self, byte: u8) -> Result<usize, usize> {
        self.children
            .binary_search_by_key(&byte, |&(first, _)| first)
    }

    /// Stacks the children for a pre-order walk, the smallest byte on top, each with `depth`, the
    /// length of the path down to this node.
    fn push_children(&self, stack: &mut Vec<(usize, usize)>, depth: usize) {
        stack.extend(self.children.iter().rev().map(|&(_, child)| (child, depth)));
    }

    /// The child whose label starts with `byte`.
    fn child(&self, byte: u8) -> Option<usize> {
        self.child_slot(byte).ok().map(|slot| self.children[slot].1)
    }
}

/// Where `subscriber` is in a node's sorted subscribers, or would be inserted.
fn find_subscriber<K: Ord>(subscribers: &[(K, u32)], subscriber: K) -> Result<usize, usize> {
    subscribers.binary_search_by(|(key, _)| key.cmp(&subscriber))
}

/// How many leading bytes `a` and `b` share.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Merges the sorted `run` into `tail`, where `tail` minus its last `run.len()` slots is sorted
/// and those slots may be overwritten. It fills from the back, so nothing unread is overwritten
/// and no buffer is needed.
fn merge_run<K: Copy + Ord>(tail: &mut [K], run: &[(K, u32)]) {
    let mut merged = tail.len() - run.len();
    let mut left = run.len();
    while left > 0 {
        let slot = merged + left - 1;
        if merged > 0 && tail[merged - 1] > run[left - 1].0 {
            tail[slot] = tail[merged - 1];
            merged -= 1;
        } else {
            tail[slot] = run[left - 1].0;
            left -= 1;
        }
    }
}

/// Removes consecutive duplicates from `out[start..]`, leaving `out[..start]` alone.
fn dedup_from<K: Copy + PartialEq>(out: &mut Vec<K>, start: usize) {
    let mut kept = start;
    for read in start..out.len() {
        if kept == start || out[read] != out[kept - 1] {
            out[kept] = out[read];
            kept += 1;
        }
    }
    out.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Checks the structural invariants and that no arena slot leaked; returns the live nodes.
    fn check<K: Copy + Ord + fmt::Debug>(trie: &SubscriptionTrie<K>) -> usize {
        let mut reachable = 0;
        let mut topics = 0;
        let mut stack = vec![ROOT];
        while let Some(index) = stack.pop() {
            reachable += 1;
            let node = &trie.nodes[index];
            if index == ROOT {
                assert!(node.label.is_empty());
            } else {
                assert!(!node.label.is_empty(), "empty label at {index}");
                assert!(
                    !node.subscribers.is_empty() || node.children.len() >= 2,
                    "node {index} should have been pruned or merged"
                );
            }
            assert!(node.children.windows(2).all(|w| w[0].0 < w[1].0));
            for &(byte, child) in &node.children {
                assert_eq!(trie.nodes[child].label.first(), Some(&byte));
                stack.push(child);
            }
            assert!(node.subscribers.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(node.subscribers.iter().all(|&(_, count)| count > 0));
            topics += usize::from(!node.subscribers.is_empty());
        }
        assert_eq!(topics, trie.len());
        assert_eq!(
            reachable,
            trie.nodes.len() - trie.free.len(),
            "leaked nodes"
        );
        reachable
    }

    fn matching<K: Copy + Ord>(trie: &SubscriptionTrie<K>, message: &[u8]) -> Vec<K> {
        let mut out = Vec::new();
        trie.matches(message, &mut out);
        out
    }

    #[test]
    fn counts_subscriptions() {
        let mut trie = SubscriptionTrie::new();
        assert!(trie.subscribe(1, b"A"));
        assert!(!trie.subscribe(1, b"A"));
        assert_eq!(trie.len(), 1);
        assert!(trie.contains(1, b"A"));
        assert!(!trie.contains(1, b"AB") && !trie.contains(1, b"") && !trie.contains(2, b"A"));
        assert_eq!(trie.unsubscribe(1, b"A"), Unsubscribed::StillSubscribed);
        assert!(trie.contains(1, b"A"));
        assert_eq!(matching(&trie, b"AB"), [1]);
        assert_eq!(trie.unsubscribe(1, b"A"), Unsubscribed::LastRemoved);
        assert_eq!(trie.unsubscribe(1, b"A"), Unsubscribed::NotSubscribed);
        assert!(!trie.contains(1, b"A"));
        assert!(matching(&trie, b"AB").is_empty());
        assert!(trie.is_empty());
        assert_eq!(check(&trie), 1);
    }

    #[test]
    fn first_and_last_are_across_subscribers() {
        let mut trie = SubscriptionTrie::new();
        assert!(trie.subscribe(1, b"topic"));
        assert!(!trie.subscribe(2, b"topic"));
        assert_eq!(trie.unsubscribe(1, b"topic"), Unsubscribed::StillSubscribed);
        // Peer 1 is gone from the topic even though the topic lives on.
        assert_eq!(trie.unsubscribe(1, b"topic"), Unsubscribed::NotSubscribed);
        assert_eq!(matching(&trie, b"topic!"), [2]);
        assert_eq!(trie.unsubscribe(2, b"topic"), Unsubscribed::LastRemoved);
        assert!(trie.subscribe(1, b"topic"));
    }

    #[test]
    fn cancelling_what_was_never_subscribed_changes_nothing() {
        let mut trie = SubscriptionTrie::new();
        trie.subscribe(1, b"ABC");
        trie.subscribe(1, b"ABD");
        let nodes = check(&trie);
        // "AB" exists as a fork node, but nobody subscribed to it.
        for topic in [&b""[..], b"A", b"AB", b"ABCD", b"X"] {
            assert_eq!(trie.unsubscribe(1, topic), Unsubscribed::NotSubscribed);
        }
        assert_eq!(trie.unsubscribe(2, b"ABC"), Unsubscribed::NotSubscribed);
        assert_eq!(check(&trie), nodes);
        assert_eq!(trie.len(), 2);
    }

    #[test]
    fn empty_topic_matches_everything() {
        let mut trie = SubscriptionTrie::new();
        assert!(!trie.has_match(b""));
        assert!(trie.subscribe(7, b""));
        assert_eq!(matching(&trie, b""), [7]);
        assert_eq!(matching(&trie, b"anything"), [7]);
        assert!(trie.has_match(b"\x00\xff"));
        assert_eq!(trie.topics().collect::<Vec<_>>(), [Bytes::new()]);
        assert_eq!(trie.unsubscribe(7, b""), Unsubscribed::LastRemoved);
        assert!(!trie.has_match(b""));
        assert_eq!(check(&trie), 1);
    }

    #[test]
    fn matches_prefixes_only() {
        let mut trie = SubscriptionTrie::new();
        trie.subscribe(1, b"A");
        trie.subscribe(2, b"AB");
        trie.subscribe(3, b"B");
        trie.subscribe(4, b"ABCD");
        assert_eq!(matching(&trie, b"A"), [1]);
        assert_eq!(matching(&trie, b"AB"), [1, 2]);
        assert_eq!(matching(&trie, b"ABC"), [1, 2]);
        assert_eq!(matching(&trie, b"ABCDE"), [1, 2, 4]);
        assert_eq!(matching(&trie, b"AX"), [1]);
        assert_eq!(matching(&trie, b"BA"), [3]);
        assert!(matching(&trie, b"").is_empty());
        assert!(matching(&trie, b"C").is_empty());
        assert!(!trie.has_match(b"CA"));
        assert!(trie.has_match(b"AC"));
    }

    #[test]
    fn matches_dedupes_and_keeps_what_out_held() {
        let mut trie = SubscriptionTrie::new();
        for topic in [&b""[..], b"A", b"AB", b"ABC"] {
            trie.subscribe(5, topic);
            trie.subscribe(3, topic);
        }
        trie.subscribe(9, b"AB");
        trie.subscribe(1, b"ABC");
        let mut out = vec![9, 5, 5];
        trie.matches(b"ABCD", &mut out);
        assert_eq!(out, [9, 5, 5, 1, 3, 5, 9]);
        out.clear();
        trie.matches(b"AB", &mut out);
        assert_eq!(out, [3, 5, 9]);
    }

    #[test]
    fn matches_merges_many_subscribers() {
        let mut trie = SubscriptionTrie::new();
        // Two large runs: merged.
        for peer in (0..100).rev() {
            trie.subscribe(peer, b"a");
            if peer % 3 == 0 {
                trie.subscribe(peer, b"ab");
            }
        }
        let mut expected: Vec<u32> = (0..100).collect();
        assert_eq!(matching(&trie, b"abc"), expected);
        // A small run first, sorted, then merged with a large one.
        trie.subscribe(500, b"");
        trie.subscribe(7, b"");
        expected.push(500);
        assert_eq!(matching(&trie, b"abc"), expected);
        // More than `MERGED_RUNS` subscribed prefixes: sorted.
        for topic in [&b"abc"[..], b"abcd", b"abcde"] {
            trie.subscribe(1000, topic);
            trie.subscribe(3, topic);
        }
        expected.push(1000);
        assert_eq!(matching(&trie, b"abcdef"), expected);
    }

    #[test]
    fn remove_peer_reports_topics_nobody_holds() {
        let mut trie = SubscriptionTrie::new();
        trie.subscribe(1, b"B");
        trie.subscribe(1, b"B");
        trie.subscribe(1, b"A");
        trie.subscribe(1, b"AB");
        trie.subscribe(1, b"");
        trie.subscribe(2, b"A");
        trie.subscribe(2, b"C");
        assert_eq!(trie.remove_peer(3), Vec::<Bytes>::new());
        assert_eq!(trie.remove_peer(1), ["", "AB", "B"]);
        assert_eq!(trie.topics().collect::<Vec<_>>(), ["A", "C"]);
        assert_eq!(matching(&trie, b"ABC"), [2]);
        assert_eq!(trie.unsubscribe(1, b"A"), Unsubscribed::NotSubscribed);
        check(&trie);
        assert_eq!(trie.remove_peer(2), ["A", "C"]);
        assert!(trie.is_empty());
        assert_eq!(trie.nodes.len(), 1);
    }

    #[test]
    fn splits_and_merges_edges() {
        let mut trie = SubscriptionTrie::new();
        trie.subscribe(1, b"hello");
        assert_eq!(check(&trie), 2);
        trie.subscribe(1, b"help");
        assert_eq!(check(&trie), 4); // root, "hel", "lo", "p"
        trie.subscribe(1, b"he");
        assert_eq!(check(&trie), 5);
        assert_eq!(trie.topics().collect::<Vec<_>>(), ["he", "hello", "help"]);
        assert_eq!(trie.unsubscribe(1, b"help"), Unsubscribed::LastRemoved);
        assert_eq!(check(&trie), 3); // root, "he", "llo"
        assert_eq!(trie.unsubscribe(1, b"he"), Unsubscribed::LastRemoved);
        assert_eq!(check(&trie), 2); // root, "hello"
        assert_eq!(
            trie.nodes[trie.nodes[ROOT].children[0].1].label[..],
            *b"hello"
        );
        assert_eq!(matching(&trie, b"hello world"), [1]);
    }

    #[test]
    fn memory_returns_to_baseline_after_churn() {
        let mut trie = SubscriptionTrie::new();
        trie.subscribe(0u32, b"keep.a");
        trie.subscribe(0, b"keep.b");
        trie.subscribe(0, b"");
        let baseline = check(&trie);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut peak = 0;
        for round in 0..200 {
            let topics: Vec<Vec<u8>> = (0..20)
                .map(|_| {
                    let len = (next() % 12) as usize;
                    let mut topic = b"keep.".to_vec();
                    topic.truncate((next() % 6) as usize);
                    topic.extend((0..len).map(|_| b"ab.k"[(next() % 4) as usize]));
                    topic
                })
                .collect();
            for (i, topic) in topics.iter().enumerate() {
                trie.subscribe(1 + (i % 3) as u32, topic);
            }
            for (i, topic) in topics.iter().enumerate().rev() {
                assert_ne!(
                    trie.unsubscribe(1 + (i % 3) as u32, topic),
                    Unsubscribed::NotSubscribed
                );
            }
            assert_eq!(check(&trie), baseline, "round {round}");
            peak = peak.max(trie.nodes.len());
        }
        // The arena never held more than one round's worth of nodes.
        assert!(trie.nodes.len() <= peak && peak <= baseline + 2 * 20);
        assert_eq!(trie.remove_peer(0).len(), 3);
        assert_eq!(trie.nodes.len(), 1);
    }

    #[test]
    fn long_topics_do_not_recurse() {
        let mut trie = SubscriptionTrie::new();
        let long = vec![b'x'; 64 * 1024];
        assert!(trie.subscribe(1, &long));
        let mut message = long.clone();
        message.push(b'!');
        assert_eq!(matching(&trie, &message), [1]);
        assert!(matching(&trie, &long[1..]).is_empty());
        assert_eq!(trie.topics().next().as_deref(), Some(&long[..]));
        assert_eq!(trie.unsubscribe(1, &long), Unsubscribed::LastRemoved);

        // Every prefix subscribed: a trie thousands of nodes deep.
        let depth = 4096;
        for len in 1..=depth {
            trie.subscribe(2, &long[..len]);
        }
        assert_eq!(check(&trie), depth + 1);
        assert_eq!(matching(&trie, &long).len(), 1);
        assert_eq!(trie.topics().count(), depth);
        assert_eq!(trie.remove_peer(2).len(), depth);
        assert_eq!(trie.nodes.len(), 1);
    }

    #[test]
    fn subscription_set_counts_its_own_subscriptions() {
        let mut set = SubscriptionSet::default();
        assert!(set.subscribe((), b"A"));
        assert!(!set.subscribe((), b"A"));
        assert!(set.subscribe((), b"B"));
        assert_eq!(set.topics().collect::<Vec<_>>(), ["A", "B"]);
        assert!(set.has_match(b"Apple"));
        assert_eq!(set.unsubscribe((), b"A"), Unsubscribed::StillSubscribed);
        assert!(set.has_match(b"Apple"));
        assert_eq!(set.unsubscribe((), b"A"), Unsubscribed::LastRemoved);
        assert!(!set.has_match(b"Apple"));
        assert_eq!(
            format!("{set:?}"),
            "SubscriptionTrie { topics: 1, nodes: 2, .. }"
        );
    }

    /// A deliberately naive model: `(peer, topic, count)` scanned linearly.
    #[derive(Default)]
    struct Model(Vec<(u8, Vec<u8>, u32)>);

    impl Model {
        fn has_topic(&self, topic: &[u8]) -> bool {
            self.0.iter().any(|(_, t, _)| t == topic)
        }

        fn contains(&self, peer: u8, topic: &[u8]) -> bool {
            self.0.iter().any(|(p, t, _)| *p == peer && t == topic)
        }

        fn subscribe(&mut self, peer: u8, topic: &[u8]) -> bool {
            let new = !self.has_topic(topic);
            match self.0.iter_mut().find(|(p, t, _)| *p == peer && t == topic) {
                Some(entry) => entry.2 += 1,
                None => self.0.push((peer, topic.to_vec(), 1)),
            }
            new
        }

        fn unsubscribe(&mut self, peer: u8, topic: &[u8]) -> Unsubscribed {
            let Some(at) = self.0.iter().position(|(p, t, _)| *p == peer && t == topic) else {
                return Unsubscribed::NotSubscribed;
            };
            self.0[at].2 -= 1;
            if self.0[at].2 == 0 {
                self.0.remove(at);
            }
            if self.has_topic(topic) {
                Unsubscribed::StillSubscribed
            } else {
                Unsubscribed::LastRemoved
            }
        }

        fn remove_peer(&mut self, peer: u8) -> Vec<Bytes> {
            let mine: Vec<Vec<u8>> = self
                .0
                .iter()
                .filter(|(p, _, _)| *p == peer)
                .map(|(_, t, _)| t.clone())
                .collect();
            self.0.retain(|(p, _, _)| *p != peer);
            let mut gone: Vec<Bytes> = mine
                .into_iter()
                .filter(|t| !self.has_topic(t))
                .map(Bytes::from)
                .collect();
            gone.sort();
            gone
        }

        fn matches(&self, message: &[u8]) -> Vec<u8> {
            let mut peers: Vec<u8> = self
                .0
                .iter()
                .filter(|(_, t, _)| message.starts_with(t))
                .map(|(p, _, _)| *p)
                .collect();
            peers.sort();
            peers.dedup();
            peers
        }

        fn topics(&self) -> Vec<Bytes> {
            let mut topics: Vec<Bytes> = self
                .0
                .iter()
                .map(|(_, t, _)| Bytes::from(t.clone()))
                .collect();
            topics.sort();
            topics.dedup();
            topics
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Subscribe(u8, Vec<u8>),
        Unsubscribe(u8, Vec<u8>),
        RemovePeer(u8),
        Match(Vec<u8>),
    }

    /// Short strings over a three-letter alphabet, so topics share prefixes and forks often.
    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(b"abc".to_vec()), 0..max)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..4, bytes(5)).prop_map(|(p, t)| Op::Subscribe(p, t)),
            3 => (0u8..4, bytes(5)).prop_map(|(p, t)| Op::Unsubscribe(p, t)),
            1 => (0u8..4).prop_map(Op::RemovePeer),
            3 => bytes(7).prop_map(Op::Match),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_the_naive_model(ops in prop::collection::vec(op(), 0..120)) {
            let mut trie = SubscriptionTrie::new();
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Subscribe(peer, topic) => {
                        prop_assert_eq!(trie.subscribe(peer, &topic), model.subscribe(peer, &topic));
                    }
                    Op::Unsubscribe(peer, topic) => {
                        prop_assert_eq!(trie.contains(peer, &topic), model.contains(peer, &topic));
                        prop_assert_eq!(
                            trie.unsubscribe(peer, &topic),
                            model.unsubscribe(peer, &topic)
                        );
                    }
                    Op::RemovePeer(peer) => {
                        prop_assert_eq!(trie.remove_peer(peer), model.remove_peer(peer));
                    }
                    Op::Match(message) => {
                        let expected = model.matches(&message);
                        // A sentinel in front checks that only the appended part is touched.
                        let mut out = vec![u8::MAX];
                        trie.matches(&message, &mut out);
                        prop_assert_eq!(out[0], u8::MAX);
                        prop_assert_eq!(&out[1..], &expected[..]);
                        prop_assert_eq!(trie.has_match(&message), !expected.is_empty());
                    }
                }
                check(&trie);
                prop_assert_eq!(trie.topics().collect::<Vec<_>>(), model.topics());
                prop_assert_eq!(trie.len(), model.topics().len());
            }
            for peer in 0..4 {
                prop_assert_eq!(trie.remove_peer(peer), model.remove_peer(peer));
            }
            prop_assert!(trie.is_empty());
            prop_assert_eq!(trie.nodes.len(), 1);
        }

        /// Many subscribers on nested prefixes of one message, so that `matches` goes through
        /// every way of combining runs: merging, sorting, and sorting then merging.
        #[test]
        fn matches_many_subscribers_like_the_model(
            subscriptions in prop::collection::vec((any::<u8>(), 0usize..8), 0..400),
            message_len in 0usize..10,
        ) {
            let message = &b"abcdefghij"[..message_len];
            let mut trie = SubscriptionTrie::new();
            let mut model = Model::default();
            for (peer, len) in subscriptions {
                let topic = &b"abcdefghij"[..len];
                trie.subscribe(peer, topic);
                model.subscribe(peer, topic);
            }
            let mut out = vec![0, u8::MAX];
            trie.matches(message, &mut out);
            prop_assert_eq!(&out[..2], &[0, u8::MAX]);
            prop_assert_eq!(&out[2..], &model.matches(message)[..]);
        }
    }
}
