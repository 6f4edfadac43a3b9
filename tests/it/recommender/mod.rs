//! The recommender: MovieLens-100k protocols, the seeded shop, the API.

mod movielens;
pub mod shop;
mod api;
mod redis_state;
