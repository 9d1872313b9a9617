"""The BLAS threads policy: a setting wins; otherwise the cores are shared by the worker's training processes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info

from worker.blas_threads import blas_threads


@pytest.mark.parametrize("setting, processes, cores, expected", [
    (0, 1, 16, 16),  # axon serve's one worker: every core.
    (0, 4, 16, 4),  # axon worker -c 4: a quarter each.
    (0, 3, 2, 1),  # More processes than cores: one thread each, never zero.
    (3, 4, 16, 3),  # AXON_BLAS_THREADS, e.g. for several worker commands on one host.
])
def test_threads_per_training_process(setting, processes, cores, expected):
    assert blas_threads(setting, processes, cores, environ={}) == expected


def test_an_environment_that_sets_blas_threads_is_left_alone_unless_the_setting_says():
    assert blas_threads(0, 1, 16, environ={"OPENBLAS_NUM_THREADS": "1"}) is None
    assert blas_threads(3, 1, 16, environ={"OMP_NUM_THREADS": "1"}) == 3


@pytest.mark.skipif(not any(pool["user_api"] == "blas" for pool in threadpool_info()), reason="no BLAS pool seen")
def test_applying_limits_numpys_blas_in_the_process():
    # In a fresh process: the limit lasts for the rest of the process's life.
    code = ("import numpy, threadpoolctl; from worker.blas_threads import apply_blas_threads; apply_blas_threads(1); "
            "print(sorted({p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas'}))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[1]"
