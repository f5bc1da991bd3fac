"""The CPU a benchmark ran on: model name, core count, vector instruction sets, load average."""

from __future__ import annotations

import os
import platform
import re

VECTOR_FLAGS = re.compile(r"^(avx2|avx512\w*|amx\w*|fma)$")


def cpu_info() -> dict:
    """``{"model", "cores", "vector_flags", "load_average_1min"}`` from ``/proc/cpuinfo`` (Linux)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == (
                    platform.processor() or platform.machine()
                ):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = {
                        flag for flag in line.split(":", 1)[1].split() if VECTOR_FLAGS.match(flag)
                    }
    except OSError:
        pass
    return {
        "model": model,
        "cores": os.cpu_count(),
        "vector_flags": sorted(flags),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def describe(info: dict) -> str:
    """One line for a table caption: model, cores, instruction sets."""
    flags = " ".join(info["vector_flags"]) or "no AVX2/AVX-512/AMX flags"
    return f"{info['model']}, {info['cores']} cores ({flags})"
