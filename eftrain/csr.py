"""Host access to the accelerator's control/status registers.

The register map has one source, ``rtl/regs/eftrain_csr.rdl``; ``ci/gen_regs.py`` turns it into
:mod:`eftrain.csr_gen` (plain data), and this module gives that data types and a bus accessor:

* :data:`REGISTERS` maps a register name to a :class:`Register` (offset, width, fields);
  :func:`encode` / :func:`decode` convert between field values and register words;
* :class:`Csr` reads and writes registers over any pair of 32-bit ``read(offset)`` /
  ``write(offset, value)`` functions (PYNQ's ``MMIO.read``/``MMIO.write``, a test's dict, ...);
  :class:`AsyncCsr` does the same over coroutines (a cocotb AXI4-Lite master).

Offsets are byte offsets in the 4 KiB block. 64-bit quantities are two 32-bit words, low word
first: the performance counters (``CYCLES``, ...) are 64-bit registers, read LO then HI (reading
LO latches the whole counter in hardware); the program base and window are LO/HI register pairs
(``PROG_BASE`` means ``PROG_BASE_LO``/``PROG_BASE_HI`` in :meth:`Csr.read64` / :meth:`Csr.write64`).

    csr = Csr(mmio.read, mmio.write)
    csr.check_id()
    csr.write64("WINDOW_BASE", base); csr.write64("WINDOW_LIMIT", base + size)
    csr.write64("PROG_BASE", prog); csr.write_fields("PROG_COUNT", COUNT=n)
    csr.write_fields("CTRL", START=1, CLEAR_COUNTERS=1)
    while not csr.read_fields("STATUS")["DONE"]: ...
    code, index = csr.error()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from eftrain.csr_gen import BLOCK_BYTES, ERR_DESCRIPTIONS, ID, VERSION, ErrCode
from eftrain.csr_gen import REGISTERS as _ROWS

__all__ = [
    "BLOCK_BYTES",
    "COUNTERS",
    "ERR_DESCRIPTIONS",
    "HW_PARAMS",
    "ID",
    "REGISTERS",
    "VERSION",
    "AsyncCsr",
    "Csr",
    "CsrError",
    "ErrCode",
    "Field",
    "Register",
    "decode",
    "encode",
    "register",
    "word_offsets",
]

ACCESS_TYPES = ("RO", "RW", "W1C", "W1P")


class CsrError(ValueError):
    """A register or field name that does not exist, a value that does not fit, a wrong device."""


@dataclass(frozen=True)
class Field:
    """One field of a register: bits ``[lsb + width - 1 : lsb]``."""

    name: str
    lsb: int
    width: int
    access: str  # RO, RW, W1C (write 1 to clear), W1P (write 1 to pulse, reads 0)
    reset: int | None  # None: a live hardware value

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        """The field's bits in the register word."""
        return ((1 << self.width) - 1) << self.lsb

    def extract(self, word: int) -> int:
        return (word >> self.lsb) & ((1 << self.width) - 1)

    def insert(self, word: int, value: int) -> int:
        if not 0 <= value < (1 << self.width):
            raise CsrError(f"value {value:#x} does not fit field {self.name} ({self.width} bits)")
        return (word & ~self.mask) | (value << self.lsb)


@dataclass(frozen=True)
class Register:
    """A register: byte offset, width (32, or 64 for the counters), fields by name."""

    name: str
    offset: int
    width: int
    title: str
    fields: Mapping[str, Field]

    @property
    def access(self) -> str:
        kinds = {f.access for f in self.fields.values()}
        return kinds.pop() if len(kinds) == 1 else "/".join(sorted(kinds))

    @property
    def writable(self) -> bool:
        return any(f.access != "RO" for f in self.fields.values())

    @property
    def reset(self) -> int | None:
        """Reset value of the whole register, or None if a field is a live hardware value."""
        value = 0
        for f in self.fields.values():
            if f.reset is None:
                return None
            value |= f.reset << f.lsb
        return value

    def field(self, name: str) -> Field:
        try:
            return self.fields[name]
        except KeyError:
            raise CsrError(f"register {self.name} has no field {name!r}; fields: "
                           f"{', '.join(self.fields)}") from None


