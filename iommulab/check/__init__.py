"""Verification a learner can use: the rules the kernel keeps (invariants), and an explorer that
searches sequences of actions for a way to break them."""
from .invariants import Violation, check

__all__ = ["Violation", "check"]
