"""Schemathesis hooks for bench/fuzz.py (loaded through SCHEMATHESIS_HOOKS): real rows' ids and shapes.

The hooks themselves are tests/support/schemathesis_hooks.py's, as tests/service/test_schemathesis.py
uses them; here they take the rows bench/fuzz.py seeded (``AXON_FUZZ_IDS``, JSON: name → ids) and
its model's feature count (``AXON_FUZZ_N_FEATURES``).
"""

from __future__ import annotations

import json
import os

import schemathesis

from tests.support.schemathesis_hooks import register

register(schemathesis.hook, json.loads(os.environ["AXON_FUZZ_IDS"]), int(os.environ["AXON_FUZZ_N_FEATURES"]))
