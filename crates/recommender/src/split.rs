//! Stage 2 — the splits of the two published protocols we compare with.
//!
//! - **Surprise**: 5-fold cross-validation over shuffled ratings (every rating is tested once);
//! - **Microsoft Recommenders**: 75/25 split *stratified by item*: each item's ratings are
//!   shuffled and 75 % go to training, so every item is seen in training.
//!
//! Both are random splits, as the published numbers use. Talking point: a production
//! recommender is evaluated on a *time* split (train on the past, test on the next week),
//! which is harder — random splits leak the future and flatter every model alike.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::movielens::Rating;

/// Test-index sets of `folds` folds over `n` shuffled rows (sizes differ by at most one, the
/// larger folds first, as scikit-learn's `KFold`).
pub fn kfold(n: usize, folds: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let folds = folds.max(1);
    let mut out = Vec::with_capacity(folds);
    let mut start = 0;
    for f in 0..folds {
        let size = n / folds + usize::from(f < n % folds);
        out.push(order[start..start + size].to_vec());
        start += size;
    }
    out
}

/// (train, test) row indices: per item, its ratings shuffled and the first
/// `round(ratio × count)` kept for training.
pub fn stratified_by_item(ratings: &[Rating], ratio: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_item: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, r) in ratings.iter().enumerate() {
        by_item.entry(r.item).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for rows in by_item.values_mut() {
        rows.shuffle(&mut rng);
        let cut = (ratio * rows.len() as f64).round() as usize;
        train.extend_from_slice(&rows[..cut]);
        test.extend_from_slice(&rows[cut..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kfold_partitions_every_row_once() {
        let folds = kfold(103, 5, 0);
        let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
        assert_eq!(sizes, [21, 21, 21, 20, 20]);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        assert_eq!(kfold(103, 5, 0), folds, "same seed, same folds");
        assert_ne!(kfold(103, 5, 1), folds);
    }

    #[test]
    fn the_stratified_split_keeps_three_quarters_of_each_item() {
        let ratings: Vec<Rating> = (0..40u32)
            .map(|i| Rating {
                user: i,
                item: if i < 8 { 1 } else { 2 },
                rating: 3.0,
                timestamp: 0,
            })
            .collect();
        let (train, test) = stratified_by_item(&ratings, 0.75, 42);
        let count =
            |rows: &[usize], item: u32| rows.iter().filter(|&&i| ratings[i].item == item).count();
        assert_eq!((count(&train, 1), count(&test, 1)), (6, 2));
        assert_eq!((count(&train, 2), count(&test, 2)), (24, 8));
        assert_eq!(stratified_by_item(&ratings, 0.75, 42), (train, test));
    }
}
