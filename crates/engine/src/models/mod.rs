//! Models: scorecards, logistic regression, and gradient-boosted trees read
//! from XGBoost JSON and LightGBM text files. Each model maps a feature
//! vector (CEL values; null means missing) to a score, an optional
//! probability and reason codes.

mod lightgbm;
mod scorecard;
mod xgboost;

use std::sync::Arc;

use riskflow_expr::Value;

pub use lightgbm::LightGbm;
pub use scorecard::Scorecard;
pub use xgboost::XgBoost;

/// What a model produced for one feature vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Points for scorecards, the probability for binary classifiers, the raw prediction for regressors.
    pub score: f64,
    /// Probability of the positive class (bad), when the model has one.
    pub probability: Option<f64>,
    /// Reason codes, most important first (scorecards: the characteristics that cost the most points).
    pub reasons: Vec<Arc<str>>,
    /// Per-feature contribution (points or coefficient × value), in feature order.
    pub contributions: Vec<f64>,
}

/// A model failed to load or to score.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    #[error("cannot read model: {0}")]
    Format(String),
    #[error("feature {feature}: {message}")]
    Feature { feature: String, message: String },
}

pub enum Model {
    Scorecard(Scorecard),
    Logistic(Logistic),
    XgBoost(XgBoost),
    LightGbm(LightGbm),
}

impl Model {
    pub fn predict(&self, features: &[Value], names: &[String]) -> Result<Prediction, ModelError> {
        match self {
            Model::Scorecard(m) => m.predict(features, names),
            Model::Logistic(m) => m.predict(features, names),
            Model::XgBoost(m) => Ok(m.predict(&numeric(features, names)?)),
            Model::LightGbm(m) => Ok(m.predict(&numeric(features, names)?)),
        }
    }

    /// Number of features the model reads, when the model file says.
    pub fn feature_count(&self) -> Option<usize> {
        match self {
            Model::XgBoost(m) => Some(m.num_features()),
            Model::LightGbm(m) => Some(m.num_features()),
            _ => None,
        }
    }
}

/// Features as doubles, NaN for missing (null).
fn numeric(features: &[Value], names: &[String]) -> Result<Vec<f64>, ModelError> {
    features
        .iter()
        .zip(names)
        .map(|(v, n)| match v {
            Value::Null => Ok(f64::NAN),
            Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
            other => other.as_f64().ok_or_else(|| ModelError::Feature {
                feature: n.clone(),
                message: format!("expected a number, got {}", other.type_name().name()),
            }),
        })
        .collect()
}

impl Prediction {
    /// A tree ensemble's output: the probability for a binary classifier, the raw value for a regressor.
    fn ensemble(raw: f64, binary: Option<f64>) -> Prediction {
        let probability = binary.map(|scale| sigmoid(scale * raw));
        Prediction {
            score: probability.unwrap_or(raw),
            probability,
            reasons: vec![],
            contributions: vec![],
        }
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `p = sigmoid(intercept + Σ coefᵢ·xᵢ)`; a missing feature contributes 0.
pub struct Logistic {
    pub intercept: f64,
    pub coefficients: Vec<f64>,
}

impl Logistic {
    fn predict(&self, features: &[Value], names: &[String]) -> Result<Prediction, ModelError> {
        let xs = numeric(features, names)?;
        let contributions: Vec<f64> = xs
            .iter()
            .zip(&self.coefficients)
            .map(|(x, c)| if x.is_nan() { 0.0 } else { x * c })
            .collect();
        let z = self.intercept + contributions.iter().sum::<f64>();
        let p = sigmoid(z);
        // Reasons: the features that pushed risk up the most.
        let mut order: Vec<usize> = (0..contributions.len())
            .filter(|i| contributions[*i] > 0.0)
            .collect();
        order.sort_by(|a, b| contributions[*b].total_cmp(&contributions[*a]));
        let reasons = order
            .into_iter()
            .map(|i| Arc::from(names[i].as_str()))
            .collect();
        Ok(Prediction {
            score: p,
            probability: Some(p),
            reasons,
            contributions,
        })
    }
}

/// A scorecard bin (used by the project compiler).
pub fn scorecard_bin(
    test: Option<crate::cell::Test>,
    missing: bool,
    otherwise: bool,
    points: f64,
) -> scorecard::Bin {
    scorecard::Bin {
        test,
        missing,
        otherwise,
        points,
    }
}

/// A scorecard characteristic (used by the project compiler).
pub fn scorecard_characteristic(
    reason: Arc<str>,
    bins: Vec<scorecard::Bin>,
) -> scorecard::Characteristic {
    scorecard::Characteristic::new(reason, bins)
}
