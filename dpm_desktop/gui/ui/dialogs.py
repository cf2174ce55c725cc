"""Dialogs: Save As (path, format, quality, sidecar) and Batch (folder in, folder out, progress)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..model.task import TaskParams
from .widgets import SliderBox, muted

FORMATS = {  # extension -> label
    ".jpg": "JPEG (.jpg) — small, lossy",
    ".png": "PNG (.png) — lossless, keeps 16-bit and alpha",
    ".tif": "TIFF (.tif) — lossless, keeps 16-bit",
    ".webp": "WebP (.webp) — small, lossy",
}
LOSSY = (".jpg", ".jpeg", ".webp")


def suggested_name(source: Path | None, ext: str | None = None) -> str:
    if source is None:
        return f"restored{ext or '.png'}"
    ext = ext or (source.suffix.lower() if source.suffix.lower() in (*FORMATS, ".jpeg", ".tiff") else ".png")
    stem = source.stem if source.stem.endswith("-restored") else f"{source.stem}-restored"
    return f"{stem}{ext}"


class SaveDialog(QDialog):
    """Where and how to save. The original file is never the default, and choosing it needs an
    explicit confirmation."""

    def __init__(self, parent: QWidget | None, folder: str, original: Path | None, current: Path | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Save As")
        self.setMinimumWidth(520)
        self.original = original
        start = current or Path(folder) / suggested_name(original)
        self.path = QLineEdit(str(start))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.format = QComboBox()
        for ext, label in FORMATS.items():
            self.format.addItem(label, ext)
        self.quality = SliderBox(50, 100, 95)
        self.quality.setToolTip("JPEG / WebP quality: 95 is visually lossless for most photos")
        self.sidecar = QCheckBox("Write the restoration settings beside the image (.json)")
        self.metadata = QCheckBox("Keep the photo's metadata (camera, date taken, location)")
        self.metadata.setChecked(True)
        self.metadata.setToolTip("EXIF and XMP are copied from the original, with the orientation reset and a note "
                                 "naming DPM Desktop. Unticked, they are left out (GPS included); the colour "
                                 "profile is always kept.")
        self.note = muted("")
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("File", row)
        form.addRow("Format", self.format)
        form.addRow("Quality", self.quality)
        form.addRow("", self.sidecar)
        form.addRow("", self.metadata)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.note)
        lay.addWidget(buttons)
        self._sync_format_from_path()
        self.format.currentIndexChanged.connect(self._on_format)
        self.path.textChanged.connect(self._sync_format_from_path)

    def _browse(self) -> None:
        ext = self.format.currentData()
        filters = ";;".join(f"{label} (*{e})" for e, label in FORMATS.items())
        chosen, _ = QFileDialog.getSaveFileName(self, "Save As", self.path.text(), filters, FORMATS[ext] + f" (*{ext})")
        if chosen:
            self.path.setText(chosen)

    def _on_format(self) -> None:
        ext = self.format.currentData()
        p = Path(self.path.text())
        if p.suffix.lower() != ext:
            self.path.blockSignals(True)
            self.path.setText(str(p.with_suffix(ext)))
            self.path.blockSignals(False)
        self._update_quality()

    def _sync_format_from_path(self) -> None:
        ext = Path(self.path.text()).suffix.lower()
        ext = {".jpeg": ".jpg", ".tiff": ".tif"}.get(ext, ext)
        i = self.format.findData(ext)
        if i >= 0:
            self.format.blockSignals(True)
            self.format.setCurrentIndex(i)
            self.format.blockSignals(False)
        self._update_quality()

    def _update_quality(self) -> None:
        lossy = self.format.currentData() in LOSSY
        self.quality.setEnabled(lossy)
        self.note.setText("" if lossy else "Lossless format: quality does not apply.")

    def set_path(self, path: Path) -> None:
        self.path.setText(str(path))

    def chosen_path(self) -> Path:
        p = Path(self.path.text()).expanduser()
        if p.suffix.lower() not in (*FORMATS, ".jpeg", ".tiff"):
            p = p.with_name(p.name + self.format.currentData())
        return p

    def accept(self) -> None:
        p = self.chosen_path()
        if not p.parent.is_dir():
            QMessageBox.warning(self, "Save As", f"The folder {p.parent} does not exist.")
            return
        if self.original is not None and p.exists() and p.resolve() == self.original.resolve():
            answer = QMessageBox.warning(
                self, "Overwrite the original?",
                f"{p.name} is the original photo. Replace it with the restored image? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return
        elif p.exists():
            answer = QMessageBox.question(self, "Replace file?", f"{p.name} exists. Replace it?",
                                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return
        super().accept()


class BatchDialog(QDialog):
    """Choose the folders and the output format; the current task settings are used."""

    def __init__(self, parent: QWidget | None, folder: str, params: TaskParams, has_mask: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch: restore a folder")
        self.setMinimumWidth(560)
        self.source = QLineEdit(folder)
        self.dest = QLineEdit(str(Path(folder) / "restored"))
        self.source.textChanged.connect(lambda t: self.dest.setText(str(Path(t) / "restored")))
        self.fmt = QComboBox()
        self.fmt.addItem("Same as each input", "same")
        for ext, label in FORMATS.items():
            self.fmt.addItem(label, ext)
        self.quality = QSpinBox()
        self.quality.setRange(50, 100)
        self.quality.setValue(95)
        self.sidecar = QCheckBox("Write the settings of each result beside it (.json)")
        self.sidecar.setChecked(True)
        form = QFormLayout()
        form.addRow("Photos in", self._with_browse(self.source))
        form.addRow("Results to", self._with_browse(self.dest))
        form.addRow("Format", self.fmt)
        form.addRow("Quality", self.quality)
        form.addRow("", self.sidecar)
        task = QLabel(f"Task: <b>{params.summary()}</b> with model <b>{params.model}</b>")
        task.setTextFormat(Qt.TextFormat.RichText)
        hint = ("Inpainting uses NAME_mask.png beside each photo where present, otherwise the current mask "
                "for photos of the same size; other photos are skipped." if params.task == "inpaint" else
                "Originals are never changed; results go to the output folder.")
        if params.task == "inpaint" and not has_mask:
            hint += " (The current mask is empty.)"
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(task)
        lay.addLayout(form)
        lay.addWidget(muted(hint))
        lay.addWidget(buttons)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        w = QWidget()
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        b = QPushButton("Browse…")
        b.clicked.connect(lambda: self._pick(edit))
        row.addWidget(b)
        return w

    def _pick(self, edit: QLineEdit) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if chosen:
            edit.setText(chosen)

    def accept(self) -> None:
        src, dst = Path(self.source.text()), Path(self.dest.text())
        if not src.is_dir():
            QMessageBox.warning(self, "Batch", f"{src} is not a folder.")
            return
        if dst.resolve() == src.resolve():
            QMessageBox.warning(self, "Batch", "Choose an output folder different from the input folder, "
                                               "so that no original can be overwritten.")
            return
        super().accept()
