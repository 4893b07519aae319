"""ipywidgets explorers for the lessons. Each function names the lesson that uses it.

Every explorer is a thin shell around a plain function (the "view") that takes the slider values
and returns text and a figure; the lessons call those views directly too, so nbval compares real
output, and no slider value can raise a traceback.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

# ---- lessons 0-2 ----

# ---- lessons 3-5 ----

# ---- lessons 6-8 ----

# -- lesson 6: live curves and the hyperparameter explorer (notebooks/06_training.ipynb) --

def draw_live_curves(history, epochs=None):
    """Accuracy per epoch (train 'o', test 's') and loss per step of a (running) history; the
    figure the live callback redraws. Taught in notebooks/06_training.ipynb."""
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = np.arange(1, len(history["test_acc"]) + 1)
    ax1.plot(ep, history["train_acc"], marker="o", label="train")
    ax1.plot(ep, history["test_acc"], marker="s", label="test")
    ax1.set_xlim(0.5, (epochs or max(len(ep), 1)) + 0.5)
    ax1.set_ylim(0, 1)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("accuracy")
    ax1.legend(loc="lower right")
    ax2.plot(np.arange(1, len(history["loss"]) + 1), history["loss"], lw=0.8)
    ax2.set_xlabel("step (mini-batch)")
    ax2.set_ylabel("loss")
    fig.tight_layout()
    return fig


class LiveCurves:
    """A Trainer callback that redraws the curves in place after every epoch.

    ``cb = LiveCurves(epochs)`` then ``Trainer(..., callback=cb)``. The figure lives in one
    display slot (IPython ``display_id``), so the notebook keeps the final picture.
    Taught in notebooks/06_training.ipynb.
    """

    def __init__(self, epochs=None):
        self.epochs, self.handle = epochs, None

    def __call__(self, history):
        import matplotlib.pyplot as plt
        from IPython.display import display
        fig = draw_live_curves(history, self.epochs)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)


SIMPLE_SLIDERS = {"filter_num": (1, 64, 1, 30), "filter_size": (1, 12, 1, 5),
                  "stride": (1, 4, 1, 1), "hidden_size": (10, 300, 10, 100)}
"""Slider ranges (min, max, step, default) of the SimpleConvNet explorer. Every combination
in range builds a valid net (the smallest conv output is (28 - 12) // 4 + 1 = 5 >= the 2x2 pool)."""


def simple_convnet_view(filter_num=30, filter_size=5, stride=1, hidden_size=100, pad=0, input_size=28,
                        seed=0):
    """Describe the SimpleConvNet these hyperparameters build: every layer's output size worked
    out with the formula, rows the stride leaves uncovered, and the parameter count. Returns
    (text, net or None); an invalid combination returns a message saying why, never raises.

    Taught in notebooks/06_training.ipynb.
    """
    from .arith import uncovered
    from .nets import SimpleConvNet
    try:
        net = SimpleConvNet(input_dim=(1, input_size, input_size),
                            conv_param={"filter_num": filter_num, "filter_size": filter_size,
                                        "pad": pad, "stride": stride},
                            hidden_size=hidden_size, seed=seed)
    except (ValueError, TypeError) as e:
        why = str(e)
        if "kernel" in why and "padded input" in why and isinstance(filter_size, int) \
                and isinstance(stride, int) and filter_size <= input_size + 2 * pad and stride >= 1:
            OH = (input_size + 2 * pad - filter_size) // stride + 1
            why = (f"the conv output is {OH} x {OH}, too small for the 2 x 2 pooling window "
                   f"(needs at least 2 x 2); use a smaller filter or stride")
        return f"Invalid combination: {why}", None
    shapes = dict(net.shapes)
    _, OH, OW = shapes["Conv1"]
    _, PH, PW = shapes["Pool1"]
    lines = [f"Conv1:   OH = ({input_size} + 2*{pad} - {filter_size}) // {stride} + 1 = {OH}  "
             f"-> {filter_num} x {OH} x {OW}"]
    left = uncovered(input_size, filter_size, stride, pad)
    if left:
        lines.append(f"         note: stride {stride} leaves the last {left} row(s) and column(s) "
                     f"of the input unseen")
    lines.append(f"Pool1:   {OH} // 2 = {PH}  -> {filter_num} x {PH} x {PW}"
                 + ("   (odd size: the last row/column is dropped)" if OH % 2 else ""))
    D = filter_num * PH * PW
    lines.append(f"Affine1: {filter_num}*{PH}*{PW} = {D} inputs -> {hidden_size} hidden units")
    lines.append(f"Affine2: {hidden_size} -> 10 class scores")
    n = sum(p.size for p in net.params.values())
    lines.append(f"Parameters: {n:,}")
    return "\n".join(lines), net


def train_briefly(filter_num, filter_size, stride, hidden_size, lr, data, epochs=1,
                  mini_batch_size=100, seed=0):
    """Build a SimpleConvNet with these hyperparameters, train it on ``data`` = (x_train,
    t_train, x_test, t_test) (a small subset) and return (text report, history or None).
    Seeded: the same arguments give the same numbers. Taught in notebooks/06_training.ipynb."""
    from .train import Trainer
    text, net = simple_convnet_view(filter_num, filter_size, stride, hidden_size, seed=seed)
    if net is None:
        return text, None
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not 0 < lr < np.inf:
        return f"Invalid learning rate {lr!r}: expected a positive number", None
    x_train, t_train, x_test, t_test = data
    h = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=mini_batch_size,
                optimizer="adam", optimizer_param={"lr": float(lr)}, train_eval_size=len(x_train),
                seed=seed, verbose=False).train()
    report = (f"filters {filter_num}, size {filter_size}, stride {stride}, hidden {hidden_size}, "
              f"lr {lr:.0e}: after {epochs} epoch(s) on {len(x_train)} images, "
              f"train acc {h['train_acc'][-1]:.2f}, test acc {h['test_acc'][-1]:.2f} "
              f"({len(x_test)} test images)")
    return report, h


