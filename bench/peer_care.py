"""The peer: CARE as implemented in CAREamics, trained for a wall-clock budget on bicubic-upsampled LR tiles -> HR tiles,
then applied to the test tiles. Runs in its own venv (bench/.venv-peer: CAREamics pins another torch); bench/peer.py
calls it and exchanges data through .npy files in DIR:

    bench/.venv-peer/bin/python bench/peer_care.py DIR SECONDS [SEED]
    bench/.venv-peer/bin/python bench/peer_care.py --dihedral DIR

DIR holds x_train, y_train, x_valid, y_valid (N, Y, X float32) and x_test; writes pred_test.npy and care.json.
--dihedral (bench/peer_averaging.py) applies the model that a run left in DIR (its last checkpoint) to x_test under
each of the 8 dihedral transforms, undoes them, and writes pred_test_last.npy (no transform) and pred_test_dihedral.npy
(the mean of the 8): CAREamics 0.3.5 has no test-time averaging of its own.
"""
import json, sys, time
from pathlib import Path
import numpy as np

def turn(a: np.ndarray, k: int) -> np.ndarray:
    "The k-th (0..7) dihedral transform of the last two axes (k >= 4: then flipped upside down)."
    a = np.rot90(a, k % 4, axes=(-2, -1))
    return a[..., ::-1, :] if k >= 4 else a

def unturn(a: np.ndarray, k: int) -> np.ndarray:
    "The inverse of turn(., k)."
    return np.rot90(a[..., ::-1, :] if k >= 4 else a, -(k % 4), axes=(-2, -1))

def care_predict(care, x: np.ndarray) -> np.ndarray:
    "CAREamics's predictions of the tiles `x` (N, Y, X), as one (N, Y, X) array."
    out = care.predict(np.ascontiguousarray(x), axes="SYX", data_type="array")
    out = out[0] if isinstance(out, tuple) else out  # (predictions, names) in CAREamics 0.3.5
    return np.concatenate([np.asarray(p).reshape(-1, *x.shape[-2:]) for p in (out if isinstance(out, list) else [out])])

def dihedral(d: Path):
    from careamics import CAREamist
    ckpt = d/"care_work/checkpoints/care_bench_0/care_bench_last.ckpt"
    if not ckpt.exists(): raise SystemExit(f"{ckpt}: no CAREamics checkpoint (expected a run of bench/peer_care.py in {d})")
    x = np.load(d/"x_test.npy")
    care = CAREamist(checkpoint_path=ckpt, work_dir=d/"care_dihedral", enable_progress_bar=False)
    preds = [unturn(care_predict(care, turn(x, k)), k) for k in range(8)]
    np.save(d/"pred_test_last.npy", preds[0].astype(np.float32))
    np.save(d/"pred_test_dihedral.npy", np.mean(preds, 0).astype(np.float32))

def main():
    args = sys.argv[1:]
    if args[:1] in (["-h"], ["--help"]): return print(__doc__)
    if not args: raise SystemExit(__doc__)
    if len(args) not in ((2,) if args[0] == "--dihedral" else (2, 3)): raise SystemExit(f"peer_care.py: unexpected arguments {args}\n{__doc__}")
    if args[0] == "--dihedral": return dihedral(Path(args[1]))
    d, budget = Path(sys.argv[1]), float(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    import torch, careamics
    from careamics import CAREamist
    from careamics.config import create_advanced_care_config
    torch.manual_seed(seed)
    x_tr, y_tr, x_va, y_va, x_te = (np.load(d/f"{k}.npy") for k in ("x_train", "y_train", "x_valid", "y_valid", "x_test"))
    s = int(round(budget))
    cfg = create_advanced_care_config(
        experiment_name="care_bench", data_type="array", axes="SYX",
        patch_size=[x_tr.shape[-2], x_tr.shape[-1]],  # the whole training tile, as bpho trains
        batch_size=8,                                  # as bpho's 101 smoke configuration
        num_epochs=10_000,                             # the wall-clock budget stops training, not the epochs
        num_workers=0,                                 # tiles are in memory; workers only compete for the 2 cores
        trainer_params={"max_time": f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"},
        # the budget stops training, as it stops bpho's: CAREamics's default early stopping on val_loss (Lightning's
        # patience of 3 epochs) ended a 303 s budget after 159 s, 15 epochs (seed 0, 2026-12-03)
        early_stopping_params={"monitor": "val_loss", "mode": "min", "patience": 10**6},
        seed=seed + 1)                                 # (CAREamics wants a seed > 0) everything else CAREamics's defaults (but early stopping, above): UNet depth 2, 32 channels, Adam, ReduceLROnPlateau, flips + 90° rotations
    care = CAREamist(cfg, work_dir=d/"care_work", enable_progress_bar=False)
    t, c = time.perf_counter(), time.process_time()
    care.train(train_data=x_tr, train_data_target=y_tr, val_data=x_va, val_data_target=y_va)
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    pred = care_predict(care, x_te)
    pred_s = time.perf_counter() - t
    np.save(d/"pred_test.npy", pred.astype(np.float32))
    trainer = care.trainer
    steps = int(getattr(trainer, "global_step", -1))
    (d/"care.json").write_text(json.dumps({
        "careamics": careamics.__version__, "torch": torch.__version__, "train_seconds": train_s, "train_cpu_seconds": train_cpu, "predict_seconds": pred_s,
        "epochs": int(getattr(trainer, "current_epoch", -1)), "steps": steps, "samples": steps * 8, "early_stopping": False,
        "model": {k: v for k, v in cfg.algorithm_config.model.model_dump().items() if k in ("depth", "num_channels_init", "architecture")},
        "optimizer": cfg.algorithm_config.optimizer.model_dump(), "lr_scheduler": cfg.algorithm_config.lr_scheduler.model_dump()["name"]}))

if __name__ == "__main__":
    main()
