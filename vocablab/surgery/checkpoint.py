"""Read embedding tensors lazily and write a model with new ones, copying the rest byte for byte.

A safetensors file is an 8-byte little-endian header length, a JSON header (dtype, shape and byte
offsets of each tensor) and the raw tensor bytes. To replace a few tensors we write a new header
and stream every other tensor's bytes straight from the source file, so memory stays at the size
of the replaced tensors and the copied tensors are bit-for-bit the base model's.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open

from vocablab.errors import DISK_FULL, VocabLabError
from vocablab.sources import TOKENIZER_FILES

# input embeddings by family: Llama and most (embed_tokens), GPT-2 (wte), BLOOM (word_embeddings),
# InternLM (tok_embeddings), GPT-NeoX and Pythia (gpt_neox.embed_in, with its head embed_out)
EMBEDDING_SUFFIXES = (
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "tok_embeddings.weight",
    "embed_in.weight",
)
HEAD_NAMES = ("lm_head.weight", "embed_out.weight", "output.weight")
COPY_BLOCK = 16 << 20
MAX_HEADER = 100 << 20  # the safetensors format's own limit on a header
DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
}
DTYPE_OF = {name: dtype for dtype, name in DTYPES.items()}


def weight_files(model_dir: Path) -> dict[str, Path]:
    """Tensor name to the safetensors file that holds it."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return {name: model_dir / file for name, file in weight_map.items()}
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise VocabLabError(f"{model_dir}: no .safetensors weights")
    out = {}
    for file in files:
        header, _ = read_header(file)
        out.update({name: file for name in header if name != "__metadata__"})
    return out


def read_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the offset where its data starts."""
    with open(path, "rb") as handle:
        start = handle.read(8)
        length = struct.unpack("<Q", start)[0] if len(start) == 8 else 0
        if not 2 <= length <= min(MAX_HEADER, path.stat().st_size - 8):
            raise VocabLabError(f"{path} is not a readable safetensors file (no valid header)")
        try:
            header = json.loads(handle.read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            raise VocabLabError(f"{path} is not a readable safetensors file (its header is not JSON)") from exc
    if not isinstance(header, dict):
        raise VocabLabError(f"{path} is not a readable safetensors file (its header is not a JSON object)")
    return header, 8 + length


def find_embeddings(model_dir: Path) -> tuple[str, str | None]:
    """Names of the input embedding and of the output head (None when tied to the embedding)."""
    names = weight_files(model_dir)
    embed = next((n for n in names if n.endswith(EMBEDDING_SUFFIXES)), None)
    if embed is None:
        raise VocabLabError(
            f"{model_dir}: no input embedding tensor found (looked for names ending in {', '.join(EMBEDDING_SUFFIXES)})"
        )
    head = next((n for n in names if n in HEAD_NAMES or n.endswith(".lm_head.weight")), None)
    config = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").is_file() else {}
    tied = config.get("tie_word_embeddings", config.get("text_config", {}).get("tie_word_embeddings", head is None))
    return embed, None if tied and head is None else head


class EmbeddingRows:
    """Rows of one embedding matrix, read in blocks so the whole matrix is never in memory.

    Blocks are read with plain file reads, not through a memory map: the pages of a mapped file
    count as this process's memory while mapped (335 MB for Gemma 3's embedding, read twice)."""

    def __init__(self, model_dir: Path, name: str, block_rows: int = 8192) -> None:
        self.path = weight_files(model_dir)[name]
        self.name = name
        self.block_rows = block_rows
        header, data_start = read_header(self.path)
        entry = header[name]
        if entry["dtype"] not in DTYPE_OF:
            raise VocabLabError(f"{self.path.name}: {name} has dtype {entry['dtype']}, not a float type")
        self.shape = tuple(entry["shape"])
        self.dtype = DTYPE_OF[entry["dtype"]]
        self._offset = data_start + entry["data_offsets"][0]
        self._mean: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def _blocks(self):
        """(first row, block of rows): one buffer, refilled for each block, so use a block before the next."""
        row_bytes = self.shape[1] * self.dtype.itemsize
        buffer = torch.empty(min(self.block_rows, self.shape[0]) * row_bytes, dtype=torch.uint8)
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            for start in range(0, self.shape[0], self.block_rows):
                count = min(self.block_rows, self.shape[0] - start)
                data = buffer[: count * row_bytes]
                if handle.readinto(data.numpy()) != len(data):
                    raise VocabLabError(f"{self.path}: the file ends inside {self.name}")
                yield start, data.view(self.dtype).view(count, self.shape[1])

    def rows(self, ids: list[int] | torch.Tensor) -> torch.Tensor:
        """The rows ``ids`` (any order, repeats allowed), in the matrix's dtype."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        out = torch.empty(len(ids), self.shape[1], dtype=self.dtype)
        self.rows_into(out, ids, torch.arange(len(ids)))
        return out

    def rows_into(self, out: torch.Tensor, ids: torch.Tensor, positions: torch.Tensor) -> None:
        """``out[positions[i]] = row ids[i]``, without a copy of the rows in between."""
        for start, block in self._blocks():
            inside = (ids >= start) & (ids < start + len(block))
            out[positions[inside]] = block[ids[inside] - start].to(out.dtype)

    def mean(self) -> torch.Tensor:
        """The mean row, in float32."""
        if self._mean is None:
            total = torch.zeros(self.shape[1], dtype=torch.float64)
            for _, block in self._blocks():  # float32 sums of a block (float64 ones run 10x slower on the CPU)
                total += block.float().sum(dim=0)
            self._mean = (total / self.shape[0]).float()
        return self._mean


