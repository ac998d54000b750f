//! Scorecards: characteristics binned into points, plus base points. The
//! reason codes are the characteristics that cost the most points compared
//! with their best bin — the "adverse action reasons" lenders must give.

use std::sync::Arc;

use riskflow_expr::Value;

use super::{ModelError, Prediction};
use crate::cell::Test;

pub struct Bin {
    pub test: Option<Test>,
    pub missing: bool,
    pub otherwise: bool,
    pub points: f64,
}

pub struct Characteristic {
    pub reason: Arc<str>,
    pub bins: Vec<Bin>,
    max_points: f64,
}

impl Characteristic {
    pub fn new(reason: Arc<str>, bins: Vec<Bin>) -> Characteristic {
        let max_points = bins
            .iter()
            .map(|b| b.points)
            .fold(f64::NEG_INFINITY, f64::max);
        Characteristic {
            reason,
            bins,
            max_points,
        }
    }
}

pub struct Scorecard {
    pub base_points: f64,
    pub characteristics: Vec<Characteristic>,
    /// (base_score, base_odds, pdo) to turn points into a probability of bad.
    pub scaling: Option<(f64, f64, f64)>,
    pub reason_count: usize,
}

impl Scorecard {
    pub fn predict(&self, features: &[Value], names: &[String]) -> Result<Prediction, ModelError> {
        let mut total = self.base_points;
        let mut contributions = Vec::with_capacity(self.characteristics.len());
        let mut lost: Vec<(f64, usize)> = Vec::new();
        for (i, ch) in self.characteristics.iter().enumerate() {
            let v = &features[i];
            let bin = ch
                .bins
                .iter()
                .find(|b| match v {
                    Value::Null => b.missing,
                    v => b.test.as_ref().is_some_and(|t| t.matches(v)),
                })
                .or_else(|| ch.bins.iter().find(|b| b.otherwise))
                .ok_or_else(|| ModelError::Feature {
                    feature: names[i].clone(),
                    message: format!("value {v} falls in no bin (add an `else: true` bin)"),
                })?;
            total += bin.points;
            contributions.push(bin.points);
            if bin.points < ch.max_points {
                lost.push((ch.max_points - bin.points, i));
            }
        }
        lost.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let reasons = lost
            .iter()
            .take(self.reason_count)
            .map(|(_, i)| self.characteristics[*i].reason.clone())
            .collect();
        let probability = self.scaling.map(|(base_score, base_odds, pdo)| {
            // score = offset + factor·ln(odds), odds = good:bad
            let factor = pdo / std::f64::consts::LN_2;
            let odds = base_odds * ((total - base_score) / factor).exp();
            1.0 / (1.0 + odds)
        });
        Ok(Prediction {
            score: total,
            probability,
            reasons,
            contributions,
        })
    }
}
