"""Regenerate the demo notebooks from source cells, stored without outputs and with stable cell ids.

Editing the notebooks in Jupyter is fine too; rerunning this script overwrites those edits.
Usage: .venv/bin/python notebooks/build_notebooks.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
R_KERNELSPEC = {"display_name": "R", "language": "R", "name": "ir"}  # IRkernel (Debian: r-cran-irkernel)

CREDIT_RISK = [
    ("md", "title", """\
# Credit risk scorecard

Scores one quarter of loan applications with a fixed logistic scorecard, approves those whose
predicted probability of default is below a threshold, and reports the approval rate, the realised
default rate among approved loans and the expected loss. The unemployment shock stresses the
scorecard as if unemployment were that many percentage points higher."""),
    ("code", "imports", """\
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

from livedocs_runner import record"""),
    ("params", "parameters", """\
data_file = "../data/loans_2026Q3.csv"  # quarter of loan applications to score
threshold = 0.5  # approve when the predicted default probability is below this
unemployment_shock = 0.0  # percentage points added to unemployment (stress)
min_credit_score: int = 300  # applications below this score are declined outright
segments = ["north", "south", "east", "west"]  # regions to include"""),
    ("md", "score-md", """\
## Score the applications

Log-odds of default from credit score, debt-to-income, employment history and unemployment."""),
    ("code", "score", """\
df = pd.read_csv(data_file)
df = df[df["region"].isin(segments)].reset_index(drop=True)

log_odds = (
    -1.2
    - 0.02 * (df["credit_score"] - 650)
    + 3.0 * (df["debt_to_income"] - 0.3)
    + 0.35 * (df["unemployment_rate"] + unemployment_shock - 4.5)
    - 0.05 * df["employment_years"]
)
df["prob_default"] = 1 / (1 + np.exp(-log_odds))
df["approved"] = (df["prob_default"] < threshold) & (df["credit_score"] >= min_credit_score)"""),
    ("md", "metrics-md", """\
## Headline numbers

Default rate is the share of *approved* loans that actually defaulted; expected loss is the sum of
predicted probability × loan amount over approved loans."""),
    ("code", "metrics", """\
approved = df[df["approved"]]
n = len(df)
approval_rate = round(len(approved) / n, 4) if n else 0.0
default_rate = round(float(approved["defaulted"].mean()), 4) if len(approved) else 0.0
expected_loss = round(float((approved["prob_default"] * approved["loan_amount"]).sum()), 2)

record("n_applications", n)
record("approval_rate", approval_rate)
record("default_rate", default_rate)
record("expected_loss", expected_loss)
print(f"{n} applications, {approval_rate:.1%} approved, {default_rate:.1%} of approved defaulted, "
      f"expected loss {expected_loss:,.0f}")"""),
    ("md", "regions-md", "## By region"),
    ("code", "regions", """\
df_by_region = df.groupby("region").agg(
    applications=("application_id", "size"), approval_rate=("approved", "mean")
)
df_by_region["default_rate"] = approved.groupby("region")["defaulted"].mean()
df_by_region = df_by_region.fillna(0.0).round(3).reset_index()
record("by_region", df_by_region)  # record() also displays the table"""),
    ("md", "chart-md", "## Where the threshold cuts"),
    ("code", "chart", """\
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(df["prob_default"], bins=40, color="#4c72b0")
ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:.2f}")
ax.set_xlabel("Predicted probability of default")
ax.set_ylabel("Applications")
ax.legend()
plt.show()"""),
]

PRICING_WHATIF = [
    ("md", "title", """\
# Pricing what-if

Projects weekly unit demand for one product under a price change, using a constant price
elasticity, and compares units and revenue with the baseline from the chosen start week onwards."""),
    ("code", "imports", """\
import pandas as pd
import matplotlib.pyplot as plt

from livedocs_runner import record"""),
    ("params", "parameters", """\
product = "cold_brew"  # product to reprice
price_change_pct = 5.0  # price change in percent (negative for a discount)
elasticity = -1.3  # percent change in units for a 1% price change
start_date = "2025-01-06"  # first week (a Monday) the new price applies
include_promo = True  # count promotional weeks; False looks at regular-price weeks only"""),
    ("md", "project-md", "## Project demand at the new price"),
    ("code", "project", """\
df = pd.read_csv("../data/demand_baseline.csv", parse_dates=["week_start"])
weeks = df[(df["product"] == product) & (df["week_start"] >= pd.Timestamp(start_date))].copy()
if not include_promo:
    weeks = weeks[weeks["promo"] == 0]

price_factor = 1 + price_change_pct / 100
weeks["new_units"] = weeks["units"] * price_factor**elasticity
weeks["revenue"] = weeks["units"] * weeks["price"]
weeks["new_revenue"] = weeks["new_units"] * weeks["price"] * price_factor

units_change = round(float(weeks["new_units"].sum() - weeks["units"].sum()), 1)
revenue_change = round(float(weeks["new_revenue"].sum() - weeks["revenue"].sum()), 2)
record("units_change", units_change)
record("revenue_change", revenue_change)
print(f"{len(weeks)} weeks of {product}: units {units_change:+,.0f}, revenue {revenue_change:+,.2f}")"""),
    ("md", "monthly-md", "## By month"),
    ("code", "monthly", """\
by_month = (
    weeks.groupby(weeks["week_start"].dt.strftime("%Y-%m"))[["units", "new_units", "revenue", "new_revenue"]]
    .sum()
    .round(0)
    .astype(int)
    .rename_axis("month")
    .reset_index()
)
record("by_month", by_month)  # record() also displays the table"""),
    ("md", "chart-md", "## Weekly revenue"),
    ("code", "chart", """\
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(weeks["week_start"], weeks["revenue"], label="baseline", color="#8c8c8c")
ax.plot(weeks["week_start"], weeks["new_revenue"], label=f"price {price_change_pct:+g}%", color="#4c72b0")
ax.set_ylabel("Revenue per week")
ax.legend()
fig.autofmt_xdate()
plt.show()"""),
]


