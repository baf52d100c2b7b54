"""One training run in one folder, each step resumable: data, initial weights, training, export, card.

``RUN/data/``            the prepared YOLO set (photos re-split by source photo + CCTV composites)
``RUN/init.pt``          COCO weights converted from the ONNX file the user named (unless --scratch)
``RUN/ultralytics/``     Ultralytics' own run (weights/last.pt, best.pt, results.csv)
``RUN/<name>.onnx``      the exported model, and ``RUN/<name>.yaml`` its card

A step whose output exists is not redone, so the same command continues an interrupted run
(training resumes from ``last.pt``). Ultralytics is imported only here and only when needed: it is
the [train] extra; nothing is downloaded (YOLO_OFFLINE, no auto-install, settings sync off).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from xuncha.detector.modelcard import ModelCard
from xuncha.detector.onnx import OnnxDetector, file_checksum
from xuncha.train import cctv
from xuncha.train.composite import CutoutLibrary
from xuncha.train.prepare import prepare
from xuncha.train.reviews import add_export
from xuncha.yamlfile import ConfigError

log = logging.getLogger(__name__)

ARCH_YAML = {"yolov8n": "yolov8n.yaml", "yolo11n": "yolo11n.yaml"}
CHECK_FRAME = ("shopping_street.mp4", 1.0)  # the real frame the converted weights are checked on
CALIBRATION_IMAGES = 48
CHECK_PHOTOS = 8


@dataclass
class TrainOptions:
    """Everything that decides the model; saved as RUN/options.json (a resumed run must match it)."""

    data: str
    name: str = "garbage"
    weights: str | None = None  # int8 ONNX export (COCO) or a trained .pt to start from; None = scratch
    arch: str = "yolov8n"
    one_class: str | None = "garbage"
    split_file: str | None = None
    footage: str | None = None  # footage dir for CCTV composites; None = photos only
    cctv_train: int = 600
    cctv_val: int = 150
    cctv_negatives: int = 0  # background-only training frames per camera (cctv.CAMERAS' bag-free stretches)
    dark_share: float = 0.0  # share of pasted bags recoloured to dark tones
    reviews: str | None = None  # a review export (xuncha review export-dataset) mixed in, its split kept
    imgsz: int = 320
    export_imgsz: int = 640
    epochs: int = 30
    batch: int = 16
    seed: int = 0
    hours: float | None = None  # time budget: Ultralytics fits the epochs (and LR schedule) into it


def ultralytics_env(config_dir: Path) -> None:
    """Nothing may download or phone home: offline, no pip, settings kept in the run folder."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    from ultralytics.utils import SETTINGS

    SETTINGS.update({"sync": False})


def _frame_at(path: Path, t: float) -> np.ndarray:
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if f.time is not None and f.time >= t:
                return f.to_ndarray(format="bgr24")
    raise ConfigError(f"{path}: no frame at {t} s")


