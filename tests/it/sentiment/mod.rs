//! The sentiment design: real text from `MLSD_DATA_DIR`, the API.

mod rt_polarity;
mod api;
mod redis_state;
mod encoder;
