"""Tests for convlab.data: the real MNIST and Fashion-MNIST files, refusal of bad files, finding
the folder, and downloads from a local HTTP server on 127.0.0.1 (no internet is used)."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from convlab import data, idx
from convlab.data import (DATASETS, FILES, DataFileError, DataUnavailableError, MNISTFileError,
                          MNISTUnavailableError, available, download_dataset, find_data_dir,
                          load_dataset, load_mnist, read_idx, require)

from bombs import MB, gzip_zeros, meter_decompression

REPO = Path(__file__).resolve().parents[1]
# captured before any test patches the registry
SHIPPED_MIRRORS = {name: list(ds.mirrors) for name, ds in DATASETS.items()}


def patch(monkeypatch, name, **changes):
    """Replace fields of DATASETS[name] (a frozen dataclass) for one test."""
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], **changes))


def set_sha(monkeypatch, file, digest, name="mnist"):
    """Make ``digest`` the expected sha256 of ``file`` of dataset ``name`` for one test."""
    patch(monkeypatch, name, sha256={**DATASETS[name].sha256, file: digest})

# Label counts of the original files (0..9), from ../shared/data/mnist/README.md.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ---------------------------------------------------------------------------------------------
# The real files
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_dir() -> Path:
    """$CONVLAB_MNIST_DIR, else ../shared/data/mnist next to the repo. Skipped when neither
    exists, unless CONVLAB_REQUIRE_MNIST=1 (CI), which turns the skip into a failure."""
    env = os.environ.get("CONVLAB_MNIST_DIR", "").strip()
    candidate = Path(env) if env else REPO.parent / "shared" / "data" / "mnist"
    if all((candidate / f"{n}.gz").is_file() or (candidate / n).is_file() for n in FILES):
        return candidate
    message = f"MNIST files not found in {candidate} (set CONVLAB_MNIST_DIR)"
    if os.environ.get("CONVLAB_REQUIRE_MNIST") == "1":
        pytest.fail(message + " and CONVLAB_REQUIRE_MNIST=1")
    pytest.skip(message)


@pytest.fixture(scope="module")
def raw(mnist_dir):
    """Real MNIST as uint8 (N, 1, 28, 28) images and int64 labels."""
    return load_mnist(normalize=False, flatten=False, data_dir=mnist_dir, download=False)


def test_real_shapes_dtypes_and_ranges(raw):
    (x_train, t_train), (x_test, t_test) = raw
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    assert t_train.shape == (60000,) and t_test.shape == (10000,)
    assert t_train.dtype == np.int64 and t_test.dtype == np.int64
    assert x_train.min() == 0 and x_train.max() == 255
    assert x_train.flags.writeable  # callers may modify their copy


def test_real_labels_are_the_original_order(raw):
    (_, t_train), (_, t_test) = raw
    assert t_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert t_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(t_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(t_test, minlength=10).tolist() == TEST_COUNTS


def test_real_default_form_is_flat_float32_in_unit_range(raw, mnist_dir):
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=mnist_dir, download=False)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    np.testing.assert_array_equal(x_test, raw[1][0].reshape(10000, 784) / np.float32(255))
    np.testing.assert_array_equal(t_train, raw[0][1])


def test_real_via_env_var_one_hot_unflattened(raw, mnist_dir, monkeypatch):
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(mnist_dir))
    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False, one_hot_label=True,
                                                      download=False)
    assert x_train.shape == (60000, 1, 28, 28) and x_train.dtype == np.float32
    assert t_train.shape == (60000, 10) and t_train.dtype == np.float32
    assert t_test.shape == (10000, 10)
    assert (t_train.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(t_train.argmax(axis=1), raw[0][1])
    np.testing.assert_array_equal(t_test.argmax(axis=1), raw[1][1])


def test_real_plain_copy_reads_the_same(mnist_dir, tmp_path):
    """An uncompressed copy (no .gz) is detected by its bytes and passes the same checksum."""
    name = "t10k-labels-idx1-ubyte"
    plain = tmp_path / name
    plain.write_bytes(gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()))
    labels = read_idx(plain, data.MAGIC_LABELS, data.SHA256[name])
    assert labels.shape == (10000,) and labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_real_corrupt_copy_is_refused(mnist_dir, tmp_path):
    """One flipped label byte in a re-gzipped real file: valid gzip, valid header, wrong sha256."""
    name = "t10k-labels-idx1-ubyte"
    payload = bytearray(gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()))
    payload[100] ^= 0x01
    bad = tmp_path / f"{name}.gz"
    bad.write_bytes(gzip.compress(bytes(payload)))
    with pytest.raises(MNISTFileError, match="sha256") as info:
        read_idx(bad, data.MAGIC_LABELS, data.SHA256[name])
    assert str(bad) in str(info.value)


def test_real_truncated_copy_is_refused(mnist_dir, tmp_path):
    name = "t10k-labels-idx1-ubyte"
    whole = (mnist_dir / f"{name}.gz").read_bytes()
    cut = tmp_path / f"{name}.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(MNISTFileError, match="truncated") as info:
        read_idx(cut, data.MAGIC_LABELS, data.SHA256[name])
    assert str(cut) in str(info.value)


# ---------------------------------------------------------------------------------------------
# Small synthetic IDX files
# ---------------------------------------------------------------------------------------------

def idx_images(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", 2051, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def make_payloads(n_train=7, n_test=3, seed=0) -> dict[str, bytes]:
    """Decompressed IDX bytes for the four names, tiny but with the real 28x28 geometry."""
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        out[f"{prefix}-images-idx3-ubyte"] = idx_images(rng.integers(0, 256, (n, 28, 28)))
        out[f"{prefix}-labels-idx1-ubyte"] = idx_labels(rng.integers(0, 10, n))
    return out


def use_payloads(monkeypatch, p, name="mnist"):
    """Make the sha256 values of payloads ``p`` the expected ones of dataset ``name``."""
    patch(monkeypatch, name, sha256={n: hashlib.sha256(b).hexdigest() for n, b in p.items()})
    return p


@pytest.fixture
def payloads(monkeypatch):
    """Synthetic payloads whose sha256 values replace MNIST's published ones for this test."""
    return use_payloads(monkeypatch, make_payloads())


