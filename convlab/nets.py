"""Networks: a stack of layers ending in SoftmaxWithLoss, with the book's interface
(``params``, ``predict``, ``loss``, ``accuracy``, ``gradient``, ``numerical_gradient``,
``save_params``, ``load_params``).

SimpleConvNet is taught in ``notebooks/06_training.ipynb``; LeNet, AlexNet-style and the deeper
net in ``notebooks/08_classic_cnns.ipynb``. Every size is computed exactly in integers, so any
filter size, stride and pad that gives a valid network works.
"""
from __future__ import annotations

import contextvars
import hashlib
import inspect
import json
import os

import numpy as np

from .arith import check_int
from .atomic import commit
from .gradcheck import numerical_gradient as _numerical_gradient
from .layers import (LRN, Affine, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss,
                     check_labels)
from .npz import NpzArchive

__all__ = ["Net", "SimpleConvNet", "LeNet", "AlexNetStyle", "DeepConvNet", "build_net", "load_net",
           "NETS", "registry_name", "params_digest"]


# load_net sets this to the number of values its file holds, so that a config describing a
# larger net is refused before its arrays are allocated.
_VALUE_BUDGET = contextvars.ContextVar("convlab_value_budget", default=None)


def _within_budget(n_values):
    budget = _VALUE_BUDGET.get()
    if budget is not None and n_values > budget:
        raise ValueError(f"the net described needs more parameter values than the {budget:,} "
                         f"the file holds")
    return n_values


def _init_std(weight_init_std, fan_in):
    """A number is used as is; 'he'/'relu' gives sqrt(2/fan_in), 'xavier'/'sigmoid' sqrt(1/fan_in)."""
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key in ("he", "relu"):
            return np.sqrt(2.0 / fan_in)
        if key in ("xavier", "sigmoid"):
            return np.sqrt(1.0 / fan_in)
        raise ValueError(f"weight_init_std must be a number, 'he' or 'xavier', got {weight_init_std!r}")
    if not np.isfinite(weight_init_std) or weight_init_std <= 0:
        raise ValueError(f"weight_init_std must be a positive number, got {weight_init_std!r}")
    return float(weight_init_std)


