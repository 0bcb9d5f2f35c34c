"""Data-parallel training over torch.distributed (gloo, two processes on loopback), without Ray:
the gradient averaging is exact, every worker's copy of the GAN stays the same, and a 2-worker run
follows the 1-worker run with the same global batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from pipeline.core.data import load_dataset
from pipeline.core.gan import advance_schedules, build_state, discriminator_step, generator_step, real_batch
from pipeline.core.parallel import DataParallel
from pipeline.core.train import train
from pipeline.spec import metric_names as names
from tests.conftest import free_port, tiny_spec

WORLD = 2
RING8 = ["trial.train.steps=300", "trial.train.eval_every=50", "trial.train.batch_size=128", "trial.eval.samples=1000"]



def spawn(worker, out) -> None:
    mp.spawn(worker, args=(free_port(), str(out)), nprocs=WORLD, join=True)


def join_group(rank: int, port: int) -> DataParallel:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    return DataParallel(rank, WORLD)


def gradient_and_steps_worker(rank: int, port: int, out: str) -> None:
    """(1) One backward of a linear model on each rank's half batch, averaged. (2) Twenty GAN steps with
    D dropout (different masks per worker): the weights must stay equal."""
    parallel = join_group(rank, port)
    torch.manual_seed(0)
    model, x = nn.Linear(3, 2), torch.randn(8, 3)  # the same model and global batch on both ranks
    model(x[parallel.shard(torch.arange(8))]).pow(2).mean().backward()
    parallel.average_gradients(model)
    torch.save([p.grad for p in model.parameters()], f"{out}/grads{rank}.pt")

    trial = tiny_spec("ring8", "trial.model.dropout=0.3", "trial.train.batch_size=64").trial
    dataset = load_dataset(trial.dataset)
    state = build_state(trial, dataset, torch.device("cpu"), parallel)
    for _ in range(20):
        discriminator_step(state, real_batch(state, dataset.points), trial)
        generator_step(state, trial, torch.device("cpu"))
        advance_schedules(state, trial)
    weights = [p.detach() for net in (state.generator, state.discriminator) for p in net.parameters()]
    torch.save({"weights": weights, "batch": state.batch_size}, f"{out}/state{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_worker_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("parallel")
    spawn(gradient_and_steps_worker, out)  # one spawn for both checks: each costs seconds of start-up
    return out


def test_averaged_half_batch_gradients_equal_the_full_batch_gradient(two_worker_results):
    torch.manual_seed(0)
    model, x = nn.Linear(3, 2), torch.randn(8, 3)
    model(x).pow(2).mean().backward()
    full_batch = [p.grad for p in model.parameters()]
    for rank in range(WORLD):
        for got, want in zip(torch.load(two_worker_results / f"grads{rank}.pt"), full_batch, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_workers_keep_identical_weights(two_worker_results):
    first, second = (torch.load(two_worker_results / f"state{rank}.pt") for rank in range(WORLD))
    assert first["batch"] == second["batch"] == 32  # the global batch of 64, split
    for a, b in zip(first["weights"], second["weights"], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert len(first["weights"]) > 4


class Recorder:
    def __init__(self):
        self.metrics: list[dict[str, float]] = []
        self.checkpoints = 0

    def report(self, step, metrics, images, checkpoint):
        self.metrics.append(metrics)
        self.checkpoints += checkpoint is not None


def ring8_worker(rank: int, port: int, out: str) -> None:
    parallel = join_group(rank, port)
    recorder = Recorder()
    train(tiny_spec("ring8", *RING8).trial, recorder, parallel=parallel)
    torch.save({"metrics": recorder.metrics, "checkpoints": recorder.checkpoints}, f"{out}/ring8_{rank}.pt")
    dist.destroy_process_group()


def curve(metrics: list[dict[str, float]], key: str) -> np.ndarray:
    return np.array([m[key] for m in metrics])


@pytest.mark.slow
def test_two_workers_follow_one_worker_with_the_same_global_batch(tmp_path):
    spawn(ring8_worker, tmp_path)
    main, other = (torch.load(tmp_path / f"ring8_{rank}.pt") for rank in range(WORLD))
    single = Recorder()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker: the same arithmetic, so the curves compare
    try:
        train(tiny_spec("ring8", *RING8).trial, single)
    finally:
        torch.set_num_threads(threads)  # the rest of the session keeps its threads

    assert len(main["metrics"]) == len(other["metrics"]) == len(single.metrics) == 6
    assert main["checkpoints"] == 6 and other["checkpoints"] == 0  # only rank 0 checkpoints and evaluates
    assert names.FID in main["metrics"][-1] and names.FID not in other["metrics"][-1]
    for key in (names.LOSS_D, names.LOSS_G):  # both ranks log the losses averaged over the workers
        np.testing.assert_allclose(curve(main["metrics"], key), curve(other["metrics"], key), rtol=1e-6)
        gap = np.abs(curve(main["metrics"], key) - curve(single.metrics, key))
        assert gap.max() < 0.3, (key, curve(main["metrics"], key), curve(single.metrics, key))
    for run in (main["metrics"], single.metrics):  # both learn the ring (seen: 6-7 of 8 modes, fid ~0.02)
        assert run[-1][names.MODES] >= 5 and run[-1][names.FID] < 0.05