def write_dir(directory: Path, payloads: dict[str, bytes], compress=True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, raw_bytes in payloads.items():
        if compress:
            (directory / f"{name}.gz").write_bytes(gzip.compress(raw_bytes))
        else:
            (directory / name).write_bytes(raw_bytes)
    return directory


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    """Tests start with no mirror env var set and every dataset's mirrors on a port where nothing
    listens, so nothing reaches the real mirrors by accident."""
    for name, ds in DATASETS.items():
        monkeypatch.delenv(ds.env_mirrors, raising=False)
        patch(monkeypatch, name, mirrors=("http://127.0.0.1:9/never-used/",))


def expected_arrays(payloads):
    def images(b):
        return np.frombuffer(b, np.uint8, offset=16).reshape(-1, 28, 28)

    def labels(b):
        return np.frombuffer(b, np.uint8, offset=8).astype(np.int64)
    return ((images(payloads[FILES[0]]), labels(payloads[FILES[1]])),
            (images(payloads[FILES[2]]), labels(payloads[FILES[3]])))


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_synthetic_forms(payloads, tmp_path, compress):
    d = write_dir(tmp_path / "m", payloads, compress)
    (xi, ti), (xe, te) = expected_arrays(payloads)

    (x, t), (x2, t2) = load_mnist(data_dir=d, download=False)
    assert x.shape == (7, 784) and x.dtype == np.float32 and x2.shape == (3, 784)
    np.testing.assert_array_equal(x, xi.reshape(7, 784) / np.float32(255))
    np.testing.assert_array_equal(t, ti)
    assert t.dtype == np.int64

    (x, t), _ = load_mnist(normalize=False, flatten=False, data_dir=d, download=False)
    assert x.shape == (7, 1, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[:, 0], xi)

    (_, t), (_, t2) = load_mnist(one_hot_label=True, data_dir=str(d), download=False)
    assert t.shape == (7, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.argmax(axis=1), ti)
    assert (t.sum(axis=1) == 1).all() and set(np.unique(t)) <= {0.0, 1.0}
    np.testing.assert_array_equal(t2.argmax(axis=1), te)


def test_arrays_are_independent_between_calls(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads)
    (x, _), _ = load_mnist(normalize=False, data_dir=d, download=False)
    x[:] = 0
    (y, _), _ = load_mnist(normalize=False, data_dir=d, download=False)
    assert y.any()


@pytest.mark.parametrize("kw, match", [
    (dict(normalize="yes"), "normalize must be True or False, got 'yes'"),
    (dict(flatten=1), "flatten must be True or False, got 1"),
    (dict(one_hot_label=None), "one_hot_label must be True or False, got None"),
    (dict(download="no"), "download must be True or False"),
    (dict(data_dir=3), "data_dir must be a path"),
    (dict(mirrors=5), "mirrors must be None, a string or a list"),
])
def test_argument_types(kw, match, tmp_path):
    kw.setdefault("data_dir", tmp_path)
    with pytest.raises(TypeError, match=match):
        load_mnist(**kw)


def test_mirror_must_be_a_url(tmp_path):
    with pytest.raises(ValueError, match="mirrors must be http"):
        load_mnist(data_dir=tmp_path, mirrors=["ftp.example.org/mnist"])


def test_lookup_order(payloads, tmp_path, monkeypatch):
    good = write_dir(tmp_path / "good", payloads)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(good))
    assert find_data_dir("mnist") == good
    assert find_data_dir("mnist", empty) == empty  # the argument wins over the env var
    (x, _), _ = load_mnist(download=False)  # env var used
    assert x.shape == (7, 784)
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(empty))
    with pytest.raises(MNISTUnavailableError):
        load_mnist(download=False)
    (x, _), _ = load_mnist(data_dir=good, download=False)  # argument used
    assert x.shape == (7, 784)
    monkeypatch.delenv("CONVLAB_MNIST_DIR")
    assert find_data_dir("mnist") == DATASETS["mnist"].default_dir == REPO / "data" / "mnist"
    assert data.find_mnist_dir() == find_data_dir("mnist")
    assert data.find_mnist_dir(empty) == empty


def test_download_false_names_the_directory_and_files(tmp_path):
    with pytest.raises(MNISTUnavailableError) as info:
        load_mnist(data_dir=tmp_path, download=False)
    msg = str(info.value)
    assert str(tmp_path) in msg and "CONVLAB_MNIST_DIR" in msg and "download=False" in msg
    for name in FILES:
        assert f"{name}.gz" in msg
    assert isinstance(info.value, RuntimeError)


# --- refused files ----------------------------------------------------------------------------

