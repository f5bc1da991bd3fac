"""The rules of a training config that involve more than one field.

Each field's own constraint is declared with it in :mod:`embedding_net.config.schema`; these
are the combinations (``sampler.kind`` against ``model.kind``, ``schedule.span: time`` needing
``training.max_seconds``, ...). Each rule names the key at fault through ``need``, which
:mod:`embedding_net.config.loader` turns into a :class:`~embedding_net.config.ConfigError`
naming the file.
"""

from __future__ import annotations

from collections.abc import Callable

from embedding_net.config.schema import TrainConfig
from embedding_net.data.datasets.registry import get_layout, layout_names

#: ``need(condition, key, message)``: a problem with ``key`` when ``condition`` is false
Need = Callable[[bool, str, str], None]


def check_rules(config: TrainConfig, need: Need) -> None:
    """Check every cross-field rule of ``config``; ``need`` reports the first broken one."""
    _check_sections(config, need)
    _check_schedule(config, need)
    _check_combinations(config, need)


def _check_sections(config: TrainConfig, need: Need) -> None:
    d, m, s, o, sc = config.data, config.model, config.sampler, config.optimizer, config.schedule
    need(
        m.center_crop is None
        or (
            len(m.center_crop) == 2
            and all(0 < c <= size for c, size in zip(m.center_crop, d.image_size))
        ),
        "model.center_crop",
        f"expected [height, width] of positive integers no larger than data.image_size "
        f"{d.image_size}, got {m.center_crop}",
    )
    need(s.P >= 2 or s.kind != "pk", "sampler.P", f"must be >= 2 for P x K batches, got {s.P}")
    need(
        s.singles == 0 or s.kind == "pk",
        "sampler.singles",
        f"applies to P x K batches (sampler.kind: pk), not {s.kind!r}",
    )
    need(
        not o.rectify or o.name in ("adam", "adamw"),
        "optimizer.rectify",
        f"RAdam rectification applies to adam/adamw, not {o.name!r}",
    )
    need(
        sc.min_learning_rate < o.learning_rate,
        "schedule.min_learning_rate",
        "must be below optimizer.learning_rate",
    )


def _check_schedule(config: TrainConfig, need: Need) -> None:
    m, o, sc, t = config.model, config.optimizer, config.schedule, config.training
    if sc.span == "time":
        need(
            sc.name in ("cosine", "warmup_cosine"),
            "schedule.span",
            f"'time' applies to the cosine and warmup_cosine schedules, not {sc.name!r}",
        )
        need(
            t.max_seconds is not None,
            "schedule.span",
            "'time' decays the learning rate over training.max_seconds: set it",
        )
    if m.freeze_epochs is not None:
        need(
            1 <= m.freeze_epochs < t.epochs,
            "model.freeze_epochs",
            f"must be >= 1 and below training.epochs ({t.epochs}: the epochs after it "
            f"fine-tune the unfrozen backbone), got {m.freeze_epochs}",
        )
        need(
            not m.freeze_backbone,
            "model.freeze_epochs",
            "model.freeze_backbone: true keeps the backbone frozen for the whole run; "
            "set one of the two",
        )
        need(
            sc.min_learning_rate < o.learning_rate * o.fine_tune_factor,
            "schedule.min_learning_rate",
            "must be below the fine-tuning learning rate (optimizer.learning_rate x "
            f"optimizer.fine_tune_factor = {o.learning_rate * o.fine_tune_factor:g})",
        )
    need(
        m.unfreeze_from is None or m.freeze_epochs is not None,
        "model.unfreeze_from",
        "only applies with model.freeze_epochs (the epoch the backbone is unfrozen)",
    )


def _check_combinations(config: TrainConfig, need: Need) -> None:
    d, m, s, v = config.data, config.model, config.sampler, config.validation
    kind_samplers = {"embedding": ("pk", "random"), "siamese": ("pairs",), "triplet": ("triplets",)}
    need(
        s.kind in kind_samplers[m.kind],
        "sampler.kind",
        f"model.kind {m.kind!r} trains on sampler.kind {' or '.join(kind_samplers[m.kind])}, "
        f"got {s.kind!r}",
    )
    need(
        not get_layout(d.layout).triplet_rows or m.kind == "triplet",
        "data.layout",
        f"{d.layout} trains model.kind 'triplet'",
    )
    need(
        m.head == "distance" or m.kind == "siamese",
        "model.head",
        "only applies to model.kind 'siamese'",
    )
    need(
        d.split != "given" or get_layout(d.layout).given_split,
        "data.split",
        f"'given' needs train/ and val/ folders (layouts "
        f"{', '.join(layout_names(given_split=True))}), "
        f"not {d.layout!r}",
    )
    need(
        v.protocol == "none" or d.split != "none",
        "validation.protocol",
        f"{v.protocol!r} needs held-out data: set data.split",
    )
    need(
        not v.rerank or v.protocol == "reid",
        "validation.rerank",
        f"re-ranking applies to validation.protocol 'reid', not {v.protocol!r}",
    )
