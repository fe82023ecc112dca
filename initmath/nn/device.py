"""The one device resolver: a name ("auto", "cpu", "cuda", "cuda:1", ...) to a torch device.

Verification, experiments, benchmarks and the figures resolve ``--device`` through
:func:`resolve_device`; code that already holds a ``torch.Generator`` takes its device
from ``generator.device`` instead of being passed both.
"""
import torch


def resolve_device(name: "str | torch.device | None" = "auto") -> torch.device:
    """The torch device for ``name``: "auto" (or None) is CUDA when available, else CPU.

    Raises
    ------
    ValueError
        ``name`` is not a device torch knows, or names CUDA on a machine without it.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
    """
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r} "
                         f"({error})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine "
                         f"(use 'cpu' or 'auto')")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} "
                         f"CUDA device(s), numbered from 0")
    return device