def refuse(d: Path, target: Path, *fragments: str):
    """load_mnist on ``d`` must raise MNISTFileError naming ``target`` and containing fragments;
    the offending file must be left as it was (never deleted or replaced)."""
    before = target.read_bytes()
    with pytest.raises(MNISTFileError) as info:
        load_mnist(data_dir=d, download=True)  # download=True: a bad file is not "missing"
    msg = str(info.value)
    assert str(target) in msg, msg
    for f in fragments:
        assert f in msg, msg
    assert target.read_bytes() == before
    assert isinstance(info.value, ValueError)
    return msg


def test_flipped_pixel_byte_fails_checksum(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads, compress=False)
    target = d / FILES[2]
    b = bytearray(target.read_bytes())
    b[16 + 5] ^= 0xFF
    target.write_bytes(bytes(b))
    refuse(d, target, "sha256", DATASETS["mnist"].sha256[FILES[2]])


def test_flipped_byte_inside_gzip_is_refused(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads)
    target = d / f"{FILES[0]}.gz"
    b = bytearray(target.read_bytes())
    b[len(b) // 2] ^= 0xFF
    target.write_bytes(bytes(b))
    # Depending on where the flip lands: a broken deflate stream, a CRC error, or (rarely)
    # different bytes that decompress; every case must be refused with the file named.
    with pytest.raises(MNISTFileError) as info:
        load_mnist(data_dir=d)
    assert str(target) in str(info.value)


def test_corrupt_gzip_trailer_is_refused(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads)
    target = d / f"{FILES[1]}.gz"
    b = bytearray(target.read_bytes())
    b[-6] ^= 0xFF  # inside the CRC32 of the trailer
    target.write_bytes(bytes(b))
    refuse(d, target, "corrupt")


def test_truncated_gzip_is_refused(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads)
    target = d / f"{FILES[0]}.gz"
    target.write_bytes(target.read_bytes()[:-40])
    refuse(d, target, "truncated")


def test_truncated_plain_images_report_header_and_bytes(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads, compress=False)
    target = d / FILES[0]
    target.write_bytes(target.read_bytes()[: 16 + 123])
    refuse(d, target, "is truncated: header says 7 images of 28x28 (5488 bytes) "
                      "but 123 bytes follow")


def test_truncated_labels_inside_gzip(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads)
    target = d / f"{FILES[3]}.gz"
    target.write_bytes(gzip.compress(payloads[FILES[3]][:-1]))
    refuse(d, target, "header says 3 labels (3 bytes) but 2 bytes follow")


def test_header_too_short(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads, compress=False)
    target = d / FILES[0]
    target.write_bytes(payloads[FILES[0]][:10])
    refuse(d, target, "truncated", "header needs 16 bytes")


def test_empty_file(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads, compress=False)
    target = d / FILES[1]
    target.write_bytes(b"")
    refuse(d, target, "truncated")


def test_extra_bytes_are_refused(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads, compress=False)
    target = d / FILES[3]
    target.write_bytes(payloads[FILES[3]] + b"\x00\x00")
    refuse(d, target, "has extra bytes", "header says 3 labels (3 bytes) but more follow")


def test_labels_file_under_images_name_has_wrong_magic(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads)
    target = d / f"{FILES[2]}.gz"
    target.write_bytes(gzip.compress(payloads[FILES[3]]))
    refuse(d, target, "magic number 2049", "expected 2051")


def test_not_an_idx_file(payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads, compress=False)
    target = d / FILES[1]
    target.write_bytes(b"<html>403 Forbidden</html>")
    refuse(d, target, "magic number", "expected 2049")


@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4, 5, 6])
def test_idx_files_of_one_to_four_dimensions_only(ndim, tmp_path):
    """The magic number's last byte counts the dimensions: 1..4, both ends refused beyond."""
    path = tmp_path / "x.idx"
    path.write_bytes(struct.pack(f">I{ndim}I", 0x0800 + ndim, *[2] * ndim) + bytes(range(2 ** ndim)))
    if 1 <= ndim <= 4:
        a, _ = idx.read(path, None)
        assert a.shape == (2,) * ndim and a.ravel().tolist() == list(range(2 ** ndim))
    else:
        with pytest.raises(DataFileError, match="expected an IDX file of unsigned bytes"):
            idx.read(path, None)


def test_wrong_image_size(payloads, tmp_path, monkeypatch):
    bad = idx_images(np.zeros((7, 27, 28)))
    set_sha(monkeypatch, FILES[0], hashlib.sha256(bad).hexdigest())
    d = write_dir(tmp_path / "m", {**payloads, FILES[0]: bad})
    refuse(d, d / f"{FILES[0]}.gz", "27x28", "expected 28x28")


def test_count_mismatch(payloads, tmp_path, monkeypatch):
    bad = idx_labels(np.zeros(6))
    set_sha(monkeypatch, FILES[1], hashlib.sha256(bad).hexdigest())
    d = write_dir(tmp_path / "m", {**payloads, FILES[1]: bad})
    msg = refuse(d, d / f"{FILES[1]}.gz", "7 images", "6 labels")
    assert str(d / f"{FILES[0]}.gz") in msg


def test_label_out_of_range(payloads, tmp_path, monkeypatch):
    bad = idx_labels(np.array([0, 1, 10]))
    set_sha(monkeypatch, FILES[3], hashlib.sha256(bad).hexdigest())
    d = write_dir(tmp_path / "m", {**payloads, FILES[3]: bad})
    refuse(d, d / f"{FILES[3]}.gz", "label 10", "expected class indices 0..9")


# --- issue 20, item 4: no decompression bombs -------------------------------------------------
# The meter counts the bytes zlib produces; a refusal may decompress the four small synthetic
# files and the bomb's header, never the bomb.

