"""Data-parallel training on the CPU: two gloo processes launched by torchrun train like one process on the same global batches.

Run by pytest, this file launches itself under torchrun (the `__main__` part is what each of the two processes runs)."""
import os, shutil, socket, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch

CFG = dict(arch="plain", base=8)   # BatchNorm in every block: the part DDP without SyncBatchNorm changes
N_TRAIN, N_VALID, BS, EPOCHS = 16, 4, 8, 2   # global batch 8 = 2 processes x 4; 2 steps per epoch
TORCHRUN = Path(sys.executable).parent/"torchrun"

def tiny_dataset(folder: Path) -> Path:
    "A dataset folder as the dataset scripts write it (tiles.csv, .npy tiles): LR 8x8 and HR 32x32 tiles of random blobs."
    rng = np.random.default_rng(0)
    rows = ["tile,split,size,lr,hr,source_file,y,x"]
    (folder/"t").mkdir(parents=True)
    for i in range(N_TRAIN + N_VALID):
        hr = rng.random((32, 32), dtype=np.float32)
        lr = hr.reshape(8, 4, 8, 4).mean((1, 3)) + rng.normal(0, 0.05, (8, 8)).astype(np.float32)
        np.save(folder/f"t/{i}_hr.npy", hr); np.save(folder/f"t/{i}_lr.npy", lr.astype(np.float32))
        rows.append(f"{i},{'train' if i < N_TRAIN else 'valid'},32,t/{i}_lr.npy,t/{i}_hr.npy,f{i % 5},0,0")
    (folder/"tiles.csv").write_text("\n".join(rows) + "\n")
    return folder

def _recorder():
    from fastai.callback.core import Callback
    class Record(Callback):
        "Keep the initial weights, every training batch this process saw and its loss."
        def before_fit(self):  # runs before DistributedTrainer (order 11) wraps the model
            self.init = {k: v.clone() for k, v in self.learn.model.state_dict().items()}
            self.xs, self.ys, self.losses = [], [], []
        def before_batch(self):
            if self.training: self.xs.append(self.xb[0].clone()); self.ys.append(self.yb[0].clone())
        def after_loss(self):
            if self.training: self.losses.append(float(self.learn.loss.detach()))
    return Record()

def _double():
    "The batches in float64, for a learner made while float64 is torch's default (see test_matches_one_process_on_the_same_global_batches)."
    from fastai.callback.core import Callback
    class Double(Callback):
        order = -1  # before the recorder keeps the batch
        def before_batch(self):
            self.learn.xb = tuple(x.double() for x in self.xb); self.learn.yb = tuple(y.double() for y in self.yb)
        def after_loss(self): self.learn.loss = self.loss.float()  # fastai records losses in float32; backward is on loss_grad
    return Double()

def worker(folder: str, out: str):
    "One of the torchrun processes: the library's own path (tile_dls, restoration_learner), made distributed by torchrun's environment."
    import fastai.callback.schedule  # noqa: F401
    from bpho_lib.data import tile_dls
    from bpho_lib.distributed import from_rank0, rank, world_size
    from bpho_lib.learn import restoration_learner
    from bpho_lib.unet import ModelConfig
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    dls = tile_dls(folder, 32, bs=BS, device="cpu", seed=0)
    learn = restoration_learner(dls, ModelConfig(**CFG))
    rec = _recorder()
    from bpho_lib.checkpoint import EpochCheckpoint
    learn.fit_one_cycle(EPOCHS, 1e-2, cbs=[_double(), rec, EpochCheckpoint(Path(out)/f"ckpt{rank()}.pth", "k", 0, [])])
    torch.save({"world": world_size(), "bs": learn.dls.train.bs, "agreed": from_rank0(rank() + 0.5), "init": rec.init, "xs": rec.xs, "ys": rec.ys,
                "losses": rec.losses, "final": {k: v.clone() for k, v in learn.model.state_dict().items()},
                "model_type": type(learn.model).__name__}, Path(out)/f"rank{rank()}.pt")

