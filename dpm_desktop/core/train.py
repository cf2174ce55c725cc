"""The trainer: one loop for the Swiss roll, dead leaves and photo folders; CPU, CUDA or MPS;
one process or many (DDP under torchrun).

A run folder holds ``settings.json``, ``progress.jsonl`` (every event), ``latest.json`` (which
state folder is current) and ``state-NNNNNNN/`` folders, each a complete, loadable checkpoint
(EMA weights, ``model.safetensors`` + ``model.json``) plus ``train_state.safetensors`` /
``train_state.json`` (raw weights, optimizer, RNG, step). A state folder is written completely
before ``latest.json`` points at it, so a crash or a full disk never loses the previous one.

Events (``progress.jsonl``, and ``dpm train --progress jsonl`` on stdout), one JSON object each with
``event`` and ``time``: ``start`` (settings, data summary, skipped files), ``resumed``, ``step``
(every 20 steps: loss, lr, images/s, ETA), ``val`` (bound K, PSNR, preview), ``checkpoint``
(path), ``stopped`` (SIGINT / SIGTERM: a checkpoint follows), ``done`` (path, metrics; with DDP
the sha256 of every rank's final weights), and from the CLI ``error`` (message).

SIGINT and SIGTERM stop the run after the current step, on every rank, and save a checkpoint.
Under DDP the launcher (``dpm train --nproc N``) asks by creating the file ``STOP`` in the run folder,
which every rank checks each step: torchrun's own signal handling would end the workers' processes
with a traceback instead. A single process honours the same file (and removes it once it has
stopped): the desktop app's training wizard stops its child trainer that way on every platform,
since Windows cannot send SIGTERM to a console child. Started by the app (``DPM_TRAIN_PARENT_PID``),
the trainer also stops with a checkpoint if the app dies (POSIX).
``--resume`` continues a single-process run exactly (weights, EMA, optimizer, every random
stream); under DDP, ranks other than 0 continue with fresh random streams seeded by the step.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from .checkpoint import (
    CheckpointError,
    atomic_write_json,
    build_metadata,
    load_checkpoint,
    save_checkpoint,
    save_tensors_atomic,
)
from .datasets import DatasetError as DatasetError
from .datasets import DeadLeaves, ImageFolder, SwissRoll, scan_folder, split_by_file
from .device import autocast_for, cpu_supports_bf16, pick_device
from .diffusion import DiffusionConfig, GaussianDiffusion, tril_size
from .fine_tune import FineTuneStart, start_from
from .networks import build_network
from .presets import network_settings
from .timestep_sampling import make_timestep_sampler
from .train_config import TrainConfig, TrainError
from .validation import measure_data_std, preview_grid, validate

EventSink = Callable[[dict[str, Any]], None]
STOP_FILE = "STOP"
PARENT_ENV = "DPM_TRAIN_PARENT_PID"  # set by the desktop app: if it dies, stop with a checkpoint


# ------------------------------------------------------------------------------------------------
def build_dataset(cfg: TrainConfig, rank: int = 0) -> tuple[Any, Any, dict[str, Any]]:
    """(train set, validation set, notes) for the configured data."""
    seed = cfg.seed + 1000 * rank
    if cfg.data == "swissroll":
        return SwissRoll(seed), SwissRoll(seed + 999_983), {}
    if cfg.data == "deadleaves":
        return DeadLeaves(cfg.patch, seed, pool=8000), DeadLeaves(cfg.patch, 999_983, pool=max(cfg.val_count, 64)), {}
    root = Path(cfg.data).expanduser()
    scan = scan_folder(root, cfg.patch)
    if not scan.usable:
        reasons = "; ".join(f"{p.name}: {r}" for p, r in scan.skipped[:5]) or "the folder is empty"
        raise DatasetError(f"{root}: no usable images ({len(scan.skipped)} files skipped: {reasons})")
    train_paths, val_paths = split_by_file(scan.usable, root, cfg.val_percent)
    kw = {"root": root, "patch": cfg.patch, "channels": cfg.channels, "min_scale": cfg.min_scale, "turns": cfg.turns}
    train = ImageFolder(train_paths, seed=seed, **kw)
    val = ImageFolder(val_paths or train_paths, seed=999_983, **kw)
    notes = {"usable": len(scan.usable), "train_files": len(train_paths), "val_files": len(val_paths),
             "skipped": [[str(p), r] for p, r in scan.skipped]}
    return train, val, notes


def build_model(cfg: TrainConfig, data_kind: str, channels: int) -> GaussianDiffusion:
    settings = network_settings(cfg.arch, cfg.preset, data_kind)
    settings.update(cfg.network)
    settings.update({"channels": channels, "T": cfg.T})
    if cfg.covariance == "channels":
        settings["extra_outputs"] = tril_size(channels)
    net = build_network(cfg.arch, settings)
    dcfg = DiffusionConfig(T=cfg.T, schedule=cfg.schedule, step1_beta=cfg.step1_beta, learn_betas=cfg.learn_betas,
                           parameterisation=cfg.parameterisation, covariance=cfg.covariance,
                           z_sigma_sqrt_T=cfg.z_sigma_sqrt_T)
    return GaussianDiffusion(net, dcfg)


def warmup_cosine(step: int, progress: float, warmup: int, min_factor: float | None) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_factor`` at progress 1
    (None: no decay)."""
    warm = min(1.0, (step + 1) / max(warmup, 1))
    if min_factor is None:
        return warm
    p = min(max(progress, 0.0), 1.0)
    return warm * (min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * p)))