def test_item4_a_gzip_labels_bomb_is_read_only_as_far_as_its_header_says(payloads, tmp_path, monkeypatch):
    """A 400 kB gzip labels file that decompresses to 400 MB: its header says 3 labels, so 4
    bytes after the header are read (the fourth says there are extra bytes), not 400 MB."""
    d = write_dir(tmp_path / "m", payloads)
    target = d / f"{FILES[3]}.gz"
    target.write_bytes(gzip.compress(payloads[FILES[3]]) + gzip_zeros(400))
    assert target.stat().st_size < 500_000
    read = meter_decompression(monkeypatch)
    refuse(d, target, "has extra bytes: header says 3 labels (3 bytes) but more follow")
    assert read[0] < MB


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_item4_an_idx_header_with_huge_dimensions_is_refused_before_the_data(payloads, tmp_path,
                                                                             monkeypatch, compress):
    d = write_dir(tmp_path / "m", payloads, compress)
    header = struct.pack(">IIII", 2051, 100_000, 100_000, 28)
    target = d / (f"{FILES[0]}.gz" if compress else FILES[0])
    target.write_bytes(gzip.compress(header) + gzip_zeros(100) if compress else header + bytes(100))
    read = meter_decompression(monkeypatch)
    refuse(d, target, "has a header that says 100000 images of 100000x28 (280,000,000,000 bytes), "
                      "more than the 1,073,741,824 bytes an IDX file may hold")
    assert read[0] < MB


def test_item4_a_downloaded_bomb_is_refused_when_it_passes_the_largest_idx_file(tmp_path, monkeypatch):
    """The check of a download hashes the decompressed bytes as they come and stops past
    idx.MAX_BYTES (made 4 MB here, so that a 64 MB bomb is one)."""
    monkeypatch.setattr(idx, "MAX_BYTES", 4 * MB, raising=False)
    bomb = tmp_path / "download.part"
    bomb.write_bytes(gzip_zeros(64))
    read = meter_decompression(monkeypatch)
    with pytest.raises(DataFileError, match="downloaded bytes decompress to more than 4,194,304 bytes"):
        data._check_download(bomb, "0" * 64)
    assert read[0] < 6 * MB


def test_published_checksums_are_used_by_default(tmp_path):
    """Without the patched table, synthetic files are refused: the real table is in force."""
    d = write_dir(tmp_path / "m", make_payloads())
    with pytest.raises(MNISTFileError, match="sha256"):
        load_mnist(data_dir=d, download=False)


# ---------------------------------------------------------------------------------------------
# Downloads from a local HTTP server
# ---------------------------------------------------------------------------------------------

class MirrorServer:
    """Serves ``/<mode>/<name>.gz`` on 127.0.0.1. Modes: good (correct gzip), wrong (valid gzip
    of different bytes), garbage (not gzip), drop (announces the full Content-Length, sends
    half, closes), missing (404), slow (waits longer than the client's timeout)."""

    def __init__(self, payloads):
        self.files = {n: gzip.compress(b) for n, b in payloads.items()}
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                _, mode, filename = self.path.split("/", 2)
                name = filename.removesuffix(".gz")
                if mode == "missing" or name not in outer.files:
                    self.send_error(404)
                    return
                body = outer.files[name]
                if mode == "wrong":
                    flipped = bytearray(gzip.decompress(body))
                    flipped[-1] ^= 0x01
                    body = gzip.compress(bytes(flipped))
                elif mode == "garbage":
                    body = b"\x00" * len(body)
                elif mode == "slow":
                    outer.release.wait(5)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "drop":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.release = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, mode):
        return f"http://127.0.0.1:{self.port}/{mode}/"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(payloads):
    s = MirrorServer(payloads)
    yield s
    s.close()


