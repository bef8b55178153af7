"""Benchmark of the training step: samples/s of bpho's UNet learner (fastai) vs a bare PyTorch loop on the same
model, data, batch size, augmentation and optimiser, measured in one run with the repeats interleaved.

bpho: `tile_dls` + `restoration_learner` + `fit_one_cycle`, as `fit_stages` trains (progress bar, recorder, one-cycle
schedule, torch's fused AdamW through fastai's `OptimWrapper`). Bare: a `torch.utils.data.DataLoader` over the
same `TileDataset`, the same dihedral augmentation, the same `torch.optim.AdamW` (fused) with fastai's settings (betas 0.9/0.99, eps 1e-5, weight decay 1e-3
except on batch-norm and bias parameters) and `OneCycleLR`. Both time the training phase of one epoch cut at the same
number of batches (validation skipped), starting from the same weights. The ratio bpho / bare is the framework's overhead.

    python bench/train.py [--repeats 3] [--archs smoke,resnet34] [--work DIR] [--out BENCHMARKS.md]
"""
import argparse, datetime, os, platform, shutil, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load, paired_project, smoke_model, stats, write_section

import torch

def bpho_run(folder, cfg, init, n_batches, bs, size, seed, lr=1e-3):
    "([(wall, cpu) time at the start and after each batch], seconds of the `fit` call outside the batches) for bpho's learner."
    import fastai.callback.schedule  # noqa: F401  (fit_one_cycle), as fit_stages
    from fastai.callback.core import Callback, CancelTrainException, CancelValidException
    from bpho_lib.data import tile_dls
    from bpho_lib.learn import restoration_learner
    class Cut(Callback):
        "Times each batch of the training phase (end to end, loading included); stops after `n_batches`, skips validation."
        order = 99
        def before_train(self): self.ts = [(time.perf_counter(), time.process_time())]
        def after_batch(self):
            if self.training:
                self.ts.append((time.perf_counter(), time.process_time()))
                if len(self.ts) > n_batches: raise CancelTrainException
        def before_validate(self): raise CancelValidException
    dls = tile_dls(folder, size, bs, seed=seed)
    learn = restoration_learner(dls, cfg, "mse", 1e-3)
    learn.model.load_state_dict(init)
    cut = Cut(); t = time.perf_counter()
    learn.fit_one_cycle(1, lr, cbs=[cut])
    return cut.ts, time.perf_counter() - t - (cut.ts[-1][0] - cut.ts[0][0])

def bare_run(folder, cfg, init, n_batches, bs, size, seed, lr=1e-3):
    "[(wall, cpu) time at the start and after each batch] for a bare PyTorch loop on the same model, data and optimiser."
    from bpho_lib.data import TileDataset, Dihedral
    from bpho_lib.unet import build_model
    ds = TileDataset(folder, "train", size)
    dl = torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(seed))
    aug = Dihedral(seed)
    model = build_model(cfg); model.load_state_dict(init); model.train()
    decay = [p for m in model.modules() for n, p in m.named_parameters(recurse=False)
             if n != "bias" and not isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    ids = {id(p) for p in decay}
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-3},
                             {"params": [p for p in model.parameters() if id(p) not in ids], "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.99), eps=1e-5, fused=True)  # as bpho's learner
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=len(dl), pct_start=0.25, base_momentum=0.85, max_momentum=0.95)
    loss_f = torch.nn.MSELoss()
    ts = [(time.perf_counter(), time.process_time())]
    for xb, yb in dl:
        xb, yb = aug((xb, yb))
        loss = loss_f(model(xb), yb)
        loss.backward(); opt.step(); opt.zero_grad(); sched.step()
        loss.item()
        ts.append((time.perf_counter(), time.process_time()))
        if len(ts) > n_batches: break
    return ts

