"""The user-facing SDK: MLRun's project API names on driftline's resources."""
