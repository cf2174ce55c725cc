"""The classical methods we compare against, each as ``f(input, ...) -> H x W x C float32 in [0, 1]``.

Denoisers get the true noise std (0-255 scale):
  CBM3D      ``bm3d.bm3d_rgb`` (``bm3d.bm3d`` for grayscale), default profile.
  NL-means   ``skimage.restoration.denoise_nl_means``, fast mode, with scikit-image's documented
             settings for that mode with a known sigma: 5x5 patches, 13x13 search, h = 0.6 sigma.
  wavelet    ``denoise_wavelet``, BayesShrink, soft thresholds, in YCbCr for colour (scikit-image
             converts the given sigma to that colour space).
Inpainters get the photo with the masked pixels set to 0 and the mask:
  Telea, Navier-Stokes   ``cv2.inpaint`` (radius 3) on the 8-bit photo, which is what the photos are.
  biharmonic             ``skimage.restoration.inpaint_biharmonic`` on floats.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _out(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    return np.clip(a if a.ndim == 3 else a[:, :, None], 0, 1)


def cbm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d

    if noisy.shape[2] == 3:
        return _out(bm3d.bm3d_rgb(noisy, sigma / 255))
    return _out(bm3d.bm3d(noisy[:, :, 0], sigma / 255))


def nl_means(noisy: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    s = sigma / 255
    return _out(denoise_nl_means(noisy, h=0.6 * s, sigma=s, fast_mode=True, patch_size=5, patch_distance=6,
                                 channel_axis=-1))


def wavelet(noisy: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_wavelet

    out = denoise_wavelet(noisy, sigma=sigma / 255, method="BayesShrink", mode="soft", rescale_sigma=True,
                          convert2ycbcr=noisy.shape[2] == 3, channel_axis=-1)
    return _out(out)


DENOISERS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "CBM3D": cbm3d, "NL-means": nl_means, "wavelet": wavelet,
}


def _cv2_inpaint(image: np.ndarray, mask: np.ndarray, flag: int) -> np.ndarray:
    import cv2

    u8 = np.round(image * 255).astype(np.uint8)
    out = cv2.inpaint(u8[:, :, 0] if u8.shape[2] == 1 else u8, mask.astype(np.uint8) * 255, 3, flag)
    return _out(out.astype(np.float32) / 255)


def telea(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    return _cv2_inpaint(image, mask, cv2.INPAINT_TELEA)


def navier_stokes(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    return _cv2_inpaint(image, mask, cv2.INPAINT_NS)


def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    return _out(inpaint_biharmonic(image, mask, channel_axis=-1))


def _xphoto(image: np.ndarray, mask: np.ndarray, flag: int) -> np.ndarray:
    """OpenCV-contrib's patch-based fills (xphoto.inpaint); its mask marks the *known* pixels."""
    import cv2

    u8 = np.ascontiguousarray(np.round(image * 255).astype(np.uint8))  # a strided view reads as garbage
    src = np.ascontiguousarray(u8[:, :, 0]) if u8.shape[2] == 1 else u8
    dst = np.zeros_like(src)
    cv2.xphoto.inpaint(src, np.ascontiguousarray((~mask).astype(np.uint8) * 255), dst, flag)
    return _out(dst.astype(np.float32) / 255)


def fsr_fast(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    return _xphoto(image, mask, cv2.xphoto.INPAINT_FSR_FAST)


def fsr_best(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    return _xphoto(image, mask, cv2.xphoto.INPAINT_FSR_BEST)


def shiftmap(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    return _xphoto(image, mask, cv2.xphoto.INPAINT_SHIFTMAP)


INPAINTERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "OpenCV Telea": telea, "OpenCV Navier-Stokes": navier_stokes, "biharmonic": biharmonic,
}
# Patch-based fills (as GIMP's heal), stronger than Telea / Navier-Stokes; FSR best is slow (~40 s for
# one 96 px hole in a 512 px photo), so the object-removal part runs it on holes only.
PATCH_INPAINTERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "OpenCV FSR fast": fsr_fast, "OpenCV ShiftMap": shiftmap, "OpenCV FSR best": fsr_best,
}