class Net:
    """A feed-forward net built from a spec: a list of (kind, options) steps, for example::

        [("conv", dict(filter_num=30, filter_size=5)), ("relu", {}), ("pool", dict(size=2)),
         ("affine", dict(size=100)), ("relu", {}), ("affine", dict(size=10))]

    kinds: conv (filter_num, filter_size, stride=1, pad=0), pool (size, stride=size, pad=0,
    mode='max'|'avg'), affine (size), relu, sigmoid, dropout (ratio), lrn (n, k, alpha, beta).
    Layers are named like the book's (Conv1, Relu1, Pool1, Affine1, ...); parameters W1, b1,
    W2, b2, ... in order of the layers that own them. ``seed`` (int or Generator) makes the
    initialisation reproducible; ``dtype`` is float32 (fast) or float64 (gradient checks).
    ``dataset`` names the data the params were trained on ("mnist", "fashion-mnist"; None:
    not recorded); params files keep it as ``__dataset__``.
    """

    dataset = None

    def __new__(cls, *args, **kwargs):
        # Remember the constructor's arguments (defaults filled in) for ``config``, so no net
        # class writes its own description: seed, dtype and input_grad do not describe the net.
        self = super().__new__(cls)
        bound = inspect.signature(cls.__init__).bind(self, *args, **kwargs)
        bound.apply_defaults()
        self._init_kwargs = {k: v for k, v in list(bound.arguments.items())[1:]
                             if k not in ("seed", "dtype", "input_grad")}
        return self

    def __init__(self, input_dim=(1, 28, 28), spec=(), weight_init_std=0.01, seed=None,
                 dtype=np.float32, input_grad=False):
        if len(input_dim) != 3:
            raise ValueError(f"input_dim must be (C, H, W), got {input_dim!r}")
        self.input_dim = tuple(check_int(f"input_dim[{i}]", v, 1) for i, v in enumerate(input_dim))
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        rng = np.random.default_rng(seed)
        self.layers = {}                 # name -> layer, in order
        self.params = {}                 # W1, b1, ... (the same arrays the layers hold)
        self._owner = {}                 # param name -> (layer, attribute)
        self.shapes = [("input", self.input_dim)]
        shape, counts, n_param, n_values = self.input_dim, {}, 0, 0
        for kind, opt in spec:
            opt = dict(opt)
            kind = kind.lower()
            if kind == "conv":
                C = shape[0]
                fs = opt.get("filter_size", 5)
                FH, FW = (fs, fs) if np.isscalar(fs) else fs
                FN = check_int("filter_num", opt["filter_num"], 1)
                n_values = _within_budget(n_values + FN * (C * FH * FW + 1))
                std = _init_std(weight_init_std, C * FH * FW)
                W = (std * rng.standard_normal((FN, C, FH, FW))).astype(self.dtype)
                layer = Convolution(W, np.zeros(FN, self.dtype), opt.get("stride", 1), opt.get("pad", 0))
                layer.need_dx = bool(input_grad or self.layers)  # any earlier layer needs dout
                shape = layer.output_shape(shape)
                name = "Conv"
            elif kind == "pool":
                size = opt.get("size", 2)
                layer = Pooling(size, size, opt.get("stride", size), opt.get("pad", 0), opt.get("mode", "max"))
                shape = layer.output_shape(shape)
                name = "Pool"
            elif kind == "affine":
                D = int(np.prod(shape))
                M = check_int("size", opt["size"], 1)
                n_values = _within_budget(n_values + (D + 1) * M)
                std = _init_std(weight_init_std, D)
                layer = Affine((std * rng.standard_normal((D, M))).astype(self.dtype), np.zeros(M, self.dtype))
                shape = (M,)
                name = "Affine"
            elif kind == "relu":
                layer, name = Relu(), "Relu"
            elif kind == "sigmoid":
                layer, name = Sigmoid(), "Sigmoid"
            elif kind == "dropout":
                layer, name = Dropout(opt.get("ratio", 0.5), rng=rng.spawn(1)[0]), "Dropout"
            elif kind == "lrn":
                layer, name = LRN(**opt), "LRN"
            else:
                raise ValueError(f"unknown layer kind {kind!r} in spec")
            counts[name] = counts.get(name, 0) + 1
            lname = f"{name}{counts[name]}"
            self.layers[lname] = layer
            self.shapes.append((lname, tuple(shape)))
            if hasattr(layer, "W"):
                n_param += 1
                for attr in ("W", "b"):
                    self.params[f"{attr}{n_param}"] = getattr(layer, attr)
                    self._owner[f"{attr}{n_param}"] = (layer, attr)
        if len(shape) != 1:
            raise ValueError("spec must end with an affine layer producing the class scores")
        self.output_size = shape[0]
        self.last_layer = SoftmaxWithLoss()
        self._spec_kwargs = {"input_dim": self.input_dim, "spec": [[k, dict(o)] for k, o in spec],
                             "weight_init_std": weight_init_std}

    @property
    def config(self):
        """What ``save_params`` stores and ``load_net`` rebuilds from (JSON-friendly):
        ``{"net": <name in NETS>, "kwargs": <constructor arguments>}``; a net that is not in the
        registry is stored as its layers, ``{"net": None, "kwargs": {input_dim, spec, ...}}``."""
        name = registry_name(type(self), self._init_kwargs)
        if name is None:
            return {"net": None, "kwargs": _jsonable(self._spec_kwargs)}
        fixed = NETS[name][1]
        return {"net": name, "kwargs": _jsonable({k: v for k, v in self._init_kwargs.items()
                                                  if k not in fixed})}

    # -- forward ------------------------------------------------------------------------------
    def _check_x(self, x):
        x = np.asarray(x)
        if x.ndim == 2 and x.shape[1] == int(np.prod(self.input_dim)):  # flattened images
            x = x.reshape((-1,) + self.input_dim)
        if x.ndim != 4 or x.shape[1:] != self.input_dim:
            raise ValueError(f"x must have shape (N, C, H, W) = (N, {', '.join(map(str, self.input_dim))}), "
                             f"got {x.shape}")
        return x.astype(self.dtype, copy=False)

    def activations(self, x, train_flg=False):
        """[(layer name, output), ...] for every layer in order: ``predict`` step by step (the
        last output is the class scores). Taught in notebooks/07_what_the_network_sees.ipynb."""
        x = self._check_x(x)
        out = []
        for name, layer in self.layers.items():
            x = layer.forward(x, train_flg) if getattr(layer, "uses_train_flg", False) else layer.forward(x)
            out.append((name, x))
        return out

    def predict(self, x, train_flg=False):
        """Class scores (N, output_size) before the softmax."""
        x = self._check_x(x)
        for layer in self.layers.values():
            x = layer.forward(x, train_flg) if getattr(layer, "uses_train_flg", False) else layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        """Mean cross-entropy loss for images x and labels t (integer or one-hot)."""
        return self.last_layer.forward(self.predict(x, train_flg), t)

    def accuracy(self, x, t, batch_size=100):
        """Fraction of correctly classified samples; every sample counts, a partial last batch too."""
        x = self._check_x(x)
        if x.shape[0] == 0:              # as predict refuses it: no fraction of no images
            raise ValueError(f"x must not be empty (at least one sample, N >= 1), got shape {x.shape}")
        t = check_labels(t, x.shape[0], self.output_size)
        batch_size = check_int("batch_size", batch_size, 1)
        correct = 0
        for i in range(0, x.shape[0], batch_size):
            correct += int(np.sum(self.predict(x[i:i + batch_size]).argmax(axis=1) == t[i:i + batch_size]))
        return correct / x.shape[0]

    # -- gradients ----------------------------------------------------------------------------
    def gradient(self, x, t, train_flg=True):
        """Backprop gradients of the loss, a dict keyed like ``params``."""
        self.loss(x, t, train_flg)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {k: getattr(layer, "d" + attr) for k, (layer, attr) in self._owner.items()}

    def numerical_gradient(self, x, t, h=1e-5):
        """Central-difference gradients of the loss (slow: two forward passes per parameter)."""
        x = self._check_x(x)
        return {k: _numerical_gradient(lambda: float(self.loss(x, t)), p, h).astype(p.dtype)
                for k, p in self.params.items()}

    # -- saving and loading (.npz, never pickle) --------------------------------------------------
    def save_params(self, file_name="params.npz"):
        """Save every parameter (and the net's configuration, as JSON text) to an .npz file,
        atomically: the file holds either its previous content or all of the new one."""
        commit([(file_name, self.write_params)])

    def write_params(self, f):
        """Write the .npz content of ``save_params`` to the open binary file ``f``."""
        extra = {} if self.dataset is None else {"__dataset__": np.array(str(self.dataset))}
        np.savez(f, __config__=np.array(json.dumps(self.config)), **extra, **self.params)

    def load_params(self, file_name="params.npz"):
        """Load parameters saved by ``save_params``. All or nothing: every name, shape, dtype kind
        (floating point) and value (finite) is checked before any parameter changes; a file made
        for another input shape or class count is refused with a message that says so. Names,
        shapes and dtypes are checked from the zip directory and the arrays' headers, before any
        array is read: an unknown or oversized member is never decompressed."""
        where = f"params file {os.fspath(file_name)!r}"
        with NpzArchive(file_name) as z:
            if "__config__" in z.names:
                self._check_made_for_me(_parse_config(_read_config(z, where), where), where)
            dataset = _parse_dataset(z, where)
            names = set(z.names) - {"__config__", "__dataset__"}
            missing = sorted(set(self.params) - names)
            extra = sorted(names - set(self.params))
            if missing:
                raise ValueError(f"{where} lacks parameter(s) {missing}; this net needs {sorted(self.params)}")
            if extra:
                raise ValueError(f"{where} has unexpected parameter(s) {extra}; this net has {sorted(self.params)}")
            for k, p in self.params.items():
                shape, dtype = z.header(k)
                if dtype.kind != "f":
                    raise ValueError(f"parameter {k} in {where} must hold floating-point numbers, "
                                     f"got dtype {dtype}")
                if shape != p.shape:
                    raise ValueError(f"parameter {k} in {where} has shape {shape}, this net expects {p.shape}")
            arrays = {k: z.read(k) for k in self.params}
        for k, a in arrays.items():
            if not np.all(np.isfinite(a)):
                raise ValueError(f"parameter {k} in {where} holds NaN or infinite values "
                                 f"(saved from a diverged run?); expected finite numbers")
        for k, p in self.params.items():
            p[...] = arrays[k]           # in place: the layers hold these very arrays
        self.dataset = dataset
        return self

    def _check_made_for_me(self, config, where):
        made_for = config["kwargs"].get("input_dim")
        if made_for is not None and tuple(made_for) != self.input_dim:
            raise ValueError(f"{where} is a net for input images (C, H, W) = {tuple(made_for)}; "
                             f"this net takes {self.input_dim}")

    def __repr__(self):
        rows = [f"{name:<10s} -> {shape}" for name, shape in self.shapes]
        n = sum(p.size for p in self.params.values())
        return f"{type(self).__name__} ({n:,} parameters, {self.dtype.name})\n  " + "\n  ".join(rows)


