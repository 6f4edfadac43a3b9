//! Thresholds that turn a score into an action: approve, review, block.
//!
//! Talking point: the tiers follow costs — the block tier is small and sure, the review tier
//! is sized to the people who review (an alert budget per day).

use serde::{Deserialize, Serialize};

/// Score thresholds that turn a probability into an action.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecisionThresholds {
    /// At or above: a person reviews the case (an investigator, a technician).
    pub review: f64,
    /// At or above: the action is taken at once (block the payment, stop the machine).
    pub block: f64,
}

impl Default for DecisionThresholds {
    fn default() -> Self {
        DecisionThresholds {
            review: 0.3,
            block: 0.8,
        }
    }
}

/// The action for a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Review,
    Block,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Review => "review",
            Decision::Block => "block",
        }
    }
}

impl DecisionThresholds {
    /// An error message unless 0 ≤ review ≤ block ≤ 1.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.review)
            || !(0.0..=1.0).contains(&self.block)
            || self.review > self.block
        {
            return Err(format!(
                "thresholds must satisfy 0 ≤ review ({}) ≤ block ({}) ≤ 1",
                self.review, self.block
            ));
        }
        Ok(())
    }

    // Talking point: approve / review / block tiers — the block tier is small and sure, the
    // review tier is sized to the investigators' daily budget.
    pub fn decide(&self, score: f64) -> Decision {
        if score >= self.block {
            Decision::Block
        } else if score >= self.review {
            Decision::Review
        } else {
            Decision::Approve
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_fall_into_tiers_and_bad_thresholds_are_refused() {
        let t = DecisionThresholds {
            review: 0.3,
            block: 0.8,
        };
        assert!(t.check().is_ok());
        assert_eq!(t.decide(0.1), Decision::Approve);
        assert_eq!(t.decide(0.3), Decision::Review);
        assert_eq!(t.decide(0.8), Decision::Block);
        for (review, block) in [(0.9, 0.8), (-0.1, 0.5), (0.2, 1.5)] {
            assert!(DecisionThresholds { review, block }.check().is_err());
        }
    }
}
