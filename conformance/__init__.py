"""softmax-conformance: checks softmax, log_softmax and their derivatives against an oracle."""

from conformance.adapter import Adapter
from conformance.loading import AdapterSpecError, load_adapter

__all__ = ["Adapter", "AdapterSpecError", "load_adapter"]
