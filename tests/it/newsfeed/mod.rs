//! The news-feed design: the MIND protocol on the sample from `MLSD_DATA_DIR`, and the
//! simulator protocol's claims (objectives, position bias, exploration, experiments).

mod data;
mod sim;