def _build() -> Mapping[str, Register]:
    regs: dict[str, Register] = {}
    for name, (offset, width, title, rows) in _ROWS.items():
        fields = {r[0]: Field(*r) for r in rows}
        regs[name] = Register(name, offset, width, title, MappingProxyType(fields))
    return MappingProxyType(regs)


REGISTERS: Mapping[str, Register] = _build()

#: The 64-bit performance counters, in register-map order.
COUNTERS: tuple[str, ...] = tuple(r.name for r in REGISTERS.values() if r.width == 64)

#: Hardware-parameter readback: (register, field) -> the eftrain.config.HwConfig attribute.
HW_PARAMS: Mapping[tuple[str, str], str] = MappingProxyType({
    ("HW_ARRAY", "TM"): "tm",
    ("HW_ARRAY", "TN"): "tn",
    ("HW_PIPE", "ACC_L"): "acc_interleave",
    ("HW_PIPE", "MUL_LAT"): "mul_latency",
    ("HW_PIPE", "ADD_LAT"): "add_latency",
    ("HW_IN_DEPTH", "VALUE"): "in_buf_depth",
    ("HW_OUT_DEPTH", "VALUE"): "out_buf_depth",
    ("HW_W_DEPTH", "VALUE"): "w_buf_depth",
    ("HW_BUS", "BUS_BITS"): "bus_bits",
})


def register(name: str) -> Register:
    """The register called ``name`` (a :class:`CsrError` names the known ones otherwise)."""
    try:
        return REGISTERS[name]
    except KeyError:
        raise CsrError(f"unknown register {name!r}; known: {', '.join(REGISTERS)}") from None


def word_offsets() -> dict[str, int]:
    """Byte offset of every 32-bit word: ``NAME`` for 32-bit registers, ``NAME_LO``/``NAME_HI`` for 64-bit."""
    words: dict[str, int] = {}
    for r in REGISTERS.values():
        if r.width == 32:
            words[r.name] = r.offset
        else:
            words[f"{r.name}_LO"] = r.offset
            words[f"{r.name}_HI"] = r.offset + 4
    return words


def encode(reg: str, base: int = 0, **values: int) -> int:
    """``base`` with the named fields of ``reg`` replaced by ``values``."""
    r = register(reg)
    word = base
    for name, value in values.items():
        word = r.field(name).insert(word, value)
    return word


def decode(reg: str, word: int) -> dict[str, int]:
    """Every field of ``reg`` from a register word (64-bit words for the counters)."""
    r = register(reg)
    return {name: f.extract(word) for name, f in r.fields.items()}


def _word32(reg: str) -> Register:
    r = register(reg)
    if r.width != 32:
        raise CsrError(f"{reg} is a {r.width}-bit register: use read64")
    return r


def _pair(name: str) -> tuple[int, int]:
    """(LO offset, HI offset) of a 64-bit quantity: a counter or a NAME_LO/NAME_HI register pair."""
    if name in REGISTERS and REGISTERS[name].width == 64:
        off = REGISTERS[name].offset
        return off, off + 4
    lo, hi = REGISTERS.get(f"{name}_LO"), REGISTERS.get(f"{name}_HI")
    if lo is None or hi is None:
        pairs = [n[:-3] for n in REGISTERS if n.endswith("_LO")]
        raise CsrError(f"{name!r} is not a 64-bit quantity; known: {', '.join([*COUNTERS, *pairs])}")
    return lo.offset, hi.offset


