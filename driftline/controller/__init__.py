"""The monitoring controller: MLRun's window rules (pure, :mod:`.windows`), the trigger it accepts
(:mod:`.trigger`) and one run over every monitored endpoint and deployed application (:mod:`.run`).

Import-light on purpose: the controller Lambda must not load pandas, scipy or pyarrow.
"""
