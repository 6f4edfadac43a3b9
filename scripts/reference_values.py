#!/usr/bin/env python3
"""Reference values for tests/it/reference.rs: our metrics and drift tests against
scikit-learn's and SciPy's on fixed inputs.

Run once, when an input or a reference library changes, and commit the output:

    python3 -m pip install scikit-learn==1.5.2 scipy==1.17.1 numpy==2.4.6
    python3 scripts/reference_values.py > tests/data/reference_values.json

The inputs are generated here from a fixed seed and written into the file, so the Rust test
reads the same numbers the libraries saw; no Python is needed to run the tests.
"""
import json
import sys

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score

rng = np.random.default_rng(20261130)


def ranking_case(name, n, positives, ties):
    """Scores with a signal, rounded to `ties` decimals so that some scores tie."""
    labels = np.zeros(n, dtype=bool)
    labels[rng.choice(n, positives, replace=False)] = True
    scores = rng.normal(size=n) + labels * 1.2
    scores = np.round(scores, ties)
    return {
        "name": name,
        "labels": labels.tolist(),
        "scores": scores.tolist(),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
    }


def ndcg_case(name, n_items, n_relevant, k):
    """A ranked list of all `n_items` items (best first) and a relevant set; binary gains."""
    ranking = rng.permutation(n_items)
    # Relevant items drawn from the first 2k ranks, so that the top k holds some of them.
    relevant = rng.choice(ranking[: 2 * k], n_relevant, replace=False)
    y_true = np.zeros((1, n_items))
    y_true[0, relevant] = 1.0
    y_score = np.zeros((1, n_items))
    y_score[0, ranking] = np.arange(n_items, 0, -1)  # first in the ranking scores highest
    return {
        "name": name,
        "recommended": ranking.tolist(),
        "relevant": sorted(relevant.tolist()),
        "k": k,
        "ndcg": float(ndcg_score(y_true, y_score, k=k)),
    }


def ks_case(name, n, m, shift):
    a = np.round(rng.normal(size=n), 3)
    b = np.round(rng.normal(loc=shift, size=m), 3)
    exact = stats.ks_2samp(a, b, method="asymp")
    return {
        "name": name,
        "reference": a.tolist(),
        "current": b.tolist(),
        "statistic": float(exact.statistic),
        "p_value_asymp": float(exact.pvalue),
    }


def chi_square_case(name, reference_counts, current_counts):
    """Goodness of fit of the current counts to the reference's proportions."""
    ref = np.array(reference_counts, dtype=float)
    cur = np.array(current_counts, dtype=float)
    expected = ref / ref.sum() * cur.sum()
    result = stats.chisquare(cur, f_exp=expected)
    return {
        "name": name,
        "reference_counts": reference_counts,
        "current_counts": current_counts,
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
    }


out = {
    "generated_by": "scripts/reference_values.py",
    "libraries": {
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    },
    "ranking": [
        ranking_case("balanced, many ties", 300, 150, 1),
        ranking_case("rare positives (2 %), no ties", 1500, 30, 6),
        ranking_case("rare positives, coarse ties", 600, 12, 0),
    ],
    "ndcg": [
        ndcg_case("3 relevant of 50, k=10", 50, 3, 10),
        ndcg_case("12 relevant of 40, k=10", 40, 12, 10),
        ndcg_case("1 relevant of 30, k=5", 30, 1, 5),
        ndcg_case("6 relevant of 100, k=20", 100, 6, 20),
    ],
    "ks": [
        # References of at most 1,000 rows: where Evidently's defaults (and ours) pick KS.
        ks_case("same distribution", 1000, 1500, 0.0),
        ks_case("shift 0.15 sd", 1000, 800, 0.15),
        ks_case("shift 0.3 sd, small current", 1000, 200, 0.3),
    ],
    "chi_square": [
        # 3-5 categories and at most 1,000 reference rows: where chi-square is picked.
        chi_square_case("3 categories, no change", [500, 300, 200], [498, 305, 197]),
        chi_square_case("4 categories, shifted", [400, 300, 200, 100], [300, 320, 230, 150]),
        chi_square_case("5 categories, slight", [200, 200, 200, 200, 200], [210, 190, 205, 195, 230]),
    ],
}
json.dump(out, sys.stdout)
sys.stdout.write("\n")