def _write_word(r: Register, current: int | None, values: Mapping[str, int]) -> int:
    """The word to write to set ``values`` in ``r``.

    RW fields not named keep their value (``current``, read first by the caller). Pulse (W1P) and
    write-1-to-clear (W1C) fields not named are written 0, so nothing else fires or clears.
    """
    for name in values:
        f = r.field(name)
        if f.access == "RO":
            raise CsrError(f"{r.name}.{name} is read-only")
    word = 0
    if current is not None:
        for f in r.fields.values():
            if f.access == "RW":
                word |= current & f.mask
    for name, value in values.items():
        word = r.field(name).insert(word, value)
    return word


def _needs_read(r: Register, values: Mapping[str, int]) -> bool:
    return any(f.access == "RW" and name not in values for name, f in r.fields.items())


def _check_id(ident: int, version_word: int) -> tuple[int, int, int]:
    v = decode("VERSION", version_word)
    found = (v["MAJOR"], v["MINOR"], v["PATCH"])
    if ident != ID:
        raise CsrError(f"ID register reads {ident:#010x}, expected {ID:#010x}: not an EF-Train CSR block "
                       "(wrong base address, or the bitstream is not loaded)")
    if found[0] != VERSION[0]:
        raise CsrError(f"register map version {'.'.join(map(str, found))} is incompatible with "
                       f"this software's {'.'.join(map(str, VERSION))} (major differs)")
    return found


class Csr:
    """Register access over synchronous 32-bit ``read(offset) -> int`` and ``write(offset, value)``."""

    def __init__(self, read32: Callable[[int], int], write32: Callable[[int, int], object]) -> None:
        self._read = read32
        self._write = write32

    # Words and fields -----------------------------------------------------------------------
    def read(self, reg: str) -> int:
        return int(self._read(_word32(reg).offset)) & 0xFFFF_FFFF

    def write(self, reg: str, value: int) -> None:
        r = _word32(reg)
        if not r.writable:
            raise CsrError(f"{reg} is read-only")
        if not 0 <= value <= 0xFFFF_FFFF:
            raise CsrError(f"value {value:#x} does not fit a 32-bit register")
        self._write(r.offset, value)

    def read_fields(self, reg: str) -> dict[str, int]:
        if register(reg).width == 64:
            return decode(reg, self.read64(reg))
        return decode(reg, self.read(reg))

    def read_field(self, reg: str, field: str) -> int:
        register(reg).field(field)
        return self.read_fields(reg)[field]

    def write_fields(self, reg: str, **values: int) -> None:
        """Set fields; other RW fields keep their value (read-modify-write), pulse/W1C fields get 0."""
        r = _word32(reg)
        current = self.read(reg) if _needs_read(r, values) else None
        self._write(r.offset, _write_word(r, current, values))

    # 64-bit quantities ----------------------------------------------------------------------
    def read64(self, name: str) -> int:
        """A counter (one consistent snapshot) or a LO/HI pair; the LO word is read first."""
        lo, hi = _pair(name)
        low = int(self._read(lo)) & 0xFFFF_FFFF
        return (int(self._read(hi)) & 0xFFFF_FFFF) << 32 | low

    def write64(self, name: str, value: int) -> None:
        lo, hi = _pair(name)
        if name in COUNTERS:
            raise CsrError(f"{name} is a read-only counter")
        if not 0 <= value < 1 << 64:
            raise CsrError(f"value {value:#x} does not fit 64 bits")
        self._write(lo, value & 0xFFFF_FFFF)
        self._write(hi, value >> 32)

    # The usual operations -------------------------------------------------------------------
    def check_id(self) -> tuple[int, int, int]:
        """Check the ID and the register-map major version; return the version found."""
        return _check_id(self.read("ID"), self.read("VERSION"))

    def start(self, clear_counters: bool = False) -> None:
        self.write_fields("CTRL", START=1, CLEAR_COUNTERS=int(clear_counters))

    def soft_reset(self) -> None:
        self.write_fields("CTRL", SOFT_RESET=1)

    def clear_counters(self) -> None:
        self.write_fields("CTRL", CLEAR_COUNTERS=1)

    def status(self) -> dict[str, int]:
        return self.read_fields("STATUS")

    def error(self) -> tuple[ErrCode, int]:
        """(error code, index of the failing descriptor); an unknown code raises :class:`CsrError`."""
        f = self.read_fields("ERR_CODE")
        try:
            return ErrCode(f["CODE"]), f["INDEX"]
        except ValueError:
            raise CsrError(f"ERR_CODE.CODE reads {f['CODE']:#x}, not a known error code") from None

    def counters(self) -> dict[str, int]:
        return {name: self.read64(name) for name in COUNTERS}

    def hw_params(self) -> dict[str, int]:
        """The hardware-parameter readback, keyed by eftrain.config.HwConfig attribute names."""
        words = {reg: self.read(reg) for reg in dict.fromkeys(reg for reg, _ in HW_PARAMS)}
        return {attr: register(reg).field(fld).extract(words[reg]) for (reg, fld), attr in HW_PARAMS.items()}