# The longest __config__ a params file may hold (a net's configuration is a few hundred
# characters; a spec of many layers a few thousand) and how deeply it may nest (a spec: 6 levels).
_CONFIG_CHARS = 100_000
_CONFIG_DEPTH = 20


def _read_text(z, name, where, what, max_chars):
    """Entry ``name`` of the open NpzArchive ``z``: one text of at most ``max_chars`` characters,
    checked from its header before it is read."""
    shape, dtype = z.header(name)
    if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * max_chars:
        raise ValueError(f"{where}: {name} must be {what} of at most {max_chars:,} characters, "
                         f"got an array {dtype} {shape}")
    return str(z.read(name))


def _read_config(z, where):
    return _read_text(z, "__config__", where, "one JSON text", _CONFIG_CHARS)


def _parse_dataset(z, where):
    """The ``__dataset__`` entry of the open params file ``z`` (a name in ``DATASETS``), or None
    when the file has none."""
    from .data import DATASETS   # here: `import convlab` must not import convlab.data (-m convlab.data)
    if "__dataset__" not in z.names:
        return None
    name = _read_text(z, "__dataset__", where, "one dataset name", 100)
    if name not in DATASETS:
        raise ValueError(f"{where}: __dataset__ must be one of {list(DATASETS)}, got {name!r}")
    return name


