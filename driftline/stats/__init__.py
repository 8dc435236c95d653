"""Statistics: reference profiles (MLRun's ``feature_stats``), histograms on reference edges, and the one
registry of tests, effect sizes and distances (:mod:`driftline.stats.registry`).

Pure functions over numpy/pandas; nothing here touches AWS. The controller and the writer never import it.
Importing the package registers every built-in statistic (the modules below define them).
"""

from driftline.stats import distances, stattests
from driftline.stats.distances import hellinger, kld, tvd
from driftline.stats.histograms import (
    padded_reference,
    sample_df_stats,
    window_distribution,
)
from driftline.stats.profile import compute_feature_stats
from driftline.stats.registry import (
    REGISTRY,
    Direction,
    Inputs,
    Registry,
    Role,
    Score,
    Statistic,
    TestOutcome,
    TestScore,
    statistic,
)

__all__ = [
    "REGISTRY",
    "Direction",
    "Inputs",
    "Registry",
    "Role",
    "Score",
    "Statistic",
    "TestOutcome",
    "TestScore",
    "compute_feature_stats",
    "distances",
    "hellinger",
    "kld",
    "padded_reference",
    "sample_df_stats",
    "statistic",
    "stattests",
    "tvd",
    "window_distribution",
]
