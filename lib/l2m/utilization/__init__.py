"""Utilization training (PAPER §3.4): merge samples, expert merges, SFT then DPO of the aggregator."""
