//! XGBoost models saved with `Booster.save_model("m.json")`. Splits compare
//! in 32-bit floats, as XGBoost does, so predictions match the library.

use serde_json::Value as Json;

use super::{ModelError, Prediction};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    Logistic,
    Regression,
}

struct Tree {
    left: Vec<i32>,
    right: Vec<i32>,
    feature: Vec<u32>,
    threshold: Vec<f32>,
    default_left: Vec<bool>,
}

pub struct XgBoost {
    trees: Vec<Tree>,
    base_margin: f64,
    objective: Objective,
    num_features: usize,
}

fn arr<'a>(t: &'a Json, key: &str) -> Result<&'a Vec<Json>, ModelError> {
    t.get(key)
        .and_then(Json::as_array)
        .ok_or_else(|| ModelError::Format(format!("tree lacks {key:?}")))
}

fn num_str(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim_matches(|c| c == '[' || c == ']').parse().ok(),
        _ => None,
    }
}

impl XgBoost {
    pub fn from_json(text: &str) -> Result<XgBoost, ModelError> {
        let doc: Json =
            serde_json::from_str(text).map_err(|e| ModelError::Format(format!("not JSON: {e}")))?;
        let learner = doc.get("learner").ok_or_else(|| {
            ModelError::Format("no \"learner\" (is this an XGBoost JSON model?)".into())
        })?;
        let objective = match learner.pointer("/objective/name").and_then(Json::as_str) {
            Some("binary:logistic") => Objective::Logistic,
            Some(
                "reg:squarederror" | "reg:linear" | "reg:absoluteerror" | "reg:pseudohubererror",
            ) => Objective::Regression,
            Some(other) => {
                return Err(ModelError::Format(format!(
                    "objective {other:?} is not supported (binary:logistic, reg:squarederror)"
                )));
            }
            None => return Err(ModelError::Format("model has no objective".into())),
        };
        let params = learner
            .get("learner_model_param")
            .ok_or_else(|| ModelError::Format("no learner_model_param".into()))?;
        let base_score = params.get("base_score").and_then(num_str).unwrap_or(0.5);
        let num_features = params.get("num_feature").and_then(num_str).unwrap_or(0.0) as usize;
        if params.get("num_class").and_then(num_str).unwrap_or(0.0) > 1.0 {
            return Err(ModelError::Format(
                "multi-class models are not supported".into(),
            ));
        }
        let base_margin = match objective {
            Objective::Logistic => (base_score / (1.0 - base_score)).ln(),
            Objective::Regression => base_score,
        };
        let trees_json = learner
            .pointer("/gradient_booster/model/trees")
            .and_then(Json::as_array)
            .ok_or_else(|| {
                ModelError::Format(
                    "no gradient_booster.model.trees (only gbtree boosters are supported)".into(),
                )
            })?;
        let mut trees = Vec::with_capacity(trees_json.len());
        for t in trees_json {
            let ints = |k: &str| -> Result<Vec<i64>, ModelError> {
                arr(t, k)?
                    .iter()
                    .map(|v| {
                        v.as_i64()
                            .ok_or_else(|| ModelError::Format(format!("bad {k}")))
                    })
                    .collect()
            };
            let left: Vec<i32> = ints("left_children")?
                .into_iter()
                .map(|v| v as i32)
                .collect();
            let right: Vec<i32> = ints("right_children")?
                .into_iter()
                .map(|v| v as i32)
                .collect();
            let feature: Vec<u32> = ints("split_indices")?
                .into_iter()
                .map(|v| v as u32)
                .collect();
            let threshold: Vec<f32> = arr(t, "split_conditions")?
                .iter()
                .map(|v| v.as_f64().unwrap_or(0.0) as f32)
                .collect();
            let default_left: Vec<bool> = arr(t, "default_left")?
                .iter()
                .map(|v| v.as_bool().unwrap_or_else(|| v.as_i64() == Some(1)))
                .collect();
            let n = left.len();
            if [
                right.len(),
                feature.len(),
                threshold.len(),
                default_left.len(),
            ]
            .iter()
            .any(|l| *l != n)
            {
                return Err(ModelError::Format(
                    "tree arrays have different lengths".into(),
                ));
            }
            if let Some(split_type) = t.get("split_type").and_then(Json::as_array)
                && split_type.iter().any(|v| v.as_i64().unwrap_or(0) != 0)
            {
                return Err(ModelError::Format(
                    "categorical splits are not supported".into(),
                ));
            }
            for i in 0..n {
                let bad = |c: i32| c != -1 && (c < 0 || c as usize >= n);
                if bad(left[i]) || bad(right[i]) {
                    return Err(ModelError::Format(format!(
                        "tree node {i} points outside the tree"
                    )));
                }
            }
            trees.push(Tree {
                left,
                right,
                feature,
                threshold,
                default_left,
            });
        }
        Ok(XgBoost {
            trees,
            base_margin,
            objective,
            num_features,
        })
    }

    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// The raw margin (log-odds for binary:logistic).
    pub fn margin(&self, x: &[f64]) -> f64 {
        // XGBoost starts from the base margin and adds leaf values in f32, in tree order.
        let mut sum = self.base_margin as f32;
        for t in &self.trees {
            let mut node = 0usize;
            // Bounded walk: node indices were validated at load; depth ≤ node count.
            for _ in 0..t.left.len() {
                if t.left[node] == -1 {
                    break;
                }
                let f = t.feature[node] as usize;
                let v = x.get(f).copied().unwrap_or(f64::NAN);
                let go_left = if v.is_nan() {
                    t.default_left[node]
                } else {
                    (v as f32) < t.threshold[node]
                };
                node = if go_left { t.left[node] } else { t.right[node] } as usize;
            }
            sum += t.threshold[node];
        }
        sum as f64
    }

    pub fn predict(&self, x: &[f64]) -> Prediction {
        let binary = (self.objective == Objective::Logistic).then_some(1.0);
        Prediction::ensemble(self.margin(x), binary)
    }
}