class Run:
    """A training run folder; each method does one step and skips it when its output is there."""

    def __init__(self, folder: Path, opts: TrainOptions) -> None:
        self.folder = folder
        self.opts = opts
        folder.mkdir(parents=True, exist_ok=True)
        saved = folder / "options.json"
        if saved.is_file():
            before = json.loads(saved.read_text())
            if before != asdict(opts):
                changed = sorted(k for k in before if before.get(k) != asdict(opts).get(k))
                raise ConfigError(f"{saved}: this run was started with other options ({', '.join(changed)})")
        else:
            saved.write_text(json.dumps(asdict(opts), indent=1))
        ultralytics_env(folder / ".ultralytics")

    @property
    def data_yaml(self) -> Path:
        return self.folder / "data" / "data.yaml"

    def prepare_data(self) -> dict:
        done = self.folder / "data" / "prepared.json"
        if done.is_file():
            return json.loads(done.read_text())
        o = self.opts
        data_dir = self.folder / "data"
        prepared = prepare(Path(o.data), data_dir, Path(o.split_file) if o.split_file else None, o.one_class)
        summary = {"photos": prepared.images, "objects": prepared.objects, "duplicates": prepared.duplicates}
        if o.footage:
            summary["cctv"] = self._composites(Path(o.footage), prepared.split_file)
        if o.reviews:
            summary["reviews"] = add_export(Path(o.reviews), data_dir, prepared.names, bool(o.one_class))
        done.write_text(json.dumps(summary, indent=1))
        return summary

    def _composites(self, footage: Path, split_file: Path) -> dict:
        """Train-split cut-outs on the training segments (train), val-split cut-outs likewise (val)."""
        o, out = self.opts, {}
        rng = np.random.default_rng(o.seed)
        cameras = [c for c, cam in cctv.CAMERAS.items() if "train" in cam.segments]
        for split, count in (("train", o.cctv_train), ("val", o.cctv_val)):
            lib = CutoutLibrary(Path(o.data), split, split_file)
            images, objects = 0, 0
            for k, cam in enumerate(cameras):
                n = count // len(cameras)
                made = cctv.scenes(cam, "train", footage, lib, n, o.seed + k, dark_share=o.dark_share)
                for j, scene in enumerate(made):
                    piece = cctv.crop(scene, rng, int(rng.integers(320, 641)))
                    objects += cctv.write_yolo(piece, self.folder / "data" / split / "images", f"cctv_{cam}_{j:04d}")
                    images += 1
            if split == "train" and o.cctv_negatives:
                for k, cam in enumerate(cctv.CAMERAS):
                    for j, scene in enumerate(cctv.negatives(cam, footage, o.cctv_negatives, o.seed + 100 + k)):
                        cctv.write_yolo(scene, self.folder / "data" / split / "images", f"negative_{cam}_{j:04d}")
                        images += 1
            out[split] = {"images": images, "objects": objects}
            log.info("CCTV composites (%s): %d images, %d objects", split, images, objects)
        return out

    def initial_weights(self) -> str:
        """The converted ONNX weights (checked against the ONNX model), or the architecture YAML (scratch)."""
        o = self.opts
        if o.weights is None:
            return ARCH_YAML[o.arch]
        if o.weights.endswith(".pt"):  # a finished run's weights: a new schedule from where it ended
            return o.weights
        out = self.folder / "init.pt"
        if out.is_file():
            return str(out)
        from xuncha.train.convert import convert

        data_parents = Path(o.data).resolve().parents
        footage = Path(o.footage) if o.footage else data_parents[min(1, len(data_parents) - 1)] / "footage"
        street = footage / CHECK_FRAME[0]
        # Without that clip (no --footage, a data folder outside shared/data) the training images alone check.
        frames = [_frame_at(street, CHECK_FRAME[1])] if street.is_file() else []
        train_images = sorted((self.folder / "data" / "train" / "images").iterdir())
        calibration = train_images[:: max(1, len(train_images) // CALIBRATION_IMAGES)][:CALIBRATION_IMAGES]
        # A street frame checks COCO weights; a few training photos check a trained garbage model's.
        checks = [*frames, *(cv2.imread(str(p)) for p in calibration[:: max(1, len(calibration) // CHECK_PHOTOS)])]
        result = convert(Path(o.weights), calibration, checks, out)
        (self.folder / "convert.json").write_text(json.dumps(asdict(result), indent=1))
        log.info(
            "converted %s: %d of %d ONNX detections reproduced, mean IoU %.3f",
            o.weights,
            result.matched,
            result.onnx_detections,
            result.mean_iou,
        )
        return str(out)

    @property
    def ultralytics_dir(self) -> Path:
        return self.folder / "ultralytics"

    def train(self) -> Path:
        """Train (or resume) with Ultralytics; returns best.pt."""
        from ultralytics import YOLO

        o = self.opts
        weights = self.ultralytics_dir / "weights"
        best, last = weights / "best.pt", weights / "last.pt"
        if (self.folder / "trained.json").is_file():
            return best
        if last.is_file():
            log.info("resuming %s", last)
            model = YOLO(str(last))
            model.add_callback("on_fit_epoch_end", _progress(time.monotonic()))
            model.train(resume=True)
        else:
            model = YOLO(self.initial_weights())
            model.add_callback("on_fit_epoch_end", _progress(time.monotonic()))
            model.train(
                data=str(self.data_yaml.resolve()),
                epochs=o.epochs,
                imgsz=o.imgsz,
                batch=o.batch,
                device="cpu",
                workers=0,
                amp=False,
                plots=False,
                seed=o.seed,
                project=str(self.folder.resolve()),
                name="ultralytics",
                exist_ok=True,
                verbose=False,
                time=o.hours,
            )
        (self.folder / "trained.json").write_text(json.dumps({"best": str(best)}))
        return best

    def export(self, best: Path) -> Path:
        """ONNX with Ultralytics metadata at the export size, loadable by xuncha's detector."""
        out = self.folder / f"{self.opts.name}.onnx"
        if out.is_file():
            return out
        from ultralytics import YOLO

        exported = YOLO(str(best)).export(format="onnx", imgsz=self.opts.export_imgsz, opset=17, simplify=False)
        shutil.move(exported, out)
        OnnxDetector(out)  # refuses a file the worker could not run
        return out

    def metrics(self, pt: Path) -> dict[str, float]:
        """mAP50, mAP50-95, P, R of `pt` on the test split of the prepared photos (no composites there)."""
        from ultralytics import YOLO

        r = YOLO(str(pt)).val(
            data=str(self.data_yaml.resolve()),
            split="test",
            imgsz=self.opts.export_imgsz,
            batch=8,
            device="cpu",
            plots=False,
            verbose=False,
            project=str(self.folder.resolve()),
            name="test",
            exist_ok=True,
        )
        p, rec, m50, m = r.box.mean_results()
        return {
            "test_photos_map50": round(float(m50), 3),
            "test_photos_map50_95": round(float(m), 3),
            "test_photos_precision": round(float(p), 3),
            "test_photos_recall": round(float(rec), 3),
        }

    def card(self, onnx_path: Path, metrics: dict[str, float], command: str) -> Path:
        o = self.opts
        results = self.ultralytics_dir / "results.csv"
        epochs = len(results.read_text().splitlines()) - 1 if results.is_file() else o.epochs
        start = "random weights (scratch)"
        if o.weights:
            start = f"{'trained weights' if o.weights.endswith('.pt') else 'weights converted from'} {o.weights}"
        reviews = ""
        if o.reviews:
            r = json.loads((self.folder / "data" / "prepared.json").read_text())["reviews"]
            per_camera = ", ".join(f"{cam} {n}" for cam, n in r["per_camera"].items())
            reviews = f" plus the review export {o.reviews} ({r['images']} images; per camera: {per_camera})"
        card = ModelCard(
            name=o.name,
            file=onnx_path.name,
            family="ultralytics",
            source=(
                f"Ultralytics {o.arch} trained with `xuncha train` from {start} on {Path(o.data).name} "
                f"(split by source photo){' plus CCTV composites' if o.footage else ''}{reviews}, {epochs} epochs at "
                f"{o.imgsz}, exported at {o.export_imgsz}"
            ),
            licence="AGPL-3.0 (Ultralytics); training data CC BY 4.0 (street_trashbags)",
            classes_from="metadata",
            input_size=(o.export_imgsz, o.export_imgsz),
            checksum=file_checksum(onnx_path),
            metrics=metrics,
            command=command,
        )
        path = onnx_path.with_suffix(".yaml")
        import yaml

        doc = card.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
        doc.pop("precision", None)
        path.write_text(
            "# Model card written by `xuncha train`; metrics on held-out test photos"
            " (`xuncha bench train-eval` has more).\n"
            + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=110)
        )
        return path


def _progress(started: float):
    def on_fit_epoch_end(trainer) -> None:
        done, total = trainer.epoch + 1, trainer.epochs
        if done > total:  # the final validation of best.pt calls this once more
            return
        elapsed = time.monotonic() - started
        eta = elapsed / max(done - trainer.start_epoch, 1) * (total - done)
        m = trainer.metrics
        log.info(
            "epoch %d/%d  val mAP50 %.3f  mAP50-95 %.3f  %.0f s/epoch  ETA %s",
            done,
            total,
            m.get("metrics/mAP50(B)", 0.0),
            m.get("metrics/mAP50-95(B)", 0.0),
            elapsed / max(done - trainer.start_epoch, 1),
            f"{eta / 60:.0f} min",
        )

    return on_fit_epoch_end


def run(folder: Path, opts: TrainOptions, command: str) -> Path:
    """All steps; returns the card path. `command` is what reproduces the run (written into the card)."""
    r = Run(folder, opts)
    log.info("data: %s", r.prepare_data())
    r.initial_weights()
    best = r.train()
    onnx_path = r.export(best)
    card = r.card(onnx_path, r.metrics(best), command)
    log.info("model %s, card %s", onnx_path, card)
    return card
