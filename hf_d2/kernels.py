"""Numba helpers shared by the compiled kernels of ``hf_d2.graph`` (the CSR build) and
``hf_d2.message_passing`` (forward and reverse passes).

``CHUNK_ROWS``: rows per parallel work item of a ``numba.prange`` loop over nodes (the loops
run under ``numba.parallel_chunksize(1)``, i.e. dynamic scheduling, so a busy core does not hold
the other up). ``prefetch(array, index)``: a cache prefetch hint for ``array[index]``.
``insert_sorted_pair``: one insertion-sort step over two parallel arrays. ``exact_add`` /
``exact_total`` / ``certified_total``: the correctly rounded sums of the forward pass (an exact
sum held as partials, and the certificate of a compensated sum).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

CHUNK_ROWS = 4_096  # rows per parallel work item of the numba kernels (dynamic scheduling)


@intrinsic
def prefetch(typingctx, array, index):  # pragma: no cover - compiled
    """``llvm.prefetch`` (read, high locality) of ``array[index]`` inside an ``njit`` function: a
    hint that never faults (an index past the end is harmless), and returns nothing."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None
    signature = types.void(array, index)

    def codegen(context, builder, sig, args):
        array_type, index_type = sig.args
        view = context.make_array(array_type)(context, builder, args[0])
        position = context.cast(builder, args[1], index_type, types.intp)
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [position], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]), "llvm.prefetch.p0i8")
        builder.call(function, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return signature, codegen


@numba.njit(inline="always")
def insert_sorted_pair(primary, secondary, count, first, second):  # pragma: no cover - compiled
    """Inserts (first, second) into ``primary[:count]`` / ``secondary[:count]``, kept sorted by
    (primary, secondary) ascending, shifting larger pairs right (stable: an equal pair stays
    before the new one). The arrays need room for count + 1 entries; returns count + 1."""
    slot = count
    while slot > 0 and (primary[slot - 1] > first or (primary[slot - 1] == first and secondary[slot - 1] > second)):
        primary[slot] = primary[slot - 1]
        secondary[slot] = secondary[slot - 1]
        slot -= 1
    primary[slot] = first
    secondary[slot] = second
    return count + 1


@numba.njit(inline="always")
def exact_add(partials, count, value):  # pragma: no cover - compiled
    """Adds ``value`` to the exact sum held as ``count`` non-overlapping partials (increasing
    magnitude) and returns the new count: CPython's msum step, with Knuth's branch-free TwoSum
    (the same exact (sum, error) pairs as math.fsum's ordered Fast2Sum, hence the same partials)."""
    kept = 0
    for position in range(count):
        other = partials[position]
        high = value + other
        virtual = high - value
        low = (value - (high - virtual)) + (other - virtual)
        partials[kept] = low
        kept += low != 0.0
        value = high
    partials[kept] = value
    return kept + 1


@numba.njit(inline="always")
def exact_total(partials, count):  # pragma: no cover - compiled
    """The exact sum of the partials rounded once to float64, half to even (as math.fsum)."""
    if count == 0:
        return 0.0
    remaining = count - 1
    high = partials[remaining]
    low = 0.0
    while remaining > 0:
        value = high
        remaining -= 1
        other = partials[remaining]
        high = value + other
        rounded_other = high - value
        low = other - rounded_other
        if low != 0.0:
            break
    if remaining > 0 and ((low < 0.0 and partials[remaining - 1] < 0.0) or (low > 0.0 and partials[remaining - 1] > 0.0)):
        other = low * 2.0
        value = high + other
        rounded_other = value - high
        if other == rounded_other:
            high = value
    return high


@numba.njit(inline="always")
def certified_total(high, low, magnitude, terms):  # pragma: no cover - compiled
    """fl(high + low) when it is provably the correctly rounded exact sum, else NaN.

    (high, low) is a cascaded TwoSum of ``terms`` float64 terms whose absolute values sum to
    ``magnitude`` (Ogita, Rump & Oishi's Sum2): |high + low − exact| ≤ γ²_{n−1} · Σ|x_i|, bounded
    here by 4 (n·2⁻⁵³)² · magnitude. The rounded pair is certified when the exact sum lies strictly
    inside its rounding interval: |residual| + bound < half the smaller gap to a neighbouring
    float. Fails (NaN: use the exact partials) only within ~1e-13 ulp of a rounding midpoint, for
    non-finite values, and for magnitudes outside [1e-250, 1e250] (where the bound could
    underflow or the sum overflow)."""
    rounded = high + low
    virtual = rounded - high
    residual = (high - (rounded - virtual)) + (low - virtual)
    if not (magnitude > 1e-250 and magnitude < 1e250 and rounded - rounded == 0.0):
        return np.nan
    bound = 4.0 * (terms * 1.1102230246251565e-16) ** 2 * magnitude
    gap = min(np.nextafter(rounded, np.inf) - rounded, rounded - np.nextafter(rounded, -np.inf))
    if abs(residual) + bound < 0.5 * gap:
        return rounded
    return np.nan
