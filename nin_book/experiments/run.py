"""Running chapter 7's experiments: each run trains through the book's engine (:func:`nin_book.train.fit`), is
measured, and is written to one JSON file with its provenance, rewritten atomically after every run.

Explained in chapter 7, "The paper's claims, measured".
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from nin_book.counting import count_parameters
from nin_book.data import FashionMNIST
from nin_book.experiments.shift import DIRECTIONS, SHIFT_SEED, SHIFTS, shifted_accuracies
from nin_book.experiments.stall import (
    LN10,
    SPREAD_TOL,
    STALL_LOSS_TOL,
    STALL_RECORDS,
    StallMonitor,
    is_stalled,
    is_stuck,
    stall_mechanism,
)
from nin_book.experiments.variants import (
    BASELINE_PRESET,
    EXPERIMENT_EPOCHS,
    GROUPS,
    STALL_EPOCHS,
    STALL_TRAIN_IMAGES,
    TRAIN_EVAL_IMAGES,
    VARIANTS,
    Variant,
    variant_config,
    variant_seeds,
)
from nin_book.presets import build_model, get_preset
from nin_book.results import machine_provenance, write_json
from nin_book.train import TrainingDiverged, evaluate, fit

__all__ = ["FORMAT", "MAX_SEEDS", "ExperimentsInterrupted", "run_experiments", "run_one", "settings", "summarise"]

FORMAT = "nin_book.experiments/1"
# Seeds per variant: the full set uses 3; beyond 100 a run would take days and its job list alone can exhaust memory.
MAX_SEEDS = 100


class ExperimentsInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM while training) stopped :func:`run_experiments`. ``report`` holds the runs that finished
    (never the interrupted one), with ``complete: false``; it was written to ``out`` before this was raised.
    ``stopped_by`` is ``"Ctrl-C"`` or ``"SIGTERM"``."""

    def __init__(self, message: str, report: dict[str, Any], stopped_by: str = "Ctrl-C") -> None:
        super().__init__(message)
        self.report = report
        self.stopped_by = stopped_by


def settings(*, seeds: int, smoke: bool) -> dict[str, Any]:
    """What every run shares (epochs, evaluation sizes, the shifts, the stall detector), written into the JSON so
    that chapter 7 can say it. Explained in chapter 7, "The paper's claims, measured"."""
    preset = get_preset(BASELINE_PRESET)
    return {
        "baseline_preset": BASELINE_PRESET,
        "seeds": list(range(seeds)),
        "epochs": EXPERIMENT_EPOCHS,
        "preset_epochs": preset.epochs,
        "epochs_note": (f"every training variant runs {EXPERIMENT_EPOCHS} epochs, fewer than the {preset.epochs} "
                        f"of the {BASELINE_PRESET} preset, so that the whole set fits in an hour on a 2-core CPU"),
        "train_eval_images": TRAIN_EVAL_IMAGES,
        "train_accuracy_note": (f"final train accuracy: the final network in eval mode on the first "
                                f"{TRAIN_EVAL_IMAGES} training images (all seen in training)"),
        "translation": {"shifts": list(SHIFTS), "directions": ["down", "up", "right", "left"][:len(DIRECTIONS)],
                        "seed": SHIFT_SEED, "fill": 0,
                        "note": "each test image moves k pixels in one of four directions, chosen per image from "
                                "a fixed seed (the same for every network), zero fill"},
        "stall": {"steps": STALL_EPOCHS * STALL_TRAIN_IMAGES // preset.batch_size, "epochs": STALL_EPOCHS,
                  "train_images": STALL_TRAIN_IMAGES, "records": STALL_RECORDS, "loss_tol": STALL_LOSS_TOL,
                  "ln10": LN10,
                  "detector": f"stalled: the mean training loss of each of the last {STALL_RECORDS} epochs within "
                              f"{STALL_LOSS_TOL} of ln 10, and every logit of every step in them exactly 0",
                  "stuck": f"stuck: the same loss condition, and in every step of those epochs the logits the same "
                           f"for every image of the batch (spread at most {SPREAD_TOL}): the output ignores the "
                           "input; includes stalled"},
        "smoke": smoke,
        "groups": GROUPS,
    }