def _depth(value):
    """How deeply lists and dicts nest in ``value`` (a number or text: 0), without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d + 1)
            todo.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def _parse_config(text, where):
    """The ``__config__`` text of a params file as {"net": name or None, "kwargs": dict}."""
    try:
        config = json.loads(text)
        too_deep = _depth(config) > _CONFIG_DEPTH
    except RecursionError:                  # nested deeper than Python's recursion limit
        too_deep = True
    except ValueError as e:
        raise ValueError(f"{where}: __config__ is not valid JSON ({e})") from None
    if too_deep:
        raise ValueError(f"{where}: __config__ must nest at most {_CONFIG_DEPTH} levels deep "
                         f"(a net's configuration), got JSON nested deeper")
    if isinstance(config, dict) and "class" in config and "net" not in config:
        config = _from_old_config(config)
    if (not isinstance(config, dict) or set(config) != {"net", "kwargs"}
            or not isinstance(config["kwargs"], dict)
            or not (config["net"] is None or isinstance(config["net"], str))):
        raise ValueError(f"{where}: __config__ must be a JSON object {{\"net\": name or null, "
                         f"\"kwargs\": {{...}}}}, got {text[:200]!r}")
    if config["net"] is not None and config["net"] not in NETS:
        raise ValueError(f"{where}: __config__ names an unknown net {config['net']!r}; known: {list(NETS)}")
    cls = Net if config["net"] is None else NETS[config["net"]][0]
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "seed", "dtype", "input_grad"}
    if config["net"] is not None:
        allowed -= set(NETS[config["net"]][1])
    unknown = sorted(set(config["kwargs"]) - allowed)
    if unknown:
        raise ValueError(f"{where}: __config__ has unknown argument(s) {unknown} for "
                         f"{config['net'] or 'Net'}; allowed: {sorted(allowed)}")
    dim = config["kwargs"].get("input_dim", [1])
    if "input_dim" in config["kwargs"] and not (isinstance(dim, list) and len(dim) == 3
                                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in dim)):
        raise ValueError(f"{where}: __config__ input_dim must be three integers >= 1, got {dim!r}")
    return config


# ---------------------------------------------------------------------------------- the nets --

class SimpleConvNet(Net):
    """The book's conv - relu - pool - affine - relu - affine - softmax network.

    Same constructor and ``params`` as the book (W1 (30, 1, 5, 5), W2 (4320, 100), W3 (100, 10)),
    plus ``seed`` and ``dtype``. Taught in ``notebooks/06_training.ipynb``.
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},  # noqa: B006
                 hidden_size=100, output_size=10, weight_init_std=0.01, seed=None, dtype=np.float32,
                 pool_size=2):
        conv_param = dict(conv_param)
        unknown = set(conv_param) - {"filter_num", "filter_size", "pad", "stride"}
        if unknown:
            raise ValueError(f"conv_param has unknown key(s) {sorted(unknown)}; expected filter_num, "
                             f"filter_size, pad, stride")
        hidden_size = check_int("hidden_size", hidden_size, 1)
        output_size = check_int("output_size", output_size, 1)
        spec = [("conv", {"filter_num": conv_param.get("filter_num", 30),
                          "filter_size": conv_param.get("filter_size", 5),
                          "pad": conv_param.get("pad", 0), "stride": conv_param.get("stride", 1)}),
                ("relu", {}), ("pool", {"size": pool_size}),
                ("affine", {"size": hidden_size}), ("relu", {}),
                ("affine", {"size": output_size})]
        super().__init__(input_dim, spec, weight_init_std, seed, dtype)