class AsyncCsr:
    """:class:`Csr` over coroutines: ``await read32(offset)`` and ``await write32(offset, value)``."""

    def __init__(self, read32: Callable[[int], Awaitable[int]],
                 write32: Callable[[int, int], Awaitable[object]]) -> None:
        self._read = read32
        self._write = write32

    async def read(self, reg: str) -> int:
        return int(await self._read(_word32(reg).offset)) & 0xFFFF_FFFF

    async def write(self, reg: str, value: int) -> None:
        r = _word32(reg)
        if not r.writable:
            raise CsrError(f"{reg} is read-only")
        if not 0 <= value <= 0xFFFF_FFFF:
            raise CsrError(f"value {value:#x} does not fit a 32-bit register")
        await self._write(r.offset, value)

    async def read_fields(self, reg: str) -> dict[str, int]:
        if register(reg).width == 64:
            return decode(reg, await self.read64(reg))
        return decode(reg, await self.read(reg))

    async def write_fields(self, reg: str, **values: int) -> None:
        r = _word32(reg)
        current = await self.read(reg) if _needs_read(r, values) else None
        await self._write(r.offset, _write_word(r, current, values))

    async def read64(self, name: str) -> int:
        lo, hi = _pair(name)
        low = int(await self._read(lo)) & 0xFFFF_FFFF
        return (int(await self._read(hi)) & 0xFFFF_FFFF) << 32 | low

    async def write64(self, name: str, value: int) -> None:
        lo, hi = _pair(name)
        if name in COUNTERS:
            raise CsrError(f"{name} is a read-only counter")
        if not 0 <= value < 1 << 64:
            raise CsrError(f"value {value:#x} does not fit 64 bits")
        await self._write(lo, value & 0xFFFF_FFFF)
        await self._write(hi, value >> 32)

    async def check_id(self) -> tuple[int, int, int]:
        return _check_id(await self.read("ID"), await self.read("VERSION"))

    async def start(self, clear_counters: bool = False) -> None:
        await self.write_fields("CTRL", START=1, CLEAR_COUNTERS=int(clear_counters))

    async def soft_reset(self) -> None:
        await self.write_fields("CTRL", SOFT_RESET=1)

    async def clear_counters(self) -> None:
        await self.write_fields("CTRL", CLEAR_COUNTERS=1)

    async def status(self) -> dict[str, int]:
        return await self.read_fields("STATUS")

    async def error(self) -> tuple[ErrCode, int]:
        f = await self.read_fields("ERR_CODE")
        try:
            return ErrCode(f["CODE"]), f["INDEX"]
        except ValueError:
            raise CsrError(f"ERR_CODE.CODE reads {f['CODE']:#x}, not a known error code") from None

    async def counters(self) -> dict[str, int]:
        return {name: await self.read64(name) for name in COUNTERS}

    async def hw_params(self) -> dict[str, int]:
        words = {reg: await self.read(reg) for reg in dict.fromkeys(reg for reg, _ in HW_PARAMS)}
        return {attr: register(reg).field(fld).extract(words[reg]) for (reg, fld), attr in HW_PARAMS.items()}