def run_one(variant: Variant, seed: int, data: FashionMNIST, *, smoke: bool = False,
            progress: bool = True) -> dict[str, Any]:
    """Train one run of ``variant`` with ``seed`` through :func:`nin_book.train.fit` and measure it.

    Returns a JSON-ready record: final test and train accuracy (eval mode), parameters, epochs, wall time,
    the per-epoch history; the head variants add accuracy on shifted test images, the stall runs the
    per-step logits, the detector's verdict and the mechanism. Explained in chapter 7.
    """
    config = variant_config(variant, seed, smoke=smoke)
    model = build_model(config)
    monitor = StallMonitor(model) if variant.kind == "stall" else None
    start = time.perf_counter()
    try:
        # The stall runs must run to the end to show the stall: the trainer's watch only records where it fired.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = fit(model, data, config, progress=progress, on_stall="warn" if variant.kind == "stall" else "stop")
    except TrainingDiverged as err:  # NaN, or (TrainingStalled) a training variant stalled: kept, with its status
        result = err.result
    finally:
        if monitor is not None:
            monitor.close()
    train_seconds = time.perf_counter() - start
    if result.status == "interrupted":  # Ctrl-C inside fit: measure nothing more; the caller must not keep it
        return {"variant": variant.name, "seed": seed, "status": result.status, "message": result.message,
                "stopped_by": getattr(result, "stopped_by", None), "epochs": len(result.history),
                "train_seconds": train_seconds}
    test_images = data.test_images if config.test_limit is None else data.test_images[:config.test_limit]
    test_labels = data.test_labels[:len(test_images)]
    size = config.resolution
    n_train = min(TRAIN_EVAL_IMAGES, config.train_limit or TRAIN_EVAL_IMAGES, len(data.train_images))
    finite = all(math.isfinite(p.detach().sum().item()) for p in model.parameters())
    record: dict[str, Any] = {
        "variant": variant.name,
        "seed": seed,
        "status": result.status,
        "message": result.message,
        "parameters": count_parameters(model),
        "epochs": len(result.history),
        "final_test_accuracy": result.final_test_accuracy,
        "final_train_accuracy": evaluate(model, data.train_images[:n_train], data.train_labels[:n_train],
                                         resolution=size, batch_size=config.eval_batch_size,
                                         precision="fp32") if finite else None,
        "train_accuracy_while_training": result.history[-1].train_accuracy if result.history else None,
        "final_train_loss": result.history[-1].train_loss if result.history else None,
        "train_seconds": train_seconds,
        "trainer_stall_step": result.stall_step,
        "history": [vars(r) for r in result.history],
    }
    if record["final_test_accuracy"] is not None and record["final_train_accuracy"] is not None:
        record["generalisation_gap"] = record["final_train_accuracy"] - record["final_test_accuracy"]
    if variant.translation and finite:
        record["shifted_test_accuracy"] = shifted_accuracies(model, test_images, test_labels, resolution=size,
                                                             batch_size=config.eval_batch_size)
    if monitor is not None:
        losses = [r.train_loss for r in result.history]
        per_epoch = monitor.per_epoch(len(result.history)) if result.history else []
        spreads = monitor.per_epoch(len(result.history), "logit_spreads") if result.history else []
        record.update(
            steps=len(monitor.max_abs_logits),
            epoch_losses=losses,
            epoch_max_abs_logits=per_epoch,
            epoch_logit_spreads=spreads,
            step_max_abs_logits=monitor.max_abs_logits,
            step_logit_spreads=monitor.logit_spreads,
            step_alive_class_map_fraction=monitor.alive_fractions,
            stalled=is_stalled(losses, per_epoch),
            stuck=is_stuck(losses, spreads),
            mechanism=stall_mechanism(model, test_images, test_labels, resolution=size,
                                      batch_size=config.eval_batch_size)
            if finite else None,
        )
    record["wall_seconds"] = time.perf_counter() - start
    record["machine"] = _machine()
    return record