class LeNet(Net):
    """LeNet-5 (LeCun et al., 1998) for 28x28 digits. ``modern=False``: sigmoid and 2x2 average
    subsampling, as in 1998; ``modern=True``: ReLU and max pooling, as today. C1 pads by 2 so the
    28x28 input plays the role of the original 32x32."""

    def __init__(self, input_dim=(1, 28, 28), output_size=10, modern=False, seed=None, dtype=np.float32):
        act = ("relu", {}) if modern else ("sigmoid", {})
        pool = ("pool", {"size": 2, "mode": "max" if modern else "avg"})
        spec = [("conv", {"filter_num": 6, "filter_size": 5, "pad": 2}), act, pool,
                ("conv", {"filter_num": 16, "filter_size": 5}), act, pool,
                ("affine", {"size": 120}), act, ("affine", {"size": 84}), act,
                ("affine", {"size": output_size})]
        super().__init__(input_dim, spec, "he" if modern else "xavier", seed, dtype)


class AlexNetStyle(Net):
    """AlexNet's ingredients at MNIST scale: ReLU, local response normalisation, overlapping
    3x3/stride-2 max pooling and Dropout, with five conv layers and two hidden affine layers."""

    def __init__(self, input_dim=(1, 28, 28), output_size=10, width=1.0, seed=None, dtype=np.float32):
        c = lambda n: max(1, int(round(n * width)))  # noqa: E731
        lrn = ("lrn", {"n": 5, "k": 2.0, "alpha": 1e-4, "beta": 0.75})
        ovp = ("pool", {"size": 3, "stride": 2})
        spec = [("conv", {"filter_num": c(32), "filter_size": 5, "pad": 2}), ("relu", {}), lrn, ovp,
                ("conv", {"filter_num": c(64), "filter_size": 3, "pad": 1}), ("relu", {}), lrn, ovp,
                ("conv", {"filter_num": c(96), "filter_size": 3, "pad": 1}), ("relu", {}),
                ("conv", {"filter_num": c(96), "filter_size": 3, "pad": 1}), ("relu", {}),
                ("conv", {"filter_num": c(64), "filter_size": 3, "pad": 1}), ("relu", {}), ovp,
                ("affine", {"size": c(256)}), ("relu", {}), ("dropout", {"ratio": 0.5}),
                ("affine", {"size": c(256)}), ("relu", {}), ("dropout", {"ratio": 0.5}),
                ("affine", {"size": output_size})]
        super().__init__(input_dim, spec, "he", seed, dtype)


class DeepConvNet(Net):
    """Stacked 3x3 convolutions (as in the book's chapter 8): conv-relu-conv-relu-pool three times
    with 16, 32, 64 filters, then affine-relu-dropout-affine (the book also drops out the scores;
    we do not)."""

    def __init__(self, input_dim=(1, 28, 28), output_size=10, hidden_size=50, seed=None, dtype=np.float32):
        spec = []
        for i, fn in enumerate((16, 16, 32, 32, 64, 64)):
            spec += [("conv", {"filter_num": fn, "filter_size": 3, "pad": 1}), ("relu", {})]
            if i % 2 == 1:
                spec.append(("pool", {"size": 2}))
        spec += [("affine", {"size": hidden_size}), ("relu", {}), ("dropout", {"ratio": 0.5}),
                 ("affine", {"size": output_size})]
        super().__init__(input_dim, spec, "he", seed, dtype)