def available_memory() -> int | None:
    """Bytes of memory this process can still take (Linux's MemAvailable), or None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def read_tensor(model_dir: Path, name: str) -> torch.Tensor:
    """One tensor, read without touching the rest of the checkpoint."""
    with safe_open(str(weight_files(model_dir)[name]), framework="pt") as handle:
        return handle.get_tensor(name)


def write_with_replacements(
    base_dir: Path, out_dir: Path, replacements: dict[str, torch.Tensor], dtype: torch.dtype | None = None
) -> None:
    """Write ``base_dir``'s safetensors into ``out_dir`` with some tensors replaced and, with a
    ``dtype``, every float tensor cast to it (else each keeps its dtype, copied byte for byte)."""
    files = weight_files(base_dir)
    missing = set(replacements) - set(files)
    if missing:
        raise VocabLabError(f"{base_dir}: no tensor named {sorted(missing)[0]}")
    total = 0
    for file in sorted(set(files.values())):
        replaced = {n: t for n, t in replacements.items() if files[n] == file}
        total += _write_shard(file, out_dir / file.name, replaced, dtype)
    index = base_dir / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text())
        data.setdefault("metadata", {})["total_size"] = total
        (out_dir / index.name).write_text(json.dumps(data, indent=2))


def _write_shard(source: Path, target: Path, replacements: dict[str, torch.Tensor], dtype: torch.dtype | None) -> int:
    header, data_start = read_header(source)
    metadata = header.pop("__metadata__", None)
    layout: dict = {"__metadata__": metadata} if metadata else {}
    offset = 0
    order = sorted(header, key=lambda n: header[n]["data_offsets"][0])
    cast = {n for n in order if n not in replacements and _is_cast(header[n]["dtype"], dtype)}
    for name in order:
        if name in replacements or name in cast:
            tensor_dtype = dtype or replacements[name].dtype
            shape = list(replacements[name].shape) if name in replacements else header[name]["shape"]
            if tensor_dtype not in DTYPES:
                raise VocabLabError(f"cannot write dtype {tensor_dtype}")
            size = math.prod(shape) * tensor_dtype.itemsize
            layout[name] = {"dtype": DTYPES[tensor_dtype], "shape": shape}
        else:
            begin, end = header[name]["data_offsets"]
            size = end - begin
            layout[name] = {"dtype": header[name]["dtype"], "shape": header[name]["shape"]}
        layout[name]["data_offsets"] = [offset, offset + size]
        offset += size
    encoded = json.dumps(layout, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    with open(source, "rb") as src, open(target, "wb") as dst:
        dst.write(struct.pack("<Q", len(encoded)))
        dst.write(encoded)
        for name in order:
            begin, end = header[name]["data_offsets"]
            if name in replacements or name in cast:
                tensor = replacements.get(name)
                if tensor is None:  # one tensor at a time in memory: the largest is an embedding, replaced anyway
                    src.seek(data_start + begin)
                    tensor = _read_tensor_bytes(src.read(end - begin), header[name], source)
                dst.write(_tensor_bytes(_cast(tensor, dtype, name)))
                continue
            src.seek(data_start + begin)
            remaining = end - begin
            while remaining:
                block = src.read(min(COPY_BLOCK, remaining))
                dst.write(block)
                remaining -= len(block)
    return offset


def _is_cast(stored: str, dtype: torch.dtype | None) -> bool:
    """Whether a tensor stored as ``stored`` changes dtype: float tensors only (ids, masks stay)."""
    return dtype is not None and stored in DTYPE_OF and DTYPE_OF[stored] != dtype


def _read_tensor_bytes(data: bytes, entry: dict, source: Path) -> torch.Tensor:
    if len(data) != math.prod(entry["shape"]) * DTYPE_OF[entry["dtype"]].itemsize:
        raise VocabLabError(f"{source}: the file ends inside a tensor")
    return torch.frombuffer(bytearray(data), dtype=DTYPE_OF[entry["dtype"]]).view(entry["shape"])


def _cast(tensor: torch.Tensor, dtype: torch.dtype | None, name: str) -> torch.Tensor:
    """``tensor`` in ``dtype``, refused where a finite value would become infinite (float16 ends at 65,504)."""
    if dtype is None or tensor.dtype == dtype:
        return tensor
    cast = tensor.to(dtype)
    if not torch.isfinite(cast).all() and torch.isfinite(tensor).all():
        largest = tensor.abs().max().item()
        raise VocabLabError(
            f"{name} has values up to {largest:,.0f}, which {str(dtype).removeprefix('torch.')} cannot hold: "
            "choose bfloat16 or float32"
        )
    return cast


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().contiguous().cpu().reshape(-1)
    if flat.dtype == torch.bfloat16:
        flat = flat.view(torch.int16)
    return flat.numpy().tobytes()


def copy_tokenizer_files(source_dir: Path, target_dir: Path) -> int:
    """Copy a model folder's tokenizer files (not its config); how many were copied."""
    copied = 0
    for name in TOKENIZER_FILES:
        if name != "config.json" and (source_dir / name).is_file():
            shutil.copy2(source_dir / name, target_dir / name)
            copied += 1
    return copied


