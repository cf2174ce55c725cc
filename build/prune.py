"""What the packaged app leaves out: files a user never needs. ``dpm_desktop.spec`` applies it.

Every rule is checked by ``build/check.sh`` (the frozen self-test offscreen and under X, and a
frozen training run). torch's own Python modules all stay, and so do their sources beside the
archive: torch imports far more of itself than a user would guess (``torch._dynamo``,
``torch._inductor``, ``sympy`` on a plain training step), and its config modules read their own
source at import (``torch.utils._config_module``), so a torch without ``.py`` files does not start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

# Never imported by the app, the CLI or the engine; PyInstaller's torch hook collects every torch
# submodule, and some of those import these when present.
EXCLUDED_MODULES = [
    "tkinter", "_tkinter", "pytest", "_pytest", "pluggy", "IPython", "matplotlib", "pandas", "scipy",
    "networkx", "jinja2", "expecttest", "hypothesis", "tensorboard", "onnx", "onnxruntime", "onnxscript",
    "triton", "setuptools", "pkg_resources", "pip",
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtSvg",
    # pyqtgraph (the wizard's curves) tries QtTest and QtSvg at import and runs without them (its
    # test helpers and SVG export, unused here). Not QtOpenGL nor QtOpenGLWidgets: pyqtgraph 0.14
    # imports both unconditionally (pyqtgraph.Qt.OpenGLHelpers), though it never draws with OpenGL here.
    "PySide6.QtTest",
]

# Qt plugins kept, by folder (None: the whole folder); every other plugin folder goes. Kept: the
# display servers (X11, Wayland; offscreen for headless runs), Wayland's window shell and
# decorations, the desktop portal (file dialogs in sandboxes and on KDE), compose keys and input
# methods, SVG icons of icon themes, and the image formats Qt itself may decode. Left out, among
# others: the GTK theme (it drags in cairo, pango and gdk-pixbuf, which must match the system's
# GTK to work), OpenGL integrations (the app paints with QPainter), eglfs/VNC/linuxfb, network,
# TLS, SQL and QML plugins.
QT_PLUGINS: dict[str, set[str] | None] = {
    "platforms": {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"},
    "platformthemes": {"libqxdgdesktopportal.so"},
    "platforminputcontexts": {"libcomposeplatforminputcontextplugin.so", "libibusplatforminputcontextplugin.so"},
    "wayland-shell-integration": {"libxdg-shell.so"},
    "wayland-decoration-client": None,
    "imageformats": {"libqgif.so", "libqico.so", "libqjpeg.so", "libqsvg.so"},
    "iconengines": None,
}
QT_PLUGIN_ROOT = "PySide6/Qt/plugins/"

# Collected files dropped by their path in the bundle: headers, build files, C++ test programs and
# test libraries, Qt's translations (the app is not translated), QML.
DROPPED = [
    "torch/include/*", "torch/share/*", "torch/test/*", "torch/bin/*", "torch/lib/*.a",
    "torch/lib/lib*test*.so", "torch/lib/libbackend_with_compiler.so", "torch/lib/libaoti_custom_ops.so",
    "PySide6/Qt/translations/*", "PySide6/Qt/qml/*", "PySide6/Qt/metatypes/*", "PySide6/typesystems/*",
    "PySide6/include/*", "PySide6/glue/*", "*.pyi", "*.h", "*.hpp", "*.cuh", "*.cmake",
]
# ... except the one torch program used at run time (tensors shared between processes).
KEPT = ["torch/bin/torch_shm_manager"]

# Libraries shipped with their symbol tables (libtorch_cpu alone: 89 MB of 434 MB), stripped to
# what dynamic linking needs. Never the libraries that auditwheel or Qt's packaging rewrote with
# patchelf (numpy.libs, pillow.libs, PySide6): strip can corrupt those.
STRIPPED = ["torch/lib/*.so*", "libpython*.so*"]


def keep(dest: str) -> bool:
    """Whether a file bound for ``dest`` (its path inside the bundle's ``_internal``) stays."""
    if any(fnmatchcase(dest, p) for p in KEPT):
        return True
    if any(fnmatchcase(dest, p) for p in DROPPED):
        return False
    if dest.startswith(QT_PLUGIN_ROOT):
        folder, _, name = dest[len(QT_PLUGIN_ROOT):].partition("/")
        wanted = QT_PLUGINS.get(folder, set())
        return wanted is None or name in wanted
    return True


def _dependency_only(dest: str) -> bool:
    """Libraries PyInstaller adds because another binary links them: the bundle's top level
    (system libraries) and Qt's own libraries."""
    # Python extension modules (pillow-heif's _pillow_heif.cpython-311-....so sits at the top level) are
    # loaded by import, never linked: they are not dependency-only, whatever links them.
    extension = ".cpython-" in dest or dest.endswith(".abi3.so")
    top_level = "/" not in dest and ".so" in dest and not dest.startswith("libpython") and not extension
    return top_level or dest.startswith("PySide6/Qt/lib/")


def unneeded_libraries(binaries: Iterable[tuple[str, str, str]], imports: Callable[[str], Iterable[str]]) -> set[str]:
    """The dependency-only libraries (see :func:`_dependency_only`) that no other kept binary links
    any more, directly or indirectly, once plugins were dropped. ``imports(path)`` lists what a
    binary links, transitively (PyInstaller's ``ldd``-based ``get_imports`` on Linux)."""
    entries = list(binaries)
    roots = [src for dest, src, _ in entries if not _dependency_only(dest)]
    needed = {PurePosixPath(name).name for src in roots for name in imports(src)}
    return {dest for dest, _, _ in entries if _dependency_only(dest) and PurePosixPath(dest).name not in needed}
