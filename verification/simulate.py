"""Batches of random networks, simulated as built.

Every sample is a network x_{k+1} = act(W_k x_k) with a freshly drawn Gaussian matrix
W_k of shape (d_{k+1}, d_k) and zero bias, applied by a batched matmul; nothing is
replaced by the law the theory predicts for it.  Because every activation used here is
positively homogeneous (act(c z) = c act(z) for c >= 0) and W_k is independent of x_k,
the state is renormalised to unit norm after each layer and the log of each layer's norm
ratio is kept in float64: no overflow or underflow however deep the network, and the
ratios ``r_k = ||x_{k+1}|| / ||x_k||`` are exactly the factors the theory talks about.
A network whose state becomes 0 (all ReLU units dead) keeps its previous direction, so
its later ratios are still valid draws of a one-layer factor, while its product of
ratios is 0.
"""
import contextlib

import torch

# Bytes of weights drawn at once (one sub-batch): on a CPU small enough that W is still
# in cache when the matmul reads it back (4 MB: ~85-95% of the random-number bound,
# against ~60% at 128 MB); on a GPU large enough to amortise kernel launches.
MEMORY_BYTES = {"cpu": 1 << 22, "cuda": 1 << 28}


def norm_ratios(widths, sigmas, n, generator, activation, *, dtype=torch.float32):
    """Per-layer norm ratios of n independent networks: float64 tensor of shape (n, L).

    widths: d_0, ..., d_L; sigmas: the L weight standard deviations; activation(z,
    generator) applies the nonlinearity (and any dropout) to a (batch, d) tensor.  The
    networks are simulated on the generator's device.
    """
    device = generator.device
    if len(sigmas) != len(widths) - 1:
        raise ValueError(f"{len(widths)} widths need {len(widths) - 1} sigmas, "
                         f"got {len(sigmas)}")
    largest = max(a * b for a, b in zip(widths[1:], widths[:-1]))
    memory = MEMORY_BYTES[device.type]
    batch = max(1, memory // (largest * torch.finfo(dtype).bits // 8))
    parts = []
    buffer = torch.empty(min(batch, n) * largest, device=device, dtype=dtype)
    for start in range(0, n, batch):
        size = min(batch, n - start)
        x = torch.ones(size, widths[0], device=device, dtype=dtype) / widths[0] ** 0.5
        ratios = torch.empty(size, len(sigmas), device=device, dtype=torch.float64)
        for k, (sigma, d_out) in enumerate(zip(sigmas, widths[1:])):
            # Drawn into one reused buffer: a fresh 100 MB allocation per layer costs
            # page faults comparable to the random numbers themselves.
            w = torch.randn((size, d_out, x.shape[1]), generator=generator,
                            out=buffer[:size * d_out * x.shape[1]].view(size, d_out, -1))
            y = activation(float(sigma) * torch.bmm(w, x.unsqueeze(-1)).squeeze(-1), generator)
            norm = torch.linalg.vector_norm(y, dim=1)
            ratios[:, k] = norm.to(torch.float64)
            alive = (norm > 0).unsqueeze(-1)
            # A dead network keeps its direction (any unit vector gives a valid next
            # draw); the widths may change, so fall back to a fixed unit vector then.
            fallback = x if x.shape[1] == d_out else torch.full_like(y, d_out ** -0.5)
            x = torch.where(alive, y / norm.clamp_min(torch.finfo(dtype).tiny).unsqueeze(-1),
                            fallback)
        parts.append(ratios)
    return torch.cat(parts)


def leaky_relu(a):
    """phi_a(z) = z (z > 0), a z (z <= 0), a fixed slope."""
    return lambda z, generator: torch.where(z > 0, z, a * z)


def random_slopes(lower, upper, per):
    """Leaky ReLU with slopes ~ U[lower, upper] drawn per "neuron" (each unit of each
    forward pass) or per "layer" (one slope per network and layer)."""
    def activation(z, generator):
        shape = z.shape if per == "neuron" else (z.shape[0], 1)
        slope = lower + (upper - lower) * torch.rand(shape, generator=generator,
                                                     device=z.device, dtype=z.dtype)
        return torch.where(z > 0, z, slope * z)
    return activation


@contextlib.contextmanager
def global_rng_from(generator):
    """torch.nn modules (RReLU, Dropout) draw from torch's global generator: seed it from
    the check's own generator inside a fork, so results stay reproducible and the
    caller's global random state is left untouched."""
    device = generator.device
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=device))
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def module_activation(*modules):
    """Apply real torch.nn modules in training mode, in order (e.g. ReLU then Dropout)."""
    chain = torch.nn.Sequential(*modules).train()

    def activation(z, generator):
        with global_rng_from(generator), torch.no_grad():
            return chain.to(z.device)(z)
    return activation
