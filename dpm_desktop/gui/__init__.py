"""The PySide6 desktop application.

Layout (after Acly/krita-ai-diffusion): ``model/`` holds observable state (the document, its mask,
undo stack, settings), ``workers/`` runs restorations off the GUI thread, ``ui/`` holds widgets
only. Nothing here does diffusion maths: every restoration goes through :mod:`dpm_desktop.core`.
"""