def _machine(provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    # Where one run ran: a set extended later (more seeds) mixes machines, and its timings must say so.
    provenance = provenance or machine_provenance()
    return {k: provenance.get(k) for k in ("date_utc", "cpu_model", "logical_cores", "torch_version", "gpu")}


def _spread(values: Sequence[float]) -> dict[str, Any]:
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values)}


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-variant mean and spread across seeds (sample standard deviation, min, max) of every measure;
    stall runs add how many of the seeds stalled. Explained in chapter 7."""
    summary: dict[str, Any] = {"seeds": len(runs)}
    for key in ("final_test_accuracy", "final_train_accuracy", "generalisation_gap", "parameters",
                "train_seconds", "wall_seconds"):
        summary[key] = _spread([r.get(key) for r in runs])
    shifted = [r["shifted_test_accuracy"] for r in runs if "shifted_test_accuracy" in r]
    if shifted:
        summary["shifted_test_accuracy"] = {k: _spread([s[k] for s in shifted]) for k in shifted[0]}
    if any("stalled" in r for r in runs):
        summary["stalled"] = sum(bool(r.get("stalled")) for r in runs)
        summary["stuck"] = sum(bool(r.get("stuck")) for r in runs)
        summary["final_train_loss"] = _spread([r.get("final_train_loss") for r in runs])
    return summary


def _without_seeds(settings: Any) -> Any:
    return {k: v for k, v in settings.items() if k != "seeds"} if isinstance(settings, dict) else settings


def _resumable_runs(previous: Any, report: dict[str, Any], *, extend: bool = False) -> list[dict[str, Any]]:
    """The finished runs of an earlier results file (``previous``, parsed) that ``report`` can keep.

    Resuming (``extend=False``): an unfinished file of exactly the same settings and variants. Extending: a file
    with the same format and settings but for the number of seeds; the runs kept are those of a variant ``report``
    also runs with the same config, with a seed it also runs (so a set can grow by seeds or by variants).
    Empty when nothing matches."""
    same = json.loads(json.dumps({k: report[k] for k in ("format", "smoke")}))
    settings = json.loads(json.dumps(report["settings"]))
    if (not isinstance(previous, dict) or any(previous.get(k) != v for k, v in same.items())
            or _without_seeds(previous.get("settings")) != _without_seeds(settings)
            or not isinstance(previous.get("variants"), dict)):
        return []
    if not extend and (previous.get("settings") != settings or list(previous["variants"]) != list(report["variants"])):
        return []
    machine = _machine(previous.get("provenance") if isinstance(previous.get("provenance"), dict) else {})
    runs = []
    for name, entry in report["variants"].items():
        old = previous["variants"].get(name)
        if not isinstance(old, dict) or old.get("config") != json.loads(json.dumps(entry["config"])):
            continue
        runs += [{**r, "machine": r.get("machine", machine)} for r in old.get("runs", [])
                 if isinstance(r, dict) and r.get("variant") == name and r.get("status") != "interrupted"
                 and r.get("seed") in report["settings"]["seeds"]]
    return runs


def run_experiments(variants: Sequence[Variant], data: FashionMNIST, *, seeds: int = 3, smoke: bool = False,
                    out: str | os.PathLike | None = None, command: str = "", progress: bool = True,
                    on_run: Callable[[dict[str, Any]], None] | None = None, resume: bool = False,
                    resume_from: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run every variant with seeds ``0 … seeds-1`` and return the results; with ``out``, write them there
    (atomically, after every run, so a stopped run keeps what it finished; ``complete`` says whether all ran).

    - With ``resume=True`` and an unfinished file at ``out`` from the same settings, the runs it holds are kept
      and only the others are trained. ``resume_from`` names another file to take finished runs from (a finished
      set with fewer seeds, which this run extends); each kept run records the machine it ran on.
    - Ctrl-C stops the set: the interrupted run is dropped (a run cut short is never stored, so never averaged
      into a summary), the finished ones are written to ``out`` with ``complete: false``, and
      :class:`ExperimentsInterrupted` (a ``KeyboardInterrupt``) is raised carrying them.

    Explained in chapter 7, "The paper's claims, measured".
    """
    if not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"seeds must be between 1 and {MAX_SEEDS}, got {seeds}")
    report: dict[str, Any] = {
        "format": FORMAT,
        "complete": False,
        # True only for the run chapter 7 reads: every variant, at least 3 seeds, real sizes (not --smoke).
        "full_set": not smoke and seeds >= 3 and {v.name for v in variants} == set(VARIANTS),
        "smoke": smoke,
        "command": command,
        "provenance": machine_provenance(),
        "torch_threads": torch.get_num_threads(),
        "settings": settings(seeds=seeds, smoke=smoke),
        "variants": {v.name: {"groups": list(v.groups), "description": v.description, "kind": v.kind,
                              "config": variant_config(v, 0, smoke=smoke).to_dict(), "runs": [], "summary": {}}
                     for v in variants},
        "wall_seconds": 0.0,
    }
    earlier = 0.0
    done: set[tuple[str, int]] = set()
    source = resume_from if resume_from is not None else out
    previous: Any = None
    if resume and source is not None:
        try:
            previous = json.loads(Path(source).read_text())
        except (OSError, ValueError):
            previous = None
        if resume_from is None and isinstance(previous, dict) and previous.get("complete") is not False:
            previous = None  # only an unfinished file at out is resumed; a finished one is started again
        kept = _resumable_runs(previous, report, extend=resume_from is not None)
        if kept:
            earlier = float(previous.get("wall_seconds") or 0.0)
            report["resumed"] = {"runs": len(kept), "earlier_provenance": previous.get("provenance"),
                                 "earlier_command": previous.get("command"), "earlier_wall_seconds": earlier}
            for record in sorted(kept, key=lambda r: r["seed"]):
                if (record["variant"], record["seed"]) not in done:
                    done.add((record["variant"], record["seed"]))
                    report["variants"][record["variant"]]["runs"].append(record)
            for entry in report["variants"].values():
                if entry["runs"]:
                    entry["summary"] = summarise(entry["runs"])
            report["wall_seconds"] = earlier
    start = time.perf_counter()
    jobs = [(v, seed) for v in variants for seed in variant_seeds(v, seeds) if (v.name, seed) not in done]
    total = sum(len(variant_seeds(v, seeds)) for v in variants)
    overall = tqdm(jobs, desc="experiments", unit="run", disable=not progress)

    def stop(where: str, stopped_by: str | None) -> None:
        report["wall_seconds"] = earlier + time.perf_counter() - start
        finished = sum(len(e["runs"]) for e in report["variants"].values())
        how = "SIGTERM" if stopped_by == "SIGTERM" else "Ctrl-C"
        report["interrupted"] = f"{how} during {where} after {finished} of {total} runs"
        if out is not None:
            write_json(out, report)
        raise ExperimentsInterrupted(report["interrupted"], report, stopped_by=how) from None

    try:
        for variant, seed in overall:
            overall.set_postfix_str(f"{variant.name} seed {seed}")
            try:
                record = run_one(variant, seed, data, smoke=smoke, progress=progress)
            except KeyboardInterrupt as err:  # outside fit (which returns status "interrupted" instead)
                stop(f"{variant.name} seed {seed}", "SIGTERM" if type(err).__name__ == "Terminated" else None)
            if record.get("status") == "interrupted":
                stop(f"{variant.name} seed {seed}", record.get("stopped_by"))
            entry = report["variants"][variant.name]
            entry["runs"].append(record)
            entry["runs"].sort(key=lambda r: r["seed"])
            entry["summary"] = summarise(entry["runs"])
            report["wall_seconds"] = earlier + time.perf_counter() - start
            if on_run is not None:
                on_run(record)
            if out is not None:
                write_json(out, report)
    finally:
        overall.close()
    report["complete"] = True
    report["wall_seconds"] = earlier + time.perf_counter() - start
    report["load_average_after"] = machine_provenance()["load_average"]
    if out is not None:
        write_json(out, report)
    return report
