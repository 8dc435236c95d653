"""Statistics: reference profiles (MLRun's ``feature_stats``), histograms on reference edges, distances.

Pure functions over numpy/pandas; nothing here touches AWS. The controller and the writer never import it.
"""

from driftline.stats.distances import DISTANCES, DistanceMethod, hellinger, kld, tvd
from driftline.stats.histograms import (
    padded_reference,
    sample_df_stats,
    window_distribution,
)
from driftline.stats.profile import compute_feature_stats

__all__ = [
    "DISTANCES",
    "DistanceMethod",
    "compute_feature_stats",
    "hellinger",
    "kld",
    "padded_reference",
    "sample_df_stats",
    "tvd",
    "window_distribution",
]
