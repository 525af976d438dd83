"""Numba helpers shared by the compiled kernels of ``hf_d2.graph`` (the CSR build) and
``hf_d2.message_passing`` (forward and reverse passes).

``CHUNK_ROWS``: rows per parallel work item of a ``numba.prange`` loop over nodes (the loops
run under ``numba.parallel_chunksize(1)``, i.e. dynamic scheduling, so a busy core does not hold
the other up). ``prefetch(array, index)``: a cache prefetch hint for ``array[index]``.
``insert_sorted_pair``: one insertion-sort step over two parallel arrays.
"""

from __future__ import annotations

import numba
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