def lr_factor(cfg: TrainConfig, progress: float, step: int) -> float:
    return warmup_cosine(step, progress, cfg.warmup, None if cfg.lr_decay == "none" else cfg.lr_min_factor)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(pm.detach(), 1 - decay)


# ------------------------------------------------------------------------------------------------
class StopRequested(Exception):
    pass


class Trainer:
    def __init__(self, cfg: TrainConfig, *, events: EventSink | None = None, resume: bool = False,
                 given: set[str] | None = None) -> None:
        """``given`` (with ``resume``): the settings the user passed explicitly. Those that may change
        on resume (RESUMABLE) are applied and reported; any other that differs from the run's own is
        refused. Without it, every field that differs from TrainConfig's default counts as given."""
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.run_dir = Path(cfg.out)
        self.resume = resume
        self.changed: dict[str, list[Any]] = {}
        if resume:
            cfg = self._resumed_config(cfg, given)
        self.z_sigma_given = cfg.z_sigma_sqrt_T is not None
        self.cfg = cfg.resolved()
        self.events = events or (lambda e: None)
        self.stop_requested = False
        self.owns_process_group = False
        self._check_run_dir()
        try:
            self._build()
            # A resumed run is loaded here; the run folder is written only by run().
            self.resumed_from = self._find_state()
        except BaseException:
            self._leave_process_group()
            raise

    RESUMABLE = ("steps", "minutes", "device", "checkpoint_every", "val_every", "threads")

    def _resumed_config(self, cfg: TrainConfig, given: set[str] | None) -> TrainConfig:
        saved = self.run_dir / "settings.json"
        if not saved.is_file():
            raise TrainError(f"{self.run_dir}: nothing to resume (no settings.json)")
        try:
            saved_settings = json.loads(saved.read_text())
            base = TrainConfig(**_tuple_fix(saved_settings))
        except (OSError, ValueError, TypeError) as e:
            raise TrainError(f"{saved}: unreadable run settings ({e})") from None
        if "z_sigma_sqrt_T" not in saved_settings:  # a run begun before the field: its model is unscaled
            base.z_sigma_sqrt_T = False
        default = TrainConfig()
        if given is None:
            given = {k for k in asdict(cfg) if getattr(cfg, k) != getattr(default, k)}
        given = given - {"out", "init_from"}
        for key in sorted(given):
            new, old = getattr(cfg, key), getattr(base, key)
            if key == "data" and new and old and Path(new).expanduser().resolve() == Path(old).expanduser().resolve():
                continue
            if new == old:
                continue
            if key in self.RESUMABLE:
                self.changed[key] = [old, new]
                setattr(base, key, new)
                if key == "steps":
                    base.minutes = None
                elif key == "minutes":
                    base.steps = None
            else:
                flag = "--" + key.replace("_", "-")
                raise TrainError(f"--resume continues the run with its own settings, but {flag} {new} differs from "
                                 f"the run's {old!r}; leave {flag} out, or start a new run with another --out")
        return base

    # -- events --------------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        if self.rank != 0:
            return
        record = {"event": event, "time": time.time(), **fields}
        with contextlib.suppress(OSError), open(self.run_dir / "progress.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        with contextlib.suppress(BrokenPipeError):  # the reader of --progress jsonl died; progress.jsonl has it
            self.events(record)

    def request_stop(self, *_: Any) -> None:
        self.stop_requested = True

    # -- state ---------------------------------------------------------------------------------
    def _state_dirs(self) -> list[Path]:
        return sorted(self.run_dir.glob("state-*"))

    def _latest_state(self) -> Path | None:
        folder, self.state_notes = latest_intact_state(self.run_dir)
        return folder

    def save_state(self) -> Path:
        """Write a complete state folder, then point latest.json at it; drop the oldest."""
        folder = self.run_dir / f"state-{self.step:07d}"
        tmp = self.run_dir / f".tmp-state-{self.step:07d}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            meta = self.metadata()
            save_checkpoint(self.ema, meta, tmp)
            tensors = {f"model.{k}": v for k, v in self.raw_model.state_dict().items()}
            opt = self.optimizer.state_dict()
            for idx, st in opt["state"].items():
                for key, val in st.items():
                    tensors[f"opt.{idx}.{key}"] = val if torch.is_tensor(val) else torch.tensor(val)
            tensors.update(self.t_sampler.state())
            tensors["rng.torch"] = torch.get_rng_state()
            tensors["rng.t_gen"] = self.t_gen.get_state()
            if self.device.type == "cuda":
                tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
            save_tensors_atomic(tensors, tmp / "train_state.safetensors")
            state = {
                "step": self.step,
                "elapsed_s": self.elapsed(),
                "cpu_s": self.cpu_seconds(),
                "param_groups": opt["param_groups"],
                "data_rng": _rng_state(self.train_set),
                "history": self.history[-2000:],
            }
            atomic_write_json(tmp / "train_state.json", state)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
            atomic_write_json(self.run_dir / "latest.json", {"state": folder.name, "step": self.step})
        except (OSError, CheckpointError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            prev = self._latest_state()
            kept = f"; the previous checkpoint {prev.name} is intact" if prev else "; no earlier checkpoint exists"
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            where = f" ({e.filename})" if isinstance(e, OSError) and e.filename else ""
            raise TrainError(f"could not write the checkpoint for step {self.step} in {self.run_dir}{where}: "
                             f"{why} (the partial state was removed){kept}") from None
        for old in self._state_dirs()[: -self.cfg.keep_states]:
            shutil.rmtree(old, ignore_errors=True)
        self.emit("checkpoint", step=self.step, path=str(folder))
        return folder

    def metadata(self) -> dict[str, Any]:
        training = {"steps": self.step, "wall_time_s": round(self.elapsed(), 1), "device": str(self.device),
                    "world_size": self.world, "settings": _jsonable(asdict(self.cfg)),
                    "torch": torch.__version__, "amp": self.amp_name}
        return build_metadata(self.ema, name=self.cfg.name, data=self.data_desc, training=training,
                              metrics=self.last_metrics)

    def load_state(self, folder: Path) -> None:
        state = json.loads((folder / "train_state.json").read_text())
        tensors = load_file(str(folder / "train_state.safetensors"))
        self.raw_model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        ema = load_checkpoint(folder, device=self.device)
        self.ema.load_state_dict(ema.diffusion.state_dict())
        self._load_optimizer(tensors, param_groups=state["param_groups"])
        self.t_sampler.load(tensors)
        torch.set_rng_state(tensors["rng.torch"])
        self.t_gen.set_state(tensors["rng.t_gen"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        _set_rng_state(self.train_set, state["data_rng"])
        self.step = int(state["step"])
        if self.rank > 0:  # the saved streams are rank 0's: other ranks must not replay them
            self._reseed(1_000_003 * self.step + 7919 * self.rank)
        self.elapsed_before = float(state["elapsed_s"])
        self.cpu_before = float(state.get("cpu_s", 0.0))
        self.history = state.get("history", [])

    def _load_optimizer(self, tensors: dict[str, torch.Tensor], *, param_groups: list[dict[str, Any]] | None = None,
                        strict: bool = True) -> None:
        """The optimizer's moments from ``opt.<index>.<key>`` tensors. Not ``strict`` (a continued
        state): moments whose shapes do not fit are left out and those parameters start afresh."""
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, key = k.split(".", 2)
                opt_state.setdefault(int(idx), {})[key] = v
        if not strict:
            opt_state = {i: st for i, st in opt_state.items() if i < len(params)
                         and all(v.shape == params[i].shape for key, v in st.items() if key != "step")}
            for st in opt_state.values():  # a saved state may leave out the first moment (re-learnt in ~10 steps)
                if "exp_avg_sq" in st and "exp_avg" not in st:
                    st["exp_avg"] = torch.zeros_like(st["exp_avg_sq"])
        groups = param_groups if param_groups is not None else self.optimizer.state_dict()["param_groups"]
        self.optimizer.load_state_dict({"state": opt_state, "param_groups": groups})

    def _keep_z_sigma_form(self, init_cfg: DiffusionConfig) -> None:
        """A fine-tune keeps the z_sigma form of the model it starts from (the same weights under the
        other form would give another variance); asking for the other form explicitly is refused."""
        want = init_cfg.z_sigma_sqrt_T
        if self.cfg.parameterisation != "paper" or init_cfg.parameterisation != "paper" \
                or self.raw_model.cfg.z_sigma_sqrt_T == want:
            return
        if self.z_sigma_given:
            have = "divides" if want else "does not divide"
            raise TrainError(f"--init-from {self.cfg.init_from}: that model {have} z_sigma by sqrt(T), and a "
                             "fine-tune keeps its form; leave --z-sigma-sqrt-t / --no-z-sigma-sqrt-t out")
        self.cfg.z_sigma_sqrt_T = want
        self.raw_model.cfg.z_sigma_sqrt_T = want

    def _reseed(self, salt: int) -> None:
        seed = self.cfg.seed + salt
        torch.manual_seed(seed)
        self.t_gen.manual_seed(seed + 1)
        if getattr(self.train_set, "rng", None) is not None:
            self.train_set.rng = np.random.default_rng(seed + 2)

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.t0)

    def cpu_seconds(self) -> float:
        """CPU time of all threads over the whole run (resumes included): the compute ledger's
        thread-seconds, which wall time overstates when the trainer yields to other work."""
        return self.cpu_before + (time.process_time() - self.cpu_t0)

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        """Device (and DDP process group), data, network, EMA, optimizer, t sampler, validation batch."""
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device)
        if self.world > 1:
            import torch.distributed as dist

            backend = "nccl" if self.device.type == "cuda" else "gloo"
            if not dist.is_initialized():
                dist.init_process_group(backend)
                self.owns_process_group = True
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
        self.autocast = autocast_for(self.device, cfg.amp)
        self.amp_name = "bf16" if self.autocast is not contextlib.nullcontext else "off"
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.train_set, self.val_set, self.data_notes = build_dataset(cfg, self.rank)
        kind = cfg.data_kind()
        channels = 2 if kind == "swissroll" else (1 if kind == "deadleaves" else cfg.channels)
        self.data_desc = self.train_set.describe()
        if kind == "folder":
            self.data_desc["data_std"] = measure_data_std(self.val_set)
            self.data_desc["summary"].update({k: v for k, v in self.data_notes.items() if k != "skipped"})
            self.data_desc["summary"]["skipped"] = len(self.data_notes.get("skipped", []))
        self.raw_model = build_model(cfg, kind, channels).to(self.device)
        start = FineTuneStart()
        if cfg.init_from:
            start = start_from(cfg.init_from, self.raw_model)
            self._keep_z_sigma_form(start.source_cfg)
        if cfg.arch == "unet" and self.device.type == "cpu":
            # Channels-last convolutions: measured 1.2-1.7x faster training steps on CPU (campaign_select speed).
            self.raw_model.to(memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.raw_model).eval().requires_grad_(False)
        if start.ema is not None:  # the EMA continues as well, not restarted from the raw weights
            self.ema.load_state_dict(start.ema)
        self.model: torch.nn.Module = self.raw_model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.raw_model, device_ids=ids)
        self.optimizer = torch.optim.AdamW(self.raw_model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        if start.optimizer:
            self._load_optimizer(start.optimizer, strict=False)
        self.t_gen = torch.Generator().manual_seed(cfg.seed + 17 * self.rank)
        sig = tuple(s / 255 * self.data_desc["scale"] for s in cfg.restoration_sigma)
        self.t_sampler = make_timestep_sampler(cfg.t_sampling, self.raw_model, sig, cfg.restoration_share)
        self.val_batch = self._val_batch()
        self.step, self.elapsed_before, self.cpu_before, self.history = 0, 0.0, 0.0, []
        self.cpu_t0 = time.process_time()
        self.last_metrics: dict[str, Any] = {}
        self.t0 = time.monotonic()

    def _val_batch(self) -> torch.Tensor:
        if hasattr(self.val_set, "fixed_patches"):
            return self.val_set.fixed_patches(self.cfg.val_count, seed=77)
        if isinstance(self.val_set, DeadLeaves):  # distinct patches: repeats would understate the error
            return self.val_set.sample(self.cfg.val_count, replace=False)
        return self.val_set.sample(self.cfg.val_count if self.cfg.data != "swissroll" else 4096)

    def _check_run_dir(self) -> None:
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise TrainError(f"--out {self.run_dir}: is a file; the run folder must be a folder")
        if self.cfg.data_kind() == "folder":
            data = Path(self.cfg.data).expanduser().resolve()
            out = self.run_dir.expanduser().resolve()
            if out == data or data in out.parents:
                raise TrainError(f"--out {self.run_dir}: lies inside the training data {self.cfg.data}; "
                                 "checkpoints and previews would be read as photos. Choose a folder outside it")

    def _find_state(self) -> Path | None:
        """With --resume, load the newest intact state and return its folder; a new run must not
        find one."""
        latest = self._latest_state()
        if self.resume:
            if latest is None:
                damaged = "; ".join(self.state_notes)
                raise TrainError(f"{self.run_dir}: no intact checkpoint to resume from"
                                 + (f" ({damaged})" if damaged else ""))
            self.load_state(latest)
            return latest
        if latest is not None:
            raise TrainError(f"{self.run_dir} already holds a run (step {self._latest_step()});"
                             " use --resume to continue it or choose another --out")
        return None

    def _open_run_dir(self) -> None:
        """Create the run folder and write a new run's settings, or report the resume (rank 0 writes)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.resumed_from is not None:
            self.emit("resumed", step=self.step, path=str(self.resumed_from), skipped=self.state_notes,
                      changed=self.changed)
        elif self.rank == 0:
            atomic_write_json(self.run_dir / "settings.json", _jsonable(asdict(self.cfg)))

    def total_steps(self) -> int | None:
        return self.cfg.steps

    def progress_fraction(self) -> float:
        if self.cfg.steps:
            return self.step / self.cfg.steps
        return self.elapsed() / (60 * self.cfg.minutes)

    def done(self) -> bool:
        if self.cfg.steps is not None:
            return self.step >= self.cfg.steps
        return self.elapsed() >= 60 * self.cfg.minutes

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        x0 = self.train_set.sample(cfg.batch).to(self.device)
        t, w = self.t_sampler.draw(x0.shape[0], self.t_gen)
        for g in self.optimizer.param_groups:
            g["lr"] = cfg.lr * lr_factor(cfg, self.progress_fraction(), self.step)
        with self.autocast():
            out = self.model(x0, t.to(self.device), objective=cfg.objective, t_weight=w.to(self.device))
        self.t_sampler.update(t, out.pop("kl_items"))
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise TrainError(f"the loss became {float(loss)} at step {self.step}; lower --lr or check the data")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
        ema_update(self.ema, self.raw_model, decay)
        self.step += 1
        return {k: float(v.detach()) for k, v in out.items()} | {"grad_norm": float(gnorm)}

    def run(self) -> Path:
        try:
            self._open_run_dir()
            folder = self._train()
            if self.owns_process_group:
                import torch.distributed as dist

                dist.barrier()  # without it, gloo often aborts one process at exit ("terminate called ...")
            return folder
        finally:
            self._leave_process_group()

    def _leave_process_group(self) -> None:
        if self.owns_process_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.owns_process_group = False

    def _train(self) -> Path:
        handlers = {}
        if _main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    handlers[sig] = signal.signal(sig, self.request_stop)
        self.emit("start", step=self.step, total=self.cfg.steps, minutes=self.cfg.minutes, device=str(self.device),
                  amp=self.amp_name, native_bf16=self.device.type != "cpu" or cpu_supports_bf16(),
                  threads=torch.get_num_threads(), params=sum(p.numel() for p in self.raw_model.parameters()),
                  data=self.data_desc["summary"], channels=self.data_desc["channels"],
                  skipped=self.data_notes.get("skipped", []), run_dir=str(self.run_dir))
        last_folder = self._latest_state()
        try:
            window_t, window_n, losses = time.monotonic(), 0, []
            while True:
                asked = self.stop_requested or (self.run_dir / STOP_FILE).exists() or _parent_gone()
                finished, stop = self._agree(self.done(), asked)
                if finished:
                    break
                if stop:
                    self.stop_requested = True
                    if self.world == 1:  # consumed: a later --resume must not stop at once
                        (self.run_dir / STOP_FILE).unlink(missing_ok=True)
                    self.emit("stopped", step=self.step)
                    break
                metrics = self.train_step()
                losses.append(metrics["loss"])
                window_n += self.cfg.batch * self.world
                if self.step % 20 == 0 or self.done():
                    now = time.monotonic()
                    ips = window_n / max(now - window_t, 1e-9)
                    window_t, window_n = now, 0
                    eta = self._eta(ips)
                    rec = {"loss": float(np.mean(losses)), "lr": self.optimizer.param_groups[0]["lr"],
                           "images_per_s": round(ips, 2), "eta_s": eta, "elapsed_s": round(self.elapsed(), 1),
                           "cpu_s": round(self.cpu_seconds(), 1),
                           **{k: v for k, v in metrics.items() if k != "loss"}}
                    losses = []
                    self.history.append({"step": self.step, "loss": rec["loss"]})
                    self.emit("step", total=self.cfg.steps, **rec, step=self.step)
                if self.step % self.cfg.val_every == 0 or self.done():
                    self._validate()
                if self.rank == 0 and (self.step % self.cfg.checkpoint_every == 0 or self.done()):
                    last_folder = self.save_state()
            if self.rank == 0 and (last_folder is None or self._latest_step() != self.step):
                last_folder = self.save_state()
        finally:
            for sig, h in handlers.items():
                signal.signal(sig, h)
        replicas = self._replica_checksums()
        self.emit("done", step=self.step, path=str(last_folder), wall_time_s=round(self.elapsed(), 1),
                  stopped=self.stop_requested, metrics=self.last_metrics,
                  **({"rank_weights_sha256": replicas} if replicas else {}))
        if replicas and len(set(replicas)) > 1:
            raise TrainError(f"the {self.world} processes ended with different weights ({replicas}); "
                             "the saved checkpoint is rank 0's")
        return last_folder

    def _latest_step(self) -> int | None:
        with contextlib.suppress(OSError, json.JSONDecodeError, KeyError):
            return int(json.loads((self.run_dir / "latest.json").read_text())["step"])
        return None

    def _agree(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag true on any rank is true on all (a stop request, a time budget spent), so that
        every rank leaves the loop at the same step."""
        if self.world == 1:
            return flags
        import torch.distributed as dist

        t = torch.tensor([float(f) for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return tuple(bool(v > 0) for v in t.tolist())

    def _replica_checksums(self) -> list[str] | None:
        """With DDP, the sha256 of every rank's final raw and EMA weights (gathered on all ranks)."""
        if self.world == 1:
            return None
        import hashlib

        import torch.distributed as dist

        h = hashlib.sha256()
        for module in (self.raw_model, self.ema):
            for name, tensor in sorted(module.state_dict().items()):
                h.update(name.encode())
                h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, h.hexdigest())
        return [str(x) for x in out]

    def _eta(self, ips: float) -> float | None:
        if self.cfg.steps:
            return round((self.cfg.steps - self.step) * self.cfg.batch * self.world / max(ips, 1e-9), 1)
        return round(max(0.0, 60 * self.cfg.minutes - self.elapsed()), 1)

    def _validate(self) -> None:
        if self.rank != 0:
            return
        m = validate(self.ema, self.val_batch, self.data_desc, self.device, self.autocast)
        self.last_metrics = {k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}
        self.last_metrics["at_step"] = self.step
        preview = self._preview()
        self.emit("val", step=self.step, **m, channels=self.data_desc["channels"],
                  preview=str(preview) if preview else None)

    def _preview(self) -> Path | None:
        """noisy | denoised | clean for validation patches, as a PNG for the wizard."""
        if self.data_desc["kind"] != "image":
            return None
        from .imaging import save_image

        u = preview_grid(self.ema, self.val_batch[:4].to(self.device), self.data_desc, self.autocast)
        path = self.run_dir / "preview.png"
        try:
            save_image(path, u)
        except Exception:
            return None
        return path


def _rng_state(dataset: Any) -> Any:
    rng = getattr(dataset, "rng", None)
    return rng.bit_generator.state if rng is not None else None


def _set_rng_state(dataset: Any, state: Any) -> None:
    if state is not None and getattr(dataset, "rng", None) is not None:
        dataset.rng.bit_generator.state = state


def _parent_gone() -> bool:
    """True when the process that started this trainer with ``DPM_TRAIN_PARENT_PID`` has died
    (POSIX: this process was re-parented), so that an app crash leaves a resumable run, not an orphan."""
    parent = os.environ.get(PARENT_ENV)
    return bool(parent) and os.name == "posix" and str(os.getppid()) != parent


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def latest_intact_state(run_dir: Path) -> tuple[Path | None, list[str]]:
    """The state latest.json points at, if it is intact; else the newest intact state folder (a
    truncated newest state, a corrupt or dangling pointer must not lose the run). Also returns why
    each state passed over was unusable."""
    run_dir = Path(run_dir)
    pointed = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        pointed = run_dir / str(json.loads((run_dir / "latest.json").read_text())["state"])
    notes: list[str] = []
    states = sorted(run_dir.glob("state-*"))
    for folder in ([pointed] if pointed is not None else []) + [d for d in reversed(states) if d != pointed]:
        problem = state_problem(folder)
        if problem is None:
            return folder, notes
        notes.append(f"{folder.name}: {problem}")
    return None, notes


def state_problem(folder: Path) -> str | None:
    """Why a state folder cannot be resumed from (missing, truncated or corrupt files), or None."""
    from .checkpoint import check_safetensors, read_metadata

    if not folder.is_dir():
        return "missing"
    try:
        state = json.loads((folder / "train_state.json").read_text())
        int(state["step"])
        check_safetensors(folder / "train_state.safetensors")
        meta = read_metadata(folder)
        check_safetensors(Path(meta["_paths"]["weights"]))
    except FileNotFoundError as e:
        return f"{Path(e.filename or '?').name} is missing"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"train_state.json is unreadable ({e})"
    except CheckpointError as e:
        return str(e)
    return None


def _tuple_fix(d: dict[str, Any]) -> dict[str, Any]:
    if isinstance(d.get("restoration_sigma"), list):
        d["restoration_sigma"] = tuple(d["restoration_sigma"])
    return d
