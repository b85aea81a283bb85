"""softmax-conformance: checks softmax, log_softmax and their derivatives against an oracle."""

from conformance.adapter import Adapter
from conformance.running.loading import AdapterSpecError, load_adapter
from conformance.truth import oracle
from conformance.truth.dtypes import DTYPES

__all__ = ["DTYPES", "Adapter", "AdapterSpecError", "load_adapter", "oracle"]
