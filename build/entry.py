"""Frozen entry point of both executables (PyInstaller runs this file as __main__): ``dpm``, a
link to ``dpm-desktop`` in the same folder, runs the command line; any other name the desktop app."""

import sys
from pathlib import Path

if Path(sys.argv[0]).name == "dpm":
    from dpm_desktop.cli import main
else:
    from dpm_desktop.gui.app import main

sys.exit(main())