def _free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    "Launch two gloo processes with torchrun on the tiny dataset; return their records."
    d = tmp_path_factory.mktemp("ddp")
    tiny_dataset(d/"ds")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BPHO_", "RANK", "WORLD_SIZE", "LOCAL_", "MASTER_"))},
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run([str(TORCHRUN), "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
                        __file__, str(d/"ds"), str(d)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return [torch.load(d/f"rank{i}.pt", weights_only=True) for i in (0, 1)], d

class Shards(torch.nn.Module):
    "The model run on each process's part of the global batch separately: BatchNorm statistics per part, as DDP on CPUs computes them."
    def __init__(self, m, n): super().__init__(); self.m, self.n = m, n
    def forward(self, x): return torch.cat([self.m(c) for c in x.chunk(self.n)])

def single_process(r0, r1, shards: bool):
    "One process, one learner, the same initial weights, fed the global batches the two processes saw (each the concatenation of their parts)."
    import fastai.callback.schedule  # noqa: F401
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from bpho_lib.learn import restoration_learner
    from bpho_lib.unet import ModelConfig
    samples = [(x, y) for s in range(len(r0["xs"])) for xb, yb in ((r0["xs"][s], r0["ys"][s]), (r1["xs"][s], r1["ys"][s])) for x, y in zip(xb, yb)]
    dls = DataLoaders(DataLoader(samples, bs=BS, device="cpu"), DataLoader(samples[:N_VALID], bs=BS, device="cpu"), device="cpu")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # as the two processes did
    try:
        learn = restoration_learner(dls, ModelConfig(**CFG))
        learn.model.load_state_dict(r0["init"])
        if shards: learn.model = Shards(learn.model, 2)
        rec = _recorder()
        learn.fit_one_cycle(1, 1e-2, cbs=[_double(), rec])  # all the steps in one epoch: the one-cycle schedule is per step, the same
    finally: torch.set_default_dtype(old)
    m = learn.model.m if shards else learn.model
    return rec.losses, {k: v for k, v in m.state_dict().items()}

def test_both_ranks_hold_identical_weights(ddp_run):
    (r0, r1), _ = ddp_run
    assert (r0["world"], r1["world"]) == (2, 2)
    assert r0["bs"] == r1["bs"] == BS // 2                      # each process takes half of the global batch
    assert len(r0["losses"]) == len(r1["losses"]) == EPOCHS * N_TRAIN // BS
    for k in r0["init"]: assert torch.equal(r0["init"][k], r1["init"][k]), k
    changed = 0
    for k in r0["final"]:
        assert torch.equal(r0["final"][k], r1["final"][k]), f"{k} differs between the ranks"
        changed += not torch.equal(r0["final"][k], r0["init"][k])
    assert changed > len(r0["final"]) // 2  # they trained, and identically

def test_every_rank_takes_rank0s_value(ddp_run):
    "`from_rank0`: what the early stop and best-epoch choice are decided on, so that no process stops while another waits."
    (r0, r1), _ = ddp_run
    assert (r0["agreed"], r1["agreed"]) == (0.5, 0.5)  # each process offered its rank + 0.5

def test_checkpoints_written_under_ddp_load_into_the_plain_model(ddp_run):
    "fit_stages resumes from the checkpoint of the last epoch: written by a wrapped model, it must load without the wrapper."
    (r0, _), d = ddp_run
    from bpho_lib.unet import ModelConfig, build_model
    ck = torch.load(d/"ckpt0.pth", weights_only=True)
    m = build_model(ModelConfig(**CFG))
    m.load_state_dict(ck["model"])  # strict: every name must match
    for k, v in m.state_dict().items(): assert torch.equal(v, r0["final"][k].to(v.dtype)), k  # trained in float64

def test_each_epoch_covers_every_tile_once(ddp_run):
    "The two parts of a global batch are different tiles and an epoch sees each training tile once (no padding, no overlap)."
    (r0, r1), _ = ddp_run
    key = lambda y: round(float(y.double().sum()), 3)  # a tile's pixel sum: unchanged by the dihedral augmentation
    steps = N_TRAIN // BS
    for e in range(EPOCHS):
        seen = sorted(key(y) for r in (r0, r1) for yb in r["ys"][e * steps:(e + 1) * steps] for y in yb)
        assert len(set(seen)) == N_TRAIN == len(seen), f"epoch {e}: {len(set(seen))} distinct tiles of {len(seen)}"

def test_matches_one_process_on_the_same_global_batches(ddp_run):
    """The mean of the two processes' losses at each step is the loss of one process on the global batch, and the weights end the same.

    DDP averages gradients; with equal parts that is the gradient of the global batch's mean loss. SyncBatchNorm has no
    CPU kernel, so each gloo process normalises with its own part's statistics: the honest single-process reference runs
    the model on each part separately (`Shards`). A reference with full-batch BatchNorm must differ, or this test could not tell.

    Both sides train in float64. In float32 the comparison measures round-off, not DDP: Adam divides each update by the
    gradient's own scale, so where a gradient nearly cancels a last-bit difference (another thread count, another CPU's
    kernels) becomes a step of the size of the learning rate. Measured on this tiny model, reference against the two
    processes: float32, 2 threads instead of 1: up to 8.2e-5 with AVX2 kernels, 7.6e-3 with ATEN_CPU_CAPABILITY=default;
    float64: 0.0 with 1 or 2 threads and either kernels. Left for other CPUs: 1e-8, against 3.6e-2 for the naive reference."""
    (r0, r1), _ = ddp_run
    ddp_losses = [(a + b) / 2 for a, b in zip(r0["losses"], r1["losses"])]
    losses, final = single_process(r0, r1, shards=True)
    assert len(losses) == len(ddp_losses)
    np.testing.assert_allclose(losses, ddp_losses, rtol=1e-5, atol=0)  # recorded in float32: 3.8e-8 apart here
    # Compared: the weights (not the BatchNorm buffers) that training moved (by > 1e-3). Left out: the biases of convolutions
    # followed by BatchNorm, whose gradient is zero by construction (BatchNorm subtracts the mean): their updates are
    # round-off, and they cannot affect the output.
    moved = [k for k in r0["final"] if "running_" not in k and r0["final"][k].is_floating_point() and (r0["final"][k] - r0["init"][k]).abs().max() > 1e-3]
    assert len(moved) > 50, moved
    worst = max((final[k] - r0["final"][k]).abs().max().item() for k in moved)
    assert worst < 1e-8, f"weights differ from the single process by up to {worst:.2e}"
    naive_losses, naive = single_process(r0, r1, shards=False)
    assert abs(naive_losses[0] - ddp_losses[0]) > 1e-3 * ddp_losses[0], "full-batch BatchNorm should differ: the comparison is blind"
    assert max((naive[k] - r0["final"][k]).abs().max().item() for k in moved) > 1e-3  # 3.6e-2 measured

def _notebook(path: Path):
    "A minimal experiment notebook: parameters, set-up, the training cell, and a cell that must never run under bpho train."
    import json
    cells = ["# parameters\nEXPERIMENT = 'ddp_tiny'\nDATASET = 'tiny'\nSTAGES = [dict(size=32, bs=4, epochs=1, lr=1e-2)]",
             "from bpho_lib.config import get_settings\nfrom bpho_lib.experiment import train\nfrom bpho_lib.unet import ModelConfig\n"
             "S = get_settings()\ncfg = ModelConfig(arch='plain', base=8)",
             "# training\nmodel, hist, config = train(S, EXPERIMENT, DATASET, cfg, STAGES, 'mse', 1e-3, 0, ('lr', 'hr'))",
             "raise RuntimeError('bpho train ran a cell after the training cell')"]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [], "source": c}
                    for i, c in enumerate(cells)], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path