# the record a transplant and a distillation write into their output folders
REPORTS = ("transplant.json", "distill.json")


def check_output_folder(out: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse, before any work starts, an output folder that exists (unless ``overwrite``) or
    whose parent cannot be written. ``overwrite`` replaces only an empty folder or a model folder
    vocablab made (its report among plain files, no subfolder), never a file, any other folder,
    the working folder or a folder above it."""
    out = Path(out).expanduser()
    if out.exists() and not overwrite:
        raise VocabLabError(f"{out} exists; choose another output folder, or overwrite it (--overwrite)")
    if out.exists() and overwrite:
        full = out.resolve()
        if not out.is_dir():
            raise VocabLabError(f"{out} is a file, not a folder; --overwrite replaces only model folders")
        if full == Path.home().resolve() or full in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
            raise VocabLabError(
                f"{out} is the working folder, a folder above it or the home folder: write the model into a new folder"
            )
        entries = list(out.iterdir())
        ours = any(e.name in REPORTS for e in entries) and all(e.is_file() and not e.is_symlink() for e in entries)
        if entries and not ours:
            raise VocabLabError(
                f"{out} is not a model folder vocablab made (with {' or '.join(REPORTS)}, and files only); "
                "--overwrite replaces only those and empty folders: choose another folder, or empty it yourself"
            )
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise VocabLabError(f"cannot write the output folder {out}: {blocking} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(prefix=f".{out.name}.check-", dir=out.parent)).rmdir()
    except OSError as exc:
        raise VocabLabError(f"cannot write the output folder {out}: {exc.strerror or exc}") from exc
    return out


def write_folder(out: Path, fill: Callable[[Path], None], *, overwrite: bool = False) -> None:
    """Let ``fill`` write into a temporary folder beside ``out``; move it into place only when complete,
    so a failure (a full disk, an interrupt) never leaves a half-written model behind."""
    check_output_folder(out, overwrite=overwrite)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        fill(work)
        _usual_modes(work)
        if out.exists() and overwrite:  # the old folder is removed only once the new one is in place
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent)) / out.name
            out.rename(old)
            try:
                work.rename(out)
            except OSError:
                old.rename(out)
                raise
            shutil.rmtree(old.parent, ignore_errors=True)
        else:
            work.rename(out)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        if _os_errno(exc) in DISK_FULL:
            message = f"the disk is full; nothing was written to {out} (the partial output was removed)"
            raise VocabLabError(message) from exc
        if isinstance(exc, OSError):
            raise VocabLabError(f"could not write {out}: {exc}; the partial output was removed") from exc
        raise


def _os_errno(exc: BaseException) -> int | None:
    """An exception's OS error number; writers in Rust (safetensors' SafetensorError) give it only in
    their message, as "(os error 27)"."""
    if isinstance(exc, OSError):
        return exc.errno
    found = re.search(r"\(os error (\d+)\)", str(exc))
    return int(found.group(1)) if found else None


def _usual_modes(folder: Path) -> None:
    """A temporary folder is private (0700), and some writers make private files: give the output,
    a folder of plain files, the modes the user's umask gives any new folder and file."""
    mask = os.umask(0o022)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~mask)
