"""The stream's decoding: Kinesis batches -> accepted events, their rows and the poison records.

- :mod:`~driftline.stream.decode.envelope`: the Kinesis envelope, base64, poison records.
- :mod:`~driftline.stream.decode.reference`: the reference decoder, the specification: payload -> event ->
  rows, one record at a time (``InferenceEvent.from_dict`` plus the stream's own checks).
- :mod:`~driftline.stream.decode.vectorised`: its pyarrow twin, a whole batch at once; it takes only the records
  it can vouch for and hands the rest back, so it changes speed, never results (tests and a property test hold
  the two equal).
- :mod:`~driftline.stream.decode.tables`: what both produce and the rules they share: row columns, their names and
  types, the (endpoint, hour, shard) groups, the decoded-events table.
- :mod:`~driftline.stream.decode.batch`: one batch through both, merged.
"""
