"""Every command of the window as a QAction with its shortcut, so menus, toolbars, panel buttons
and the keyboard all trigger the same thing."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from .icons import icon

StdKey = QKeySequence.StandardKey

# key: (text, shortcut(s), icon, checkable, tooltip)
SPECS: dict[str, tuple[str, list, str | None, bool, str]] = {
    "open": ("&Open…", [StdKey.Open], "open", False, "Open a photo"),
    "save": ("&Save", [StdKey.Save], "save", False, "Save (the first save asks where: the original is kept)"),
    "save_as": ("Save &As…", [StdKey.SaveAs, "Ctrl+Shift+S"], None, False, "Save under a new name and format"),
    "export_mask": ("&Export Mask…", ["Ctrl+Shift+E"], None, False, "Save the mask as a black-and-white PNG"),
    "batch": ("&Batch…", ["Ctrl+B"], "batch", False, "Apply the current task to a folder of photos"),
    "import_model": ("Import checkpoint…", [], None, False,
                     "Add a trained model (a safetensors checkpoint with its model.json)"),
    "quit": ("&Quit", [StdKey.Quit, "Ctrl+Q"], None, False, "Quit"),
    "undo": ("&Undo", [StdKey.Undo], "undo", False, "Undo"),
    "redo": ("&Redo", [StdKey.Redo, "Ctrl+Shift+Z"], "redo", False, "Redo"),
    "tool_brush": ("&Brush", ["B"], "brush", True, "Brush: paint the area to restore (B); Alt paints as eraser"),
    "tool_eraser": ("&Eraser", ["E"], "eraser", True, "Eraser: remove mask (E)"),
    "tool_rect": ("&Rectangle", ["M"], "rect", True, "Rectangle: drag to add a box to the mask (M); Alt removes"),
    "tool_lasso": ("&Lasso", ["L"], "lasso", True, "Lasso: draw around an area to add it (L); Alt removes"),
    "tool_pan": ("&Hand", ["H"], "pan", True, "Hand: drag to pan (H); or hold Space, or use the middle button"),
    "brush_smaller": ("Smaller Brush", ["["], None, False, "Smaller brush ([)"),
    "brush_bigger": ("Bigger Brush", ["]"], None, False, "Bigger brush (])"),
    "brush_softer": ("Softer Brush", ["{", "Shift+["], None, False, "Softer brush edge (Shift+[)"),
    "brush_harder": ("Harder Brush", ["}", "Shift+]"], None, False, "Harder brush edge (Shift+])"),
    "mask_clear": ("Clear", ["Ctrl+D"], None, False, "Clear the mask (Ctrl+D)"),
    "mask_invert": ("Invert", ["Ctrl+Shift+I"], None, False, "Invert the mask (Ctrl+Shift+I)"),
    "mask_grow": ("Grow", [], None, False, "Grow the mask's edge outwards"),
    "mask_shrink": ("Shrink", [], None, False, "Shrink the mask's edge inwards"),
    "mask_load": ("Load…", [], None, False, "Load a mask from an image file of the same size (white = fill)"),
    "mask_export": ("Export…", [], None, False, "Save the mask as a black-and-white PNG"),
    "find_defects": ("Find &Defects", ["Ctrl+Shift+D"], None, False,
                     "Propose a mask of scratches, dust and spots: the pixels that look like damage to the defect "
                     "detector and that the photo model finds improbable (Ctrl+Shift+D). Review it with the brush "
                     "and eraser, then inpaint. Work in progress"),
    "anomaly_map": ("Show &Anomaly Map", ["A"], None, True,
                    "Overlay how improbable each pixel looks to the detector, brightest at the sensitivity's "
                    "cut (after Find Defects; A)"),
    "show_mask": ("Show &Mask", ["Q"], "mask", True, "Show the mask overlay (Q)"),
    "zoom_in": ("Zoom &In", [StdKey.ZoomIn, "Ctrl+="], None, False, "Zoom in"),
    "zoom_out": ("Zoom &Out", [StdKey.ZoomOut], None, False, "Zoom out"),
    "zoom_fit": ("&Fit", ["Ctrl+0"], "fit", False, "Fit the photo in the window (Ctrl+0)"),
    "zoom_100": ("&100%", ["Ctrl+1"], "actual", False, "Actual pixels (Ctrl+1)"),
    "view_split": ("&Split Before/After", ["Y"], "compare", False, "Compare with a divider (Y)"),
    "view_toggle": ("&Toggle Before/After", ["\\"], None, False, "Flip between before and after (\\)"),
    "uncertainty": ("&Uncertainty Map", ["U"], None, True, "Overlay where the model is unsure (U)"),
    "run": ("&Run", ["Ctrl+R"], "run", False, "Run the task (Ctrl+R)"),
    "cancel": ("&Cancel Run", ["Esc"], "stop", False, "Stop the run (Esc)"),
    "apply": ("&Apply Result", ["Ctrl+Return", "Ctrl+Enter"], None, False,
              "Make the result the current image (Ctrl+Enter)"),
    "discard": ("&Discard Result", ["Ctrl+Backspace"], None, False, "Drop the result"),
    "shortcuts": ("&Keyboard Shortcuts", ["F1"], None, False, "List the keyboard shortcuts"),
    "about": ("&About DPM Desktop", [], None, False, "About"),
}


def build_actions(parent: QWidget) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}
    for key, (text, keys, icon_name, checkable, tip) in SPECS.items():
        a = QAction(text, parent)
        if keys:
            seqs: list[QKeySequence] = []
            for k in keys:
                seqs += QKeySequence.keyBindings(k) if isinstance(k, StdKey) else [QKeySequence(k)]
            uniq = []
            for s in seqs:
                if not s.isEmpty() and s not in uniq:
                    uniq.append(s)
            a.setShortcuts(uniq)
        if icon_name:
            a.setIcon(icon(icon_name))
        a.setCheckable(checkable)
        a.setToolTip(tip)
        a.setStatusTip(tip)
        parent.addAction(a)  # shortcuts work wherever the focus is in the window
        actions[key] = a
    return actions


def shortcut_table(actions: dict[str, QAction]) -> str:
    pairs = []
    for a in actions.values():
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in a.shortcuts())
        if keys:
            pairs.append((a.text().replace("&", ""), keys))
    pairs += [("Pan", "Space-drag, middle button"), ("Zoom at the cursor", "Mouse wheel")]
    rows = "".join(f"<tr><td style='padding-right:18px'>{what}</td><td><b>{keys}</b></td></tr>" for what, keys in pairs)
    return f"<table>{rows}</table>"
