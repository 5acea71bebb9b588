"""The rows of a ``top`` report: pprof's trimming and ordering applied to an ``Aggregate``.

pprof ``-top`` (``report.newTrimmedGraph`` with the text format's defaults):
drop nodes whose |cum| is below ``node_fraction`` (0.5%) of the summed flat
values, sort by |flat| descending, then printable name, then |cum|
descending, and keep the first ``nodecount`` (0 = all). Rows get pprof's
inline markers (see ``inline``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goinspect.profile.aggregate import Aggregate, NodeInfo
from goinspect.profile.inline import DEFAULT_EDGE_FRACTION, inline_labels

DEFAULT_NODE_FRACTION = 0.005


@dataclass(frozen=True, slots=True)
class TopRow:
    node: NodeInfo
    flat: int
    cum: int
    inline: str  # "", "inline" or "partial-inline"
    index: int  # node index in the Aggregate


@dataclass(slots=True)
class TopReport:
    rows: list[TopRow]
    total: int
    shown: int  # summed flat of the rows shown
    dropped_nodes: int  # nodes under the cum cutoff
    cutoff: int  # |cum| below this is dropped: node_fraction of the summed flat values
    node_fraction: float
    kept_nodes: int  # nodes left after the cutoff, before --nodecount

    @property
    def truncated(self) -> bool:
        return len(self.rows) < self.kept_nodes


def go_int64(x: float) -> int:
    """Go's int64(float64) conversion: truncate toward zero."""
    return int(x)


def flat_order(agg: Aggregate, idx: np.ndarray) -> list[int]:
    """``idx`` sorted like pprof's FlatNameOrder."""
    nodes, flat, cum = agg.nodes, agg.flat, agg.cum
    return sorted((int(i) for i in idx),
                  key=lambda i: (-abs(int(flat[i])), nodes[i].printable, -abs(int(cum[i])), nodes[i].go_repr()))


def top(agg: Aggregate, nodecount: int = 0, node_fraction: float = DEFAULT_NODE_FRACTION,
        edge_fraction: float = DEFAULT_EDGE_FRACTION) -> TopReport:
    present = agg.present()
    total_flat = int(agg.flat[present].sum())
    cutoff = abs(go_int64(float(total_flat) * node_fraction))
    kept = present[np.abs(agg.cum[present]) >= cutoff] if cutoff > 0 else present
    order = flat_order(agg, kept)
    if nodecount > 0:
        order = order[:nodecount]
    edge_cutoff = abs(go_int64(float(total_flat) * edge_fraction))
    inline = inline_labels(agg, order, edge_cutoff)
    rows = [TopRow(agg.nodes[i], int(agg.flat[i]), int(agg.cum[i]), inline[i], i) for i in order]
    return TopReport(rows=rows, total=agg.total, shown=sum(r.flat for r in rows),
                     dropped_nodes=len(present) - len(kept), cutoff=cutoff,
                     node_fraction=node_fraction, kept_nodes=len(kept))
