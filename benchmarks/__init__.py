"""The benchmark suite of ``make bench``: DPM Desktop beside classical methods, on the same inputs.

Parts (each also runs alone, e.g. ``python -m benchmarks.denoise --quick``):
  denoise     Gaussian noise, sigma 15/25/50: ours vs CBM3D, non-local means, wavelet shrinkage
  inpaint     scratches, text, 64x64 holes: ours vs OpenCV Telea / Navier-Stokes, biharmonic
  likelihood  the bound K in bits/px beside the paper's Table 1
  speed       whole-process time, peak memory, training and sampling throughput
The packages these need (the ``bench`` extra) are never imported by the app or its tests.
"""