# ------------------------------------------------------------------------------ the registry --
# The one list of named nets: the CLI's --net choices, the shipped weights (convlab/weights/
# <name>.npz), the "net" entry of every stored config and load_net all come from it.
# name -> (class, the constructor arguments that make this net what it is)
NETS = {
    "simple": (SimpleConvNet, {}),
    "lenet": (LeNet, {"modern": False}),
    "lenet-modern": (LeNet, {"modern": True}),
    "alexnet": (AlexNetStyle, {}),
    "deep": (DeepConvNet, {}),
}


def registry_name(cls, kwargs):
    """The name in NETS of a net of class ``cls`` built with ``kwargs``, or None."""
    for name, (c, fixed) in NETS.items():
        if c is cls and all(kwargs.get(k, _MISSING) == v for k, v in fixed.items()):
            return name
    return None


_MISSING = object()


def _jsonable(value):
    """value as plain JSON types (tuples become lists, NumPy scalars Python numbers)."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


def build_net(name, **kwargs):
    """Build a net by its name in NETS: simple, lenet, lenet-modern, alexnet, deep."""
    if name not in NETS:
        raise ValueError(f"net must be one of {list(NETS)}, got {name!r}")
    cls, fixed = NETS[name]
    clash = sorted(set(fixed) & set(kwargs))
    if clash:
        raise ValueError(f"net {name!r} fixes {clash}; got them as arguments too")
    return cls(**fixed, **kwargs)


def _from_old_config(config):
    """Configs written before the registry: {"class": "LeNet", "kwargs": {..., "modern": true}}."""
    kwargs = config.get("kwargs")
    if config.get("class") == "Net" or not isinstance(kwargs, dict):
        return {"net": None, "kwargs": kwargs}
    for name, (cls, fixed) in NETS.items():
        if cls.__name__ == config.get("class") and all(kwargs.get(k, v) == v for k, v in fixed.items()):
            return {"net": name, "kwargs": {k: v for k, v in kwargs.items() if k not in fixed}}
    return {"net": str(config.get("class")), "kwargs": kwargs}


def load_net(file_name, dtype=np.float32, input_dim=None, output_size=None):
    """Rebuild the net described in a params file written by ``save_params`` and load it.

    The stored configuration is checked (known net, known arguments, no more parameters than
    the file holds) before anything is built. ``input_dim`` / ``output_size``, when given, are
    what the caller will feed it and expect from it: a net made for other images or another
    number of classes is refused with a message that says so."""
    where = f"params file {os.fspath(file_name)!r}"
    with NpzArchive(file_name) as z:
        budget = sum(int(np.prod(z.header(k)[0], dtype=object)) for k in z.names   # headers only
                     if k not in ("__config__", "__dataset__"))
        if "__config__" not in z.names:
            raise ValueError(f"file_name {os.fspath(file_name)!r} has no __config__ entry; build the "
                             f"net yourself and call net.load_params({os.fspath(file_name)!r})")
        config = _parse_config(_read_config(z, where), where)
    kwargs = dict(config["kwargs"])
    if "input_dim" in kwargs:
        kwargs["input_dim"] = tuple(kwargs["input_dim"])
    token = _VALUE_BUDGET.set(budget)
    try:
        if config["net"] is None:
            spec = kwargs.pop("spec", None)
            if not isinstance(spec, list) or not all(isinstance(s, list) and len(s) == 2 for s in spec):
                raise ValueError(f"spec must be a list of [kind, options] pairs, got {spec!r}")
            net = Net(spec=[(k, o) for k, o in spec], dtype=dtype, **kwargs)
        else:
            net = build_net(config["net"], dtype=dtype, **kwargs)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as e:
        raise ValueError(f"{where}: __config__ describes no valid net: {e}") from None
    finally:
        _VALUE_BUDGET.reset(token)
    if input_dim is not None and net.input_dim != tuple(input_dim):
        raise ValueError(f"{where} is a net for input images (C, H, W) = {net.input_dim}; "
                         f"expected {tuple(input_dim)}")
    if output_size is not None and net.output_size != output_size:
        raise ValueError(f"{where} is a net for {net.output_size} classes; expected {output_size}")
    return net.load_params(file_name)


def params_digest(params):
    """SHA-256 of a params dict (names, dtypes, shapes and bytes, in key order): the fingerprint a
    training history keeps for each epoch, to tell which epoch a params file holds."""
    h = hashlib.sha256()
    for k in sorted(params):
        a = np.ascontiguousarray(params[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()