def hyperparameter_explorer(data, epochs=1):
    """Sliders for SimpleConvNet's filters, filter size, stride, hidden size and learning rate;
    the layer sizes update as you drag, and a button trains the net briefly on ``data`` (a small
    subset, see ``train_briefly``) and reports its accuracy. Taught in notebooks/06_training.ipynb."""
    from IPython.display import display
    sl = {k: widgets.IntSlider(value=d, min=lo, max=hi, step=st, description=k.replace("_", " "),
                               continuous_update=False)
          for k, (lo, hi, st, d) in SIMPLE_SLIDERS.items()}
    lr = widgets.FloatLogSlider(value=1e-3, base=10, min=-4, max=-1, step=0.25,
                                description="learning rate", readout_format=".0e",
                                continuous_update=False)
    style = {"description_width": "initial"}
    for w in list(sl.values()) + [lr]:
        w.style = style
    summary = widgets.Output()
    result = widgets.Output()
    button = widgets.Button(description="Train briefly", button_style="primary")

    def show_summary(_=None):
        text, _net = simple_convnet_view(**{k: w.value for k, w in sl.items()})
        summary.clear_output(wait=True)
        with summary:
            print(text)

    def on_click(_):
        result.clear_output(wait=True)
        with result:
            print("training ...")
        button.disabled = True
        try:
            text, _h = train_briefly(lr=lr.value, data=data, epochs=epochs,
                                     **{k: w.value for k, w in sl.items()})
        finally:
            button.disabled = False
        result.clear_output(wait=True)
        with result:
            print(text)

    for w in sl.values():
        w.observe(show_summary, names="value")
    button.on_click(on_click)
    show_summary()
    box = widgets.VBox([widgets.HBox([widgets.VBox(list(sl.values()) + [lr]), summary]),
                        button, result])
    display(box)
    return box


# -- lesson 7: feature maps of a chosen test digit (notebooks/07_what_the_network_sees.ipynb) --

def feature_map_view(net, x, t, index, layers=None, max_maps=8):
    """Text (label, prediction, each shown layer's shape) and the feature-map figure for test image
    ``index`` of ``x`` (labels ``t``). An index out of range is clipped into range and said so.
    Taught in notebooks/07_what_the_network_sees.ipynb."""
    from .plots import plot_feature_maps
    n = len(x)
    note = ""
    if not 0 <= index < n:
        note = f" (index {index} is outside 0..{n - 1}; showing {min(max(index, 0), n - 1)})"
        index = min(max(index, 0), n - 1)
    scores = net.predict(np.asarray(x[index:index + 1]))[0]
    p = np.exp(scores - scores.max())
    p /= p.sum()
    pred = int(p.argmax())
    text = (f"Test image #{index}{note}: label {int(t[index])}, predicted {pred} "
            f"(softmax {p[pred]:.2f})")
    fig = plot_feature_maps(net, x[index], layers=layers, max_maps=max_maps)
    return text, fig


def feature_map_explorer(net, x, t, layers=None, max_maps=8):
    """A slider over the test images; shows each image's feature maps layer by layer.
    Taught in notebooks/07_what_the_network_sees.ipynb."""
    import matplotlib.pyplot as plt

    def show(index):
        text, fig = feature_map_view(net, x, t, index, layers, max_maps)
        print(text)
        plt.show()

    return widgets.interact(show, index=widgets.IntSlider(0, 0, len(x) - 1, description="test image",
                                                          continuous_update=False))