@pytest.fixture
def dead_url():
    """A URL on a port where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


FINAL = sorted(f"{n}.gz" for n in FILES)


def test_download_success(server, payloads, tmp_path):
    d = tmp_path / "new" / "mnist"  # created on demand
    (x, t), (x2, t2) = load_mnist(normalize=False, data_dir=d, mirrors=[server.url("good")])
    assert listing(d) == FINAL
    (xi, ti), (xe, te) = expected_arrays(payloads)
    np.testing.assert_array_equal(x.reshape(7, 28, 28), xi)
    np.testing.assert_array_equal(t2, te)
    for name in FILES:
        assert gzip.decompress((d / f"{name}.gz").read_bytes()) == payloads[name]
    assert len(server.requests) == 4
    load_mnist(data_dir=d, mirrors=[server.url("good")])  # present now: no new requests
    assert len(server.requests) == 4


def test_only_missing_files_are_downloaded(server, payloads, tmp_path):
    d = write_dir(tmp_path / "m", {n: payloads[n] for n in FILES[:3]}, compress=False)
    load_mnist(data_dir=d, mirrors=server.url("good"))  # a single string works too
    assert server.requests == [f"/good/{FILES[3]}.gz"]
    assert listing(d) == sorted([*FILES[:3], f"{FILES[3]}.gz"])


@pytest.mark.parametrize("bad", ["wrong", "garbage", "drop", "missing"])
def test_bad_mirror_falls_through_to_good_one(server, payloads, tmp_path, bad):
    d = tmp_path / "m"
    download_dataset("mnist", d, mirrors=[server.url(bad), server.url("good")], progress=False)
    assert listing(d) == FINAL  # no temp files left, every final file present
    for name in FILES:
        assert gzip.decompress((d / f"{name}.gz").read_bytes()) == payloads[name]
    assert server.requests[:2] == [f"/{bad}/{FILES[0]}.gz", f"/good/{FILES[0]}.gz"]


def test_mirrors_from_env_var(server, tmp_path, monkeypatch, dead_url):
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", f"{dead_url}, {server.url('good')}")
    (x, _), _ = load_mnist(data_dir=tmp_path / "m")
    assert x.shape == (7, 784)
    assert listing(tmp_path / "m") == FINAL


def test_module_mirror_list_is_the_default(server, tmp_path, monkeypatch):
    patch(monkeypatch, "mnist", mirrors=(server.url("good"),))
    load_mnist(data_dir=tmp_path / "m")
    assert len(server.requests) == 4


@pytest.mark.parametrize("name", list(DATASETS))
def test_shipped_mirrors(name):
    """At least two https mirrors by default (checked without touching the network)."""
    mirrors = SHIPPED_MIRRORS[name]
    assert len(mirrors) >= 2 and len(set(mirrors)) == len(mirrors)
    assert all(m.startswith("https://") and m.endswith("/") for m in mirrors)


@pytest.mark.parametrize("bad", ["wrong", "drop"])
def test_only_bad_mirrors_leave_nothing(server, tmp_path, bad):
    d = tmp_path / "m"
    with pytest.raises(MNISTUnavailableError) as info:
        load_mnist(data_dir=d, mirrors=[server.url(bad)])
    assert listing(d) == []  # neither a partial file under the final name nor a temp file
    msg = str(info.value)
    assert f"{server.url(bad)}{FILES[0]}.gz" in msg
    assert "sha256" in msg if bad == "wrong" else "connection closed after" in msg


@pytest.mark.slow
def test_timeout_falls_through(server, payloads, tmp_path):
    d = tmp_path / "m"
    download_dataset("mnist", d, mirrors=[server.url("slow"), server.url("good")], timeout=0.3,
                   progress=False)
    assert listing(d) == FINAL
    assert server.requests[0] == f"/slow/{FILES[0]}.gz"


def test_all_mirrors_dead_gives_one_clear_error(tmp_path, dead_url, server):
    d = tmp_path / "m"
    mirrors = [dead_url, server.url("missing")]
    with pytest.raises(MNISTUnavailableError) as info:
        load_mnist(data_dir=d, mirrors=mirrors)
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert f"{dead_url}{FILES[0]}.gz" in msg and "HTTP 404" in msg  # each mirror's failure
    assert str(d) in msg and "CONVLAB_MNIST_DIR" in msg  # where to put the files
    for name in FILES:
        assert f"{name}.gz" in msg
    assert "4 of 4 files are missing" in msg
    assert not d.exists()  # the folder this call created is removed again
    # It stops after the first file failed everywhere instead of retrying for each file.
    assert server.requests == [f"/missing/{FILES[0]}.gz"]


def test_failure_keeps_verified_files(server, payloads, tmp_path, monkeypatch):
    """If the third file fails everywhere, the two verified ones stay; nothing else is left."""
    d = tmp_path / "m"
    set_sha(monkeypatch, FILES[2], "0" * 64)
    with pytest.raises(MNISTUnavailableError, match="2 of 4 files are missing"):
        load_mnist(data_dir=d, mirrors=[server.url("good")])
    assert listing(d) == sorted(f"{n}.gz" for n in FILES[:2])


def test_keyboard_interrupt_removes_temp_file(server, tmp_path, monkeypatch):
    d = tmp_path / "m"
    seen = []

    def interrupt(path, sha256):
        seen.append(path)
        assert path.exists() and path.name.endswith(".part")
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "_check_download", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_mnist(data_dir=d, mirrors=[server.url("good")])
    assert seen and not d.exists()  # neither the temp file nor the folder it created


def test_corrupt_present_file_is_not_replaced_by_download(server, payloads, tmp_path):
    d = write_dir(tmp_path / "m", payloads)
    target = d / f"{FILES[1]}.gz"
    target.write_bytes(gzip.compress(payloads[FILES[1]][:-1]))
    refuse(d, target, "truncated")
    assert server.requests == []


def test_uncreatable_directory_is_reported(tmp_path, server, monkeypatch):
    def refuse_mkdir(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse_mkdir)
    with pytest.raises(MNISTUnavailableError, match="cannot create .*Permission denied"):
        load_mnist(data_dir=tmp_path / "mnist", mirrors=[server.url("good")])
    assert server.requests == []


def test_directory_without_write_access_is_reported(tmp_path, server, monkeypatch):
    def refuse_write(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data.tempfile, "mkstemp", refuse_write)
    with pytest.raises(MNISTUnavailableError, match="cannot write a temporary file") as info:
        load_mnist(data_dir=tmp_path, mirrors=[server.url("good")])
    assert str(tmp_path) in str(info.value) and server.requests == []


def test_bad_timeout(tmp_path):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        download_dataset("mnist", tmp_path, timeout=0)


def test_real_files_served_and_downloaded(mnist_dir, tmp_path):
    """The download path with real files and the published checksums: the two label files are
    served from 127.0.0.1 (first by a mirror that drops the connection), the two large image
    files are already present."""
    labels = {n: gzip.decompress((mnist_dir / f"{n}.gz").read_bytes()) for n in (FILES[1], FILES[3])}
    s = MirrorServer(labels)
    try:
        d = tmp_path / "m"
        d.mkdir()
        for name in (FILES[0], FILES[2]):
            shutil.copy(mnist_dir / f"{name}.gz", d / f"{name}.gz")
        (_, t), (_, t2) = load_mnist(data_dir=d, mirrors=[s.url("drop"), s.url("good")])
        assert t[:5].tolist() == [5, 0, 4, 1, 9] and t2[:5].tolist() == [7, 2, 1, 0, 4]
        assert listing(d) == FINAL
        assert s.requests == [f"/drop/{FILES[1]}.gz", f"/good/{FILES[1]}.gz",
                              f"/drop/{FILES[3]}.gz", f"/good/{FILES[3]}.gz"]
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# The registry: one entry per dataset
# ---------------------------------------------------------------------------------------------

# sha256 of the decompressed Fashion-MNIST payloads, as given in issue 11 (Debian's files).
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_SYSTEM_DIR = Path(DATASETS["fashion-mnist"].system_dirs[0])


def test_registry_entries():
    assert list(DATASETS) == ["mnist", "fashion-mnist"]
    mnist, fashion = DATASETS["mnist"], DATASETS["fashion-mnist"]
    assert mnist.class_names == tuple("0123456789")
    assert fashion.class_names == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert dict(fashion.sha256) == FASHION_SHA256
    assert set(mnist.sha256) == set(FILES) and dict(mnist.sha256) == dict(data.SHA256)
    assert not set(mnist.sha256.values()) & set(fashion.sha256.values())
    assert (mnist.env_dir, mnist.env_mirrors) == ("CONVLAB_MNIST_DIR", "CONVLAB_MNIST_MIRRORS")
    assert (fashion.env_dir, fashion.env_mirrors) == ("CONVLAB_FASHION_MNIST_DIR",
                                                      "CONVLAB_FASHION_MNIST_MIRRORS")
    assert fashion.default_dir == REPO / "data" / "fashion-mnist"
    assert FASHION_SYSTEM_DIR == Path("/usr/share/datasets/fashion-mnist")  # Debian's package
    with pytest.raises(TypeError):
        mnist.sha256[FILES[0]] = "0" * 64  # the tables are read-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        mnist.mirrors = ()


@pytest.mark.parametrize("call", [
    lambda n: load_dataset(n, download=False),
    lambda n: available(n),
    lambda n: require(n, download=False),
    lambda n: find_data_dir(n),
    lambda n: download_dataset(n),
], ids=["load_dataset", "available", "require", "find_data_dir", "download_dataset"])
@pytest.mark.parametrize("name", ["cifar10", "MNIST", "fashion_mnist", None, 3])
def test_unknown_name_lists_the_known_ones(call, name):
    with pytest.raises(ValueError) as info:
        call(name)
    assert str(info.value) == f"name must be one of 'mnist', 'fashion-mnist', got {name!r}"


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST: the real files (Debian's dataset-fashion-mnist) and synthetic ones
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fashion_dir() -> Path:
    """$CONVLAB_FASHION_MNIST_DIR, else Debian's /usr/share/datasets/fashion-mnist. Skipped when
    the files are not there, unless CONVLAB_REQUIRE_MNIST=1 (CI), which makes it a failure."""
    env = os.environ.get("CONVLAB_FASHION_MNIST_DIR", "").strip()
    candidate = Path(env) if env else FASHION_SYSTEM_DIR
    if all((candidate / f"{n}.gz").is_file() or (candidate / n).is_file() for n in FILES):
        return candidate
    message = (f"Fashion-MNIST files not found in {candidate} (apt-get install "
               f"dataset-fashion-mnist, or set CONVLAB_FASHION_MNIST_DIR)")
    if os.environ.get("CONVLAB_REQUIRE_MNIST") == "1":
        pytest.fail(message + " and CONVLAB_REQUIRE_MNIST=1")
    pytest.skip(message)


@pytest.fixture(scope="module")
def fashion_raw(fashion_dir):
    return load_dataset("fashion-mnist", normalize=False, flatten=False, data_dir=fashion_dir,
                        download=False)


def test_fashion_real_shapes_labels_and_counts(fashion_raw):
    (x_train, t_train), (x_test, t_test) = fashion_raw
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == np.uint8 and t_train.dtype == np.int64
    assert x_train.min() == 0 and x_train.max() == 255
    assert t_train[:5].tolist() == [9, 0, 0, 3, 0]  # ankle boot, T-shirt, T-shirt, dress, ...
    assert t_test[:5].tolist() == [9, 2, 1, 1, 6]
    assert np.bincount(t_train).tolist() == [6000] * 10
    assert np.bincount(t_test).tolist() == [1000] * 10
    assert DATASETS["fashion-mnist"].class_names[t_test[0]] == "Ankle boot"


def test_fashion_real_default_and_one_hot_forms(fashion_raw, fashion_dir):
    (x_train, t_train), (x_test, t_test) = load_dataset("fashion-mnist", one_hot_label=True,
                                                        data_dir=fashion_dir, download=False)
    assert x_train.shape == (60000, 784) and x_train.dtype == np.float32
    assert x_train.max() == 1.0 and x_test.min() == 0.0
    np.testing.assert_array_equal(x_test, fashion_raw[1][0].reshape(10000, 784) / np.float32(255))
    assert t_train.shape == (60000, 10) and t_train.dtype == np.float32
    np.testing.assert_array_equal(t_test.argmax(axis=1), fashion_raw[1][1])


def test_fashion_found_in_the_system_folder(fashion_dir, tmp_path, monkeypatch):
    """Without an env var, data/fashion-mnist wins when complete, else the system folder."""
    monkeypatch.delenv("CONVLAB_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(data, "REPO", tmp_path)  # a project folder without data/
    patch(monkeypatch, "fashion-mnist", system_dirs=(str(tmp_path / "nowhere"), str(fashion_dir)))
    assert find_data_dir("fashion-mnist") == fashion_dir
    assert available("fashion-mnist")
    (_, _), (_, t_test) = load_dataset("fashion-mnist", download=False)
    assert t_test[:5].tolist() == [9, 2, 1, 1, 6]
    own = tmp_path / "data" / "fashion-mnist"
    write_dir(own, {FILES[0]: b"partial"}, compress=False)  # incomplete: not chosen
    assert find_data_dir("fashion-mnist") == fashion_dir
    write_dir(own, make_payloads())  # complete: the project's own folder wins
    assert find_data_dir("fashion-mnist") == own
    monkeypatch.delenv("CONVLAB_MNIST_DIR", raising=False)
    assert find_data_dir("mnist") == tmp_path / "data" / "mnist"  # MNIST has no system folder


def test_fashion_files_given_to_load_mnist_are_named(fashion_dir):
    """The files are refused (they are not MNIST) with a message that says what they are."""
    with pytest.raises(MNISTFileError) as info:
        load_mnist(data_dir=fashion_dir, download=False)
    msg = str(info.value)
    assert str(fashion_dir / f"{FILES[0]}.gz") in msg
    assert "it is Fashion-MNIST's train-images-idx3-ubyte" in msg
    assert "load_dataset('fashion-mnist', ...)" in msg


def test_mnist_file_given_as_fashion_is_named(mnist_dir):
    name = "t10k-labels-idx1-ubyte"
    with pytest.raises(DataFileError, match="it is MNIST's t10k-labels-idx1-ubyte"):
        read_idx(mnist_dir / f"{name}.gz", data.MAGIC_LABELS, DATASETS["fashion-mnist"].sha256[name])


def test_fashion_real_files_served_and_downloaded(fashion_dir, tmp_path, monkeypatch):
    """Fashion-MNIST's own checksums on the download path, with its own mirrors env var: the
    label files come from 127.0.0.1, the image files are already present."""
    labels = {n: gzip.decompress((fashion_dir / f"{n}.gz").read_bytes()) for n in (FILES[1], FILES[3])}
    s = MirrorServer(labels)
    try:
        d = tmp_path / "f"
        d.mkdir()
        for name in (FILES[0], FILES[2]):
            shutil.copy(fashion_dir / f"{name}.gz", d / f"{name}.gz")
        monkeypatch.setenv("CONVLAB_FASHION_MNIST_MIRRORS", s.url("good"))
        monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", "http://127.0.0.1:9/not-this-one/")
        (_, t), (_, t2) = load_dataset("fashion-mnist", data_dir=d)
        assert t[:5].tolist() == [9, 0, 0, 3, 0] and t2[:5].tolist() == [9, 2, 1, 1, 6]
        assert listing(d) == FINAL
        assert s.requests == [f"/good/{FILES[1]}.gz", f"/good/{FILES[3]}.gz"]
    finally:
        s.close()


def test_fashion_synthetic_forms_and_own_checksums(tmp_path, monkeypatch):
    p = use_payloads(monkeypatch, make_payloads(n_train=5, n_test=4, seed=3), "fashion-mnist")
    d = write_dir(tmp_path / "f", p)
    (xi, ti), (xe, te) = expected_arrays(p)
    (x, t), (x2, t2) = load_dataset("fashion-mnist", flatten=False, one_hot_label=True,
                                    data_dir=d, download=False)
    assert x.shape == (5, 1, 28, 28) and x2.shape == (4, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x2[:, 0], xe / np.float32(255))
    assert t.shape == (5, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.argmax(axis=1), ti)
    # The same files are not MNIST: MNIST's table (unpatched here) refuses them.
    with pytest.raises(MNISTFileError, match="sha256"):
        load_mnist(data_dir=d, download=False)


def test_each_dataset_has_its_own_env_vars(server, payloads, tmp_path, monkeypatch):
    """CONVLAB_FASHION_MNIST_DIR and _MIRRORS steer Fashion-MNIST; MNIST's leave it alone."""
    use_payloads(monkeypatch, payloads, "fashion-mnist")  # the server's files, as Fashion-MNIST
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", "http://127.0.0.1:9/not-this-one/")
    monkeypatch.setenv("CONVLAB_FASHION_MNIST_DIR", str(tmp_path / "fashion"))
    monkeypatch.setenv("CONVLAB_FASHION_MNIST_MIRRORS", server.url("good"))
    assert find_data_dir("mnist") == tmp_path / "mnist"
    assert find_data_dir("fashion-mnist") == tmp_path / "fashion"
    (x, _), _ = load_dataset("fashion-mnist")
    assert x.shape == (7, 784)
    assert listing(tmp_path / "fashion") == FINAL and not (tmp_path / "mnist").exists()
    assert server.requests == [f"/good/{n}.gz" for n in FILES]


