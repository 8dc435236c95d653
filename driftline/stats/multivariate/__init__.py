"""Multivariate (joint) drift: what per-feature tests cannot see.

* :mod:`.reconstruction`: PCA reconstruction error against the reference's held-out error distribution
  (fitted at ``log_model``; a window costs one projection, no scikit-learn).
* :mod:`.classifier`: a domain classifier's cross-validated AUC against its Mann-Whitney null (needs
  scikit-learn at window time; bounded by row and iteration caps).
* :mod:`.encoding`: the shared encoding of mixed features.
"""

from driftline.stats.multivariate.classifier import (
    ClassifierReference,
    classifier_drift,
    fit_classifier_reference,
)
from driftline.stats.multivariate.encoding import FeatureEncoder, fit_encoder
from driftline.stats.multivariate.reconstruction import (
    ReconstructionReference,
    band,
    fit_reconstruction,
    reconstruction_drift,
)
from driftline.stats.multivariate.verdict import MultivariateVerdict

__all__ = [
    "ClassifierReference",
    "FeatureEncoder",
    "MultivariateVerdict",
    "ReconstructionReference",
    "band",
    "classifier_drift",
    "fit_classifier_reference",
    "fit_encoder",
    "fit_reconstruction",
    "reconstruction_drift",
]
