"""Pictures of embeddings and metrics: t-SNE (static and interactive; openTSNE or scikit-learn)
and UMAP projections, retrieval grids,
verification pairs, ROC, distance histograms, threshold sweeps, CMC and training curves.

matplotlib is imported inside the functions and draws on an Agg canvas (no display needed, no
pyplot global state); plotly is optional (``pip install embedding-net[viz]``) and only needed by
:func:`plot_tsne_interactive`. Every function accepts numpy arrays or backend tensors and returns
the figure; pass ``path=`` to also save it (PNG/SVG/PDF, or HTML for the interactive plot).
"""

from embedding_net.visualization.curves import (
    plot_cmc,
    plot_distance_histograms,
    plot_history,
    plot_roc,
    roc_points,
)
from embedding_net.visualization.interactive import (
    image_to_data_uri,
    plot_tsne_interactive,
    save_interactive_html,
)
from embedding_net.visualization.projections import neighbour_preservation, umap_embed
from embedding_net.visualization.retrieval import plot_pairs, plot_retrieval
from embedding_net.visualization.thresholds import plot_threshold_sweep, threshold_sweep
from embedding_net.visualization.tsne import class_styles, plot_tsne, tsne_embed

__all__ = [
    "class_styles",
    "image_to_data_uri",
    "neighbour_preservation",
    "plot_cmc",
    "plot_distance_histograms",
    "plot_history",
    "plot_pairs",
    "plot_retrieval",
    "plot_roc",
    "plot_threshold_sweep",
    "plot_tsne",
    "plot_tsne_interactive",
    "roc_points",
    "save_interactive_html",
    "threshold_sweep",
    "tsne_embed",
    "umap_embed",
]
