"""Brute-force numpy references (float64, explicit loops) for the modern loss family, and a
backend-agnostic value-and-gradient helper. Written from the papers' formulas, independently
of the library code."""

from __future__ import annotations

import math

import keras
import numpy as np


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def value_and_grad(fn, x):
    """``(value, d sum(fn(x)) / dx)`` as numpy, on the tensorflow, jax or torch backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
            total = tf.reduce_sum(value)
        return to_numpy(value), to_numpy(tape.gradient(total, x))
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        x = jnp.asarray(x)
        value = fn(x)
        grad = jax.grad(lambda v: jnp.sum(fn(v)))(x)
        return to_numpy(value), to_numpy(grad)
    if backend == "torch":
        import torch

        x = torch.tensor(np.asarray(x), requires_grad=True)
        value = fn(x)
        value.sum().backward()
        return to_numpy(value.detach()), to_numpy(x.grad)
    raise RuntimeError(f"no gradient helper for backend {backend!r}")


def labelled_value_and_grad(fn):
    """``g(labels, x) -> (value, d sum(fn(labels, x)) / dx)`` as numpy; compiled once per
    input shape under jax (op-by-op jax dispatch compiles every primitive), eager elsewhere."""
    if keras.backend.backend() != "jax":
        return lambda labels, x: value_and_grad(lambda v: fn(labels, v), x)
    import jax
    import jax.numpy as jnp

    def total(x, labels):
        value = fn(labels, x)
        return jnp.sum(value), value

    compiled = jax.jit(jax.value_and_grad(total, has_aux=True))

    def run(labels, x):
        (_, value), grad = compiled(jnp.asarray(x), jnp.asarray(labels))
        return to_numpy(value), to_numpy(grad)

    return run


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.sqrt(np.maximum((x**2).sum(-1, keepdims=True), 1e-12))


def cosine(x, y):
    return unit(x) @ unit(y).T


def euclidean(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))


def _pairs(labels, ref_labels, ref_valid, i, j, same_batch):
    if ref_valid is not None and not ref_valid[j]:
        return False, False
    if same_batch and i == j:
        return False, False
    same = labels[i] == ref_labels[j]
    return same, not same


def multi_similarity(labels, x, alpha=2.0, beta=50.0, base=0.5, epsilon=0.1, ref=None):
    """ref = (ref_labels, ref_x, ref_valid) or None."""
    same_batch = ref is None
    ref_labels, ref_x, ref_valid = (labels, x, None) if ref is None else ref
    sim = cosine(x, ref_x)
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        pos = [
            j
            for j in range(len(ref_labels))
            if _pairs(labels, ref_labels, ref_valid, i, j, same_batch)[0]
        ]
        neg = [
            j
            for j in range(len(ref_labels))
            if _pairs(labels, ref_labels, ref_valid, i, j, same_batch)[1]
        ]
        if epsilon is not None:
            min_pos = min((sim[i, j] for j in pos), default=np.inf)
            max_neg = max((sim[i, j] for j in neg), default=-np.inf)
            neg, pos = (
                [j for j in neg if sim[i, j] + epsilon > min_pos],
                [j for j in pos if sim[i, j] - epsilon < max_neg],
            )
        pos_sum = sum(math.exp(-alpha * (sim[i, j] - base)) for j in pos)
        neg_sum = sum(math.exp(beta * (sim[i, j] - base)) for j in neg)
        out[i] = math.log1p(pos_sum) / alpha + math.log1p(neg_sum) / beta
    return out


def circle(labels, x, gamma=80.0, margin=0.4):
    sim = np.minimum(cosine(x, x), 1.0)
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        pos = [j for j in range(len(labels)) if j != i and labels[j] == labels[i]]
        neg = [j for j in range(len(labels)) if labels[j] != labels[i]]
        if not pos or not neg:
            continue
        lp = [-gamma * max(1 + margin - sim[i, j], 0) * (sim[i, j] - (1 - margin)) for j in pos]
        ln = [gamma * max(sim[i, j] + margin, 0) * (sim[i, j] - margin) for j in neg]
        z = np.logaddexp.reduce(lp) + np.logaddexp.reduce(ln)
        out[i] = np.logaddexp(0.0, z)
    return out


def lifted_structure(labels, x, pos_margin=0.0, neg_margin=1.0):
    d = euclidean(x, x)
    n = len(labels)
    total, count = 0.0, 0
    per_anchor = np.zeros(n)
    for i in range(n):
        for j in range(n):
            if i == j or labels[i] != labels[j]:
                continue
            terms = [neg_margin - d[i, k] for k in range(n) if labels[k] != labels[i]]
            terms += [neg_margin - d[j, k] for k in range(n) if labels[k] != labels[j]]
            big_j = (np.logaddexp.reduce(terms) if terms else -np.inf) + d[i, j] - pos_margin
            value = max(big_j, 0.0) ** 2 / 2
            per_anchor[i] += value
            total += value
            count += 1
    if count == 0:
        return np.zeros(n), 0.0
    return per_anchor * n / count, total / count


def generalized_lifted_structure(labels, x, pos_margin=0.0, neg_margin=1.0):
    d = euclidean(x, x)
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        pos = [
            d[i, j] - pos_margin for j in range(len(labels)) if j != i and labels[j] == labels[i]
        ]
        neg = [neg_margin - d[i, j] for j in range(len(labels)) if labels[j] != labels[i]]
        if pos and neg:
            out[i] = max(np.logaddexp.reduce(pos) + np.logaddexp.reduce(neg), 0.0)
    return out


def ntxent(labels, x, temperature=0.07, ref=None):
    same_batch = ref is None
    ref_labels, ref_x, ref_valid = (labels, x, None) if ref is None else ref
    sim = cosine(x, ref_x) / temperature
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        flags = [
            _pairs(labels, ref_labels, ref_valid, i, j, same_batch) for j in range(len(ref_labels))
        ]
        pos = [j for j, f in enumerate(flags) if f[0]]
        neg = [j for j, f in enumerate(flags) if f[1]]
        if not pos or not neg:
            continue
        losses = []
        for p in pos:
            denom = math.exp(sim[i, p]) + sum(math.exp(sim[i, k]) for k in neg)
            losses.append(-math.log(math.exp(sim[i, p]) / denom))
        out[i] = np.mean(losses)
    return out


def npairs(labels, x, l2_reg=0.002):
    x = np.asarray(x, np.float64)
    logits = x @ x.T
    n = len(labels)
    out = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        pos = [j for j in others if labels[j] == labels[i]]
        log_z = np.logaddexp.reduce([logits[i, j] for j in others]) if others else 0.0
        if pos:
            out[i] = -np.mean([logits[i, p] - log_z for p in pos])
        out[i] += l2_reg / 2 * (x[i] ** 2).sum()
    return out


def supcon(labels, x, temperature=0.1, base_temperature=0.07, ref=None):
    same_batch = ref is None
    ref_labels, ref_x, ref_valid = (labels, x, None) if ref is None else ref
    sim = cosine(x, ref_x) / temperature
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        flags = [
            _pairs(labels, ref_labels, ref_valid, i, j, same_batch) for j in range(len(ref_labels))
        ]
        pos = [j for j, f in enumerate(flags) if f[0]]
        others = [j for j, f in enumerate(flags) if f[0] or f[1]]
        if not pos:
            continue
        log_z = np.logaddexp.reduce([sim[i, a] for a in others])
        out[i] = -(temperature / base_temperature) * np.mean([sim[i, p] - log_z for p in pos])
    return out


def smoothed_cross_entropy(labels, logits, eps=0.1):
    logits = np.asarray(logits, np.float64)
    out = np.zeros(len(labels))
    c = logits.shape[1]
    for i in range(len(labels)):
        log_p = logits[i] - np.logaddexp.reduce(logits[i])
        q = np.full(c, eps / c)
        q[labels[i]] += 1 - eps
        out[i] = -(q * log_p).sum()
    return out


def _cross_entropy(labels, logits):
    return np.array(
        [np.logaddexp.reduce(logits[i]) - logits[i, labels[i]] for i in range(len(labels))]
    )


def arcface(labels, x, w, margin=0.5, scale=64.0, num_centers=1):
    cos = cosine(x, w)
    n, ck = cos.shape
    cos = cos.reshape(n, ck // num_centers, num_centers).max(-1)
    cos = np.clip(cos, -1, 1)
    logits = scale * cos.copy()
    for i in range(n):
        c = cos[i, labels[i]]
        theta = math.acos(c)
        if theta + margin < math.pi:
            logits[i, labels[i]] = scale * math.cos(theta + margin)
        else:
            logits[i, labels[i]] = scale * (c - margin * math.sin(margin))
    return _cross_entropy(labels, logits)


def cosface(labels, x, w, margin=0.35, scale=64.0):
    logits = scale * cosine(x, w)
    for i in range(len(labels)):
        logits[i, labels[i]] -= scale * margin
    return _cross_entropy(labels, logits)


def proxy_anchor(labels, x, proxies, alpha=32.0, margin=0.1):
    sim = cosine(x, proxies)
    num_classes = proxies.shape[0]
    present = sorted(set(int(v) for v in labels))
    pos = sum(
        math.log1p(
            sum(
                math.exp(-alpha * (sim[i, c] - margin))
                for i in range(len(labels))
                if labels[i] == c
            )
        )
        for c in present
    )
    neg = sum(
        math.log1p(
            sum(
                math.exp(alpha * (sim[i, c] + margin)) for i in range(len(labels)) if labels[i] != c
            )
        )
        for c in range(num_classes)
    )
    return pos / max(len(present), 1) + neg / num_classes


def proxy_nca(labels, x, proxies, scale=9.0):
    d = euclidean(unit(x), unit(proxies)) ** 2
    return _cross_entropy(labels, -scale * d)


def softtriple(labels, x, centers, num_centers, scale=20.0, gamma=0.1, reg_weight=0.2, margin=0.01):
    xs, ws = unit(x), unit(centers)
    n, c = len(labels), centers.shape[0] // num_centers
    logits = np.zeros((n, c))
    for i in range(n):
        for k in range(c):
            s = np.array([xs[i] @ ws[k * num_centers + t] for t in range(num_centers)])
            p = np.exp(s / gamma - np.max(s / gamma))
            p /= p.sum()
            logits[i, k] = scale * ((p * s).sum() - (margin if k == labels[i] else 0.0))
    loss = _cross_entropy(labels, logits)
    if num_centers > 1:
        reg = 0.0
        for k in range(c):
            for a in range(num_centers):
                for b in range(a + 1, num_centers):
                    dot = ws[k * num_centers + a] @ ws[k * num_centers + b]
                    reg += math.sqrt(2 + 1e-5 - 2 * dot)
        loss = loss + reg_weight * reg / (c * num_centers * (num_centers - 1))
    return loss


def center(labels, x, centers):
    x = np.asarray(x, np.float64)
    return np.array([0.5 * ((x[i] - centers[labels[i]]) ** 2).sum() for i in range(len(labels))])
