"""``training.mixed_precision: auto``: bfloat16 compute where the CPU multiplies it in hardware.

On a CPU with AMX-BF16 (Intel Xeon since Sapphire Rapids), Keras' ``mixed_bfloat16`` policy
trains 1.6-1.7x faster per epoch than float32 through ``fit`` and 1.8-2.2x per step
(``docs/benchmarks_training.md``), and the re-id example's held-out accuracy stays within its
run-to-run spread (``examples/mars/README.md``). Everywhere else bfloat16 is converted in
software (2.3-2.9x slower on an AVX-512 CPU without it) or untested, so ``auto`` stays float32.
"""

from __future__ import annotations

import keras

#: the CPU flag (``/proc/cpuinfo``) that makes ``auto`` choose ``mixed_bfloat16``
AUTO_BF16_FLAG = "amx_bf16"


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of the first CPU in ``path``; empty where it cannot be read
    (not Linux, no such file)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def resolve_precision(name: str, flags: frozenset[str] | None = None) -> str:
    """The Keras dtype policy ``training.mixed_precision: name`` stands for.

    ``auto`` is ``mixed_bfloat16`` on the TensorFlow backend with no GPU visible and a CPU
    with AMX-BF16 (``flags``: default :func:`cpu_flags`), otherwise ``float32``. Any other
    name is returned as it is.
    """
    if name != "auto":
        return name
    if keras.backend.backend() != "tensorflow":
        return "float32"
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "float32"
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if AUTO_BF16_FLAG in flags else "float32"