def rates(ts, bs) -> tuple[float, float]:
    "Samples per second and per CPU-second from the median batch (the first, which starts the loader, left out)."
    d = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(ts[1:-1], ts[2:])] or [(ts[-1][0] - ts[0][0], ts[-1][1] - ts[0][1])]
    return bs / statistics.median(w for w, _ in d), bs / statistics.median(c for _, c in d)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--archs", default="smoke,resnet34", help="comma-separated: smoke (101's smoke network), resnet34 (101 full), "
                    "plain (a plain UNet on the HR grid)")
    ap.add_argument("--batches", default="smoke=30,resnet34=6,plain=10", help="batches timed per run, per arch (at most an epoch: 30 of batch 8)")
    ap.add_argument("--bs", type=int, default=8); ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--work", default=None, help="folder shared by the bench scripts (sample pairs, paired_001)")
    ap.add_argument("--out", default=None); a = ap.parse_args()
    from bpho_lib.unet import ModelConfig, build_model
    from bpho_lib.config import tune_malloc
    tuned = tune_malloc()  # as the `bpho` command runs experiments; both loops below share this process
    load0 = load()
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="bpho-bench-"))
    folder = paired_project(work)/"data/datasets/paired_001"
    nb = {k: int(v) for k, v in (x.split("=") for x in a.batches.split(","))}
    # experiment 101: smoke = NET of its SMOKE (a small plain UNet on the LR grid); full = ResNet-34 DynamicUnet with self-attention and blur
    cfgs = {"smoke": ModelConfig.from_dict(smoke_model()), "plain": ModelConfig(arch="plain", n_in=1, scale=4),
            "resnet34": ModelConfig(arch="resnet34", n_in=1, scale=4, self_attention=True, blur=True)}
    rows = []
    try:
        for arch in a.archs.split(","):
            cfg, n = cfgs[arch], nb.get(arch, 8)
            torch.manual_seed(0); init = build_model(cfg).state_dict()
            init = {k: v.clone() for k, v in init.items()}
            bpho_run(folder, cfg, init, 2, a.bs, a.size, 0); bare_run(folder, cfg, init, 2, a.bs, a.size, 0)  # warm-up, not timed
            r = {"bpho": [], "bare": [], "bpho_cpu": [], "bare_cpu": [], "fixed": [], "batches": set()}
            for i in range(a.repeats):
                for kind in (("bpho", "bare") if i % 2 == 0 else ("bare", "bpho")):  # interleaved, order alternating
                    if kind == "bpho":
                        ts, fixed = bpho_run(folder, cfg, init, n, a.bs, a.size, i); r["fixed"].append(fixed)
                    else: ts = bare_run(folder, cfg, init, n, a.bs, a.size, i)
                    wall, cpu = rates(ts, a.bs)
                    r[kind].append(wall); r[kind + "_cpu"].append(cpu); r["batches"].add(len(ts) - 1)
                    print(f"{arch} {kind}: {len(ts) - 1} batches, {wall:.2f} samples/s, {cpu:.2f} samples per CPU-second", flush=True)
            ratio = [b / p for b, p in zip(r["bpho"], r["bare"])]
            r["ratio_cpu"] = [b / p for b, p in zip(r["bpho_cpu"], r["bare_cpu"])]
            rows.append((arch, cfg, n, r, ratio))
    finally:
        if not a.work: shutil.rmtree(work, ignore_errors=True)
    sm = cfgs["smoke"]
    names = {"smoke": f"plain UNet, {sm.base} base channels, {sm.levels} levels, on the LR grid (101 smoke)",
             "plain": "plain UNet, 32 base channels, 4 levels, on the HR grid", "resnet34": "ResNet-34 DynamicUnet, self-attention + blur (101 full)"}
    lines = ["## Training step (`make bench`, bench/train.py)", "",
             f"Measured {datetime.date.today()} on {os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads), load average {load0} -> {load()}; "
             f"{a.repeats} repeats, bpho and bare interleaved, min / median / max. paired_001 built from the sample pairs, "
             f"{a.size} px HR tiles ({a.size // 4} px LR in), batch {a.bs}, MSE, one-cycle at lr 1e-3, weight decay 1e-3, "
             f"same initial weights; each run times the training phase of one epoch cut after a fixed number of batches "
             f"(validation skipped; one untimed warm-up run of each first).", "",
             "bpho: `tile_dls` + `restoration_learner` + `fit_one_cycle` (fastai). Bare: `torch.utils.data.DataLoader` over the same "
             "`TileDataset`, the same dihedral augmentation, the same `torch.optim.AdamW` (fused, `fused=True`, fastai's Adam settings: bpho's learner drives it through fastai's `OptimWrapper`), `OneCycleLR`, no fastai. "
             + ("Both in one process with the allocator settings the `bpho` command uses (`bpho_lib.config.tune_malloc`)." if tuned else "No allocator tuning (not glibc)."), "",
             "| model | batches per run | bpho samples/s | bare PyTorch samples/s | bpho / bare | bpho samples per CPU-s | bare samples per CPU-s | bpho / bare (CPU) | bpho's fixed cost per `fit` call (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for arch, cfg, n, r, ratio in rows:
        lines.append(f"| {names[arch]} | {', '.join(map(str, sorted(r['batches'])))} | {stats(r['bpho'])} | {stats(r['bare'])} | **{stats(ratio, '{:.3f}')}** | "
                     f"{stats(r['bpho_cpu'])} | {stats(r['bare_cpu'])} | {stats(r['ratio_cpu'], '{:.3f}')} | {stats(r['fixed'])} |")
    lines += ["", "Rates come from the median batch of each run (end of one batch to the end of the next: loading, augmentation, "
              "forward, backward, optimiser step and every callback), which resists the spikes of a shared machine; per CPU-second "
              "counts the process's CPU time (all threads) over the same batches, which is less sensitive to other jobs than the wall clock. "
              "Ratio per repeat: the bpho run over the bare run next to it; goal: bpho at least 0.9x of the bare loop. The fixed cost "
              "(learner and optimiser set-up, callbacks before and after the epoch; not the DataLoaders) is paid once per `fit` call "
              "(once per stage of a schedule), not per batch."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out: write_section(a.out, text)

if __name__ == "__main__":
    main()
