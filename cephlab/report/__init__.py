"""What a person sees of a run: the stage table (one row per scenario, its result taken from
pytest's reports), and one self-contained HTML report with the timeline, the fault table,
the browser's screenshots and each failure's diagnostics, secrets redacted."""
