"""Shared fixtures. Nothing here touches the network: the hub is forced offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TORCH_HOME", os.path.join(os.path.dirname(__file__), ".torch-home-unused"))
# Each pytest-xdist worker (xdist sets the count before this file loads) gets its share of the cores
# for OpenMP (torch, OpenCV): with two workers of two threads on two cores the spinning threads
# made the two long training tests 6-8x slower in CI (demo 3,018 s there, 116 s alone); one thread
# each ran two demos side by side in 139 s. Subprocesses (the CLI tests) inherit it.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _WORKERS)))

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

#: the checkout's root; the shared data sit in ``shared/data`` next to it or above it
REPO = Path(__file__).resolve().parents[1]
#: environment variable naming the PAD-UFES-20 sample folder (wins over the shipped copy)
PAD_SAMPLE_ENV = "FAIRSKIN_PAD_SAMPLE"
#: the reduced PAD-UFES-20 copy shipped with the tests (61 photos at 192 px, SOURCE.md there)
SHIPPED_PAD_SAMPLE = REPO / "tests" / "data" / "pad-ufes-20-sample"
#: set to 1 by .ci/run: a skip for want of something the project installs itself fails the test
CI_ENV = "FAIRSKIN_CI"
#: the skip reasons CI accepts: hardware the machine may lack, or the full-size PAD-UFES-20 sample
#: (21 MB, not shipped; a fresh clone has only the reduced copy), not something .ci/run installs
#: (a package of the ``all`` extra, headless Chromium)
CI_ALLOWED_SKIP = re.compile(r"\b(gpus?|cuda|full-size PAD-UFES-20 sample)\b", re.IGNORECASE)
#: accepted too while ``FAIRSKIN_TEST_POSTGRES_URL`` is unset, i.e. .ci/start-postgres could not
#: install or start a server (no root, no Debian mirror); once it has, a PostgreSQL skip fails
CI_ALLOWED_WITHOUT_POSTGRES = re.compile(r"\b(postgres|postgresql|FAIRSKIN_TEST_POSTGRES_URL)\b", re.IGNORECASE)


def pad_sample_path() -> Path:
    """``$FAIRSKIN_PAD_SAMPLE`` if set, else the reduced copy shipped in ``tests/data`` (always there)."""
    if os.environ.get(PAD_SAMPLE_ENV):
        return Path(os.environ[PAD_SAMPLE_ENV])
    return SHIPPED_PAD_SAMPLE


def full_pad_sample_path() -> Path | None:
    """The full-size PAD-UFES-20 sample (the figures of docs/label.md): ``$FAIRSKIN_PAD_SAMPLE``,
    else the first ``shared/data/pad-ufes-20-sample`` in the checkout or a folder above it (a git
    worktree or a clone may sit below the shared folder); None: none (a fresh clone elsewhere)."""
    if os.environ.get(PAD_SAMPLE_ENV):
        return Path(os.environ[PAD_SAMPLE_ENV])
    candidates = (d / "shared" / "data" / "pad-ufes-20-sample" for d in (REPO, *REPO.parents))
    return next((c for c in candidates if c.is_dir()), None)


def _fail_skip_in_ci(report) -> None:
    """Under ``FAIRSKIN_CI=1``, turn a skip whose reason is not in CI_ALLOWED_SKIP into a failure
    that says why (a collection-time skip, such as a module's importorskip, becomes an error)."""
    if os.environ.get(CI_ENV) != "1" or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if CI_ALLOWED_SKIP.search(reason) or (not os.environ.get("FAIRSKIN_TEST_POSTGRES_URL")
                                          and CI_ALLOWED_WITHOUT_POSTGRES.search(reason)):
        return
    report.outcome = "failed"
    report.longrepr = (f"{CI_ENV}=1: skipped for want of something CI installs itself, so it fails here "
                       f"(only a missing GPU, or PostgreSQL where .ci/start-postgres failed, may skip): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """A small phantom data set in DDI's layout (120 images, 128 px), with known answers."""
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("demo")
    write_demo_dataset(root, DemoConfig(n=120, size=128, seed=2024))
    return root


@pytest.fixture(scope="session")
def pad_sample() -> Path:
    """Real PAD-UFES-20 photos (61, with masks and metadata): the shipped reduced copy unless
    ``$FAIRSKIN_PAD_SAMPLE`` names another folder."""
    path = pad_sample_path()
    if not path.is_dir():
        pytest.fail(f"${PAD_SAMPLE_ENV}={path}: not a folder (expected a PAD-UFES-20 sample with images/ and "
                    f"metadata.csv; unset it to use the copy in {SHIPPED_PAD_SAMPLE})")
    return path


@pytest.fixture(scope="session")
def full_pad_sample() -> Path:
    """The full-size PAD-UFES-20 sample (docs/label.md's figures); skipped where it is absent."""
    path = full_pad_sample_path()
    if path is None or not path.is_dir():
        where = path or f"shared/data/pad-ufes-20-sample in {REPO} or a folder above it"
        pytest.skip(f"the full-size PAD-UFES-20 sample (21 MB, not shipped) is not at {where} "
                    f"(set ${PAD_SAMPLE_ENV} to its folder)")
    return path


# -- tiny generation fixtures, shared by tests/conditioning, tests/balance and tests/experiment ----

@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """40 phantoms at 64 px (every type present)."""
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("small-demo")
    write_demo_dataset(root, DemoConfig(n=40, size=64, seed=7, fst_weights=(1, 1, 1, 1, 1, 1)))
    return root


@pytest.fixture(scope="session")
def small_labels(small_demo, tmp_path_factory) -> Path:
    """labels.csv of small_demo, written by fairskin label itself."""
    from fairskin.label import label_dataset

    out = tmp_path_factory.mktemp("labels") / "labels.csv"
    label_dataset(small_demo, out=out, progress=False, n_boot=0)
    return out


@pytest.fixture(scope="session")
def tiny_conditioning(small_demo, small_labels, tmp_path_factory) -> Path:
    """A tiny Stable Diffusion with skin-type conditioning, trained 2 steps (every part of training runs)."""
    pytest.importorskip("diffusers")
    pytest.importorskip("peft")
    from fairskin.conditioning import TrainConfig, train_conditioning

    out = tmp_path_factory.mktemp("cond")
    train_conditioning(small_demo, out=out, labels=small_labels,
                       config=TrainConfig(steps=2, vae_steps=2, batch_size=4, seed=0))
    return out


@pytest.fixture(scope="session")
def tiny_ddpm(small_demo, small_labels, tmp_path_factory) -> Path:
    """A class-conditional DDPM at 16 px, trained 2 steps on small_demo (every part of training runs)."""
    pytest.importorskip("diffusers")
    from fairskin.conditioning import DdpmTrainConfig, train_ddpm

    out = tmp_path_factory.mktemp("ddpm")
    train_ddpm(small_demo, out=out, labels=small_labels,
               config=DdpmTrainConfig(resolution=16, channels=(16, 32), steps=2, batch_size=4, seed=0))
    return out
