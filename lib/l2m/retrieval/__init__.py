"""Retrieval of the adaptive memory (PAPER §2): expert metrics, the MoE gate, ranking pairs, training."""
