"""The stream function's logic: Kinesis records -> parquet rows on S3 + live endpoint figures in DynamoDB.

- :mod:`driftline.stream.records`: the Kinesis envelope, base64 -> JSON -> ``InferenceEvent`` (the reference
  decoder) and poison records.
- :mod:`driftline.stream.rows`: one row per input row, column naming and typing, parquet groups per
  (endpoint, hour, shard).
- :mod:`driftline.stream.fast`: the vectorised twin of the reference decoder (pyarrow), used for the records
  it can prove equivalent; everything else goes through the reference path.
- :mod:`driftline.stream.batch`: one decoded batch (both paths merged).
- :mod:`driftline.stream.live`: live figures and minute buckets, guarded per shard.
- :mod:`driftline.stream.process`: the whole batch: decode, write, count, dead-letter, answer.
"""

SERVICE = "driftline-stream"