def test_bpho_train_under_torchrun(tmp_path):
    "`bpho train` on two gloo processes: a two-stage schedule, one model with the distribution recorded, no checkpoint left; rerun alone it is already trained."
    root = tmp_path/"root"
    tiny_dataset(root/"datasets/tiny")
    (root/"datasets/tiny/dataset.json").write_text('{"fingerprint": "tiny-1", "sources": {}, "params": {}}')
    nb = _notebook(tmp_path/"901_tiny.ipynb")
    stages = "STAGES=[{'size': 32, 'bs': 8, 'epochs': 1, 'lr': 0.01}, {'size': 32, 'bs': 4, 'epochs': 1, 'lr': 0.005}]"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BPHO_", "RANK", "WORLD_SIZE", "LOCAL_", "MASTER_"))},
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    bpho = Path(sys.executable).parent/"bpho"
    r = subprocess.run([str(TORCHRUN), "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
                        str(bpho), "train", str(nb), "--root", str(root), "--set", stages], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert "trained on 2 process(es)" in r.stdout and "after the training cell" not in r.stdout + r.stderr
    out = root/"models/ddp_tiny"
    import json
    cfg = json.loads((out/"config.json").read_text())
    assert cfg["distributed"]["processes"] == 2 and cfg["distributed"]["backend"] == "gloo"
    assert [h["stage"] for h in cfg["history"]] == [0, 1] and (out/"weights.pth").is_file()
    assert not (out/"checkpoint.pth").exists()
    r = subprocess.run([str(bpho), "train", str(nb), "--root", str(root), "--set", stages], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and "already trained with this configuration" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([str(TORCHRUN), "--nproc-per-node", "2", "--master-port", str(_free_port()), str(bpho), "train", str(nb),
                        "--root", str(root), "--set", "STAGES=[{'size': 32, 'bs': 5, 'epochs': 1, 'lr': 0.01}]"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode != 0 and "training batch size 5 cannot be split over 2 processes" in r.stderr, r.stderr[-3000:]

if __name__ == "__main__":
    worker(*sys.argv[1:3])
