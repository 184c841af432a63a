"""Write the synthetic demo data: quarterly loan applications and weekly product demand.

Deterministic (fixed seeds, rounded values), so running it twice gives byte-identical CSVs.
Usage: .venv/bin/python data/make_data.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240101
DATA_DIR = Path(__file__).resolve().parent

QUARTERS = [f"{year}Q{q}" for year in (2024, 2025, 2026) for q in (1, 2, 3, 4)][:11]
# Macro climate per quarter: unemployment rises through 2025, then eases.
UNEMPLOYMENT = [3.8, 3.9, 4.1, 4.4, 4.8, 5.3, 5.7, 5.5, 5.0, 4.6, 4.3]
REGIONS = ["north", "south", "east", "west"]
REGION_WEIGHTS = [0.30, 0.25, 0.25, 0.20]
REGION_RISK = {"north": 0.0, "south": 0.25, "east": 0.1, "west": -0.15}

PRODUCTS = {
    # name: (weekly base units, regular price, seasonal amplitude, week of peak)
    "espresso_beans": (420, 12.50, 0.15, 50),
    "filter_coffee": (650, 8.00, 0.08, 2),
    "cold_brew": (300, 4.20, 0.55, 29),
    "hot_chocolate": (260, 3.60, 0.60, 2),
}


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write atomically so an interrupted run never leaves a half-written CSV."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        df.to_csv(f, index=False, lineterminator="\n")
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; data files are meant to be shared
    os.replace(tmp, path)


def loans_for_quarter(index: int, quarter: str, unemployment: float) -> pd.DataFrame:
    """One quarter of loan applications with a realised default drawn from a logistic model."""
    rng = np.random.default_rng([SEED, index])
    n = int(rng.integers(1200, 1500))
    age = rng.integers(21, 71, n)
    income = np.round(np.exp(rng.normal(10.85, 0.45, n)), -1)
    employment_years = np.round(np.minimum(age - 18, rng.gamma(2.0, 3.5, n)), 1)
    # Applicant quality drifts with the climate: weaker applicants apply when jobs are scarce.
    credit_score = np.clip(
        rng.normal(675 - 6 * (unemployment - 4.0), 80, n) + 30 * (np.log(income) - 10.85), 300, 850
    ).round().astype(int)
    loan_amount = (np.round(income * rng.uniform(0.1, 0.8, n), -2)).astype(int)
    debt_to_income = np.round(np.clip(rng.beta(2.2, 5.0, n) * 0.9, 0.01, 0.85), 3)
    region = rng.choice(REGIONS, n, p=REGION_WEIGHTS)

    log_odds = (
        -1.35
        - 0.021 * (credit_score - 650)
        + 3.2 * (debt_to_income - 0.28)
        + 0.40 * (unemployment - 4.5)
        - 0.06 * employment_years
        + 0.8 * (loan_amount / income - 0.45)
        + np.vectorize(REGION_RISK.get)(region)
        + rng.normal(0, 0.35, n)
    )
    defaulted = (rng.random(n) < 1 / (1 + np.exp(-log_odds))).astype(int)

    return pd.DataFrame(
        {
            "application_id": [f"{quarter}-{i:05d}" for i in range(1, n + 1)],
            "quarter": quarter,
            "age": age,
            "income": income.astype(int),
            "loan_amount": loan_amount,
            "debt_to_income": debt_to_income,
            "credit_score": credit_score,
            "employment_years": employment_years,
            "region": region,
            "unemployment_rate": unemployment,
            "defaulted": defaulted,
        }
    )


def demand_baseline() -> pd.DataFrame:
    """Two years of weekly unit demand per product, with seasonality, promotions and a 2025 price rise."""
    rng = np.random.default_rng([SEED, 999])
    weeks = pd.date_range("2024-01-01", periods=104, freq="W-MON")
    week_of_year = weeks.isocalendar().week.to_numpy().astype(float)
    frames = []
    for product, (base, price, amplitude, peak) in PRODUCTS.items():
        season = 1 + amplitude * np.cos(2 * np.pi * (week_of_year - peak) / 52)
        trend = 1 + 0.04 * np.arange(len(weeks)) / 52
        promo = (rng.random(len(weeks)) < 0.12).astype(int)
        regular = np.where(weeks.year >= 2025, price * 1.05, price)
        week_price = np.round(np.where(promo == 1, regular * 0.8, regular), 2)
        expected = base * season * trend * np.where(promo == 1, 1.35, 1.0)
        units = rng.poisson(expected)
        frames.append(
            pd.DataFrame(
                {
                    "week_start": weeks.strftime("%Y-%m-%d"),
                    "product": product,
                    "price": week_price,
                    "promo": promo,
                    "units": units,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    for index, (quarter, unemployment) in enumerate(zip(QUARTERS, UNEMPLOYMENT)):
        write_csv(loans_for_quarter(index, quarter, unemployment), DATA_DIR / f"loans_{quarter}.csv")
    write_csv(demand_baseline(), DATA_DIR / "demand_baseline.csv")


if __name__ == "__main__":
    main()
