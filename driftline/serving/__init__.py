"""The serving function: Open Inference Protocol parsing and answers, model loading, tracking."""
