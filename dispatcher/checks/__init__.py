"""The conformance suite behind `webhook-sim check` (`suite`) and its verdicts (`result`)."""
