"""Stage II speed: seconds per training step and per sampling step at 512x512, and what tiling costs.

    python -m bench.stage2_speed                                  # tiny prior on the CPU
    python -m bench.stage2_speed --pretrained DIR --device cuda --dtype bf16 --batch 8

Prints figures, asserts nothing. The sampling cost of a 1080x720 image is given as its number of
512x512 windows (they overlap by half, so it exceeds the area ratio of 2.97): multiply the
measured one-tile step by it.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from rdrf_train.models.control import ControlBranch, controlled_eps
from rdrf_train.prior import load_prior
from rdrf_train.sampling import make_noise_scheduler
from rdrf_train.tiling import tile_starts


def timed(fn, repeat: int, device: str) -> float:
    fn()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrained", default="tiny")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    dev = args.device

    prior = load_prior(args.pretrained).to(dev, dtype)
    control = ControlBranch.from_unet(prior.unet).to(dev)
    if dev.startswith("cuda"):
        control.enable_gradient_checkpointing()
        prior.unet.enable_gradient_checkpointing()
    opt = torch.optim.AdamW(control.parameters(), lr=1e-4)
    sched = make_noise_scheduler()
    b = args.batch
    z0 = torch.randn(b, 4, 64, 64, device=dev)
    c_s, c_lq = torch.randn_like(z0), torch.randn_like(z0)
    emb = prior.prompt_embedding(b)
    autocast = torch.autocast(dev.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)

    def train_step():
        noise = torch.randn_like(z0)
        t = torch.randint(0, 1000, (b,), device=dev)
        with autocast:
            eps = controlled_eps(prior.unet, control, sched.add_noise(z0, noise, t), t, emb, c_s, c_lq)
        loss = F.mse_loss(eps.float(), noise)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    @torch.no_grad()
    def sample_step():
        with autocast:
            controlled_eps(prior.unet, control, z0[:1], 500, emb[:1], c_s[:1], c_lq[:1])

    @torch.no_grad()
    def modulate_gate():
        with autocast:
            control.modulate_gate(c_s[:1], c_lq[:1], z0[:1])

    @torch.no_grad()
    def vae_decode():
        with autocast:
            prior.vae.decode(z0[:1].to(dtype))

    train_s = timed(train_step, args.repeat, dev)
    sample_s = timed(sample_step, args.repeat, dev)
    mg_s = timed(modulate_gate, args.repeat, dev)
    dec_s = timed(vae_decode, args.repeat, dev)
    windows = len(tile_starts(90, 64, 32)) * len(tile_starts(135, 64, 32))
    print(f"prior {args.pretrained}, {dev}, {args.dtype}, torch threads {torch.get_num_threads()}")
    print(f"training step, 512x512, batch {b}:      {train_s:8.3f} s")
    print(f"sampling step, 512x512 (one tile):     {sample_s:8.3f} s  (Modulate&Gate {mg_s:.3f} s = {mg_s / sample_s:.0%})")
    print(f"VAE decode, 512x512:                   {dec_s:8.3f} s")
    print(f"50-step sample of 512x512:             {50 * sample_s + dec_s:8.1f} s (estimate)")
    print(f"1080x720 / 512x512 sampling cost:      {windows:8d} x  (tiles of 64, stride 32)")


if __name__ == "__main__":
    main()
