//! LightGBM text models (`Booster.save_model("m.txt")`): numerical splits
//! with LightGBM's missing-value rules (none / zero / NaN, default direction).

use super::{ModelError, Prediction};

struct Tree {
    split_feature: Vec<usize>,
    threshold: Vec<f64>,
    decision_type: Vec<u8>,
    left: Vec<i32>,
    right: Vec<i32>,
    leaf_value: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Objective {
    Binary { sigmoid: f64 },
    Regression,
}

pub struct LightGbm {
    trees: Vec<Tree>,
    objective: Objective,
    num_features: usize,
}

const ZERO_THRESHOLD: f64 = 1e-35;

fn parse_list<T: std::str::FromStr>(key: &str, v: &str) -> Result<Vec<T>, ModelError> {
    v.split_whitespace()
        .map(|x| {
            x.parse()
                .map_err(|_| ModelError::Format(format!("bad value {x:?} in {key}")))
        })
        .collect()
}

impl LightGbm {
    pub fn from_text(text: &str) -> Result<LightGbm, ModelError> {
        let mut objective = None;
        let mut num_features = 0;
        let mut trees = Vec::new();
        let mut cur: Option<std::collections::HashMap<&str, &str>> = None;
        let finish = |m: std::collections::HashMap<&str, &str>| -> Result<Tree, ModelError> {
            let get = |k: &str| m.get(k).copied().unwrap_or("");
            let num_leaves: usize = get("num_leaves")
                .trim()
                .parse()
                .map_err(|_| ModelError::Format("tree without num_leaves".into()))?;
            if get("num_cat").trim().parse::<usize>().unwrap_or(0) > 0 {
                return Err(ModelError::Format(
                    "categorical splits are not supported".into(),
                ));
            }
            let leaf_value: Vec<f64> = parse_list("leaf_value", get("leaf_value"))?;
            if leaf_value.len() != num_leaves {
                return Err(ModelError::Format(
                    "leaf_value does not match num_leaves".into(),
                ));
            }
            if num_leaves <= 1 {
                return Ok(Tree {
                    split_feature: vec![],
                    threshold: vec![],
                    decision_type: vec![],
                    left: vec![],
                    right: vec![],
                    leaf_value,
                });
            }
            let t = Tree {
                split_feature: parse_list("split_feature", get("split_feature"))?,
                threshold: parse_list("threshold", get("threshold"))?,
                decision_type: parse_list("decision_type", get("decision_type"))?,
                left: parse_list("left_child", get("left_child"))?,
                right: parse_list("right_child", get("right_child"))?,
                leaf_value,
            };
            let n = num_leaves - 1;
            if [
                t.split_feature.len(),
                t.threshold.len(),
                t.decision_type.len(),
                t.left.len(),
                t.right.len(),
            ]
            .iter()
            .any(|l| *l != n)
            {
                return Err(ModelError::Format(
                    "tree arrays have different lengths".into(),
                ));
            }
            let ok = |c: i32| {
                if c >= 0 {
                    (c as usize) < n
                } else {
                    ((!c) as usize) < num_leaves
                }
            };
            if !t.left.iter().chain(&t.right).all(|c| ok(*c))
                || t.decision_type.iter().any(|d| d & 1 == 1)
            {
                return Err(ModelError::Format(
                    "tree has invalid children or categorical splits".into(),
                ));
            }
            Ok(t)
        };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("Tree=") {
                if let Some(m) = cur.take() {
                    trees.push(finish(m)?);
                }
                cur = Some(Default::default());
                continue;
            }
            if line == "end of trees" {
                if let Some(m) = cur.take() {
                    trees.push(finish(m)?);
                }
                break;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match &mut cur {
                Some(m) => {
                    m.insert(k, v);
                }
                None => match k {
                    "objective" => {
                        let mut parts = v.split_whitespace();
                        objective = Some(match parts.next() {
                            Some("binary") => {
                                let s = parts
                                    .find_map(|p| p.strip_prefix("sigmoid:"))
                                    .and_then(|s| s.parse().ok())
                                    .unwrap_or(1.0);
                                Objective::Binary { sigmoid: s }
                            }
                            Some(
                                "regression" | "regression_l2" | "l2" | "mean_squared_error"
                                | "mse",
                            ) => Objective::Regression,
                            other => {
                                return Err(ModelError::Format(format!(
                                    "objective {other:?} is not supported (binary, regression)"
                                )));
                            }
                        });
                    }
                    "max_feature_idx" => {
                        num_features = v.trim().parse::<usize>().map(|m| m + 1).unwrap_or(0)
                    }
                    "num_class" if v.trim() != "1" => {
                        return Err(ModelError::Format(
                            "multi-class models are not supported".into(),
                        ));
                    }
                    _ => {}
                },
            }
        }
        if let Some(m) = cur.take() {
            trees.push(finish(m)?);
        }
        let objective = objective.ok_or_else(|| {
            ModelError::Format("no objective line (is this a LightGBM model file?)".into())
        })?;
        if trees.is_empty() {
            return Err(ModelError::Format("model has no trees".into()));
        }
        Ok(LightGbm {
            trees,
            objective,
            num_features,
        })
    }

    pub fn num_features(&self) -> usize {
        self.num_features
    }

    pub fn raw(&self, x: &[f64]) -> f64 {
        let mut sum = 0.0;
        for t in &self.trees {
            if t.left.is_empty() {
                sum += t.leaf_value[0];
                continue;
            }
            let mut node: i32 = 0;
            for _ in 0..=t.left.len() {
                if node < 0 {
                    break;
                }
                let i = node as usize;
                let mut v = x.get(t.split_feature[i]).copied().unwrap_or(f64::NAN);
                let dt = t.decision_type[i];
                let default_left = dt & 2 != 0;
                let missing = (dt >> 2) & 3;
                if v.is_nan() && missing != 2 {
                    v = 0.0;
                }
                let go_left = if (missing == 1 && v.abs() <= ZERO_THRESHOLD)
                    || (missing == 2 && v.is_nan())
                {
                    default_left
                } else {
                    v <= t.threshold[i]
                };
                node = if go_left { t.left[i] } else { t.right[i] };
            }
            sum += t.leaf_value[(!node) as usize];
        }
        sum
    }

    pub fn predict(&self, x: &[f64]) -> Prediction {
        let binary = match self.objective {
            Objective::Binary { sigmoid } => Some(sigmoid),
            Objective::Regression => None,
        };
        Prediction::ensemble(self.raw(x), binary)
    }
}
