"""goinspect model: answer questions about the Go runtime's memory rules from the model alone.

    goinspect model growslice --elem-size 24 --go 1.23 --appends 100   every capacity step, with its rounding
    goinspect model growslice --elem string --go 1.23 --why 848         how one-at-a-time appends reach cap 848
    goinspect model map --key int64 --elem int64 --hint 1000000 --go 1.26
    goinspect model map --key int64 --elem int64 --go 1.23 --entries 900000 --overflow 13495
    goinspect model sizeclass 1000 --go 1.26

No process is read: everything comes from goinspect.model, the Go sources' formulas
per release (size classes generated from each release's sizeclasses.go).
"""

from __future__ import annotations

import argparse
import sys

from goinspect.commands.common import add_json_option, print_json
from goinspect.errors import UsageError
from goinspect.model import classicmap, gotypes, slices, swissmap
from goinspect.model.sizeclasses import MAX_ALLOC, for_version
from goinspect.model.version import GoVersion, generated_release


def _version(text: str | None) -> GoVersion:
    v = GoVersion.parse(text)
    generated_release(v)  # raises for releases older than the oldest modelled one
    newest = GoVersion.parse(None)
    if (v.major, v.minor) > (newest.major, newest.minor):
        raise UsageError(f"Go {v} is newer than the newest modelled release {newest}")
    return v


