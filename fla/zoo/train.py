"""``fla train ARCH --dataset {cifar10,cifar100} --seed K --out DIR``: the published CIFAR recipes.

- ResNets (He et al. 2016, Sec. 4.2): SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate
  0.1 divided by 10 at 32k and 48k iterations, stopped at 64k: at 391 iterations an epoch, epochs 82
  and 123 of 164.
- DenseNets (Huang et al. 2017, Sec. 4.2): SGD with Nesterov momentum 0.9, weight decay 1e-4, batch
  64, 300 epochs, learning rate 0.1 divided by 10 at 50% and 75% of the epochs.
- Augmentation as both describe: 4 pixels of zero padding on each side, a random 32x32 crop, a
  random horizontal flip; inputs normalised by the training set's per-channel mean and deviation.

Epochs, batch size and schedule can be overridden. After every epoch a checkpoint (weights,
optimizer state, epoch, history) is written atomically to DIR/checkpoint.npz; a killed run started
again with the same DIR resumes from it. The end writes DIR/weights.npz (all model variables, in
``model.weights`` order), DIR/history.csv and DIR/result.json (train and test loss and error, the
recipe, versions). On a GPU it trains in mixed precision with XLA; on a CPU it runs, slowly.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fla.base.errors import ConfigError
from fla.base.files import atomic_path, write_json
from fla.base.settings import SEED, check, choice, flag, integer, setting
from fla.zoo.cifar import normalise
from fla.zoo.models import ARCHITECTURES

DATASETS = ("cifar10", "cifar100")


@dataclass
class Recipe:
    """A published training recipe: epochs, batch size, learning rate, its step milestones (divided
    by 10 at each), momentum and Nesterov.
    """

    epochs: int
    batch_size: int
    lr: float
    milestones: tuple  # epochs at which the learning rate is divided by 10
    momentum: float = 0.9
    nesterov: bool = False


def recipe(arch: str, epochs: int | None = None, batch_size: int | None = None) -> Recipe:
    """The recipe of He et al. (ResNets: 164 epochs, batch 128, lr 0.1 divided at 82 and 123) or
    Huang et al. (DenseNets: 300 epochs, batch 64, Nesterov, divided at 150 and 225).

    Args:
        arch: the architecture.
        epochs: other epochs (the milestones scale with them).
        batch_size: another batch size.

    Returns:
        The ``Recipe``.
    """
    if arch.startswith("resnet"):
        base = Recipe(164, 128, 0.1, (82, 123))
    else:
        base = Recipe(300, 64, 0.1, (150, 225), nesterov=True)
    if epochs is not None:
        base.milestones = tuple(round(m * epochs / base.epochs) for m in base.milestones)
        base.epochs = epochs
    if batch_size is not None:
        base.batch_size = batch_size
    return base


def learning_rate(r: Recipe, epoch: int) -> float:
    """The step schedule: lr x 0.1 for every milestone passed.

    Args:
        r: the recipe.
        epoch: the epoch (0 the first).

    Returns:
        The learning rate.
    """
    return r.lr * 0.1 ** sum(epoch >= m for m in r.milestones)


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The standard CIFAR augmentation: pad 4 pixels with zeros, crop 32x32 at random, flip half the
    images horizontally.

    Args:
        x: [N, 32, 32, 3] images.
        rng: the numpy Generator of the crops and flips.

    Returns:
        [N, 32, 32, 3] augmented images.
    """
    n = len(x)
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    dx, dy = rng.integers(0, 9, n), rng.integers(0, 9, n)
    rows = dy[:, None] + np.arange(32)
    cols = dx[:, None] + np.arange(32)
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


