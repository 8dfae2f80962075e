"""Storage optimization (PAPER §4): store records, reflection and the learned extraction hint."""