# ---------------------------------------------------------------------------------------------
# available(), require(), how_to_get() and python -m convlab.data
# ---------------------------------------------------------------------------------------------

def test_available_downloads_and_reads_nothing(server, payloads, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", server.url("good"))
    d = tmp_path / "m"
    assert not available("mnist", d) and not d.exists()
    write_dir(d, {n: payloads[n] for n in FILES[:3]})
    assert not available("mnist", d)
    (d / f"{FILES[3]}").write_bytes(b"not checked here")
    assert available("mnist", d)  # present; the checksum is checked when loading
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(d))
    assert available("mnist") and not available("fashion-mnist", tmp_path / "f")
    assert server.requests == []


def test_require_returns_the_folder_and_downloads_what_is_missing(server, payloads, tmp_path):
    d = tmp_path / "m"
    assert require("mnist", d, mirrors=[server.url("good")]) == d
    assert listing(d) == FINAL and len(server.requests) == 4
    assert require("mnist", d, download=False) == d
    assert len(server.requests) == 4


def test_require_offline_gives_one_clear_error(tmp_path, monkeypatch, dead_url):
    """As a new user without network or env var: one error, no chained traceback, a message that
    names the folder, the env var and the command that downloads; no folder left behind."""
    monkeypatch.setattr(data, "REPO", tmp_path)
    monkeypatch.delenv("CONVLAB_MNIST_DIR", raising=False)
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", dead_url)
    with pytest.raises(DataUnavailableError) as info:
        require("mnist")
    msg = str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert msg.startswith("MNIST is not available: 4 of 4 files are missing from "
                          f"{tmp_path / 'data' / 'mnist'}")
    assert "CONVLAB_MNIST_DIR" in msg and "python -m convlab.data mnist" in msg
    assert dead_url in msg
    assert not (tmp_path / "data").exists()
    with pytest.raises(DataUnavailableError, match="download=False"):
        require("mnist", download=False)