class Trainer:
    """One training run with its published recipe (He et al. for ResNets, Huang et al. for
    DenseNets): SGD with momentum, the step schedule, crop and flip augmentation, a checkpoint every
    epoch.
    """

    def __init__(
        self,
        arch,
        dataset,
        seed,
        *,
        out,
        data_dir=None,
        epochs=None,
        batch_size=None,
        limit=None,
        mixed_precision: bool | None = None,
    ):
        """A training run, resumed from ``out``'s checkpoint if there is one.

        Args:
            arch: the architecture.
            dataset: ``cifar10`` or ``cifar100``.
            seed: the seed of the initialisation, the batches and the augmentation.
            out: the output folder.
            data_dir: the folder of the CIFAR archives.
            epochs: the recipe's epochs overridden.
            batch_size: its batch size overridden.
            limit: only the first N images of each split (smoke runs).
            mixed_precision: float16 compute with float32 variables (default: on when a GPU is
                present).
        """
        import keras
        import tensorflow as tf

        from .cifar import CLASSES, load_cifar
        from .models import build

        gpu = bool(tf.config.list_physical_devices("GPU"))
        self.mixed_precision = gpu if mixed_precision is None else mixed_precision
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if self.mixed_precision else "float32"
        )
        keras.utils.set_random_seed(seed)
        self.out, self.seed, self.arch, self.dataset = Path(out), seed, arch, dataset
        x_train, self.y_train, x_test, self.y_test = load_cifar(dataset, data_dir)
        if limit:  # small runs (tests, smoke checks): the first `limit` images of each split
            x_train, self.y_train, x_test, self.y_test = (
                x_train[:limit],
                self.y_train[:limit],
                x_test[:limit],
                self.y_test[:limit],
            )
        self.mean = (x_train / 255.0).mean(axis=(0, 1, 2)).astype(np.float32)
        self.std = (x_train / 255.0).std(axis=(0, 1, 2)).astype(np.float32)
        self.x_train_raw = x_train
        self.x_test = normalise(x_test, self.mean, self.std)
        self.recipe = recipe(arch, epochs, batch_size)
        self.model = build(arch, CLASSES[dataset])
        self.optimizer = keras.optimizers.SGD(
            self.recipe.lr, momentum=self.recipe.momentum, nesterov=self.recipe.nesterov
        )
        self.model.compile(
            optimizer=self.optimizer,
            jit_compile=gpu,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        self.model.optimizer.build(self.model.trainable_variables)
        # models built later (NEB, evaluation) stay float32
        keras.mixed_precision.set_global_policy("float32")
        self.history: list[dict] = []
        self.epoch = 0

    # -- checkpoints -----------------------------------------------------------------------------
    @property
    def checkpoint(self) -> Path:
        """The checkpoint's path, ``out``/checkpoint.npz."""
        return self.out / "checkpoint.npz"

    def save_checkpoint(self) -> None:
        """Write the weights, the optimiser's state, the epoch, the history and the settings,
        atomically.
        """
        arrays = {f"w{i}": v.numpy() for i, v in enumerate(self.model.weights)}
        arrays.update({f"o{i}": v.numpy() for i, v in enumerate(self.model.optimizer.variables)})
        arrays["epoch"] = np.array(self.epoch)
        arrays["history"] = np.frombuffer(json.dumps(self.history).encode(), np.uint8)
        arrays["settings"] = np.frombuffer(json.dumps(self.settings()).encode(), np.uint8)
        with atomic_path(self.checkpoint) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def restore(self) -> bool:
        """Resume from the checkpoint in ``out``.

        Returns:
            True if there was one.

        Raises:
            ConfigError: a checkpoint made with other settings.
        """
        if not self.checkpoint.is_file():
            return False
        with np.load(self.checkpoint, allow_pickle=False) as data:
            saved = json.loads(data["settings"].tobytes().decode()) if "settings" in data else None
            if saved != json.loads(json.dumps(self.settings())):  # as stored: tuples are lists
                raise ConfigError(
                    f"--out {self.out} holds the checkpoint of another training run "
                    f"({saved or 'settings not recorded'}); choose another --out"
                )
            for i, v in enumerate(self.model.weights):
                v.assign(data[f"w{i}"])
            for i, v in enumerate(self.model.optimizer.variables):
                v.assign(data[f"o{i}"])
            self.epoch = int(data["epoch"])
            self.history = json.loads(data["history"].tobytes().decode())
        return True

    def settings(self) -> dict:
        """What a checkpoint must have been made with to be resumed.

        Returns:
            {"arch", "dataset", "seed" and the recipe's fields}.
        """
        return {
            "arch": self.arch,
            "dataset": self.dataset,
            "seed": self.seed,
            **asdict(self.recipe),
        }

    # -- training --------------------------------------------------------------------------------
    def evaluate(self, x, y) -> tuple[float, float]:
        """The model's mean loss and error.

        Args:
            x: the images.
            y: their labels.

        Returns:
            (loss, error).
        """
        loss, acc = self.model.evaluate(x, y, batch_size=500, verbose=0)
        return float(loss), 1.0 - float(acc)

    def run(self, quiet: bool = False) -> dict:
        """Train to the recipe's last epoch, a checkpoint every epoch, then ``finish``.

        Args:
            quiet: no line per epoch.

        Returns:
            The result (``finish``).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        resumed = self.restore()
        if resumed and not quiet:
            print(f"resuming {self.out} at epoch {self.epoch}")
        start = time.time()
        while self.epoch < self.recipe.epochs:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(len(self.x_train_raw))
            x = normalise(augment(self.x_train_raw[order], rng), self.mean, self.std)
            self.model.optimizer.learning_rate = learning_rate(self.recipe, self.epoch)
            if not quiet:
                print(
                    f"epoch {self.epoch + 1}/{self.recipe.epochs}, lr "
                    f"{learning_rate(self.recipe, self.epoch):g}"
                )
            fit = self.model.fit(
                x,
                self.y_train[order],
                batch_size=self.recipe.batch_size,
                epochs=1,
                shuffle=False,
                verbose=0 if quiet else 1,
            )
            test_loss, test_error = self.evaluate(self.x_test, self.y_test)
            self.history.append(
                {
                    "epoch": self.epoch + 1,
                    "lr": learning_rate(self.recipe, self.epoch),
                    "train_loss": float(fit.history["loss"][0]),
                    "train_error": 1 - float(fit.history["accuracy"][0]),
                    "test_loss": test_loss,
                    "test_error": test_error,
                }
            )
            self.epoch += 1
            self.save_checkpoint()
        return self.finish(time.time() - start)

    def finish(self, seconds: float) -> dict:
        """Evaluate on the whole training and test sets and write weights.npz, history.csv and
        result.json (last).

        Args:
            seconds: the training's wall time.

        Returns:
            The result written to result.json (train and test loss and error among it).
        """
        import keras
        import tensorflow as tf

        from fla.base.version import __version__

        x_train = normalise(self.x_train_raw, self.mean, self.std)
        train_loss, train_error = self.evaluate(x_train, self.y_train)
        test_loss, test_error = self.evaluate(self.x_test, self.y_test)
        with atomic_path(self.out / "weights.npz") as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                **{f"w{i}": v.numpy() for i, v in enumerate(self.model.weights)},
                mean=self.mean,
                std=self.std,
            )
        import csv

        with atomic_path(self.out / "history.csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(
                f, fieldnames=list(self.history[0]) if self.history else ["epoch"]
            )
            writer.writeheader()
            writer.writerows(self.history)
        result = {
            "command": "fla train",
            "arch": self.arch,
            "dataset": self.dataset,
            "seed": self.seed,
            "recipe": asdict(self.recipe),
            "train_loss": train_loss,
            "train_error": train_error,
            "test_loss": test_loss,
            "test_error": test_error,
            "n_train": len(self.y_train),
            "seconds_this_session": round(seconds, 1),
            "fla_version": __version__,
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
            "mixed_precision": self.mixed_precision,
        }
        write_json(self.out / "result.json", result)
        return result


@dataclass(frozen=True)
class TrainSettings:
    """What ``fla train`` trains: an architecture of ``fla.zoo.models`` on a CIFAR dataset with its
    published recipe (``recipe``), a seed, and the recipe's epochs and batch size overridden."""

    arch: str = setting(
        None,
        "resnet20, resnet32, resnet44, resnet56, densenet40, densenet_bc100 (see fla models)",
        choice(*ARCHITECTURES),
        required=True,
        metavar="arch",
    )
    dataset: str = setting(None, "the CIFAR dataset", choice(*DATASETS), required=True)
    seed: int = setting(0, "seed of the initialisation, the batches and the augmentation", SEED)
    epochs: int | None = setting(
        None,
        "override the recipe's epochs (milestones scale with it)",
        integer(at_least=1, optional=True),
    )
    batch_size: int | None = setting(
        None, "override the recipe's batch size", integer(at_least=1, optional=True)
    )
    limit: int | None = setting(
        None,
        "use only the first N images of each split (smoke runs)",
        integer(at_least=1, optional=True),
        metavar="N",
    )


def train(settings: TrainSettings, *, out, data_dir=None, quiet: bool = False) -> dict:
    """Train ``settings.arch`` on ``settings.dataset`` into ``out`` (``fla train``), checkpointing
    every epoch; a killed run resumes.

    Args:
        settings: the ``TrainSettings``.
        out: the output folder.
        data_dir: the folder of the CIFAR archives.
        quiet: no line per epoch.

    Returns:
        The final losses and errors (result.json).

    Raises:
        ConfigError: bad settings, or an --out holding a finished run or another run's checkpoint.
    """
    from fla.base.outputs import claim_folder

    check(settings, flag)
    if (Path(out) / "result.json").is_file():
        raise ConfigError(
            f"--out {out} already holds a finished training run; choose another --out"
        )
    with claim_folder(out, "fla train", TRAIN_FILES, own=own_checkpoint, resume=True):
        return Trainer(
            settings.arch,
            settings.dataset,
            settings.seed,
            out=out,
            data_dir=data_dir,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            limit=settings.limit,
        ).run(quiet)


TRAIN_FILES = ("checkpoint.npz", "weights.npz", "history.csv", "result.json")


def own_checkpoint(entry: Path) -> bool:
    """Whether an entry is a checkpoint fla train wrote (an npz that records its settings); a killed
    run leaves only that, so it is all a training folder may hold to resume.

    Args:
        entry: an entry of the output folder.

    Returns:
        True for fla train's checkpoint.
    """
    if entry.name != "checkpoint.npz" or not entry.is_file():
        return False
    try:
        with np.load(entry, allow_pickle=False) as data:
            return "settings" in data and "epoch" in data
    except (OSError, ValueError):
        return False
