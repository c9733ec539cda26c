"""Progressive gradient walks (Bosman, Engelbrecht and Helbig), advanced for many walks at once.

A walk starts at theta_0 ~ U[-b, b]^D. At step t the gradient g of the training loss at theta_t is
taken; every coordinate draws Delta_j ~ U(0, s) and moves against the sign of g_j:

    theta_{t+1, j} = theta_{t, j} - sign(g_j) * Delta_j,   with a zero (or NaN) g_j moving +Delta_j.

Walks are unbounded. The step bound s is 1% (micro) or 10% (macro) of the range width 2b. The row
recorded for step t describes theta_t, the point *before* its update, with the loss, accuracy and
gradient of the very batch whose gradient drives that update.

Every draw comes from the counter-based streams of ``fla.walks.streams``, keyed by (seed, walk)
and counted by step and coordinate, so its draws do not depend on the walks advanced with it. The
walk never computes curvature: it returns the points, and ``fla.walks.measure`` measures them
beside it, so asking for curvature cannot change a walk.

``WalkProgram`` runs a block of steps for a chunk of B walks as a graph while-loop that gathers
the step's batch, around one XLA program per step that evaluates the walks, draws their Delta and
moves them. Every chunk runs this same structure
in programs of a width fixed by the configuration (``fla.walks.config.chunk_width``), so nothing
a user may set besides the walk's own settings changes a walk. Nothing loops in Python per
walk or per step.

    >>> program = WalkProgram(objective)
    >>> theta, records = program.run(theta0, step_size=0.2, seed=7, first=0, step0=0, n_steps=100)
"""

from __future__ import annotations

import numpy as np

from fla.base import compile_cache
from fla.base.programs import Kept
from fla.core.saturation import BOUNDED, MEASURED
from fla.walks import streams
from fla.walks.batches import step_patterns
from fla.walks.rule import WALK_BOUNDS, sum_of_squares_over_rows
from fla.walks.samplers import SAMPLERS, Move

# from here the walk keeps one block per layer (MNIST 784-10-10: D = 7960)

LAYER_BLOCKS_MIN_PARAMS = 4096
LAYER_RECORDS = ("saturation", "saturated_units")  # one value per hidden layer
LOOPS = 32  # traced walk loops a program keeps (a run needs one or two: its blocks' shapes)