def test_how_to_get_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "REPO", tmp_path)
    monkeypatch.delenv("CONVLAB_FASHION_MNIST_DIR", raising=False)
    patch(monkeypatch, "fashion-mnist", system_dirs=())
    line = data.how_to_get("fashion-mnist")
    assert "\n" not in line
    assert line == (f"Fashion-MNIST is not in {tmp_path / 'data' / 'fashion-mnist'}: run "
                    "`python -m convlab.data fashion-mnist` (downloads it) or set "
                    "CONVLAB_FASHION_MNIST_DIR to a folder holding its four files")


def test_main_downloads_and_prints_the_folder(server, payloads, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", server.url("good"))
    assert data.main(["mnist"]) == 0
    assert capsys.readouterr().out == f"mnist: {tmp_path / 'm'}\n"
    assert listing(tmp_path / "m") == FINAL


def test_main_offline_and_bad_name(tmp_path, monkeypatch, capsys, dead_url):
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", dead_url)
    assert data.main(["mnist"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST is not available") and "Traceback" not in err
    with pytest.raises(SystemExit) as info:
        data.main(["cifar10"])
    assert info.value.code == 2
    assert "invalid choice: 'cifar10' (choose from" in capsys.readouterr().err


def test_python_m_convlab_data(tmp_path):
    d = write_dir(tmp_path / "f", make_payloads())  # present: require() checks no checksum
    env = {**os.environ, "CONVLAB_FASHION_MNIST_DIR": str(d)}
    out = subprocess.run([sys.executable, "-W", "error", "-m", "convlab.data", "fashion-mnist"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert (out.returncode, out.stdout, out.stderr) == (0, f"fashion-mnist: {d}\n", "")


# ---------------------------------------------------------------------------------------------
# Issue 13 item 10: a data folder that is a file; a failed download leaves no folder
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["env", "argument"])
@pytest.mark.parametrize("call", [
    lambda **kw: load_mnist(**kw),
    lambda **kw: load_mnist(download=False, **kw),
    lambda **kw: available("mnist", **kw),
    lambda **kw: require("mnist", **kw),
], ids=["load", "load-no-download", "available", "require"])
def test_data_folder_that_is_a_file(call, how, tmp_path, monkeypatch, server):
    monkeypatch.setenv("CONVLAB_MNIST_MIRRORS", server.url("good"))
    blocker = tmp_path / "mnist.tar"
    blocker.write_text("not a folder")
    if how == "env":
        monkeypatch.setenv("CONVLAB_MNIST_DIR", str(blocker))
        kw, source = {}, "CONVLAB_MNIST_DIR"
    else:
        kw, source = {"data_dir": blocker}, "data_dir"
    with pytest.raises(ValueError) as info:
        call(**kw)
    assert str(info.value) == (f"{source} must be a folder for the four MNIST files, got "
                               f"'{blocker}', which is not a folder")
    assert blocker.read_text() == "not a folder" and server.requests == []


def test_data_folder_under_a_file(tmp_path, monkeypatch, server):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CONVLAB_MNIST_DIR", str(blocker / "sub" / "mnist"))
    with pytest.raises(ValueError, match=f"got '{blocker / 'sub' / 'mnist'}', but {blocker} is "
                                         f"not a folder"):
        load_mnist(mirrors=[server.url("good")])
    assert server.requests == []


def test_failed_download_removes_only_the_folders_it_created(tmp_path, dead_url):
    d = tmp_path / "a" / "b" / "mnist"
    with pytest.raises(DataUnavailableError):
        load_mnist(data_dir=d, mirrors=[dead_url])
    assert listing(tmp_path) == []  # a, a/b and a/b/mnist were created and are gone again
    before = tmp_path / "mine"
    before.mkdir()  # an empty folder made by the user stays
    with pytest.raises(DataUnavailableError):
        load_mnist(data_dir=before / "mnist", mirrors=[dead_url])
    assert listing(tmp_path) == ["mine"] and listing(before) == []
    with pytest.raises(DataUnavailableError):
        load_mnist(data_dir=before, mirrors=[dead_url])
    assert before.is_dir()
