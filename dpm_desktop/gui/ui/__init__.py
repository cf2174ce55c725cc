"""Widgets. They read and change state through ``gui.model`` and start work through ``gui.workers``."""
