"""What leaves the vault as documents: progress notes, treatment summaries, charts, printed packets."""
