"""The nine MemEngine baselines (BASELINES.md), behind the one memory protocol."""

from l2m.memory.baselines.generative_agents import GAMemory
from l2m.memory.baselines.long_term import LTMemory
from l2m.memory.baselines.memgpt import MGMemory
from l2m.memory.baselines.memory_bank import MBMemory
from l2m.memory.baselines.memtree import MTMemory
from l2m.memory.baselines.reflexion import RFMemory
from l2m.memory.baselines.self_controlled import SCMemory
from l2m.memory.baselines.short_term import STMemory
from l2m.memory.full import FUMemory

__all__ = ["FUMemory", "GAMemory", "LTMemory", "MBMemory", "MGMemory", "MTMemory", "RFMemory", "SCMemory", "STMemory"]