def _nonneg(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return n


def _positive(text: str) -> int:
    n = _nonneg(text)
    if n == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return n


def _type(name: str | None, size: int | None, pointers: bool, what: str) -> gotypes.GoType:
    if name is not None and size is not None:
        raise UsageError(f"give --{what} or --{what}-size, not both")
    if name is not None:
        return gotypes.parse(name)
    if size is not None:
        return gotypes.of_size(size, pointers)
    raise UsageError(f"give the {what} type with --{what} TYPE or --{what}-size BYTES")


def _b(n: int) -> str:
    return f"{n:,} B"


# ------------------------------------------------------------------------------------ growslice

def growslice(args: argparse.Namespace) -> int:
    v = _version(args.go)
    t = _type(args.elem, args.elem_size, args.pointers, "elem")
    if t.size == 0:
        raise UsageError("zero-size elements never allocate: cap grows without memory")
    sc = for_version(v)
    n = args.appends if args.why is None else max(args.why, 1)
    rows = []
    cap = slices.stack_buffer_cap(t.size, v) if args.stack_buffer else 0
    if args.stack_buffer and not cap:
        raise UsageError(f"no stack buffer in Go {v} for {t.size}-byte elements (Go 1.26+, elements up to "
                         f"{slices.STACK_BUFFER_BYTES} bytes)")
    start = cap
    while cap < n:
        newlen = cap + 1
        raw = slices.nextslicecap(newlen, cap)
        req = raw * t.size
        g = slices.growslice(newlen, cap, t.size, t.noscan, v)
        rows.append({"len": newlen, "old_cap": cap, "nextslicecap": raw, "rule": _rule(newlen, cap),
                     "requested_bytes": req, "roundupsize_bytes": sc.roundupsize(req, t.noscan),
                     "cap": g.cap, "cap_bytes": g.mem, "block_bytes": g.block,
                     "size_class": sc.size_class(g.block) if g.block <= sc.max_small_size else None})
        cap = g.cap
    if args.why is not None and not any(r["cap"] == args.why for r in rows):
        caps = [r["cap"] for r in rows]
        near = [c for c in caps if c < args.why][-1:] + [c for c in caps if c > args.why][:1]
        raise UsageError(f"cap {args.why} never occurs when appending {t.size}-byte elements one at a time in Go {v}"
                         f" (nearest caps: {', '.join(map(str, near))}); a bigger append or make() may have set it")
    out = {"go": str(v), "size_classes_from": sc.release, "elem": t.name, "elem_size": t.size,
           "pointers": t.pointers, "appends": n, "start_cap": start, "growths": rows}
    if args.json:
        print_json(out)
        return 0
    print(f"Go {v} growslice, {t.name} ({t.size}-byte elements, {'pointers' if t.pointers else 'no pointers'}); "
          f"size classes of Go {sc.release}")
    if start:
        print(f"starts on a {slices.STACK_BUFFER_BYTES}-byte stack buffer: cap {start} before the first heap growth")
    shown = [r for r in rows if r["cap"] == args.why] if args.why is not None else rows
    for r in shown:
        rounded = "" if r["cap"] == r["nextslicecap"] else f" -> {r['cap_bytes'] // t.size} elements"
        print(f"append #{r['len']:<7} cap {r['old_cap']:>6} -> nextslicecap {r['nextslicecap']:>6} ({r['rule']}); "
              f"{r['nextslicecap']}*{t.size} = {_b(r['requested_bytes'])} -> roundupsize {_b(r['roundupsize_bytes'])}"
              f"{rounded} => cap {r['cap']} (block {_b(r['block_bytes'])})")
    if args.why is not None:
        print(f"cap {args.why}: {len(rows)} growths from nil: " + " -> ".join(str(r["cap"]) for r in rows))
    return 0


def _rule(newlen: int, oldcap: int) -> str:
    if newlen > 2 * oldcap:
        return "needed len > 2*cap: newLen"
    if oldcap < slices.GROWTH_THRESHOLD:
        return "cap < 256: double"
    return "cap >= 256: += (cap + 768)/4"


# ------------------------------------------------------------------------------------------ map

def map_(args: argparse.Namespace) -> int:
    v = _version(args.go)
    k = _type(args.key, args.key_size, args.key_pointers, "key")
    e = _type(args.elem, args.elem_size, args.elem_pointers, "elem")
    entries = args.entries if args.entries is not None else 0
    if entries * max(1, k.size + e.size) > MAX_ALLOC:
        raise UsageError(f"{entries} entries of {k.size + e.size} bytes exceed what a 64-bit Go heap can allocate "
                         f"(maxAlloc = 2^48 bytes)")
    if v.swiss_maps:
        if args.overflow is not None or args.noverflow is not None or args.nevacuate is not None or args.same_size:
            raise UsageError(f"Go {v} maps are Swiss tables: --overflow/--noverflow/--nevacuate/--same-size are for "
                             "classic maps (Go <= 1.23 or +noswissmap)")
        out = _swiss(v, k, e, args.hint, entries)
    else:
        out = _classic(v, k, e, args.hint, entries, args.overflow, args.noverflow, args.nevacuate, args.same_size)
    text = out.pop("text")
    if args.json:
        print_json(out)
        return 0
    for line in text:
        print(line)
    return 0


def _classic(v: GoVersion, k: gotypes.GoType, e: gotypes.GoType, hint: int, entries: int,
             overflow: int | None, noverflow: int | None, nevacuate: int | None, same_size: bool) -> dict:
    bt = classicmap.bucket_type(k.size, e.size, k.pointers, e.pointers)
    ignored = classicmap.effective_hint(hint, bt) != hint
    hint_used = classicmap.effective_hint(hint, bt)
    b0 = classicmap.b_for_hint(hint_used, v)
    b = classicmap.b_after_inserts(entries, hint_used, v)
    growing = nevacuate is not None or same_size
    if growing and not same_size and b == 0:
        raise UsageError("a map with B=0 cannot be in a doubling grow: give --entries past the first grow")
    ev = classicmap.evacuation(b, nevacuate or 0, same_size) if growing else None
    if ev is not None and ev.nevacuate >= ev.noldbuckets:
        raise UsageError(f"--nevacuate {nevacuate} is past the {ev.noldbuckets} old buckets of a "
                         f"{'same-size' if same_size else 'doubling'} grow to B={b} (the grow would be over)")
    arr = classicmap.bucket_array(b, bt, v)
    threshold = classicmap.load_threshold(b, v)
    nxt = classicmap.next_write(entries, b, noverflow or 0, growing, nevacuate or 0, same_size, version=v)
    mem = classicmap.memory(entries, b, bt, overflow or 0, growing, same_size, version=v)
    out: dict = {
        "go": str(v), "layout": "classic", "key": k.name, "elem": e.name,
        "bucket": {"size": bt.size, "slots": classicmap.BUCKET_COUNT, "key_size": k.size, "elem_size": e.size,
                   "indirect_key": bt.indirect_key, "indirect_elem": bt.indirect_elem, "noscan": bt.noscan},
        "hint": hint, "hint_ignored": ignored, "B_for_hint": b0, "entries": entries, "B": b, "buckets": 1 << b,
        "preallocated_overflow": arr.prealloc_overflow, "bucket_array_bytes": arr.mem, "bucket_array_block": arr.block,
        "load_factor": classicmap.load_factor_num(v) / classicmap.LOAD_FACTOR_DEN,
        "grows_at_count": threshold + 1, "new_keys_until_grow": nxt.new_keys_until_grow,
        "next_write": {"action": nxt.action, "detail": nxt.detail},
        "evacuation": None if ev is None else {"noldbuckets": ev.noldbuckets, "nevacuate": ev.nevacuate,
                                               "same_size": ev.same_size, "fraction_done": ev.fraction_done,
                                               "writes_to_finish": list(ev.writes_to_finish)},
        "same_size_grow_at_noverflow": classicmap.overflow_trigger(b),
        "noverflow_exact": classicmap.noverflow_is_exact(b),
        "noverflow_probability": classicmap.noverflow_probability(b),
        "memory": {"payload": mem.payload, "rebuilt": mem.rebuilt, "held": mem.held, "reclaimable": mem.reclaimable},
    }
    text = [f"Go {v} classic map[{k.name}]{e.name}",
            f"bucket: {bt.size} B = tophash 8 + 8 keys x {8 if bt.indirect_key else k.size} + 8 elems x "
            f"{8 if bt.indirect_elem else e.size} + overflow ptr 8"
            + (" (key stored indirectly, > 128 B)" if bt.indirect_key else "")
            + (" (elem stored indirectly, > 128 B)" if bt.indirect_elem else "")
            + ("; pointer-free: overflow buckets kept alive via hmap.extra.overflow" if bt.noscan else ""),
            f"make(map, {hint}): B={b0}" + (" (hint * bucket size > maxAlloc: makemap ignores the hint)" if ignored else "")
            + (f"; after {entries} entries: B={b}" if entries else ""),
            f"bucket array: 2^{b} = {1 << b} buckets + {arr.prealloc_overflow} preallocated overflow = {arr.nbuckets}"
            f" x {bt.size} B = {_b(arr.mem)} (block {_b(arr.block)})",
            f"load factor {out['load_factor']:g}/bucket: doubles when a new key arrives at count {threshold}"
            f" (count {threshold + 1} > {threshold}); same-size grow when noverflow >= {classicmap.overflow_trigger(b)}",
            f"next new key: {nxt.detail}"]
    if ev is not None:
        text.append(f"growing ({'same-size' if same_size else 'doubling'}): {ev.nevacuate} of {ev.noldbuckets} old "
                    f"buckets evacuated in order ({100 * ev.fraction_done:.0f}%); each assign or delete evacuates up to "
                    f"2; a map no one writes stays half-grown and keeps its old bucket array")
    if overflow is not None:
        band = classicmap.noverflow_band(b, overflow)
        out["noverflow_for_overflow"] = {"overflow": overflow, "exact": band.exact, "expected": band.expected,
                                         "low": band.low, "high": band.high, "sigmas": band.sigmas}
        if band.exact:
            text.append(f"noverflow with {overflow} overflow buckets: exactly {overflow} (B < 16 counts every one)")
        else:
            text.append(f"noverflow with {overflow} overflow buckets: expected {band.expected:.1f}, "
                        f"{band.low}..{band.high} ({band.sigmas:g} sigma; each counted with p = 1/2^{b - 15} "
                        f"because B >= 16, runtime incrnoverflow)")
    if noverflow is not None:
        lo, hi = classicmap.overflow_buckets_band(b, noverflow)
        out["overflow_for_noverflow"] = {"noverflow": noverflow, "low": lo, "high": hi}
        text.append(f"noverflow {noverflow} means {lo}..{hi} overflow buckets" if lo != hi
                    else f"noverflow {noverflow} means exactly {lo} overflow buckets")
    text.append(f"memory: entries {_b(mem.payload)}, a map rebuilt from them {_b(mem.rebuilt)}, this one holds "
                f"{_b(mem.held)}" + (f" ({_b(mem.reclaimable)} reclaimable by rebuilding)" if mem.reclaimable else ""))
    out["text"] = text
    return out


def _swiss(v: GoVersion, k: gotypes.GoType, e: gotypes.GoType, hint: int, entries: int) -> dict:
    gt = swissmap.group_type(k.size, e.size, k.pointers, e.pointers, k.align, e.align)
    lay = swissmap.layout_for_hint(hint, gt.size)
    ignored = lay.small and hint > swissmap.SMALL_MAP_MAX
    g = swissmap.grown(0 if ignored else hint, entries)
    cap = g.table_capacity
    gl = swissmap.max_growth_left(cap) if cap else 0
    table_caps = {cap: g.tables} if g.tables else {}
    mem = swissmap.memory(entries, table_caps, 1 << max(0, (g.tables - 1).bit_length()) if g.tables else 0, gt,
                          small=g.small and entries > 0, version=v)
    per_table = entries / g.tables if g.tables else entries
    est = swissmap.directory_estimate(entries)
    grew_past_one = not g.exact and g.tables > max(1, lay.tables)
    if g.small:
        nxt = f"small map (one group, no table) holds {swissmap.SMALL_MAP_MAX}; key {swissmap.SMALL_MAP_MAX + 1} " \
              f"moves it into a {swissmap.FIRST_TABLE_CAPACITY}-slot table"
        keys_left = swissmap.SMALL_MAP_MAX + 1 - entries
    elif g.tables == 1 and g.exact:
        keys_left = gl - entries + 1
        nxt = (f"table {entries}/{cap} slots, growthLeft {gl - entries}: new key {keys_left} "
               + ("doubles it to " + str(2 * cap) + " slots" if swissmap.grow_action(cap) == "double"
                  else "splits it into two 1024-slot tables (directory grows if localDepth == globalDepth)"))
    else:
        keys_left = None
        nxt = (f"now ~{per_table:.0f} entries in each 1024-slot table; a table splits on the new key that finds its "
               f"growthLeft at 0 ({gl} entries); which one first depends on the hashes")
    out = {
        "go": str(v), "layout": "swiss", "key": k.name, "elem": e.name,
        "group": {"size": gt.size, "slots": swissmap.GROUP_SLOTS, "slot_size": gt.slot_size, "ctrl_bytes": 8,
                  "elem_offset": gt.elem_offset, "indirect_key": gt.indirect_key, "indirect_elem": gt.indirect_elem,
                  "noscan": gt.noscan},
        "hint": hint, "hint_ignored": ignored,
        "make": {"small": lay.small, "dir_len": lay.dir_len, "global_depth": lay.global_depth,
                 "tables": lay.tables, "table_capacity": lay.table_capacity,
                 "growth_left": swissmap.max_growth_left(lay.table_capacity) if lay.tables else 0,
                 "bytes": swissmap.made_bytes(hint, gt, v)},
        "entries": entries,
        "tables": {"small": g.small, "count": g.tables, "min": g.min_tables, "max": g.max_tables,
                   "capacity_each": cap, "max_load_each": gl, "exact": g.exact},
        "global_depth": ({"expected": est.expected_global_depth, "min": est.min_global_depth,
                          "max": est.max_global_depth} if grew_past_one else None),
        "capacity": cap * g.tables if g.tables else (swissmap.GROUP_SLOTS if entries else 0),
        "max_load": "7/8 per table (capacity-1 for an 8-slot group)",
        "new_keys_until_grow": keys_left, "next_grow": nxt,
        "prunes_tombstones_before_grow": swissmap.prunes_tombstones(v),
        "memory": {"payload": mem.payload, "rebuilt": mem.rebuilt, "held": mem.held, "reclaimable": mem.reclaimable},
    }
    text = [f"Go {v} Swiss map[{k.name}]{e.name}",
            f"group: {gt.size} B = ctrl word 8 + 8 slots x {gt.slot_size} B (key at 0, elem at {gt.elem_offset})"
            + (" (key indirect)" if gt.indirect_key else "") + (" (elem indirect)" if gt.indirect_elem else ""),
            (f"make(map, {hint}): the hint needs more than maxAlloc: NewMap returns an empty map" if ignored else
             f"make(map, {hint}): small map, nothing allocated until the first insert (one {gt.size}-B group)"
             if lay.small else
             f"make(map, {hint}): directory of {lay.dir_len} (globalDepth {lay.global_depth}), {lay.tables} table(s) x "
             f"{lay.table_capacity} slots = {lay.capacity} slots, growthLeft {swissmap.max_growth_left(lay.table_capacity)}"
             f" each; {_b(out['make']['bytes'])}")]
    if entries:
        if g.small:
            text.append(f"after {entries} entries: small map (one group)")
        else:
            approx = "" if g.exact else f"~ (between {g.min_tables} and {g.max_tables}) "
            text.append(f"after {entries} entries: {approx}{g.tables} table(s) x {cap} slots, 7/8 max load = {gl} "
                        f"each; tables split at {swissmap.MAX_TABLE_CAPACITY} slots")
            if grew_past_one:
                text.append(f"directory: globalDepth {est.expected_global_depth} or {est.max_global_depth} expected "
                            f"(dirLen {1 << est.expected_global_depth} or {1 << est.max_global_depth}); splits follow the hashes")
    text.append(f"next grow: {nxt}" + ("; Go 1.25+ first prunes tombstones if >= 10% of the table"
                                       if swissmap.prunes_tombstones(v) else ""))
    text.append("tombstones per table = capacity*7/8 - used - growthLeft")
    text.append(f"memory: entries {_b(mem.payload)}, a map rebuilt from them {_b(mem.rebuilt)}, this one holds "
                f"{_b(mem.held)}" + (f" ({_b(mem.reclaimable)} reclaimable by rebuilding)" if mem.reclaimable else ""))
    out["text"] = text
    return out


# ------------------------------------------------------------------------------------ sizeclass

def sizeclass(args: argparse.Namespace) -> int:
    v = _version(args.go)
    sc = for_version(v)
    noscan = not args.pointers
    rows = [_size_class(sc, size, noscan) for size in args.sizes]
    if args.json:
        print_json({"go": str(v), "size_classes_from": sc.release, "pointers": not noscan, "sizes": rows})
        return 0
    for r in rows:
        size, block = r["size"], r["block"]
        if size == 0:
            print(f"Go {v} malloc(0): takes no memory (runtime.zerobase)")
            continue
        cls = r["size_class"]
        how = (f"large object: rounded up to whole {sc.page_size}-byte pages, its own span of {r['span_pages']} pages"
               if r["large"] else
               f"size class {cls} ({sc.class_to_size[cls]} B, spans of {sc.class_to_npages[cls]} page(s))"
               + (" incl. an 8-byte malloc header" if r["malloc_header"] else "")
               + ("; noscan < 16 B: packed into a shared 16-byte tiny block" if r["tiny"] else ""))
        print(f"Go {v} malloc({size}, {'noscan' if noscan else 'pointers'}): {how}; roundupsize {r['roundupsize']} "
              f"usable, block {block} B, waste {r['waste']} B ({100 * r['waste'] / block:.1f}%)")
    return 0


def _size_class(sc, size: int, noscan: bool) -> dict:
    header = sc.has_header(size, noscan)
    block = sc.block_size(size, noscan)
    large = size > sc.max_small_size - (8 if sc.headers else 0)
    cls = None if large or size == 0 else sc.size_class(size + (8 if header else 0))
    pages = block // sc.page_size if large else (sc.class_to_npages[cls] if cls else 0)
    return {"size": size, "malloc_header": header, "tiny": noscan and 0 < size < 16, "large": large,
            "size_class": cls, "roundupsize": sc.roundupsize(size, noscan) if size else 0, "block": block,
            "span_pages": pages, "waste": block - size if size else 0}


class ModelCommand:
    """Answer model questions: slice growth, map layouts and growth, malloc size classes, per Go release."""

    name = "model"
    help = "the runtime model per Go version: growslice steps, map layout and growth, size classes"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="model_question", metavar="QUESTION", parser_class=type(parser))
        sub.required = True

        def common(p: argparse.ArgumentParser) -> None:
            p.add_argument("--go", metavar="VERSION", help="Go release, e.g. 1.23 or 1.24.11+noswissmap (default: newest)")
            add_json_option(p)

        p = sub.add_parser("growslice", help="capacities of repeated one-at-a-time appends, with each rounding step",
                           description="nextslicecap then roundupsize, as runtime/slice.go growslice does")
        p.add_argument("--elem", metavar="TYPE", help="element type (int64, string, *T, []T, [N]T, ...)")
        p.add_argument("--elem-size", type=_positive, metavar="BYTES", help="element size for other types")
        p.add_argument("--pointers", action="store_true", help="with --elem-size: the element holds pointers")
        p.add_argument("--appends", type=_positive, default=1000, metavar="N", help="append this many (default 1000)")
        p.add_argument("--why", type=_positive, metavar="CAP", help="explain how this capacity comes about")
        p.add_argument("--stack-buffer", action="store_true",
                       help="a local slice the compiler backs with a 32-byte stack buffer first (Go 1.26+)")
        common(p)
        p.set_defaults(_model=growslice)

        p = sub.add_parser("map", help="map layout, capacity, when it grows next, bytes held vs needed")
        p.add_argument("--key", metavar="TYPE", help="key type")
        p.add_argument("--elem", metavar="TYPE", help="element type")
        p.add_argument("--key-size", type=_nonneg, metavar="BYTES")
        p.add_argument("--elem-size", type=_nonneg, metavar="BYTES")
        p.add_argument("--key-pointers", action="store_true", help="with --key-size: the key holds pointers")
        p.add_argument("--elem-pointers", action="store_true", help="with --elem-size: the elem holds pointers")
        p.add_argument("--hint", type=_nonneg, default=0, metavar="N", help="make(map[K]V, N) (default 0)")
        p.add_argument("--entries", type=_nonneg, metavar="N", help="distinct keys inserted since make")
        p.add_argument("--overflow", type=_nonneg, metavar="M",
                       help="classic: overflow buckets since the last grow -> the noverflow band")
        p.add_argument("--noverflow", type=_nonneg, metavar="X", help="classic: hmap.noverflow read -> overflow buckets")
        p.add_argument("--nevacuate", type=_nonneg, metavar="K",
                       help="classic: the map is growing and hmap.nevacuate is K -> what the next writes do")
        p.add_argument("--same-size", action="store_true", help="classic: the grow is a same-size one (flag 8)")
        common(p)
        p.set_defaults(_model=map_)

        p = sub.add_parser("sizeclass", help="what block malloc gives a request of SIZE bytes")
        p.add_argument("sizes", type=_nonneg, nargs="+", metavar="SIZE")
        p.add_argument("--pointers", action="store_true", help="the object holds pointers (malloc header from 1.22)")
        common(p)
        p.set_defaults(_model=sizeclass)

    def run(self, args: argparse.Namespace) -> int:
        return args._model(args)


COMMAND = ModelCommand()


def main(argv: list[str] | None = None) -> int:
    """Run ``goinspect model`` on its own (until the lead registers it in goinspect/cli.py)."""
    from goinspect import cli

    if (None, "model") not in cli.COMMAND_MODULES:
        cli.COMMAND_MODULES.append((None, "model"))
    return cli.main(["model", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
