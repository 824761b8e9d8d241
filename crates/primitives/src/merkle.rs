//! Keccak binary Merkle trees, as `Merkle.sol` computes them.
//!
//! For `n` leaves the tree has depth `d = max(1, ceil(log2 n))`; missing leaves are zero and an
//! inner node is `keccak256(0x01 ‖ left ‖ right)`: a 65-byte preimage, which no leaf's preimage
//! has (a message leaf hashes at least 116 bytes, a batch or chain leaf 40), so a node can never
//! be passed off as a leaf or the other way round. The root of no leaf is the node over two zero
//! leaves. A proof lists the sibling at each level from the leaf up.

use alloy_primitives::{B256, keccak256};

/// The first byte of an inner node's preimage (`Merkle.NODE_PREFIX`).
pub const NODE_PREFIX: u8 = 0x01;

/// The inner node over `left` and `right`: `keccak256(0x01 ‖ left ‖ right)`.
pub fn merkle_node(left: &B256, right: &B256) -> B256 {
    let mut packed = [0u8; 65];
    packed[0] = NODE_PREFIX;
    packed[1..33].copy_from_slice(left.as_slice());
    packed[33..].copy_from_slice(right.as_slice());
    keccak256(packed)
}

fn hash_pair(left: &B256, right: &B256) -> B256 {
    merkle_node(left, right)
}

/// `max(1, ceil(log2 count))`.
pub fn merkle_depth(count: usize) -> usize {
    let mut depth = 1;
    while (1usize << depth) < count {
        depth += 1;
    }
    depth
}

/// The roots of all-zero subtrees: `zero_hashes(d)[h]` is the root of `2^h` zero leaves.
pub fn zero_hashes(depth: usize) -> Vec<B256> {
    let mut zeros = Vec::with_capacity(depth + 1);
    zeros.push(B256::ZERO);
    for h in 0..depth {
        let next = hash_pair(&zeros[h], &zeros[h]);
        zeros.push(next);
    }
    zeros
}

/// The levels of the tree from the leaves up; zero padding is implied.
fn levels(leaves: &[B256]) -> Vec<Vec<B256>> {
    let depth = merkle_depth(leaves.len());
    let zeros = zero_hashes(depth);
    let mut levels = vec![leaves.to_vec()];
    for h in 0..depth {
        let below = &levels[h];
        let width = below.len().div_ceil(2).max(1);
        let level = (0..width)
            .map(|i| {
                let left = below.get(2 * i).unwrap_or(&zeros[h]);
                let right = below.get(2 * i + 1).unwrap_or(&zeros[h]);
                hash_pair(left, right)
            })
            .collect();
        levels.push(level);
    }
    levels
}

/// The root over `leaves`.
pub fn merkle_root(leaves: &[B256]) -> B256 {
    levels(leaves).last().and_then(|top| top.first().copied()).unwrap_or_default()
}

/// The siblings of leaf `index` from the bottom up; `None` if `index` is out of range.
pub fn merkle_proof(leaves: &[B256], index: usize) -> Option<Vec<B256>> {
    if index >= leaves.len() {
        return None;
    }
    let depth = merkle_depth(leaves.len());
    let zeros = zero_hashes(depth);
    let levels = levels(leaves);
    Some(
        (0..depth)
            .map(|h| {
                let sibling = (index >> h) ^ 1;
                levels[h].get(sibling).copied().unwrap_or(zeros[h])
            })
            .collect(),
    )
}

/// True when `proof` shows `leaf` at `index` under `root`.
pub fn verify_merkle_proof(root: B256, leaf: B256, index: usize, proof: &[B256]) -> bool {
    let mut node = leaf;
    for (h, sibling) in proof.iter().enumerate() {
        node = if (index >> h) & 1 == 1 {
            hash_pair(sibling, &node)
        } else {
            hash_pair(&node, sibling)
        };
    }
    proof.len() < usize::BITS as usize && index >> proof.len() == 0 && node == root
}

/// An append-only tree that keeps one node per level (`Merkle.Tree` of `Merkle.sol`): its
/// root equals [`merkle_root`] over the leaves pushed, in constant memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncrementalTree {
    count: u64,
    branch: Vec<B256>,
}

impl IncrementalTree {
    /// How many leaves were pushed.
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// The node kept per level (to store the tree and rebuild it with [`Self::from_parts`]).
    pub fn branch(&self) -> &[B256] {
        &self.branch
    }

    /// Its frontier: the kept nodes at the set bits of its leaf count, lowest bit first (all
    /// its root and its next pushes read; `Merkle.branchOf` rebuilds the tree from it).
    pub fn frontier(&self) -> Vec<B256> {
        (0..u64::BITS as usize)
            .filter(|h| (self.count >> h) & 1 == 1)
            .map(|h| self.branch.get(h).copied().unwrap_or_default())
            .collect()
    }

