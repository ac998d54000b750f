#!/usr/bin/env python3
"""Writes examples/lending/flows/credit_new.yaml. The flow has families of
variables and rules (velocity windows, bureau thresholds) that are tedious by
hand; this script is their single source. Hand-written parts are inline below.

    python3 tools/gen_credit_new.py
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "examples/lending/flows/credit_new.yaml")

V = []  # (name, expr or dict)
def var(name, expr):
    V.append((name, expr))

# ---------------------------------------------------------------- basics
var("income_annual", "input.monthly_income * 12")
var("dti", "input.monthly_income <= 0 ? 9.99 : double(input.monthly_debt_payments) / double(input.monthly_income)")
var("requested_to_income", "input.monthly_income <= 0 ? 99.0 : double(input.requested_amount) / double(input.monthly_income)")
var("installment_estimate", "input.requested_amount / input.loan_term_months + input.requested_amount * 15 / 1000")
var("installment_to_income", "input.monthly_income <= 0 ? 9.99 : double(installment_estimate) / double(input.monthly_income)")
var("dti_after_loan", "input.monthly_income <= 0 ? 9.99 : double(input.monthly_debt_payments + installment_estimate) / double(input.monthly_income)")
var("disposable_income", "input.monthly_income - input.monthly_debt_payments - installment_estimate")
var("income_per_member", "input.monthly_income / (1 + input.dependents)")
var("is_young", "input.age < 23")
var("is_senior", "input.age >= 60")
var("age_band", "input.age < 25 ? 'under_25' : input.age < 35 ? '25_34' : input.age < 50 ? '35_49' : input.age < 60 ? '50_59' : '60_plus'")
var("salaried", "input.employment_type == 'salaried'")
var("self_employed", "input.employment_type == 'self_employed'")
var("no_income_job", "input.employment_type in ['unemployed', 'student']")
var("employment_stable", "input.employment_years >= 2.0")
var("short_employment", "input.employment_years < 0.5")
var("has_dependents", "input.dependents > 0")
var("owns_home", "input.housing == 'own'")
var("lives_with_family", "input.housing == 'family'")
var("tier1_city", "input.city_tier == 1")
var("long_term", "input.loan_term_months > 24")
var("small_loan", "input.requested_amount < 300000")
var("large_loan", "input.requested_amount >= 5000000")
var("purpose_risky", "input.purpose in ['gambling_repayment', 'crypto', 'other']")
var("online_channel", "input.channel in ['app', 'h5']")
var("income_band", "input.monthly_income < 500000 ? 1 : input.monthly_income < 1000000 ? 2 : input.monthly_income < 2000000 ? 3 : input.monthly_income < 5000000 ? 4 : 5")

# ---------------------------------------------------------------- identity & contact
var("id_birth_year", "size(input.id_number) == 18 ? int(input.id_number.substring(6, 10)) : 0")
var("id_age", "id_birth_year == 0 ? -1 : input.apply_time.getFullYear('Asia/Shanghai') - id_birth_year")
var("id_age_mismatch", "id_age >= 0 && (id_age - input.age > 1 || input.age - id_age > 1)")
var("id_region", "size(input.id_number) >= 2 ? input.id_number.substring(0, 2) : ''")
var("id_gender_digit", "size(input.id_number) == 18 ? int(input.id_number.substring(16, 17)) : -1")
var("phone_prefix", "size(input.phone) >= 3 ? input.phone.substring(0, 3) : ''")
var("virtual_phone", "phone_prefix in ['170', '171', '162', '165', '167']")
var("email_domain_lower", "input.email_domain.lowerAscii()")
var("free_email", "email_domain_lower in ['qq.com', '163.com', '126.com', 'gmail.com', 'outlook.com', 'sina.com']")
var("disposable_email", "email_domain_lower.endsWith('.xyz') || email_domain_lower.contains('temp') || email_domain_lower.contains('mailinator')")
var("few_contacts", "input.contacts_count < 20")
var("very_few_contacts", "input.contacts_count < 5")
var("fresh_install", "input.app_install_days < 1")
var("night_application", "input.apply_time.getHours('Asia/Shanghai') < 5")
var("weekend_application", "input.apply_time.getDayOfWeek('Asia/Shanghai') in [0, 6]")
var("name_length", "size(input.name)")
var("name_has_digits", "input.name.matches('[0-9]')")
var("name_has_latin", "input.name.matches('[A-Za-z]')")
var("phone_valid", "input.phone.matches('^1[3-9][0-9]{9}$')")
var("id_checksum_char", "size(input.id_number) == 18 ? input.id_number.substring(17, 18) : ''")
var("id_region_known", "id_region in ['11', '12', '13', '31', '32', '33', '35', '37', '41', '42', '44', '51', '61']")
var("id_gender_matches_age_band", "id_gender_digit >= 0")
var("email_numeric_domain", "email_domain_lower.matches('^[0-9.]+$')")
var("ip_class", "input.ip.startsWith('10.') ? 'private_a' : input.ip.startsWith('192.168.') ? 'private_c' : 'public'")
var("install_to_apply_hours", "input.app_install_days * 24")
var("data_quality_issues", "(name_has_digits ? 1 : 0) + (phone_valid ? 0 : 1) + (id_region_known ? 0 : 1) + (email_numeric_domain ? 1 : 0)")

# ---------------------------------------------------------------- velocity over prior applications
WINDOWS = [1, 7, 30, 90, 180]
for w in WINDOWS:
    var(f"apps_{w}d", f"size(input.prior_applications.filter(a, a.days_ago <= {w}))")
    var(f"rejected_{w}d", f"size(input.prior_applications.filter(a, a.days_ago <= {w} && a.status == 'rejected'))")
    var(f"approved_{w}d", f"size(input.prior_applications.filter(a, a.days_ago <= {w} && a.status == 'approved'))")
    var(f"reject_ratio_{w}d", f"apps_{w}d == 0 ? 0.0 : double(rejected_{w}d) / double(apps_{w}d)")
for w in WINDOWS:
    var(f"pending_{w}d", f"size(input.prior_applications.filter(a, a.days_ago <= {w} && a.status == 'pending'))")
    var(f"max_requested_{w}d", f"apps_{w}d == 0 ? 0 : math.greatest(input.prior_applications.filter(a, a.days_ago <= {w}).map(a, int(a.amount)))")
var("apps_total", "size(input.prior_applications)")
var("ever_rejected", "input.prior_applications.exists(a, a.status == 'rejected')")
var("ever_defaulted", "input.prior_applications.exists(a, a.status == 'defaulted')")
var("defaults_total", "size(input.prior_applications.filter(a, a.status == 'defaulted'))")
var("returning_customer", "approved_180d > 0")
var("days_since_last_app", "apps_total == 0 ? 9999 : math.least(input.prior_applications.map(a, a.days_ago))")
var("burst_7d", "apps_7d >= 3 && apps_1d >= 2")
var("accelerating", "apps_7d * 4 > apps_30d + 2")

# ---------------------------------------------------------------- credit bureau (HTTP data source)
V.append(("bureau", {
    "description": "Credit bureau report",
    "source": "credit_bureau",
    "request": {"id_number": "input.id_number", "name": "input.name"},
    "on_error": {"default": {"hit": False}, "reason": "BUREAU_UNAVAILABLE"},
}))
var("bureau_hit", "has(bureau.hit) && bureau.hit == true")
var("bureau_score", "bureau_hit ? int(bureau.score) : -1")
var("delinquencies_24m", "bureau_hit ? int(bureau.delinquencies_24m) : 0")
var("max_dpd_12m", "bureau_hit ? int(bureau.max_dpd_12m) : 0")
var("open_accounts", "bureau_hit ? int(bureau.open_accounts) : 0")
var("inquiries_6m", "bureau_hit ? int(bureau.inquiries_6m) : 0")
var("bureau_total_debt", "bureau_hit ? double(bureau.total_debt) : 0.0")
var("oldest_account_months", "bureau_hit ? int(bureau.oldest_account_months) : 0")
var("utilization", "bureau_hit ? double(bureau.utilization) : 0.0")
var("bankruptcy", "bureau_hit && bureau.bankruptcy == true")
var("collections", "bureau_hit && bureau.collections == true")
var("thin_file", "!bureau_hit || open_accounts == 0 || oldest_account_months < 6")
var("bureau_debt_to_income", "input.monthly_income <= 0 ? 99.0 : bureau_total_debt * 100.0 / double(income_annual)")
var("bureau_score_band", "bureau_score < 0 ? 'none' : bureau_score < 550 ? 'poor' : bureau_score < 650 ? 'fair' : bureau_score < 750 ? 'good' : 'excellent'")
var("inquiry_intensity", "double(inquiries_6m) / 6.0")
var("recent_delinquency", "max_dpd_12m >= 30")
var("serious_delinquency", "max_dpd_12m >= 90 || delinquencies_24m >= 3")
var("maxed_out", "utilization >= 0.9")
var("bureau_score_decile", "bureau_score < 0 ? -1 : (bureau_score - 300) / 55")
var("utilization_band", "utilization < 0.3 ? 'low' : utilization < 0.6 ? 'medium' : utilization < 0.9 ? 'high' : 'maxed'")
var("delinquent_ever", "delinquencies_24m > 0 || max_dpd_12m > 0")
var("accounts_per_year", "oldest_account_months <= 0 ? 0.0 : double(open_accounts) * 12.0 / double(oldest_account_months)")
var("credit_hungry", "inquiries_6m >= 4 && accounts_per_year >= 3.0")
var("bureau_debt_monthly_estimate", "bureau_total_debt / 24.0")
var("clean_bureau", "bureau_hit && delinquencies_24m == 0 && max_dpd_12m == 0 && !collections && !bankruptcy")

# ---------------------------------------------------------------- device risk (HTTP data source)
V.append(("device", {
    "description": "Device-risk assessment",
    "source": "device_risk",
    "request": {"device_id": "input.device_id", "ip": "input.ip"},
    "on_error": {"default": {"risk_score": 50, "emulator": False, "proxy": False, "accounts_on_device": 1, "first_seen_days": 0, "country": "CN"}, "reason": "DEVICE_CHECK_UNAVAILABLE"},
}))
var("device_risk_score", "int(device.risk_score)")
var("emulator", "device.emulator == true")
var("proxy", "device.proxy == true")
var("accounts_on_device", "int(device.accounts_on_device)")
var("device_age_days", "int(device.first_seen_days)")
var("device_country", "string(device.country)")
var("device_shared", "accounts_on_device >= 3")
var("new_device", "device_age_days < 3")
var("foreign_device", "device_country != 'CN'")
var("private_ip", "input.ip.startsWith('10.') || input.ip.startsWith('192.168.')")
var("high_device_risk", "device_risk_score >= 80")
var("device_flags", "(emulator ? 1 : 0) + (proxy ? 1 : 0) + (device_shared ? 1 : 0) + (new_device ? 1 : 0) + (foreign_device ? 1 : 0)")

# ---------------------------------------------------------------- segments
var("months_employed", "int(input.employment_years * 12.0)")
var("existing_credit_load", "input.existing_credits + open_accounts")
var("has_checking", "input.checking_level > 0")
var("has_savings", "input.savings_level > 0")
var("prime_candidate", "clean_bureau && employment_stable && dti < 0.3")
var("near_prime", "bureau_score >= 650 && !recent_delinquency")
var("subprime", "bureau_score >= 0 && bureau_score < 600")
var("risk_tier", "prime_candidate ? 1 : near_prime ? 2 : subprime ? 4 : 3")
var("term_band", "input.loan_term_months <= 6 ? 'short' : input.loan_term_months <= 18 ? 'medium' : 'long'")
var("amount_band", "input.requested_amount < 1000000 ? 'small' : input.requested_amount < 5000000 ? 'medium' : 'large'")
var("stable_profile", "employment_stable && (owns_home || lives_with_family) && has_checking")

# ---------------------------------------------------------------- model features
var("xgb_checking_level", "input.checking_level")
var("xgb_installment_rate", "installment_to_income < 0.1 ? 1 : installment_to_income < 0.2 ? 2 : installment_to_income < 0.35 ? 3 : 4")
var("xgb_employment_level", "no_income_job ? 0 : input.employment_years < 1.0 ? 1 : input.employment_years < 4.0 ? 2 : input.employment_years < 7.0 ? 3 : 4")
var("loan_amount_units", "input.requested_amount / 1000")  # the German-credit models were trained on amounts around 250–18,000
var("fraud_score", "device_risk_score / 10 + device_flags * 10 + (id_age_mismatch ? 25 : 0) + (virtual_phone ? 10 : 0) + (disposable_email ? 15 : 0) + (very_few_contacts ? 10 : 0) + (burst_7d ? 20 : 0)")
var("pd", "models.credit_xgb.probability")
var("scorecard_points", "models.app_scorecard.score")
var("scorecard_pd", "models.app_scorecard.probability")
var("blended_pd", "0.7 * pd + 0.3 * scorecard_pd")
var("pd_band", "blended_pd < 0.05 ? 1 : blended_pd < 0.1 ? 2 : blended_pd < 0.2 ? 3 : blended_pd < 0.35 ? 4 : 5")
var("expected_loss", "blended_pd * 0.6 * double(input.requested_amount)")
var("risk_grade_points", "int(scorecard_points) - int(blended_pd * 200.0)")
var("rating", "tables.rating.rating == null ? 'E' : tables.rating.rating")
var("limit_cap", "math.least(input.monthly_income * tables.limit_matrix.multiplier_pct / 100, tables.limit_matrix.max_limit)")
var("affordable_limit", "math.greatest(disposable_income * input.loan_term_months / 2, 0)")
var("credit_limit_raw", "math.least(limit_cap, affordable_limit, input.requested_amount)")
var("credit_limit_rounded", "credit_limit_raw / 10000 * 10000")

# ---------------------------------------------------------------- rules
R = {}
def rule(rs, rid, desc, when, **then):
    R.setdefault(rs, []).append((rid, desc, when, then))

# hard rules: never lend
hard = [
    ("HR001", "Applicant under 18", "input.age < 18", "UNDERAGE"),
    ("HR002", "Applicant over 70", "input.age > 70", "AGE_OVER_LIMIT"),
    ("HR003", "Bankruptcy on file", "bankruptcy", "BANKRUPTCY"),
    ("HR004", "Identity number does not match the stated age", "id_age_mismatch", "IDENTITY_MISMATCH"),
    ("HR005", "Prior default with us", "ever_defaulted", "PRIOR_DEFAULT"),
    ("HR006", "Emulator device", "emulator", "EMULATOR_DEVICE"),
    ("HR007", "No income source", "no_income_job && input.monthly_income < 300000", "NO_INCOME"),
    ("HR008", "Identity number malformed", "size(input.id_number) != 18", "INVALID_ID"),
    ("HR009", "Debt already above income", "dti >= 1.0", "DEBT_EXCEEDS_INCOME"),
    ("HR010", "Disposable income negative after the loan", "disposable_income < 0", "NEGATIVE_DISPOSABLE_INCOME"),
    ("HR011", "Collections on file and a recent 90+ DPD", "collections && max_dpd_12m >= 90", "COLLECTIONS"),
    ("HR012", "Purpose not lendable", "input.purpose in ['gambling_repayment', 'crypto']", "PURPOSE_NOT_ALLOWED"),
    ("HR013", "Loan term outside product range", "input.loan_term_months < 3 || input.loan_term_months > 36", "TERM_OUT_OF_RANGE"),
    ("HR014", "Requested amount outside product range", "input.requested_amount < 50000 || input.requested_amount > 20000000", "AMOUNT_OUT_OF_RANGE"),
    ("HR015", "Disposable email on a large loan", "disposable_email && large_loan", "DISPOSABLE_EMAIL"),
]
for rid, d, w, reason in hard:
    rule("hard_rules", rid, d, w, decision="reject", reason=reason, tags=["hard"])

# fraud
fraud = [
    ("FR001", "Proxy or VPN", "proxy", "review", "PROXY_NETWORK"),
    ("FR002", "Device shared by many accounts", "accounts_on_device >= 5", "reject", "DEVICE_FARM"),
    ("FR003", "Device shared by several accounts", "accounts_on_device >= 3 && accounts_on_device < 5", "review", "SHARED_DEVICE"),
    ("FR004", "High device risk", "high_device_risk", "review", "HIGH_DEVICE_RISK"),
    ("FR005", "Foreign device on a domestic product", "foreign_device && !private_ip", "review", "FOREIGN_DEVICE"),
    ("FR006", "Virtual phone number", "virtual_phone", "review", "VIRTUAL_PHONE"),
    ("FR007", "Very few contacts", "very_few_contacts", "review", "FEW_CONTACTS"),
    ("FR008", "Application within a day of install on a new device", "fresh_install && new_device", "review", "FRESH_INSTALL"),
    ("FR009", "Night application on a large loan", "night_application && large_loan", "review", "NIGHT_LARGE_LOAN"),
    ("FR010", "Burst of applications", "burst_7d", "reject", "APPLICATION_BURST"),
    ("FR011", "Fraud score very high", "fraud_score >= 80", "reject", "FRAUD_SCORE"),
    ("FR012", "Fraud score high", "fraud_score >= 50 && fraud_score < 80", "review", "FRAUD_SCORE_HIGH"),
    ("FR013", "Several device flags together", "device_flags >= 3", "reject", "DEVICE_FLAGS"),
    ("FR014", "Disposable email", "disposable_email", "review", "DISPOSABLE_EMAIL"),
    ("FR015", "Unusually short name", "name_length < 2", "review", "NAME_CHECK"),
]
for rid, d, w, dec, reason in fraud:
    rule("fraud_rules", rid, d, w, decision=dec, reason=reason, tags=["fraud"], review=dec == "review")

# velocity families: every window × metric gets a review and a reject threshold
n = 0
for w, (rev_apps, rej_apps, rev_rej, rej_rej) in zip(WINDOWS, [(2, 4, 1, 2), (3, 6, 2, 4), (5, 10, 3, 6), (8, 15, 5, 9), (12, 20, 7, 12)]):
    for metric, rev, rej, reason in [("apps", rev_apps, rej_apps, "MANY_APPLICATIONS"), ("rejected", rev_rej, rej_rej, "MANY_REJECTIONS")]:
        n += 1
        rule("velocity_rules", f"VL{n:03d}", f"{metric} in {w} days ≥ {rej}", f"{metric}_{w}d >= {rej}", decision="reject", reason=f"{reason}_{w}D", tags=["velocity"])
        n += 1
        rule("velocity_rules", f"VL{n:03d}", f"{metric} in {w} days ≥ {rev}", f"{metric}_{w}d >= {rev} && {metric}_{w}d < {rej}", decision="review", reason=f"{reason}_{w}D", review=True, tags=["velocity"])
    n += 1
    rule("velocity_rules", f"VL{n:03d}", f"Most applications in {w} days were rejected", f"apps_{w}d >= 3 && reject_ratio_{w}d > 0.6", decision="review", reason=f"HIGH_REJECT_RATIO_{w}D", review=True, tags=["velocity"])
    for k, limit in enumerate([1, 2]):
        n += 1
        rule("velocity_rules", f"VL{n:03d}", f"Approved {limit + 1}+ times in {w} days (stacking)", f"approved_{w}d > {limit}", decision="review" if k == 0 else "reject", reason=f"LOAN_STACKING_{w}D", review=k == 0, tags=["velocity"])
n += 1
rule("velocity_rules", f"VL{n:03d}", "Applications accelerating", "accelerating && apps_30d >= 4", decision="review", reason="ACCELERATING_APPLICATIONS", review=True, tags=["velocity"])
n += 1
rule("velocity_rules", f"VL{n:03d}", "Re-applied within a day of a rejection", "rejected_1d >= 1", decision="reject", reason="REAPPLY_AFTER_REJECT", tags=["velocity"])

# bureau families
n = 0
def b(desc, when, dec, reason, **kw):
    global n
    n += 1
    rule("credit_rules", f"CR{n:03d}", desc, when, decision=dec, reason=reason, review=dec == "review", **kw)
for t, dec in [(450, "reject"), (500, "reject"), (550, "review"), (600, "review")]:
    b(f"Bureau score below {t}", f"bureau_hit && bureau_score < {t}" + (f" && bureau_score >= {t - 50}" if t > 450 else ""), dec, f"BUREAU_SCORE_BELOW_{t}")
for t, dec in [(3, "reject"), (2, "review"), (1, "review")]:
    b(f"{t}+ delinquencies in 24 months", f"delinquencies_24m >= {t}" + (f" && delinquencies_24m < {t + 1}" if t < 3 else ""), dec, f"DELINQUENCIES_{t}_24M")
for t, dec in [(90, "reject"), (60, "reject"), (30, "review")]:
    b(f"Worst DPD in 12 months ≥ {t}", f"max_dpd_12m >= {t}" + ({60: " && max_dpd_12m < 90", 30: " && max_dpd_12m < 60"}.get(t, "")), dec, f"DPD_{t}_12M")
for t, dec in [(8, "reject"), (6, "review"), (4, "review")]:
    b(f"{t}+ inquiries in 6 months", f"inquiries_6m >= {t}" + ({6: " && inquiries_6m < 8", 4: " && inquiries_6m < 6"}.get(t, "")), dec, f"INQUIRIES_{t}_6M")
for t, dec in [(0.95, "reject"), (0.9, "review"), (0.8, "review")]:
    b(f"Utilization ≥ {t}", f"bureau_hit && utilization >= {t}" + ({0.9: " && utilization < 0.95", 0.8: " && utilization < 0.9"}.get(t, "")), dec, f"UTILIZATION_{int(t * 100)}")
for t, dec in [(200.0, "reject"), (120.0, "review"), (80.0, "review")]:
    b(f"Bureau debt ≥ {t} % of annual income", f"bureau_debt_to_income >= {t}" + ({120.0: " && bureau_debt_to_income < 200.0", 80.0: " && bureau_debt_to_income < 120.0"}.get(t, "")), dec, f"BUREAU_DEBT_{int(t)}PCT")
b("Collections on file", "collections", "review", "COLLECTIONS_ON_FILE")
b("Thin file on a large loan", "thin_file && large_loan", "reject", "THIN_FILE_LARGE_LOAN")
b("Thin file", "thin_file && !large_loan", "review", "THIN_FILE")
b("No bureau hit for a returning customer", "!bureau_hit && returning_customer", "review", "NO_BUREAU_HIT")
b("Young credit history with many accounts", "oldest_account_months < 12 && open_accounts >= 6", "review", "YOUNG_HISTORY_MANY_ACCOUNTS")
b("Many open accounts", "open_accounts >= 10", "review", "MANY_OPEN_ACCOUNTS")
for t, dec in [(0.35, "reject"), (0.25, "review"), (0.15, "review")]:
    b(f"Predicted default probability ≥ {t}", f"blended_pd >= {t}" + ({0.25: " && blended_pd < 0.35", 0.15: " && blended_pd < 0.25"}.get(t, "")), dec, f"PD_{int(t * 100)}")
for t, dec in [(450, "reject"), (500, "review")]:
    b(f"Scorecard below {t}", f"scorecard_points < {t}" + (" && scorecard_points >= 450" if t == 500 else ""), dec, f"SCORECARD_BELOW_{t}")
b("Clean bureau and strong score", "clean_bureau && bureau_score >= 750", None, None, tags=["prime"])
b("Poor bureau band with high PD", "bureau_score_band == 'poor' && blended_pd >= 0.1", "reject", "POOR_BAND_HIGH_PD")
b("Fair bureau band with high utilization", "bureau_score_band == 'fair' && maxed_out", "review", "FAIR_BAND_MAXED_OUT")
b("Expected loss too large", "expected_loss >= 500000.0", "review", "EXPECTED_LOSS")
# segment × score grid: the strategy team's matrix of cut-offs per age band and channel
for band, cut in [("under_25", 650), ("25_34", 600), ("35_49", 580), ("50_59", 600), ("60_plus", 640)]:
    for ch, extra in [("app", 0), ("h5", 20), ("web", 10), ("partner", 30)]:
        b(f"Cut-off {cut + extra} for age {band} via {ch}", f"age_band == '{band}' && input.channel == '{ch}' && bureau_hit && bureau_score < {cut + extra}", "review", f"SEGMENT_CUTOFF_{band.upper()}_{ch.upper()}")
# purpose × term limits
for p, maxterm in [("consumption", 24), ("education", 36), ("medical", 36), ("renovation", 36), ("travel", 12), ("business", 24), ("other", 12)]:
    b(f"{p}: term over {maxterm} months", f"input.purpose == '{p}' && input.loan_term_months > {maxterm}", "reject", f"TERM_TOO_LONG_FOR_{p.upper()}")
# city tier × income floors
for tier, floor in [(1, 600000), (2, 450000), (3, 350000), (4, 250000)]:
    b(f"Income below the tier-{tier} city floor", f"input.city_tier == {tier} && input.monthly_income < {floor}", "review", f"INCOME_BELOW_TIER{tier}_FLOOR")

# data quality
for i, (d, w_, dec, reason) in enumerate([
    ("Name contains digits", "name_has_digits", "review", "NAME_HAS_DIGITS"),
    ("Name in Latin letters for a domestic ID", "name_has_latin && id_region_known", "review", "NAME_SCRIPT"),
    ("Phone number not a valid mobile number", "!phone_valid", "review", "INVALID_PHONE"),
    ("Unknown ID region", "!id_region_known", "review", "UNKNOWN_ID_REGION"),
    ("Numeric email domain", "email_numeric_domain", "review", "NUMERIC_EMAIL_DOMAIN"),
    ("Several data-quality problems", "data_quality_issues >= 3", "reject", "DATA_QUALITY"),
    ("Pending applications elsewhere in our system", "pending_7d >= 2", "review", "PENDING_APPLICATIONS"),
    ("Pending applications in the last day", "pending_1d >= 1 && apps_1d >= 2", "review", "PENDING_TODAY"),
    ("Requested far more than before", "max_requested_90d > 0 && input.requested_amount > max_requested_90d * 3", "review", "REQUEST_JUMP"),
    ("Credit hungry", "credit_hungry", "review", "CREDIT_HUNGRY"),
]):
    rule("fraud_rules", f"DQ{i + 1:03d}", d, w_, decision=dec, reason=reason, review=dec == "review", tags=["data_quality"])

# employment × income band grid: where the strategy team wants a human look
for et in ["salaried", "self_employed", "retired", "student", "unemployed"]:
    for band in [1, 2, 3, 4, 5]:
        if (et in ["student", "unemployed"] and band >= 3) or (et == "self_employed" and band == 1) or (et == "retired" and band >= 4) or (et == "salaried" and band == 1):
            rule("affordability", f"EG_{et[:3].upper()}_{band}", f"{et} with income band {band}", f"input.employment_type == '{et}' && income_band == {band}", decision="review", reason=f"INCOME_PROFILE_{et.upper()}_{band}", review=True)

# risk tier × term and × amount: the strategy team's appetite grid
for tier, tname in [(3, "THIN"), (4, "SUBPRIME")]:
    for term in ["short", "medium", "long"]:
        dec = "reject" if (tier == 4 and term == "long") else "review"
        rule("strategy", f"ST_T{tier}_{term.upper()}", f"Tier {tier} applicant, {term} term", f"risk_tier == {tier} && term_band == '{term}'", decision=dec, reason=f"APPETITE_{tname}_{term.upper()}_TERM", review=dec == "review", tags=["strategy"])
    for amount in ["small", "medium", "large"]:
        dec = "reject" if (amount == "large") else "review"
        rule("strategy", f"SA_T{tier}_{amount.upper()}", f"Tier {tier} applicant, {amount} amount", f"risk_tier == {tier} && amount_band == '{amount}'", decision=dec, reason=f"APPETITE_{tname}_{amount.upper()}_AMOUNT", review=dec == "review", tags=["strategy"])
for term in ["short", "medium", "long"]:
    for amount in ["small", "medium", "large"]:
        rule("strategy", f"SP_{term.upper()}_{amount.upper()}", f"Prime applicant, {term} term, {amount} amount", f"risk_tier == 1 && term_band == '{term}' && amount_band == '{amount}'", tags=["prime", f"prime_{term}_{amount}"])
rule("strategy", "ST_STABLE", "Stable profile", "stable_profile", tags=["stable"])
rule("strategy", "ST_LOAD", "Heavy existing credit load", "existing_credit_load >= 8", decision="review", reason="HEAVY_CREDIT_LOAD", review=True)
rule("strategy", "ST_NO_ACCOUNTS", "No bank accounts at all", "!has_checking && !has_savings && large_loan", decision="review", reason="UNBANKED_LARGE_LOAN", review=True)
rule("strategy", "ST_NEW_JOB", "Less than 6 months in the job", "months_employed < 6 && salaried", decision="review", reason="NEW_JOB", review=True)

# affordability
n2 = 0
def a(desc, when, dec, reason):
    global n2
    n2 += 1
    rule("affordability", f"AF{n2:03d}", desc, when, decision=dec, reason=reason, review=dec == "review")
for t, dec in [(0.7, "reject"), (0.55, "review"), (0.45, "review")]:
    a(f"DTI after the loan ≥ {t}", f"dti_after_loan >= {t}" + ({0.55: " && dti_after_loan < 0.7", 0.45: " && dti_after_loan < 0.55"}.get(t, "")), dec, f"DTI_{int(t * 100)}")
for t, dec in [(0.5, "reject"), (0.35, "review")]:
    a(f"Instalment ≥ {t} of income", f"installment_to_income >= {t}" + (" && installment_to_income < 0.5" if t == 0.35 else ""), dec, f"INSTALMENT_{int(t * 100)}")
for t, dec in [(20.0, "reject"), (12.0, "review"), (8.0, "review")]:
    a(f"Request ≥ {t}× monthly income", f"requested_to_income >= {t}" + ({12.0: " && requested_to_income < 20.0", 8.0: " && requested_to_income < 12.0"}.get(t, "")), dec, f"REQUEST_{int(t)}X_INCOME")
a("Little left per household member", "income_per_member < 150000", "review", "LOW_INCOME_PER_MEMBER")
a("Short employment on a long loan", "short_employment && long_term", "review", "SHORT_EMPLOYMENT_LONG_TERM")
a("Self-employed large loan without home", "self_employed && large_loan && !owns_home", "review", "SELF_EMPLOYED_LARGE_LOAN")
a("Student with a large request", "input.employment_type == 'student' && input.requested_amount > 500000", "reject", "STUDENT_LIMIT")
a("Senior with a long term", "is_senior && input.loan_term_months > 24", "review", "SENIOR_LONG_TERM")
a("Young applicant, large loan", "is_young && large_loan", "review", "YOUNG_LARGE_LOAN")
a("Risky purpose", "purpose_risky && !(input.purpose in ['gambling_repayment', 'crypto'])", "review", "PURPOSE_OTHER")
a("No savings and a large loan", "input.savings_level == 0 && large_loan", "review", "NO_SAVINGS_LARGE_LOAN")
a("Overdrawn checking account", "input.checking_level == 1 && dti >= 0.3", "review", "OVERDRAWN_CHECKING")
for k, (lo, hi) in enumerate([(0, 1), (1, 2), (2, 3), (3, 4), (4, 6)]):
    a(f"{lo}-{hi} dependents and low disposable income", f"input.dependents >= {lo} && input.dependents < {hi} && disposable_income < {150000 + 100000 * k}", "review", f"LOW_DISPOSABLE_DEPENDENTS_{lo}")

# ---------------------------------------------------------------- write YAML
def q(s):
    return "'" + s.replace("'", "''") + "'"

out = []
w = out.append
w("# 授信 — credit for a new customer. Asynchronous: the application is queued,")
w("# two data sources are called concurrently (credit bureau, device risk), a")
w("# scorecard and an XGBoost model score it, ~200 rules and two decision tables")
w("# decide, and the result is broadcast. Money is in minor units (cents).")
w("# Generated by tools/gen_credit_new.py — edit the generator, not this file.")
w("name: credit_new")
w("description: Decide and size a credit line for a new customer")
w("mode: async")
w("key: customer_id")
w("")
w("inputs:")
for name, t in [
    ("application_id", "string"), ("customer_id", "string"), ("id_number", "string"), ("name", "string"),
    ("phone", "string"), ("email_domain", "string"), ("device_id", "string"), ("ip", "string"),
    ("apply_time", "timestamp"), ("age", "{ type: int, min: 0, max: 120 }"),
    ("employment_type", "{ type: string, enum: [salaried, self_employed, unemployed, student, retired] }"),
    ("employment_years", "{ type: double, min: 0, max: 80 }"), ("monthly_income", "{ type: money, min: 0, max: 999999999.99 }"), ("monthly_debt_payments", "{ type: money, min: 0, max: 999999999.99 }"),
    ("housing", "{ type: string, enum: [own, rent, family, other] }"), ("dependents", "{ type: int, min: 0, max: 30 }"),
    ("requested_amount", "{ type: money, min: 0, max: 999999999.99 }"), ("loan_term_months", "{ type: int, min: 1, max: 120 }"),
    ("purpose", "{ type: string, enum: [consumption, education, medical, renovation, travel, business, gambling_repayment, crypto, other] }"),
    ("city_tier", "{ type: int, min: 1, max: 4 }"), ("channel", "{ type: string, enum: [app, h5, web, partner] }"),
    ("checking_level", "{ type: int, min: 0, max: 3 }"), ("savings_level", "{ type: int, min: 0, max: 4 }"),
    ("existing_credits", "{ type: int, min: 0, max: 1000 }"), ("contacts_count", "{ type: int, min: 0, max: 100000 }"),
    ("app_install_days", "{ type: int, min: 0, max: 100000 }"),
    ("prior_applications", "\"list<{days_ago: int, status: string, amount: money}>\""),
]:
    w(f"  {name}: {t}")
w("")
w("variables:")
for name, e in V:
    if isinstance(e, str):
        w(f"  {name}: {q(e)}")
    else:
        w(f"  {name}:")
        w(f"    description: {e['description']}")
        w(f"    source: {e['source']}")
        w("    request:")
        for k, v in e["request"].items():
            w(f"      {k}: {v}")
        w("    on_error:")
        import json
        w(f"      default: {json.dumps(e['on_error']['default'])}")
        w(f"      reason: {e['on_error']['reason']}")
w("")
w("models:")
w("  app_scorecard:")
w("    type: scorecard")
w("    file: models/app_scorecard.yaml")
w("    features:")
for f, e in [("duration_months", "input.loan_term_months"), ("credit_amount", "loan_amount_units"), ("age", "input.age"),
             ("installment_rate", "xgb_installment_rate"), ("checking_level", "input.checking_level"),
             ("savings_level", "input.savings_level"), ("employment_level", "xgb_employment_level"),
             ("owns_home", "owns_home ? 1 : 0")]:
    w(f"      {f}: {q(e)}")
w("  credit_xgb:")
w("    type: xgboost")
w("    file: models/credit_xgb.json")
w("    features:  # in the model's feature order")
for f, e in [("duration_months", "input.loan_term_months"), ("credit_amount", "loan_amount_units"),
             ("installment_rate", "xgb_installment_rate"), ("age", "input.age"), ("existing_credits", "input.existing_credits"),
             ("dependents", "input.dependents"), ("checking_level", "xgb_checking_level"), ("savings_level", "input.savings_level"),
             ("employment_level", "xgb_employment_level"), ("owns_home", "owns_home ? 1 : 0")]:
    w(f"      {f}: {q(e)}")
w("")
w("rulesets:")
for rs, rules in R.items():
    w(f"  {rs}:")
    w("    hit_policy: all")
    w("    rules:")
    for rid, d, when, then in rules:
        w(f"      - id: {rid}")
        w(f"        description: {q(d)}")
        w(f"        when: {q(when)}")
        parts = []
        if then.get("decision"):
            parts.append(f"decision: {then['decision']}")
        if then.get("reason"):
            parts.append(f"reason: {then['reason']}")
        if then.get("tags"):
            parts.append(f"tags: [{', '.join(then['tags'])}]")
        if then.get("review"):
            parts.append("review: true")
        w(f"        then: {{ {', '.join(parts)} }}")
w("")
w("tables:")
w("  rating:")
w("    description: Rating from the blended default probability and the scorecard")
w("    file: tables/rating.csv")
w("    hit_policy: unique")
w("    complete: true")
w("    inputs: { pd: blended_pd, points: scorecard_points }")
w("    outputs: { rating: string }")
w("  limit_matrix:")
w("    description: Credit-limit multiplier (percent of monthly income) and cap by rating, income band and employment")
w("    file: tables/limit_matrix.csv")
w("    hit_policy: first")
w("    complete: true")
w("    inputs: { rating: rating, income_band: income_band, employment: input.employment_type }")
w("    outputs: { multiplier_pct: int, max_limit: money, apr: double }")
w("")
w("outputs:")
w("  decision: string")
w("  credit_limit:")
w("    type: money")
w("    expr: \"decision == 'reject' ? 0 : credit_limit_rounded\"")
w("  apr:")
w("    type: double")
w("    expr: \"decision == 'reject' ? 0.0 : tables.limit_matrix.apr\"")
w("  rating:")
w("    type: string")
w("    expr: rating")
w("  pd:")
w("    type: double")
w("    expr: blended_pd")
w("  score_reasons:")
w("    type: list<string>")
w("    expr: models.app_scorecard.reasons")
w("  reasons: list<string>")
w("  manual_review: bool")
w("  tags: list<string>")
with open(OUT, "w") as f:
    f.write("\n".join(out) + "\n")
print(f"{len(V)} variables, {sum(len(r) for r in R.values())} rules in {len(R)} rule sets → {OUT}")
