"""The stream function's logic: Kinesis records -> parquet rows on S3 + live endpoint figures in DynamoDB.

- :mod:`driftline.stream.decode`: Kinesis batches -> accepted events, their rows and poison records; the
  reference decoder (the specification) and its vectorised pyarrow twin, merged per batch.
- :mod:`driftline.stream.dedup`: records repeating a request already stored, left out.
- :mod:`driftline.stream.live`: live figures and minute buckets, guarded per shard.
- :mod:`driftline.stream.process`: the whole batch: decode, write, count, dead-letter, answer.
"""

SERVICE = "driftline-stream"
