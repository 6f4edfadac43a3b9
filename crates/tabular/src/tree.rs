//! linfa's decision trees predict labels only; a ranking metric (AP, AUC) and a threshold
//! need a score. [`ProbabilityTree`] copies a fitted tree and re-estimates each leaf's
//! positive rate on the training rows that reach it (Laplace-smoothed).
//!
//! Simplification: the leaf rates come from the rows the tree was trained on — undersampled
//! rows when the design undersamples — so they rank well but are not calibrated
//! probabilities; calibrate on held-out rows before reading them as probabilities.

use linfa_trees::{DecisionTree, TreeNode};
use mlsd_core::sql::double_of;
use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// A flattened decision tree whose leaves hold a positive-class probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbabilityTree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    /// `x[feature] < threshold` goes left (linfa's prediction rule).
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        probability: f64,
    },
}

impl ProbabilityTree {
    /// Copies linfa's tree, then sets each leaf to its (Laplace-smoothed) positive rate among
    /// the training rows `x`, `y` that reach it.
    pub fn from_linfa(
        tree: &DecisionTree<f64, bool>,
        x: ArrayView2<f64>,
        y: &[bool],
    ) -> ProbabilityTree {
        fn copy(node: &TreeNode<f64, bool>, nodes: &mut Vec<Node>) -> usize {
            let id = nodes.len();
            nodes.push(Node::Leaf { probability: 0.0 });
            if !node.is_leaf() {
                let (feature, threshold, _) = node.split();
                let children = node.children();
                let (Some(l), Some(r)) = (children[0].as_deref(), children[1].as_deref()) else {
                    return id;
                };
                let left = copy(l, nodes);
                let right = copy(r, nodes);
                nodes[id] = Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                };
            }
            id
        }
        let mut nodes = Vec::new();
        copy(tree.root_node(), &mut nodes);
        let mut tree = ProbabilityTree { nodes };
        let mut counts = vec![(0.0f64, 0.0f64); tree.nodes.len()];
        for (row, &label) in x.axis_iter(Axis(0)).zip(y) {
            let leaf = tree.leaf_of(|j| row[j]);
            counts[leaf].0 += f64::from(u8::from(label));
            counts[leaf].1 += 1.0;
        }
        for (node, (frauds, total)) in tree.nodes.iter_mut().zip(counts) {
            if let Node::Leaf { probability } = node {
                *probability = (frauds + 1.0) / (total + 2.0);
            }
        }
        tree
    }

    /// The leaf a row reaches; `value(j)` is the row's feature `j`.
    fn leaf_of(&self, value: impl Fn(usize) -> f64) -> usize {
        let mut i = 0;
        while let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = &self.nodes[i]
        {
            i = if value(*feature) < *threshold {
                *left
            } else {
                *right
            };
        }
        i
    }

    /// The probability of the leaf a row reaches; `value(j)` is the row's feature `j`.
    pub fn probability(&self, value: impl Fn(usize) -> f64) -> f64 {
        match self.nodes[self.leaf_of(value)] {
            Node::Leaf { probability } => probability,
            Node::Split { .. } => 0.0,
        }
    }

    /// The tree as nested `CASE WHEN x < t THEN … ELSE … END` (see [`crate::sql`]);
    /// `column(j)` is the SQL of feature `j`.
    pub fn sql(&self, column: impl Fn(usize) -> String) -> Result<String, String> {
        self.node_sql(0, &column)
    }

    fn node_sql(&self, i: usize, column: &dyn Fn(usize) -> String) -> Result<String, String> {
        match self.nodes.get(i) {
            Some(Node::Leaf { probability }) => double_of("a leaf rate", *probability),
            Some(Node::Split {
                feature,
                threshold,
                left,
                right,
            }) => Ok(format!(
                "CASE WHEN {} < {} THEN {} ELSE {} END",
                column(*feature),
                double_of("a threshold", *threshold)?,
                self.node_sql(*left, column)?,
                self.node_sql(*right, column)?
            )),
            None => Err(format!("the tree has no node {i}")),
        }
    }

    pub fn n_leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf { .. }))
            .count()
    }
}
