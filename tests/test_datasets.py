"""Training data from real folders: scanning, splitting, crops, and what happens to broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import write_photo

from dpm_desktop.core.datasets import DatasetError, ImageFolder, SwissRoll, scan_folder, split_by_file


def test_scan_lists_every_skipped_file_with_its_reason(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.png", 64, 80)
    (tmp_path / "sub").mkdir()
    write_photo(tmp_path / "sub" / "b.jpg", 70, 90, mode="L")
    write_photo(tmp_path / "small.png", 20, 90)
    (tmp_path / "readme.txt").write_text("hi")
    (tmp_path / ".hidden.png").write_text("ignored")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    scan = scan_folder(tmp_path, 32)
    assert [p.name for p in scan.usable] == ["a.png", "b.jpg"]
    assert scan.grayscale == 1 and scan.sizes[str(tmp_path / "a.png")] == (80, 64)
    reasons = {p.name: why for p, why in scan.skipped}
    assert set(reasons) == {"small.png", "readme.txt", "cut.png"}
    assert "too small (90x20" in reasons["small.png"]
    assert "extension" in reasons["readme.txt"] and "truncated" in reasons["cut.png"]


def test_scan_refuses_a_missing_folder_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        scan_folder(tmp_path / "nope", 32)
    (tmp_path / "f.png").write_text("x")
    with pytest.raises(DatasetError, match="is not a folder"):
        scan_folder(tmp_path / "f.png", 32)


def test_split_is_deterministic_and_keeps_files_apart(tmp_path: Path) -> None:
    paths = [tmp_path / f"img{i:03d}.png" for i in range(200)]
    train, val = split_by_file(paths, tmp_path, 10)
    assert split_by_file(list(reversed(paths)), tmp_path, 10)[1] == sorted(val, key=paths.index)[::-1]
    assert not set(train) & set(val) and len(train) + len(val) == 200
    assert 5 <= len(val) <= 40
    assert split_by_file(paths[:2], tmp_path, 1)[1]  # small folders still keep one file apart
    assert split_by_file(paths[:1], tmp_path, 50) == (paths[:1], [])


@pytest.mark.parametrize("channels", [1, 3])
def test_crops_have_the_right_shape_range_and_channels(photo_folder: Path, channels: int) -> None:
    paths = sorted(photo_folder.glob("*.png"))
    ds = ImageFolder(paths, root=photo_folder, patch=32, channels=channels, seed=1)
    x = ds.sample(5)
    assert tuple(x.shape) == (5, channels, 32, 32)
    assert float(x.min()) >= -1 and float(x.max()) <= 1  # model space: (u - 0.5) * 2
    fixed = ds.fixed_patches(3, seed=9)
    np.testing.assert_array_equal(fixed.numpy(), ds.fixed_patches(3, seed=9).numpy())
    assert ds.describe()["channels"] == channels


def test_a_file_that_breaks_after_the_scan_is_skipped_until_none_is_left(tmp_path: Path) -> None:
    for i in range(2):
        write_photo(tmp_path / f"p{i}.png", 48, 48, seed=i)
    ds = ImageFolder(sorted(tmp_path.glob("*.png")), root=tmp_path, patch=32, channels=3)
    (tmp_path / "p0.png").write_text("gone bad")
    ds.sample(8)
    assert [p.name for p, _ in ds.failed] == ["p0.png"] and [p.name for p in ds.paths] == ["p1.png"]
    (tmp_path / "p1.png").write_text("also bad")
    ds.cache.clear()
    with pytest.raises(DatasetError, match="no readable images left"):
        ds.sample(1)


def test_swiss_roll_is_seeded_and_scaled() -> None:
    a, b = SwissRoll(3).sample(2000), SwissRoll(3).sample(2000)
    assert np.array_equal(a.numpy(), b.numpy()) and tuple(a.shape) == (2000, 2, 1, 1)
    var = float(a.view(2000, 2).var(dim=0).mean())
    assert var == pytest.approx(SwissRoll(0).describe()["summary"]["variance_per_dim"], rel=0.1)


@pytest.mark.parametrize("turns", [True, False])
def test_turns_can_be_switched_off_for_oriented_textures(tmp_path: Path, turns: bool) -> None:
    from PIL import Image

    stripes = np.zeros((96, 96), np.uint8)
    stripes[:, ::4] = 255  # vertical lines: constant down each column
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    ds = ImageFolder([tmp_path / "stripes.png"], root=tmp_path, patch=16, channels=1, min_scale=1.0, turns=turns)
    crops = ds.sample(64).numpy()[:, 0]
    vertical = np.abs(np.diff(crops, axis=1)).sum(axis=(1, 2)) == 0  # no change down the columns
    assert vertical.all() if not turns else 10 < vertical.sum() < 54


def test_dead_leaves_for_evaluation_are_distinct_patches() -> None:
    """`dpm eval --data deadleaves` and training validation draw n patches of a pool of n: with
    replacement about 37 % were repeats, understating the bound's standard error (issue 14 item 11)."""
    from dpm_desktop.core.datasets import DeadLeaves

    pool = DeadLeaves(16, seed=3, pool=64)
    x = pool.sample(64, replace=False).reshape(64, -1)
    assert len({bytes(r.numpy().tobytes()) for r in x}) == 64
    repeats = pool.sample(64).reshape(64, -1)
    assert len({bytes(r.numpy().tobytes()) for r in repeats}) < 60  # the training draw: with replacement
    with pytest.raises(ValueError, match="distinct"):
        pool.sample(65, replace=False)
