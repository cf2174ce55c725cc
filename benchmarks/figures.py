"""Side-by-side figures (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

Panel = tuple[np.ndarray, str] | None  # (H x W x C image in [0, 1], caption), or None for a blank


def show_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The input as a user sees it: masked pixels painted magenta."""
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image.copy()
    rgb[mask] = (1.0, 0.0, 1.0)
    return rgb


def image_grid(rows: list[list[Panel]], path: Path, row_labels: list[str] | None = None, title: str = "",
               panel_inches: float = 2.2) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    # Constrained layout keeps every caption clear of the row above and of the title (tight_layout
    # let a second row's captions run into the first row's images when panels are wide).
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(panel_inches * n_cols, panel_inches * n_rows + 0.4),
                             squeeze=False, layout="constrained")
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            panel = row[j] if j < len(row) else None
            if panel is None:
                ax.axis("off")
                continue
            img, caption = panel
            ax.imshow(img[:, :, 0] if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None,
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(caption, fontsize=8)
            if j == 0 and row_labels:
                ax.set_ylabel(row_labels[i], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