class WalkProgram:
    """The compiled loop over steps for one chunk of walks.

    ``batching`` says where each step's training and test patterns come from: ``full`` (all
    patterns, every step), ``shared`` (index arrays [S, N] given to ``run``: one random batch
    per step, shared by all walks of the step, so the first layer of all walks is one GEMM) or
    ``per_walk`` (an independent batch for each walk, drawn inside from the walk's own stream; a
    batched skinny matmul). ``batch_size`` is the per-walk batch size.
    """

    def __init__(
        self,
        objective,
        record_params: bool = False,
        batching: str = "full",
        *,
        batch_size: int = 100,
        jit: bool = True,
        sampler: str = "gradient",
        walk_bounds: str = "none",
    ):
        """The compiled walk program of an objective.

        Args:
            objective: the ``fla.core.objective.Objective`` walked.
            record_params: whether steps return their points.
            batching: ``full`` (the whole training set), ``shared`` (one batch a step for all walks)
                or ``per_walk``.
            batch_size: the mini-batch size.
            jit: compile with XLA.
            sampler: the sampler's name (``fla.walks.samplers.SAMPLERS``).
            walk_bounds: ``none`` or ``reflect``.

        Raises:
            ValueError: an unknown batching, sampler or walk bounds.
        """
        import tensorflow as tf

        if batching not in ("full", "shared", "per_walk"):
            raise ValueError(f"batching must be full, shared or per_walk, got {batching!r}")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if walk_bounds not in WALK_BOUNDS:
            raise ValueError(
                f"walk_bounds must be one of {', '.join(WALK_BOUNDS)}, got {walk_bounds!r}"
            )
        self.objective = objective
        self.sampler = SAMPLERS[sampler]
        # the hidden layers' saturation, recorded where the activation has a measure of it
        self.saturation = objective.network.activation in MEASURED
        # a gradient walk kept inside [-b, b]^D by reflection (the other samplers always are)
        self.reflect = walk_bounds == "reflect" and not self.sampler.bounded
        self.record_params = record_params
        self.batching = batching
        self.batch_size = batch_size
        # The walk rule is elementwise, so the loop may keep theta as [D, B]: with shared inputs the
        # first-layer weights of all walks are then one contiguous GEMM operand (no transposes).
        self.feature_major = batching != "per_walk"
        # Feature-major, the walk state is a tuple of row blocks: one per layer for large networks
        # (see _step_fn), the whole of theta for small ones, where more, smaller programs cost more
        # than they save (bench/bench_step_forms.py times both on MNIST 784-10-10 and XOR 2-2-1).
        network = objective.network
        if self.feature_major and network.n_params >= LAYER_BLOCKS_MIN_PARAMS:
            self.state_blocks = [(w.start, b.stop) for w, b in network.slices()]
        else:
            self.state_blocks = [(0, network.n_params)]
        # Per-layer blocks also draw each step's Delta in the step before, as a program output (see
        # streams.packed_words_of_walks): the same words, each Philox block evaluated once.
        self.predraw = len(self.state_blocks) > 1 and self.sampler.draws_delta
        problem = objective.problem
        dtype = objective.dtype
        self.data = {
            "x_train": objective.x_train,
            "y_train": objective.y_train,
            "x_test": tf.constant(
                problem.x_test if problem.has_test else np.zeros((0, problem.n_inputs)), dtype
            ),
            "y_test": tf.constant(problem.y_test if problem.has_test else np.zeros((0,), np.int32)),
        }
        self.n_train, self.n_test = (
            len(problem.x_train),
            len(problem.x_test) if problem.has_test else 0,
        )
        self._step = tf.function(self._step_fn, jit_compile=jit, autograph=False)
        self._draw = tf.function(self._draw_fn, jit_compile=jit, autograph=False)
        self._loops = Kept(LOOPS)  # one graph function per traced shape (see loop_for)

    def run(
        self,
        theta,
        step_size: float,
        seed: int,
        first: int,
        step0: int,
        n_steps: int,
        train_idx=None,
        test_idx=None,
        width: int | None = None,
        record_params: bool | None = None,
        bound: float = 1.0,
    ):
        """Advance walks first .. first + B - 1 by ``n_steps``, in a program ``width`` walks wide
        (padding walks are computed and dropped). ``record_params`` says whether this call returns
        the points; either way the steps are the same compiled computation, so the walk is the same.

        Args:
            theta: [B, D] the walks' states (numpy).
            step_size: s.
            seed: the run's seed.
            first: the first walk's index.
            step0: the first step's index.
            n_steps: S, the steps taken.
            train_idx: [S, N] the shared training batches of the S steps.
            test_idx: [S, N] the shared test batches.
            width: the program's width (default B rounded up to 16).
            record_params: return the points (default the program's setting).
            bound: b of the samplers' domain.

        Returns:
            (theta after [B, D], records): ``loss``, ``accuracy``, ``grad_norm`` [S, B];
                ``test_loss``, ``test_accuracy`` [S, B] with a test split; ``params`` [S, B, D] if
                recorded.

        Raises:
            ValueError: more walks than the program is wide.
        """
        import tensorflow as tf

        from fla.walks.config import round_up

        # A walk's numbers depend on the width of the program and its position in it (kernels
        # block and vectorise by shape), so the caller fixes both: see fla.walks.config.chunk_width.
        theta = np.asarray(theta, np.float32)
        n = len(theta)
        width = width or round_up(n)
        if n > width:
            raise ValueError(f"{n} walks do not fit a program {width} wide")
        theta = np.concatenate([theta, np.zeros((width - n, theta.shape[1]), np.float32)])
        idx = lambda a: (
            tf.constant(a, tf.int32) if a is not None else tf.zeros([n_steps, 0], tf.int32)
        )
        if self.feature_major:
            state = tuple(
                tf.constant(theta.T[lo:hi], self.objective.dtype) for lo, hi in self.state_blocks
            )
        else:
            state = tf.constant(theta, self.objective.dtype)
        record = self.record_params if record_params is None else bool(record_params)
        train_idx, test_idx = idx(train_idx), idx(test_idx)
        trace = (width, n_steps, tuple(train_idx.shape), tuple(test_idx.shape), record)
        args = (
            state,
            tf.constant(step_size, self.objective.dtype),
            tf.constant(seed, tf.int64),
            tf.constant(first, tf.int64),
            tf.constant(step0, tf.int64),
            train_idx,
            test_idx,
            record,
            tf.constant(bound, self.objective.dtype),
        )
        with compile_cache.stable_names("walk", self.program_key(), trace):
            state, records = self.loop_for(trace, args)(*args, **self.data)
        records = {name: value.numpy() for name, value in records.items()}
        # per layer, [steps, layers, B]: as [steps, walks, layers]
        per_layer = {
            name: v[:, :, :n].transpose(0, 2, 1)
            for name, v in records.items()
            if name in LAYER_RECORDS
        }
        if self.feature_major:
            records = {
                name: v[:, :, :n].transpose(0, 2, 1) if name == "params" else v[:, :n]
                for name, v in records.items()
            }
            return self._whole(state).numpy().T[:n], {**records, **per_layer}
        records = {name: v[:, :n] for name, v in records.items()}
        return state.numpy()[:n], {**records, **per_layer}

    def loop_for(self, trace: tuple, args: tuple):
        """The walk loop's graph for one traced shape (width, steps, batches, record), traced once
        into a concrete function: the program is the one a shape always had, and TensorFlow, which
        counts the traces of a Python function, no longer warns of retracing in every sweep of
        several shapes. At most ``LOOPS`` are kept (the oldest goes).

        Args:
            trace: the shape's key.
            args: the arguments it is traced with.

        Returns:
            The concrete function.
        """
        import tensorflow as tf

        build = lambda: tf.function(self._loop_fn, autograph=False).get_concrete_function(
            *args, **self.data
        )
        return self._loops.get(trace, build)

    def program_key(self) -> tuple:
        """What the traced program depends on besides its input shapes (names it in the compile
        cache).

        Returns:
            A tuple of the objective's and the program's settings.
        """
        f = self.objective
        shapes = tuple(np.shape(v) for v in self.data.values()) + (tuple(f.x_train.shape),)
        return (
            (
                repr(f.network),
                f.problem.name,
                f.problem.kind,
                f.key,
                f.dtype.name,
                shapes,
                self.batching,
                self.batch_size,
                tuple(self.state_blocks),
            )
            + ((self.sampler.name,) if self.sampler.name != "gradient" else ())
            + (("reflect",) * self.reflect)
        )

    def _whole(self, state):
        """theta as one tensor ([D, B] feature-major, else [B, D]) from the loop's state."""
        import tensorflow as tf

        if not self.feature_major:
            return state
        return tf.concat(state, 0) if len(state) > 1 else state[0]

    def _draw_fn(self, seed, walks, step):
        """The packed Delta words of each state block at ``step``
        (``streams.packed_words_of_walks``)."""
        n = self.objective.n_params
        return tuple(
            streams.packed_words_of_walks(
                seed, streams.DELTA, step, walks=walks, n=n, coordinates=coordinates
            )
            for coordinates in self.state_blocks
        )

    def row_names(self) -> list:
        """The values a step records: loss (the data loss), accuracy and grad_norm (of the data loss
        plus the penalty), step_length (the Euclidean distance to the next point), and where they
        apply the penalty, the test batch's loss and accuracy and the hidden layers' saturation
        (``LAYER_RECORDS``).

        Returns:
            The names, in the order the program returns them.
        """
        f = self.objective
        names = ["loss", "accuracy", "grad_norm", "step_length"]
        names += ["penalty"] * f.regulariser.active
        names += ["test_loss", "test_accuracy"] * f.problem.has_test
        if self.saturation:
            names += ["saturated_units"]
            names += ["saturation"] * (f.network.activation in BOUNDED)
        return names

    def _step_fn(self, theta, drawn, seed, walks, step, step_size, x, y, xt, yt, bound=None):
        """Evaluate theta (loss, accuracy, gradient, [test]) and take one walk step, drawing its
        Delta.

        The one function that computes the gradient driving a walk, whatever is measured beside it.
        Feature-major (full or shared batches), the walk is evaluated by
        ``Objective.walk_values_at`` with the walks' axis last, and theta is the tuple of
        per-layer blocks [rows, B] of ``MLP.split``: the first layer's block is then its GEMM
        operand as it lies, each block's gradient comes out of its own products, and each block's
        Delta words are drawn by the step before, as packed program outputs (``predraw``,
        ``streams.packed_words_of_walks``: ``drawn`` holds this step's, the step returns the
        next step's, ``_draw_fn`` gives the first). Small networks draw Delta inside the update,
        fused. ``bench/bench_walks.py`` prints the MNIST 784-10-10
        shared step both ways."""
        import tensorflow as tf

        f = self.objective
        if not self.feature_major:
            theta = (theta,)
        points = tuple(self.sampler.position(block, bound) for block in theta)
        params = points if len(points) > 1 else points[0]
        # shared patterns: the test batch's first layer in the training batch's GEMM
        if self.feature_major:
            test = dict(x_test=xt, y_test=yt) if f.problem.has_test else {}
            values = f.walk_values_at(params, x, y, **test, saturation=self.saturation)
        else:
            values = f.walk_values_walks_first_at(params, x, y, saturation=self.saturation)
            if f.problem.has_test:
                test = f.data_loss_and_accuracy_at(params, xt, yt)
                values["test_loss"], values["test_accuracy"] = test
        grad = values["gradient"]
        grad = list(grad) if len(theta) > 1 else [grad]
        moved = [
            self._move(
                k,
                block,
                block_grad,
                drawn=drawn,
                seed=seed,
                walks=walks,
                step=step,
                step_size=step_size,
                bound=bound,
            )
            for k, (block, block_grad) in enumerate(zip(theta, grad))
        ]
        if self.feature_major:
            squares = tf.add_n([sum_of_squares_over_rows(g) for g in grad])
        else:
            squares = tf.add_n([tf.reduce_sum(g * g, -1) for g in grad])
        row = {name: values[name] for name in self.row_names() if name in values}
        row["grad_norm"] = tf.sqrt(squares)
        row["step_length"] = self._step_length(points, moved, bound)
        drawn = self._draw_fn(seed, walks, step + 1) if self.predraw else ()
        return (tuple(moved) if self.feature_major else moved[0]), drawn, row

    def _step_length(self, points, moved, bound):
        """|theta_{t+1} - theta_t| [B]: the distance from this row's point to the next (for a
        reflected or folded walk, between the points themselves), which the measures on slopes
        need (``fla.metrics``); computed beside the step, never part of it."""
        import tensorflow as tf

        gaps = [self.sampler.position(m, bound) - p for m, p in zip(moved, points)]
        if self.feature_major:
            squares = tf.add_n([sum_of_squares_over_rows(g) for g in gaps])
        else:
            squares = tf.add_n([tf.reduce_sum(g * g, -1) for g in gaps])
        return tf.sqrt(squares)

    def _move(self, k, block, block_grad, *, drawn, seed, walks, step, step_size, bound):
        """Block k of the state after this step, by the sampler's rule (``samplers``)."""
        f, coordinates = self.objective, self.state_blocks[k]
        words_of = lambda stream, at: streams.words_of_walks(
            seed,
            stream,
            at,
            walks=walks,
            n=f.n_params,
            feature_major=self.feature_major,
            coordinates=coordinates,
        )
        deltas = (
            (lambda: streams.unpack_words(drawn[k], f.n_params, coordinates))
            if self.predraw
            else (lambda: words_of(streams.DELTA, step))
        )
        dimension = lambda: streams.to_index(  # noqa: E731
            streams.words_of_walks(seed, streams.DIMENSION, step, walks=walks, n=1)[:, 0],
            f.n_params,
        )
        return self.sampler.move(
            Move(
                block=block,
                gradient=block_grad,
                deltas=deltas,
                words=words_of,
                dimension=dimension,
                step=step,
                step_size=step_size,
                bound=bound,
                dtype=f.dtype,
                coordinates=coordinates,
                feature_major=self.feature_major,
                reflect=self.reflect,
            )
        )

    def _loop_fn(
        self,
        theta,
        step_size,
        seed,
        first,
        step0,
        train_idx,
        test_idx,
        record_params,
        bound,
        x_train,
        y_train,
        x_test,
        y_test,
    ):
        import tensorflow as tf

        f = self.objective
        n_steps = train_idx.shape[0]
        n_walks = theta[0].shape[1] if self.feature_major else theta.shape[0]
        walks = first + tf.range(n_walks, dtype=tf.int64)
        names = self.row_names()
        names += ["params"] * record_params  # a Python bool: one trace each, sharing the step

        def body(t, theta, drawn, arrays):
            step = step0 + tf.cast(t, tf.int64)
            x, y, xt, yt = step_patterns(
                self,
                seed,
                walks,
                step=step,
                shared_train=train_idx[t],
                shared_test=test_idx[t],
                x_train=x_train,
                y_train=y_train,
                x_test=x_test,
                y_test=y_test,
            )
            inputs = (theta, drawn, seed, walks, step, step_size, x, y, xt, yt)
            if not (self.sampler.bounded or self.reflect):  # unbounded: no bound taken
                moved, drawn, row = self._step(*inputs)
            else:
                moved, drawn, row = self._step(*inputs, bound)
            if record_params:  # theta_t, the point the row describes
                row["params"] = self.sampler.position(self._whole(theta), bound)
            return (
                t + 1,
                moved,
                drawn,
                tuple(array.write(t, row[name]) for name, array in zip(names, arrays)),
            )

        arrays = tuple(tf.TensorArray(f.dtype, size=n_steps) for _ in names)
        drawn = self._draw(seed, walks, step0) if self.predraw else ()
        _, theta, _, arrays = tf.while_loop(
            lambda t, *_: t < n_steps, body, (tf.constant(0), theta, drawn, arrays)
        )
        return theta, {name: array.stack() for name, array in zip(names, arrays)}
