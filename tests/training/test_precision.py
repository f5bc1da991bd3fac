"""``training.mixed_precision: auto`` and the CPU flags it reads."""

import keras
import pytest

from embedding_net.training.precision import AUTO_BF16_FLAG, cpu_flags, resolve_precision


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 amx_bf16 avx512f\n\n"
        "processor\t: 1\nflags\t\t: fpu\n"
    )
    assert cpu_flags(str(info)) == frozenset({"fpu", "avx2", "amx_bf16", "avx512f"})


def test_cpu_flags_without_the_file_or_the_line_is_empty(tmp_path):
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()
    (tmp_path / "empty").write_text("processor : 0\n")
    assert cpu_flags(str(tmp_path / "empty")) == frozenset()


@pytest.mark.parametrize("name", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_explicit_precisions_are_kept_whatever_the_cpu(name):
    assert resolve_precision(name, frozenset({AUTO_BF16_FLAG})) == name
    assert resolve_precision(name, frozenset()) == name


def test_auto_is_bfloat16_only_with_amx_bf16():
    if keras.backend.backend() != "tensorflow":  # measured on tensorflow only
        assert resolve_precision("auto", frozenset({AUTO_BF16_FLAG})) == "float32"
        return
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible: auto is float32 there whatever the CPU")
    assert resolve_precision("auto", frozenset({"avx2", AUTO_BF16_FLAG})) == "mixed_bfloat16"
    # AVX512-BF16 alone: not measured here, so float32
    assert resolve_precision("auto", frozenset({"avx2", "avx512_bf16"})) == "float32"
    assert resolve_precision("auto", frozenset()) == "float32"
    expected = "mixed_bfloat16" if AUTO_BF16_FLAG in cpu_flags() else "float32"
    assert resolve_precision("auto") == expected  # this machine's own flags