    /// The tree of `count` leaves whose frontier is `frontier` (see [`Self::frontier`]);
    /// `None` unless it holds exactly one node per set bit of `count`. (Tests: L1 rebuilds the
    /// tree this way, `Merkle.branchOf`.)
    #[cfg(test)]
    fn from_frontier(count: u64, frontier: &[B256]) -> Option<Self> {
        if frontier.len() != count.count_ones() as usize {
            return None;
        }
        let bits = (0..u64::BITS as usize).filter(|h| (count >> h) & 1 == 1);
        let mut branch = vec![B256::ZERO; (u64::BITS - count.leading_zeros()) as usize];
        for (h, node) in bits.zip(frontier) {
            branch[h] = *node;
        }
        Some(Self { count, branch })
    }

    /// The tree of `count` leaves whose kept nodes are `branch` (as [`Self::branch`] gave).
    pub const fn from_parts(count: u64, branch: Vec<B256>) -> Self {
        Self { count, branch }
    }

    /// Appends a leaf; O(log n).
    pub fn push(&mut self, leaf: B256) {
        self.count += 1;
        let mut size = self.count;
        let mut node = leaf;
        let mut h = 0;
        loop {
            if self.branch.len() <= h {
                self.branch.resize(h + 1, B256::ZERO);
            }
            if size & 1 == 1 {
                self.branch[h] = node;
                return;
            }
            node = hash_pair(&self.branch[h], &node);
            size >>= 1;
            h += 1;
        }
    }

    /// The root over the leaves pushed so far.
    pub fn root(&self) -> B256 {
        let depth = merkle_depth(usize::try_from(self.count).unwrap_or(usize::MAX));
        if self.count == 1u64 << depth {
            return self.branch.get(depth).copied().unwrap_or_default();
        }
        let mut node = B256::ZERO;
        let mut zero = B256::ZERO;
        let mut size = self.count;
        for h in 0..depth {
            node = if size & 1 == 1 {
                hash_pair(self.branch.get(h).unwrap_or(&B256::ZERO), &node)
            } else {
                hash_pair(&node, &zero)
            };
            zero = hash_pair(&zero, &zero);
            size >>= 1;
        }
        node
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_incremental_tree_has_the_root_of_its_leaves() {
        let mut tree = IncrementalTree::default();
        let mut leaves = Vec::new();
        assert_eq!(tree.root(), merkle_root(&leaves));
        for i in 0..70u8 {
            let leaf = keccak256([i]);
            tree.push(leaf);
            leaves.push(leaf);
            assert_eq!(tree.root(), merkle_root(&leaves), "{} leaves", leaves.len());
            let rebuilt = IncrementalTree::from_parts(tree.count(), tree.branch().to_vec());
            assert_eq!(rebuilt, tree);
            assert_eq!(tree.count(), leaves.len() as u64);
            // Its frontier is all there is to it: the tree rebuilt from it has its root and
            // grows as it does.
            let frontier = tree.frontier();
            assert_eq!(frontier.len(), tree.count().count_ones() as usize);
            let mut from_frontier =
                IncrementalTree::from_frontier(tree.count(), &frontier).unwrap();
            assert_eq!(from_frontier.root(), tree.root());
            let mut grown = tree.clone();
            from_frontier.push(B256::repeat_byte(i));
            grown.push(B256::repeat_byte(i));
            assert_eq!(from_frontier.root(), grown.root());
            assert_eq!(from_frontier.frontier(), grown.frontier());
            assert!(IncrementalTree::from_frontier(tree.count() | 1 << 40, &frontier).is_none());
        }
    }

    #[test]
    fn small_trees_by_hand() {
        let a = B256::repeat_byte(1);
        let b = B256::repeat_byte(2);
        let c = B256::repeat_byte(3);
        assert_eq!(merkle_root(&[]), hash_pair(&B256::ZERO, &B256::ZERO));
        assert_eq!(merkle_root(&[a]), hash_pair(&a, &B256::ZERO));
        assert_eq!(merkle_root(&[a, b]), hash_pair(&a, &b));
        assert_eq!(
            merkle_root(&[a, b, c]),
            hash_pair(&hash_pair(&a, &b), &hash_pair(&c, &B256::ZERO))
        );
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_no_other_does(
            leaves in proptest::collection::vec(any::<[u8; 32]>(), 1..70),
            pick in any::<prop::sample::Index>(),
        ) {
            let leaves: Vec<B256> = leaves.into_iter().map(B256::from).collect();
            let root = merkle_root(&leaves);
            let index = pick.index(leaves.len());
            let proof = merkle_proof(&leaves, index).unwrap();
            prop_assert_eq!(proof.len(), merkle_depth(leaves.len()));
            prop_assert!(verify_merkle_proof(root, leaves[index], index, &proof));
            let other = B256::from(keccak256(leaves[index]));
            prop_assert!(!verify_merkle_proof(root, other, index, &proof));
            let mut tampered = proof;
            tampered[0] = B256::from(keccak256(tampered[0]));
            prop_assert!(!verify_merkle_proof(root, leaves[index], index, &tampered));
        }
    }
}
