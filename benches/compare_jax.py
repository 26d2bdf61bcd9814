#!/usr/bin/env python3
"""Runs the same workloads in rjax and in JAX on this machine, in one run,
and prints both figures and their ratio (rjax speed / JAX speed: above 1
means rjax is faster), ending with one line `ratios: name=value ...`.

Usage: benches/compare_jax.py --python PATH_TO_PYTHON_WITH_JAX [--quick]

The rjax figures come from `cargo bench --bench workloads`; the JAX figures
from the same workloads written in jax.numpy, run by the given Python
(which needs `jax`). Each figure is the best of several repetitions after a
warm-up call, with `block_until_ready()` on every JAX result.

The Keras workloads (`digits_epoch`, `keras_linear`) run Keras 3 on the JAX
backend in a second process of the same Python (which then also needs
`keras`; without it they are skipped). Both sides use the repository's data:
- `digits_epoch`: one epoch of the digits MLP of `examples/digits_mlp.rs`
  (64 -> 128 relu -> dropout 0.2 -> 10, Adam, sparse categorical
  cross-entropy from logits, batch size 32, 1438 training images, validation
  on the other 359), steady state: the best epoch after the first.
- `keras_linear`: the chapter-3 linear classifier through Keras,
  `Sequential([Dense(1)])`, `compile(SGD(0.1), mse, binary_accuracy)`,
  `fit(epochs=40, batch_size=2000)` on `data/linear_classifier/points.csv`,
  end to end on a fresh model (building, tracing and compiling included).
"""
import argparse
import json
import os
import subprocess
import sys
import textwrap

JAX_SIDE = textwrap.dedent(r'''
    import json, sys, time
    import jax, jax.numpy as jnp
    quick = "--quick" in sys.argv
    reps = 3 if quick else 10
    def best_of(f):
        jax.block_until_ready(f())
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter(); jax.block_until_ready(f()); best = min(best, time.perf_counter() - t)
        return best
    def arr(shape, seed):
        return jax.random.uniform(jax.random.key(seed), shape, jnp.float32, -1.0, 1.0)
    out = {}
    for n in (256, 1024, 2048):
        a, b = arr((n, n), 1), arr((n, n), 2)
        f = jax.jit(lambda a, b: a @ b)
        out[f"matmul_{n}"] = [2 * n**3 / best_of(lambda: f(a, b)) / 1e9, "GFLOP/s"]
    for name, n in (("fused_1m", 1 << 20), ("fused_16m", 1 << 24)):
        x = arr((n,), 3)
        f = jax.jit(lambda x: jnp.tanh(x * 1.5 + 0.5) * 0.3 + jnp.exp(-x * x))
        out[name] = [8 * n / best_of(lambda: f(x)) / 1e9, "GB/s"]
    x = arr((1 << 24,), 4); f = jax.jit(jnp.sum)
    out["sum_16m"] = [4 * (1 << 24) / best_of(lambda: f(x)) / 1e9, "GB/s"]
    x = arr((4096, 1024), 5); f = jax.jit(lambda x: jax.nn.softmax(x, -1))
    out["softmax"] = [8 * 4096 * 1024 / best_of(lambda: f(x)) / 1e9, "GB/s"]
    def mlp_params(sizes):
        return [(arr((m, n), 10 + i) * (2.0 / m) ** 0.5, jnp.zeros(n)) for i, (m, n) in enumerate(zip(sizes, sizes[1:]))]
    def mlp_loss(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i + 1 < len(params):
                h = jax.nn.relu(h)
        return -(jax.nn.log_softmax(h, -1) * y).sum(-1).mean()
    params = mlp_params([784, 512, 512, 10]); x = arr((128, 784), 6)
    y = jax.nn.one_hot(jnp.arange(128) % 10, 10)
    @jax.jit
    def step(p, x, y):
        g = jax.grad(mlp_loss)(p, x, y)
        return jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, p, g)
    state = [params]
    def run():
        state[0] = step(state[0], x, y); return state[0]
    out["mlp_step"] = [1 / best_of(run), "steps/s"]
    for depth in (2, 8, 32):
        jax.clear_caches()
        p = mlp_params([64] * (depth + 1)); xx = arr((32, 64), 7)
        yy = jax.nn.one_hot(jnp.arange(32) % 64, 64)
        t = time.perf_counter()
        jax.block_until_ready(jax.jit(jax.grad(mlp_loss))(p, xx, yy))
        out[f"compile_d{depth}"] = [time.perf_counter() - t, "s (first call)"]
    a, b = arr((4,), 8), arr((4,), 9)
    iters = 2000 if quick else 20000
    def many():
        for _ in range(iters):
            c = a + b
        return c
    out["eager_add"] = [best_of(many) / iters * 1e6, "us/op"]
    jax.clear_caches()
    x = arr((2000, 2), 11); y = (x.sum(-1, keepdims=True) > 0).astype(jnp.float32)
    t = time.perf_counter()
    @jax.jit
    def lin_step(p, x, y):
        loss = lambda p: jnp.mean(jnp.square(x @ p[0] + p[1] - y))
        l, g = jax.value_and_grad(loss)(p)
        return l, jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, p, g)
    p = (jnp.zeros((2, 1)), jnp.zeros((1,)))
    for _ in range(40):
        l, p = lin_step(p, x, y)
    jax.block_until_ready(p)
    out["linear_classifier"] = [time.perf_counter() - t, "s"]
    key = jax.random.key(0); f = jax.jit(lambda k: jax.random.normal(k, (1 << 24,), jnp.float32))
    out["normal_16m"] = [(1 << 24) / best_of(lambda: f(key)) / 1e9, "Gsamples/s"]
    print(json.dumps(out))
''')

