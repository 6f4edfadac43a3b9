//! Standardisation fitted on the training split only, saved with the model.
//!
//! Talking points: fitting on all rows leaks test statistics into training; the fitted
//! scaler travels inside the artifact, so serving cannot scale differently (training/serving
//! skew).

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Standardisation fitted on the training split only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Scaler {
    /// Talking point: fit the scaler on the train split only — fitting on all rows leaks
    /// test statistics into training.
    pub fn fit(x: &Array2<f64>) -> Scaler {
        let n = x.nrows().max(1) as f64;
        let mean: Vec<f64> = x.axis_iter(Axis(1)).map(|c| c.sum() / n).collect();
        let std = x
            .axis_iter(Axis(1))
            .zip(&mean)
            .map(|(c, m)| {
                let s = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt();
                if s > 0.0 {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        Scaler { mean, std }
    }

    pub fn transform(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = x.to_owned();
        for (j, mut c) in out.axis_iter_mut(Axis(1)).enumerate() {
            c.mapv_inplace(|v| (v - self.mean[j]) / self.std[j]);
        }
        out
    }
}
