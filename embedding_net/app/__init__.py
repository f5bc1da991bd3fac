"""Search-by-image web app (``embedding-net serve``): FastAPI + uvicorn over a model and an index.

Install with ``pip install 'embedding-net[app]'``. FastAPI gives typed JSON endpoints, async
file uploads and a test client; the page is one static HTML document (no template engine).

Example:
    >>> from embedding_net.app import create_app
    >>> app = create_app("net.keras", "gallery.npz")
    >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import importlib

# public name -> module that defines it (FastAPI is imported only when the app is built)
_EXPORTS = {
    "ImageRejected": "images",
    "SearchService": "service",
    "estimate_threshold": "service",
    "load_network": "service",
    "build_app": "server",
    "create_app": "server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"embedding_net.app.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'embedding_net.app' has no attribute {name!r}")


def __dir__():
    return __all__