KERAS_SIDE = textwrap.dedent(r'''
    import gzip, json, os, sys, time
    os.environ["KERAS_BACKEND"] = "jax"   # before importing keras
    import numpy as np
    import keras
    quick = "--quick" in sys.argv
    root = sys.argv[1]
    reps = 3 if quick else 10
    out = {}

    rows = np.loadtxt(gzip.open(os.path.join(root, "data/digits.csv.gz"), "rt"), delimiter=",", dtype=np.int32)
    x = (rows[:, :64] / 16.0).astype(np.float32); y = rows[:, 64]
    order = np.random.default_rng(0).permutation(len(y)); n_train = len(y) - round(0.2 * len(y))
    xt, yt, xv, yv = x[order[:n_train]], y[order[:n_train]], x[order[n_train:]], y[order[n_train:]]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["sparse_categorical_accuracy"])
    class EpochTimes(keras.callbacks.Callback):   # time between epoch ends, as the rjax side
        def on_train_begin(self, logs=None):
            self.last = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter(); times.append(now - self.last); self.last = now
    times = []
    model.fit(xt, yt, batch_size=32, epochs=1 + reps, validation_data=(xv, yv), shuffle=True,
              callbacks=[EpochTimes()], verbose=0)
    out["digits_epoch"] = [min(times[1:]), "s"]

    pts = np.loadtxt(os.path.join(root, "data/linear_classifier/points.csv"), delimiter=",", skiprows=1, dtype=np.float32)
    px, py = pts[:, :2], pts[:, 2:]
    def linear_fit():
        m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        m.compile(keras.optimizers.SGD(0.1), "mean_squared_error", metrics=["binary_accuracy"])
        t = time.perf_counter()
        m.fit(px, py, epochs=40, batch_size=2000, shuffle=False, verbose=0)
        return time.perf_counter() - t
    out["keras_linear"] = [min(linear_fit() for _ in range(reps)), "s"]
    print(json.dumps(out))
''')

# Units where a smaller figure is better: the ratio is JAX's over rjax's.
LOWER_IS_BETTER = ("s (first call)", "us/op", "s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", required=True, help="a Python interpreter with jax installed")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    extra = ["--quick"] if args.quick else []
    rjax = subprocess.run(
        ["cargo", "bench", "--quiet", "--bench", "workloads", "--"] + extra,
        cwd=root, check=True, capture_output=True, text=True,
    )
    rjax_figures = json.loads(rjax.stdout.strip().splitlines()[-1])
    jax = subprocess.run([args.python, "-c", JAX_SIDE] + extra, check=True, capture_output=True, text=True)
    jax_figures = json.loads(jax.stdout.strip().splitlines()[-1])
    keras = subprocess.run([args.python, "-c", KERAS_SIDE, root] + extra, capture_output=True, text=True)
    if keras.returncode == 0:
        jax_figures.update(json.loads(keras.stdout.strip().splitlines()[-1]))
    else:
        print("Keras workloads skipped (keras on the JAX backend failed):", keras.stderr.strip().splitlines()[-1:])
    print(f"{'workload':<16} {'rjax':>14} {'jax':>14}  {'unit':<16} {'ratio':>7}")
    ratios = []
    for name, (value, unit) in rjax_figures.items():
        if name not in jax_figures:
            continue
        other = jax_figures[name][0]
        ratio = other / value if unit in LOWER_IS_BETTER else value / other
        ratios.append(f"{name}={ratio:.3f}")
        print(f"{name:<16} {value:>14.4g} {other:>14.4g}  {unit:<16} {ratio:>7.3f}")
    print("ratios: " + " ".join(ratios))


if __name__ == "__main__":
    sys.exit(main())
