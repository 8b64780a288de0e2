"""The conformance suite behind `webhook-sim check` (`suite`, which names every check in
order), what a check is (`core`), how checks send (`sending`), the checks by theme
(`acceptance`, `capacity`, `rejection`, `ordering`, `fallback`) and their verdicts (`result`)."""
