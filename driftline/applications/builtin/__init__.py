"""The built-in monitoring applications, one module each, named in registry records as
``{"kind": "builtin", "name": "<module>"}`` and offline as ``"builtin:<module>"`` (or just ``"<module>"``):

* ``histogram_data_drift``: MLRun's histogram drift numbers, plus one result per feature (the default app);
* ``feature_drift``: per-feature two-sample tests and effect sizes, prediction drift, a dataset verdict;
* ``data_quality``: missing values, type errors, out-of-range values and unseen categories;
* ``model_performance``: accuracy / errors from ground truth;
* ``evidently_app``: Evidently's data drift report (the optional ``evidently`` extra).

They ship inside the ``driftline`` package, so every install has them. Loaded through
:mod:`driftline.applications.loader`; importing this package imports none of them.
"""
