//! Approximate nearest neighbours for candidate generation: an inverted-file index (IVF) over
//! item embeddings, searched by inner product.
//!
//! k-means splits the items into `lists` clusters; a query scores the cluster centres, then
//! only the items of the `probe` best clusters. Cost per query: `lists + probe × n / lists`
//! dot products instead of `n`; the price is recall (measured by [`Ivf::recall_at`] against
//! the exact search, and reported by the evaluation).
//!
//! Talking points: retrieval must be sub-linear in the catalogue (millions of items in
//! production: FAISS IVF-PQ, ScaNN, HNSW); recall of the index is a tunable trade-off with
//! latency (`probe`); the index is rebuilt with every model version.
//!
//! Simplification: IVF-flat written here (about 100 lines) instead of a crate such as
//! `hnsw_rs`, which would add a dependency tree to a cold build already near its budget; for a
//! few thousand items the exact search is fast too — the index is here to show the technique
//! and measure its recall.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// An IVF index over `n` vectors of `dims` floats (row-major).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Ivf {
    dims: usize,
    vectors: Vec<f32>,
    centres: Vec<f32>,
    /// Item ids per cluster.
    lists: Vec<Vec<u32>>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Ivf {
    /// Clusters `vectors` (row `i` is item `i`) into `lists` groups with `iterations` rounds of
    /// k-means (spherical: centres compared by cosine), seeded.
    pub fn build(
        vectors: Vec<f32>,
        dims: usize,
        lists: usize,
        iterations: usize,
        seed: u64,
    ) -> Ivf {
        let n = vectors.len().checked_div(dims).unwrap_or(0);
        let lists = lists.clamp(1, n.max(1));
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut centres: Vec<f32> = sample(&mut rng, n.max(1), lists.min(n.max(1)))
            .iter()
            .flat_map(|i| {
                let v = &vectors[i * dims..(i + 1) * dims];
                let s = norm(v);
                v.iter().map(move |x| x / s).collect::<Vec<_>>()
            })
            .collect();
        let k = centres.len() / dims.max(1);
        let mut assign = vec![0usize; n];
        for _ in 0..iterations.max(1) {
            for (i, a) in assign.iter_mut().enumerate() {
                let v = &vectors[i * dims..(i + 1) * dims];
                *a = (0..k)
                    .max_by(|&x, &y| {
                        dot(v, &centres[x * dims..][..dims])
                            .total_cmp(&dot(v, &centres[y * dims..][..dims]))
                    })
                    .unwrap_or(0);
            }
            let mut sums = vec![0.0f32; k * dims];
            for (i, &a) in assign.iter().enumerate() {
                for (s, x) in sums[a * dims..][..dims]
                    .iter_mut()
                    .zip(&vectors[i * dims..])
                {
                    *s += x;
                }
            }
            for c in 0..k {
                let s = norm(&sums[c * dims..][..dims]);
                if s > 1e-9 {
                    for (dst, x) in centres[c * dims..][..dims]
                        .iter_mut()
                        .zip(&sums[c * dims..])
                    {
                        *dst = x / s;
                    }
                }
            }
        }
        let mut members = vec![Vec::new(); k];
        for (i, &a) in assign.iter().enumerate() {
            members[a].push(i as u32);
        }
        Ivf {
            dims,
            vectors,
            centres,
            lists: members,
        }
    }

    /// The `k` items with the largest inner product with `query` among the `probe` closest
    /// clusters, best first, skipping items for which `skip` is true.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        probe: usize,
        skip: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let d = self.dims;
        if query.len() != d || d == 0 {
            return Vec::new();
        }
        let mut order: Vec<(usize, f32)> = (0..self.lists.len())
            .map(|c| (c, dot(query, &self.centres[c * d..][..d])))
            .collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut hits: Vec<(u32, f32)> = order
            .iter()
            .take(probe.max(1))
            .flat_map(|&(c, _)| &self.lists[c])
            .filter(|&&i| !skip(i))
            .map(|&i| (i, dot(query, &self.vectors[i as usize * d..][..d])))
            .collect();
        top(&mut hits, k);
        hits
    }

    /// The exact answer (every item scored), for measuring recall.
    pub fn exact(&self, query: &[f32], k: usize, skip: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
        self.search(query, k, self.lists.len(), skip)
    }

    /// Share of the exact top `k` that the index returns with `probe`, averaged over queries.
    pub fn recall_at(&self, queries: &[Vec<f32>], k: usize, probe: usize) -> f64 {
        if queries.is_empty() {
            return 0.0;
        }
        let mut sum = 0.0;
        for q in queries {
            let exact: std::collections::HashSet<u32> = self
                .exact(q, k, |_| false)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            let found = self
                .search(q, k, probe, |_| false)
                .iter()
                .filter(|(i, _)| exact.contains(i))
                .count();
            sum += found as f64 / exact.len().max(1) as f64;
        }
        sum / queries.len() as f64
    }

    pub fn n_lists(&self) -> usize {
        self.lists.len()
    }
}

/// Keeps the `k` best (highest score, then lower id) in order.
pub fn top(hits: &mut Vec<(u32, f32)>, k: usize) {
    let by = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if hits.len() > k && k > 0 {
        hits.select_nth_unstable_by(k - 1, by);
    }
    hits.truncate(k);
    hits.sort_by(by);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_every_list_is_exact_and_fewer_lists_still_find_the_obvious_neighbours() {
        // Two tight groups of items, pointing along x and along y.
        let mut v = Vec::new();
        for i in 0..40 {
            let e = i as f32 * 0.001;
            if i < 20 {
                v.extend([1.0 + e, e]);
            } else {
                v.extend([e, 1.0 + e]);
            }
        }
        let ivf = Ivf::build(v, 2, 2, 5, 1);
        let all = ivf.search(&[0.0, 1.0], 5, 2, |_| false);
        assert_eq!(all, ivf.exact(&[0.0, 1.0], 5, |_| false));
        assert_eq!(all[0].0, 39, "largest y component first");
        let one = ivf.search(&[0.0, 1.0], 5, 1, |i| i == 39);
        assert!(one.iter().all(|(i, _)| (20..39).contains(i)), "{one:?}");
        assert_eq!(ivf.recall_at(&[vec![0.0, 1.0], vec![1.0, 0.0]], 5, 1), 1.0);
    }
}