CREDIT_RISK_R = [
    ("md", "title", """\
# Credit risk scorecard (R)

The same scorecard as `credit_risk.ipynb`, in base R: scores one quarter of loan applications,
approves those whose predicted probability of default is below a threshold, and reports the
approval rate, the realised default rate among approved loans and the expected loss."""),
    ("code", "setup", """\
# record(name, value) keeps a value as the run's metric; the runner gives the helper's path
helper <- Sys.getenv("LIVEDOCS_R_HELPER")
if (nzchar(helper)) source(helper) else record <- function(name, value) print(value)"""),
    ("params", "parameters", """\
data_file <- "../data/loans_2026Q3.csv"  # quarter of loan applications to score
threshold <- 0.5  # approve when the predicted default probability is below this
unemployment_shock <- 0  # percentage points added to unemployment (stress)
min_credit_score <- 300L  # applications below this score are declined outright
segments <- c("north", "south", "east", "west")  # regions to include"""),
    ("md", "score-md", """\
## Score the applications

Log-odds of default from credit score, debt-to-income, employment history and unemployment."""),
    ("code", "score", """\
df <- read.csv(data_file, stringsAsFactors = FALSE)
df <- df[df$region %in% unlist(segments), ]  # an injected list arrives as an R list

log_odds <- -1.2 -
  0.02 * (df$credit_score - 650) +
  3.0 * (df$debt_to_income - 0.3) +
  0.35 * (df$unemployment_rate + unemployment_shock - 4.5) -
  0.05 * df$employment_years
df$prob_default <- 1 / (1 + exp(-log_odds))
df$approved <- df$prob_default < threshold & df$credit_score >= min_credit_score"""),
    ("md", "metrics-md", "## Headline numbers"),
    ("code", "metrics", """\
approved <- df[df$approved, ]
n <- nrow(df)
approval_rate <- if (n > 0) round(nrow(approved) / n, 4) else 0
default_rate <- if (nrow(approved) > 0) round(mean(approved$defaulted), 4) else 0
expected_loss <- round(sum(approved$prob_default * approved$loan_amount), 2)

record("n_applications", n)
record("approval_rate", approval_rate)
record("default_rate", default_rate)
record("expected_loss", expected_loss)
cat(sprintf("%d applications, %.1f%% approved, %.1f%% of approved defaulted, expected loss %s\\n",
            n, 100 * approval_rate, 100 * default_rate, format(expected_loss, big.mark = ",", nsmall = 0)))"""),
    ("md", "regions-md", "## By region"),
    ("code", "regions", """\
regions <- sort(unique(df$region))
by_region <- data.frame(
  region = regions,
  applications = vapply(regions, function(r) sum(df$region == r), integer(1)),
  approval_rate = vapply(regions, function(r) round(mean(df$approved[df$region == r]), 3), numeric(1)),
  default_rate = vapply(regions, function(r) {
    d <- approved$defaulted[approved$region == r]
    if (length(d)) round(mean(d), 3) else 0
  }, numeric(1)),
  row.names = NULL
)
record("by_region", by_region)  # record() also displays the table"""),
    ("md", "chart-md", "## Where the threshold cuts"),
    ("code", "chart", """\
options(repr.plot.width = 7, repr.plot.height = 3.5)
hist(df$prob_default, breaks = 40, col = "#4c72b0", border = "white", main = "",
     xlab = "Predicted probability of default", ylab = "Applications")
abline(v = threshold, col = "#c44e52", lty = 2)
legend("topright", legend = sprintf("threshold %.2f", threshold), col = "#c44e52", lty = 2)"""),
]


def build(cells: list[tuple[str, str, str]], kernelspec: dict[str, str] = KERNELSPEC) -> nbformat.NotebookNode:
    """A notebook with fixed cell ids so regenerating it gives an identical file."""
    nb = new_notebook(metadata={"kernelspec": kernelspec, "language_info": {"name": kernelspec["language"]}})
    for kind, cell_id, source in cells:
        if kind == "md":
            cell = new_markdown_cell(source, id=cell_id)
        else:
            cell = new_code_cell(source, id=cell_id)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main() -> None:
    write(build(CREDIT_RISK), HERE / "credit_risk.ipynb")
    write(build(PRICING_WHATIF), HERE / "pricing_whatif.ipynb")
    write(build(CREDIT_RISK_R, R_KERNELSPEC), HERE / "credit_risk_r.ipynb")


if __name__ == "__main__":
    main()
