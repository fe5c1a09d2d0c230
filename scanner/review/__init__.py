"""Review: what the clinician sees and confirms (risk words, the local web app)."""
