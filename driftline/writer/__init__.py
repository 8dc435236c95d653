"""The writer: one application run's outputs to DynamoDB (history + latest), Timestream (optional) and alerts.

Import-light on purpose: the writer Lambda must not load pandas, scipy or pyarrow.
"""
