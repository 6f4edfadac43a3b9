//! Production-shaped traffic for `mlsd bench serve --design newsfeed`: feed opens spread over
//! the users the snapshot knows (and some it does not), and engagement events on the articles
//! of the catalogue.

use serde_json::json;

use crate::artifact::NewsfeedArtifact;

/// `n` feed paths: users in turn, one in ten unknown to the snapshot (a cold start).
pub fn feed_paths(model: &NewsfeedArtifact, n: usize, k: usize) -> Vec<String> {
    let known: Vec<u32> = model.snapshot.histories.keys().copied().collect();
    (0..n)
        .map(|i| {
            let user = if i % 10 == 9 || known.is_empty() {
                1_000_000 + i as u32
            } else {
                known[i % known.len()]
            };
            format!("/v1/newsfeed/users/{user}/feed?k={k}")
        })
        .collect()
}

/// `n` event bodies of `per_request` events each (impressions, a click in five).
pub fn event_bodies(model: &NewsfeedArtifact, n: usize, per_request: usize) -> Vec<Vec<u8>> {
    let articles = model.snapshot.listings.len().max(1);
    (0..n)
        .map(|i| {
            let events: Vec<_> = (0..per_request)
                .map(|j| {
                    let k = i * per_request + j;
                    let kind = if k.is_multiple_of(5) { "click" } else { "impression" };
                    json!({ "user_id": k % 1_000, "article_id": (k * 7) % articles, "kind": kind, "position": j % 10, "dwell_seconds": if kind == "click" { 45.0 } else { 0.0 } })
                })
                .collect();
            json!({ "events": events }).to_string().into_bytes()
        })
        .collect()
}