def filter_response_explorer(W, b, x, filters=(0, 1, 2, 3, 4, 5)):
    """A slider over images: the chosen first-layer filters applied to each.
    Taught in notebooks/07_what_the_network_sees.ipynb."""
    import matplotlib.pyplot as plt
    from .plots import plot_filter_responses

    def show(index):
        plot_filter_responses(W, b, x[index], filters)
        plt.show()

    return widgets.interact(show, index=widgets.IntSlider(0, 0, len(x) - 1, description="test image",
                                                          continuous_update=False))


# -- lesson 8: AlexNet's ingredients (notebooks/08_classic_cnns.ipynb) --

def dropout_view(ratio=0.5, seed=0, size=(6, 10)):
    """What Dropout does to a block of ones in training and at test time: (text, figure).
    Our Dropout is 'inverted': survivors are scaled by 1/(1 - ratio) so the mean stays 1 and the
    test pass is the identity. Taught in notebooks/08_classic_cnns.ipynb."""
    import matplotlib.pyplot as plt
    from .layers import Dropout
    if not (isinstance(ratio, (int, float)) and 0 <= ratio < 1):
        return f"Invalid ratio {ratio!r}: expected 0 <= ratio < 1", None
    d = Dropout(ratio, rng=seed)
    x = np.ones((1, 1) + tuple(size))                                        # (1, 1, H, W)
    y_train, y_test = d.forward(x, train_flg=True), d.forward(x, train_flg=False)
    kept = int(np.count_nonzero(y_train))
    text = (f"ratio {ratio:.2f}: training keeps {kept} of {x.size} units, each scaled to "
            f"{1 / (1 - ratio):.2f}; mean {y_train.mean():.2f}. Test: all {x.size} kept, mean "
            f"{y_test.mean():.2f}")
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.2))
    vmax = 1 / (1 - ratio)
    for ax, y, name in ((axes[0], y_train, "training (train_flg=True)"),
                        (axes[1], y_test, "test (train_flg=False)")):
        ax.imshow(y[0, 0], cmap="Greens", vmin=0, vmax=vmax)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return text, fig


def dropout_explorer():
    """A ratio slider (and a seed slider) for ``dropout_view``. Taught in
    notebooks/08_classic_cnns.ipynb."""
    import matplotlib.pyplot as plt

    def show(ratio, seed):
        text, _fig = dropout_view(ratio, seed)
        print(text)
        plt.show()

    return widgets.interact(show, ratio=widgets.FloatSlider(0.5, min=0.0, max=0.9, step=0.1,
                                                            description="ratio",
                                                            continuous_update=False),
                            seed=widgets.IntSlider(0, 0, 9, description="seed",
                                                   continuous_update=False))


def lrn_view(alpha=1e-4, beta=0.75, k=2.0, n=5, values=(1.0, 2.0, 8.0, 2.0, 1.0, 0.5)):
    """Local response normalisation of one pixel across channels: (text table, scale factors).
    A channel whose neighbours are strong is damped more. Taught in notebooks/08_classic_cnns.ipynb."""
    from .layers import LRN
    try:
        layer = LRN(n=n, k=k, alpha=alpha, beta=beta)
    except ValueError as e:
        return f"Invalid LRN setting: {e}", None
    x = np.asarray(values, dtype=float).reshape(1, -1, 1, 1)                 # (1, C, 1, 1)
    y = layer.forward(x)
    ratio = (y / x)[0, :, 0, 0]
    rows = [f"LRN(n={n}, k={k:g}, alpha={alpha:g}, beta={beta:g})",
            "channel   input   output   output/input"]
    for c, (a, b, r) in enumerate(zip(x[0, :, 0, 0], y[0, :, 0, 0], ratio)):
        rows.append(f"{c:7d} {a:7.2f} {b:8.4f} {r:10.4f}")
    return "\n".join(rows), ratio


def lrn_explorer(values=(1.0, 2.0, 8.0, 2.0, 1.0, 0.5)):
    """Sliders for LRN's alpha (log scale) and beta on a fixed one-pixel example.
    Taught in notebooks/08_classic_cnns.ipynb."""

    def show(alpha, beta):
        print(lrn_view(alpha=alpha, beta=beta, values=values)[0])

    return widgets.interact(show, alpha=widgets.FloatLogSlider(1e-4, base=10, min=-5, max=1, step=0.5,
                                                               description="alpha",
                                                               continuous_update=False),
                            beta=widgets.FloatSlider(0.75, min=0.0, max=2.0, step=0.25,
                                                     description="beta", continuous_update=False))
