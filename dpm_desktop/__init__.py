"""DPM Desktop: photo restoration with diffusion probabilistic models (Sohl-Dickstein et al. 2015)."""

__version__ = "0.1.0"
