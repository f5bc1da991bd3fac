"""Save a finished run's models: ``final.keras``, ``best.keras`` and the inference copy
``network.keras``; the trained model survives any later failure (:class:`SaveError` names
the file that holds it). Every file is written under a temporary name and renamed into place
(:func:`embedding_net.atomic.atomic_path`), so a killed run leaves no truncated model."""

from __future__ import annotations

import shutil
from pathlib import Path

import keras

from embedding_net.atomic import atomic_path


def save_network(network, path) -> None:
    """Save the embedding network alone, uncompiled: no optimizer, loss or loss weights, so
    :func:`embedding_net.load_model` (or ``keras.saving.load_model`` once the library's
    classes are imported) needs no custom objects.

    The copy is rebuilt from ``network.get_config()`` and its weights are taken from the
    trained network in order (the same config builds the same variables in the same order),
    never by variable path: Keras numbers auto-named layers per process, so the copy's paths
    may differ from the trained network's (``normalization_2/mean`` against
    ``normalization/mean`` in EfficientNet).

    Raises:
        ValueError: the rebuilt copy's variables differ from the trained network's in number
            or shape (the message names the first variable that differs).
    """
    clone = type(network).from_config(network.get_config())
    source, target = network.weights, clone.weights
    if len(source) != len(target):
        raise ValueError(
            f"save_network: the network rebuilt from its config has {len(target)} weights, "
            f"the trained network {len(source)}"
        )
    for copy, trained in zip(target, source):
        if tuple(copy.shape) != tuple(trained.shape):
            raise ValueError(
                f"save_network: weight {trained.path!r} of the trained network has shape "
                f"{tuple(trained.shape)}, the rebuilt network's {copy.path!r} "
                f"{tuple(copy.shape)}"
            )
        copy.assign(trained)
    with atomic_path(path) as tmp:
        clone.save(tmp)


class SaveError(RuntimeError):
    """Saving the outputs of a finished training run failed; the message names the file
    that could not be written, why, and where the trained model was kept."""


def save_trained(model, output: Path):
    """Write ``final.keras``, ``best.keras`` (``final.keras`` when no best was kept) and the
    inference copy ``network.keras`` of a trained model; returns the best embedding network.

    The trained model is written first, so it survives any later failure: when
    ``final.keras`` itself cannot be written, the weights go to ``final.weights.h5``.

    Raises:
        SaveError: a file could not be written; the message names it, the cause and the
            file that holds the trained model.
    """
    final = output / "final.keras"
    try:
        with atomic_path(final) as tmp:
            model.save(tmp)
    except Exception as error:
        weights = output / "final.weights.h5"
        with atomic_path(weights) as tmp:
            model.save_weights(tmp)
        raise SaveError(
            f"{final} could not be written ({type(error).__name__}: {error}); the trained "
            f"weights are kept in {weights} (load them with model.load_weights)"
        ) from error
    best_path = output / "best.keras"
    try:
        if not best_path.exists():
            with atomic_path(best_path) as tmp:
                shutil.copyfile(final, tmp)
        best = keras.saving.load_model(best_path, compile=False)
        best_network = _embedding_network(best)
        save_network(best_network, output / "network.keras")
    except Exception as error:
        raise SaveError(
            f"{output / 'network.keras'} could not be written from {best_path} "
            f"({type(error).__name__}: {error}); the trained model is kept in {final}"
        ) from error
    return best_network


def _embedding_network(model):
    return getattr(model, "network", model)
