"""idmatch: exact linear sum assignment and identity matching as PyTorch ops.

Importing idmatch registers the ops under ``torch.ops.idmatch`` (CPU, and CUDA
when built with it) together with their fake kernels for torch.compile and
torch.export. The raw ops report problems through codes instead of raising:
``Status`` per problem (or per (sample, channel) group), ``PeakCode`` per peak.
"""

from ._loader import load_ops_library
from ._version import __version__ as __version__

_LIBRARY_PATH = load_ops_library()

# _fake registers the fake kernels; sleap_nn imports sleap-nn only when called.
from . import _fake, sleap_nn  # noqa: E402,F401
from ._common import PeakCode, Status  # noqa: E402
from .identity import (  # noqa: E402
    classify_peaks_from_maps,
    get_class_inds_from_vectors,
    group_class_peaks,
    sample_class_maps,
)
from .lsa import (  # noqa: E402
    batch_linear_sum_assignment,
    linear_sum_assignment,
    ragged_linear_sum_assignment,
)
from .padded import classify_padded_peaks, match_padded_instances  # noqa: E402
from .paf import match_paf_candidates  # noqa: E402

__all__ = [
    "PeakCode",
    "Status",
    "batch_linear_sum_assignment",
    "classify_padded_peaks",
    "classify_peaks_from_maps",
    "get_class_inds_from_vectors",
    "group_class_peaks",
    "linear_sum_assignment",
    "match_paf_candidates",
    "match_padded_instances",
    "ragged_linear_sum_assignment",
    "sample_class_maps",
]
