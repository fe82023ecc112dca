"""Spread a check's chunks over processes with torch.distributed (launched by torchrun).

Chunk j of a check is drawn from the generator seeded by (seed, check, j) whichever
process computes it, so splitting the chunks over ranks changes no sample.  Each rank
fills the rows of the per-chunk table it owns and leaves the others at zero; an
all-reduce (sum) then gives every rank the full table exactly (x + 0 = x in floating
point), and the verdict is the one a single process would reach, bit for bit.

    torchrun --nproc-per-node 2 -m verification --quick
"""
import os

import torch
import torch.distributed as dist

from .core import CHUNKS


def init_from_environment(device):
    """Join the process group torchrun describes (WORLD_SIZE > 1); return True if so."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.device(device).type == "cuda" else "gloo")
    return True


def partition(device):
    """(chunks this rank computes, reduce function) or (None, None) in a single process."""
    if not (dist.is_available() and dist.is_initialized()):
        return None, None
    rank, world = dist.get_rank(), dist.get_world_size()
    # nccl reduces CUDA tensors only; gloo reduces CPU tensors.
    where = device if dist.get_backend() == "nccl" else "cpu"

    def reduce(table):
        tensor = torch.as_tensor(table, dtype=torch.float64, device=where)
        dist.all_reduce(tensor)
        return tensor.cpu().numpy()
    return range(rank, CHUNKS, world), reduce


def is_main_process():
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
