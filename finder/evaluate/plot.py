"""The evaluation figure: per algorithm, distance histograms and the precision-recall curve.

Needs matplotlib (the ``plot`` extra); nothing else in finder imports it.
"""

from __future__ import annotations

import io

from finder.errors import FinderError, OutputError
from finder.evaluate.metrics import Evaluation
from finder.io.atomic import atomic_write


class PlotUnavailable(FinderError, RuntimeError):
    """matplotlib is not installed."""


def plot_evaluation(evaluation: Evaluation, path: str) -> None:
    """Write a PNG: one row per algorithm, same- vs different-group distance histograms and the PR curve."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'finder[plot]'") from None
    curves = evaluation.curves
    figure, axes = plt.subplots(len(curves), 2, figsize=(11, 3.2 * len(curves)), squeeze=False)
    for row, (name, c) in enumerate(curves.items()):
        table = c.table()
        x = table["threshold"]
        hist, pr = axes[row]
        hist.bar(x, c.diff / max(c.negatives, 1), width=1 / c.bits, alpha=0.6, label="different group")
        hist.bar(x, c.same / max(c.positives, 1), width=1 / c.bits, alpha=0.6, label="same group")
        chosen = evaluation.chosen[name].threshold
        hist.axvline(chosen, color="black", linestyle="--", linewidth=1, label=f"threshold {chosen:.3f}")
        hist.set_title(f"{name}: normalised distance of pairs")
        hist.set_xlabel("distance / bits")
        hist.set_ylabel("share of pairs")
        hist.legend(fontsize="small")
        pr.plot(table["recall"], table["precision"], drawstyle="steps-post")
        best = c.best()
        pr.plot([table["recall"][best]], [table["precision"][best]], "o",
                label=f"best F1 {table['f1'][best]:.3f} at {best / c.bits:.3f}")
        pr.set_title(f"{name}: precision-recall (AP {c.average_precision():.3f})")
        pr.set_xlabel("recall")
        pr.set_ylabel("precision")
        pr.set_xlim(0, 1.01)
        pr.set_ylim(0, 1.01)
        pr.legend(fontsize="small", loc="lower left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    try:
        with atomic_write(path, "wb") as handle:
            handle.write(buffer.getvalue())
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
