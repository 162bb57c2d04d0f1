"""Give a base model a donor's tokenizer without training (docs/methods.md §3).

    result = transplant("gemma3-270m", "smollm2-135m", "out/gemma-smoltok", k=64)

Only the embedding and head tensors are read; every other tensor is copied byte for byte. The
output folder loads with ``AutoModelForCausalLM.from_pretrained`` and holds the donor's tokenizer,
``transplant.json`` (settings and counts), ``transplant_anchors.safetensors`` (for each
approximated token: its anchors, coefficients and reconstruction error in the donor space) and a
model card, ``README.md``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from vocablab.errors import VocabLabError
from vocablab.numbers import digit_scheme_warning
from vocablab.options import (
    ANCHOR_METHODS,
    MATCH_MODES,
    METHODS,
    OUTPUT_DTYPES,
    TRANSPLANT_K,
    TRANSPLANT_MATCH,
    TRANSPLANT_METHOD,
    MatchMode,
    Method,
    OutputDtype,
)
from vocablab.progress import bar, note
from vocablab.sources import Source, load_vocabulary, resolve, torch_device
from vocablab.surgery import baselines
from vocablab.surgery.card import CARD, model_card, without_paths
from vocablab.surgery.checkpoint import (
    EmbeddingRows,
    available_memory,
    check_output_folder,
    copy_tokenizer_files,
    find_embeddings,
    read_tensor,
    write_folder,
    write_with_replacements,
)
from vocablab.surgery.matching import TokenMatch, match_tokens
from vocablab.surgery.omp import batch_omp, combine, reconstruction_error, screen_pays
from vocablab.surgery.tokenizer_check import autotokenizer_warning
from vocablab.vocab import Vocabulary

LOG = logging.getLogger(__name__)

REPORT = "transplant.json"
ANCHORS = "transplant_anchors.safetensors"


@dataclass
class TransplantResult:
    out_dir: str
    base: str
    donor: str
    method: str
    match: str
    k: int | None  # anchors per new token; None for a method without anchors
    dtype: str  # of the written weights: "auto" (as in the base's files) or the one every float tensor has
    rows: int  # the donor tokenizer's id range
    counts: dict[str, int]  # exact, bytes, special, approximated, absent, no_donor_row
    tied: bool
    seconds: float
    mean_error: dict[str, float] = field(default_factory=dict)  # per matrix, OMP/kNN only
    phase_seconds: dict[str, float] = field(default_factory=dict)  # tokenizers, embed, head, write
    omp_products: dict[str, str] = field(default_factory=dict)  # per matrix: "bfloat16 screen" or "float32"
    warnings: list[str] = field(default_factory=list)  # e.g. different digit schemes

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """Where the model went, how its rows were made, and how well OMP/kNN rebuilt them."""
        counts = ", ".join(f"{name} {value:,}" for name, value in self.counts.items())
        out = [f"{self.out_dir}: {self.rows:,} rows ({counts}) in {self.seconds:.1f} s"]
        out.append(f"   weights: {self.dtype}; what was done: {CARD} (the model card) and {REPORT}")
        for matrix, error in self.mean_error.items():
            out.append(f"   mean relative reconstruction error in the donor space ({matrix}): {error:.4f}")
        for matrix, products in self.omp_products.items():
            out.append(f"   OMP's correlation products ({matrix}): {products}")
        return out


def transplant(
    base: str | Source,
    donor: str | Source,
    out: str | Path,
    *,
    k: int = TRANSPLANT_K,
    method: Method = TRANSPLANT_METHOD,
    match: MatchMode = TRANSPLANT_MATCH,
    dtype: OutputDtype = "auto",
    device: str = "auto",
    overwrite: bool = False,
    trust_remote_code: bool = False,
) -> TransplantResult:
    """Write ``base`` with ``donor``'s tokenizer into ``out`` (``dtype``: "auto" or every float tensor's).

    >>> import tempfile
    >>> out = f"{tempfile.mkdtemp()}/gemma-with-smollm2-tokenizer"
    >>> result = transplant("gemma3-270m", "smollm2-135m", out, method="mean")  # "omp": about a minute on 2 cores
    >>> result.rows, result.counts["exact"], result.counts["bytes"], result.counts["approximated"]
    (49152, 14699, 31446, 3004)
    """
    started = time.perf_counter()
    _check_settings(k, method, match, dtype)
    target = torch_device(device)
    out = check_output_folder(out, overwrite=overwrite)
    steps = bar(5, f"transplant ({method})")
    base_src, donor_src = _sources(base, donor, method)

    note(steps, "reading tokenizers")
    base_vocab = load_vocabulary(base_src, trust_remote_code=trust_remote_code)
    donor_vocab = load_vocabulary(donor_src, trust_remote_code=trust_remote_code)
    warning = digit_scheme_warning(base_vocab, donor_vocab)
    if warning:
        LOG.warning("%s", warning)  # before the work starts: the CLI shows it at once
    matched = match_tokens(base_vocab, donor_vocab, match)

    steps.update()
    note(steps, "reading embeddings")
    phases = {"tokenizers": time.perf_counter() - started}
    names, matrices, donor_rows = _read_matrices(base_src, donor_src, method, len(donor_vocab))
    plan = _plan(matched, donor_vocab, matrices, donor_rows, method, k)
    new_matrices, anchors, errors, products, built_phases = _build_matrices(
        method, plan, base_vocab, donor_vocab, names, matrices, donor_rows, k, target, steps
    )
    phases.update(built_phases)

    steps.update(4 - steps.n)  # a tied base has no head to build
    note(steps, "writing the model")
    phase_start = time.perf_counter()
    counts = matched.counts()
    counts["approximated"] = counts.pop("new")
    counts["no_donor_row"] = len(plan.without_donor_row)
    result = TransplantResult(
        out_dir=str(out),
        base=base_src.spec,
        donor=donor_src.spec,
        method=method,
        match=match,
        k=k if method in ANCHOR_METHODS else None,
        dtype=dtype,
        rows=len(donor_vocab),
        counts=counts,
        tied=names[1] is None,
        seconds=0.0,
        mean_error=errors,
        omp_products={key: value for key, value in products.items() if value},
        warnings=[warning] if warning else [],
    )
    _write_output(base_src, donor_src, out, new_matrices, anchors, donor_vocab, result, overwrite)
    loads_otherwise = autotokenizer_warning(out, donor_vocab.chat_renderer)  # the donor as vocablab loaded it
    if loads_otherwise:
        LOG.warning("%s", loads_otherwise)
        result.warnings.append(loads_otherwise)
    phases["write"] = time.perf_counter() - phase_start
    result.phase_seconds = {name: round(value, 2) for name, value in phases.items()}
    result.seconds = round(time.perf_counter() - started, 2)
    _write_records(out, result)  # again, with the last warnings and the timings
    steps.update()
    steps.close()
    return result


def _check_settings(k: int, method: str, match: str, dtype: str) -> None:
    if method not in METHODS:
        raise VocabLabError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if match not in MATCH_MODES:
        raise VocabLabError(f"unknown matching {match!r}; use one of {', '.join(MATCH_MODES)}")
    if dtype not in OUTPUT_DTYPES:
        raise VocabLabError(f"unknown output dtype {dtype!r}; use one of {', '.join(OUTPUT_DTYPES)}")
    if not isinstance(k, int) or k < 1:
        raise VocabLabError("k must be a whole number of at least 1")


def _sources(base: str | Source, donor: str | Source, method: Method) -> tuple[Source, Source]:
    """:func:`resolve_pair`, refusing GGUF files and a model transplanted onto itself."""
    base_src, donor_src = resolve_pair(base, donor, method)
    if base_src.gguf_file or donor_src.gguf_file:
        raise VocabLabError("transplant reads safetensors folders; convert a GGUF first (presets already are)")
    if (base_src.path.resolve(), base_src.gguf_file) == (donor_src.path.resolve(), donor_src.gguf_file):
        raise VocabLabError("base and donor are the same model: there is nothing to transplant")
    return base_src, donor_src


def _read_matrices(
    base_src: Source, donor_src: Source, method: Method, donor_size: int
) -> tuple[tuple[str, str | None], dict[str, EmbeddingRows], dict[str, torch.Tensor]]:
    """The base's embedding (and head) tensor names and lazy rows, and the donor's matrices that
    ``method`` reads, after checking that they fit in memory."""
    embed_name, head_name = find_embeddings(base_src.path)
    matrices = {"embed": EmbeddingRows(base_src.path, embed_name)}
    if head_name:
        matrices["head"] = EmbeddingRows(base_src.path, head_name)
    donor_names = find_embeddings(donor_src.path) if method in ANCHOR_METHODS else (None, None)
    donor_headers = [EmbeddingRows(donor_src.path, name) for name in donor_names if name]  # headers only
    _check_memory(list(matrices.values()), donor_headers, donor_size)
    donor_rows: dict[str, torch.Tensor] = {}
    if method in ANCHOR_METHODS:
        donor_embed_name, donor_head_name = donor_names
        donor_rows["embed"] = read_tensor(donor_src.path, donor_embed_name)
        if head_name and donor_head_name:  # only a base with a head of its own needs the donor's
            donor_rows["head"] = read_tensor(donor_src.path, donor_head_name)
        elif head_name:  # a tied donor's input embeddings stand in for its head
            donor_rows["head"] = donor_rows["embed"]
    return (embed_name, head_name), matrices, donor_rows


def _plan(matched: TokenMatch, donor_vocab: Vocabulary, matrices, donor_rows, method: Method, k: int) -> _Plan:
    """Which donor ids are copied and which are built, refused when nothing can anchor them."""
    # a base tokenizer can be larger than its embedding: ids past its rows have nothing to copy
    matched.unmatch([d for d, b in enumerate(matched.base_id) if b >= len(matrices["embed"])])
    plan = _Plan.build(matched, donor_vocab, len(matrices["embed"]), donor_rows.get("embed"))
    if not plan.shared:
        raise VocabLabError("the base and donor vocabularies share no tokens: there is nothing to anchor on")
    if method in ANCHOR_METHODS and k > len(plan.shared):
        shared = len(plan.shared)
        raise VocabLabError(f"k={k} is larger than the {shared} shared tokens; choose k <= {shared}")
    return plan


def _build_matrices(method, plan, base_vocab, donor_vocab, names, matrices, donor_rows, k, target, steps):
    """Each of the base's matrices (embed, then head unless tied) with the donor's rows: the new
    matrices by tensor name, the anchors to record, and per matrix key the mean error, OMP's
    correlation products and the seconds it took."""
    new_matrices: dict[str, torch.Tensor] = {}
    anchors: dict[str, torch.Tensor] = {"new_ids": torch.tensor(plan.new, dtype=torch.long)}
    errors: dict[str, float] = {}
    products: dict[str, str] = {}
    phases: dict[str, float] = {}
    solved: dict = {}  # a tied donor's one problem, solved once for the embedding and the head
    for part, (name, base_rows) in enumerate(zip(names, matrices.values(), strict=False)):
        key = "embed" if part == 0 else "head"
        steps.update()
        note(steps, f"{method}: {len(plan.new):,} new tokens ({key})")
        phase_start = time.perf_counter()
        rows, record, products[key] = _new_rows(
            method, key, plan, base_vocab, donor_vocab, base_rows, donor_rows, k, target, solved
        )
        phases[key] = time.perf_counter() - phase_start
        anchors.update(record)
        if f"{key}.error" in record:
            errors[key] = float(record[f"{key}.error"].mean()) if len(plan.new) else 0.0
        new_matrices[name] = _assemble(plan, base_rows, rows)
    return new_matrices, anchors, errors, products, phases


def report_text(result: TransplantResult) -> str:
    """``transplant.json``: the result with the output folder named by its name alone, so that no
    path of the machine that made it travels with the model (a download, a hub push)."""
    warnings = [without_paths(warning) for warning in result.warnings]  # they may name folders by their paths
    return json.dumps({**result.to_dict(), "out_dir": Path(result.out_dir).name, "warnings": warnings}, indent=1)


def resolve_pair(base: str | Source, donor: str | Source, method: Method) -> tuple[Source, Source]:
    """Base and donor as sources with what ``method`` reads: the base's weights, and the donor's
    weights for OMP and kNN or its tokenizer alone for the other methods."""
    base_src = resolve(base, need="model")
    donor_need = "model" if method in ANCHOR_METHODS else "tokenizer"
    return base_src, resolve(donor, need=donor_need)


def omp_problem(
    base: str, donor: str, match: MatchMode = TRANSPLANT_MATCH
) -> tuple[torch.Tensor, list[int], list[int]]:
    """What a transplant's OMP works on, for benchmarks that time it alone: the donor's embedding
    matrix, and the donor ids of OMP's atoms (shared text tokens) and targets (new tokens)."""
    base_src, donor_src = resolve(base, need="model"), resolve(donor, need="model")
    donor_vocab = load_vocabulary(donor_src)
    matched = match_tokens(load_vocabulary(base_src), donor_vocab, match)
    base_rows = len(EmbeddingRows(base_src.path, find_embeddings(base_src.path)[0]))
    matched.unmatch([d for d, b in enumerate(matched.base_id) if b >= base_rows])
    embed = read_tensor(donor_src.path, find_embeddings(donor_src.path)[0])
    plan = _Plan.build(matched, donor_vocab, base_rows, embed)
    return embed, [d for d, _ in plan.shared], plan.new


def _check_memory(base: list[EmbeddingRows], donor: list[EmbeddingRows], rows: int) -> None:
    """Refuse, before reading any weights, a transplant whose matrices cannot fit in memory."""
    # the new matrices, and their rows in float32 while they are built
    need = sum(rows * m.shape[1] * (m.dtype.itemsize + 4) for m in base)
    # the donor's matrices, their rows in float32, and one block of OMP correlations
    need += sum(m.shape[0] * m.shape[1] * (m.dtype.itemsize + 4) + 256 * m.shape[0] * 4 for m in donor)
    free = available_memory()
    if free is not None and need > free:
        sizes = [
            f"the {role}'s {m.name}: {m.shape[0]:,} x {m.shape[1]:,}"
            for role, ms in (("base", base), ("donor", donor))
            for m in ms
        ]
        raise VocabLabError(
            f"this transplant needs about {need / 2**30:.1f} GiB of memory for its embedding matrices "
            f"({'; '.join(sizes)}; {rows:,} rows in the new vocabulary) and {free / 2**30:.1f} GiB is "
            "available: use a machine with more memory"
        )


@dataclass
class _Plan:
    """Donor ids split into shared (with base ids) and new; positions in the output matrix."""

    rows: int
    # (donor id, base id) of the copied text tokens with donor rows: OMP's atoms. Special tokens are
    # copied but are no atoms: their rows say nothing about text (Gemma's <unk> and <end_of_turn> were
    # picked for 93k of 216k new tokens, which then took parts of SmolLM2's <|endoftext|> and <|im_end|>)
    shared: list[tuple[int, int]]
    copied: list[tuple[int, int]]  # every (donor id, base id) whose base row is copied
    new: list[int]  # donor ids approximated from their donor row
    without_donor_row: list[int]  # new donor ids beyond the donor's embedding rows: base mean

    @classmethod
    def build(cls, matched: TokenMatch, donor: Vocabulary, base_rows: int, donor_embed: torch.Tensor | None) -> _Plan:
        donor_rows = donor_embed.shape[0] if donor_embed is not None else len(donor)
        copied = [(d, b) for d, b in enumerate(matched.base_id) if b >= 0]
        shared = [(d, b) for d, b in copied if d < donor_rows and matched.kind[d] != "special"]
        copied_ids = {d for d, _ in copied}
        new = [d for d in matched.new_donor_ids if d < donor_rows and d not in copied_ids]
        lost = [d for d in matched.new_donor_ids if d >= donor_rows]
        return cls(len(donor), shared, copied, new, lost)


def _new_rows(method, key, plan, base_vocab, donor_vocab, base_rows, donor_rows, k, device, solved):
    """Rows of the new tokens in the base space, what to record about them (anchors, coefficients,
    errors) and, for OMP, which correlation products it ran ("bfloat16 screen" or "float32").
    Takes the donor's matrix ``key`` out of ``donor_rows``: only its shared and new rows are kept.
    ``solved`` carries the embedding's solution to the head when both are the same donor matrix."""
    count, width = len(plan.new), base_rows.shape[1]
    record: dict[str, torch.Tensor] = {}
    if count == 0 or method == "zero":
        return torch.zeros(count, width), record, ""
    if method == "mean":
        return base_rows.mean().expand(count, -1).clone(), record, ""
    if method == "subword":
        token_ids = baselines.subword_token_ids(
            [donor_vocab.pieces[d] or b"" for d in plan.new], base_vocab, len(base_rows)
        )
        needed = sorted({i for ids in token_ids for i in ids})
        return baselines.subword_rows(token_ids, base_rows.rows(needed), needed, base_rows.mean()), record, ""
    shared_donor_ids, shared_base_ids = torch.tensor(plan.shared, dtype=torch.long).view(-1, 2).T
    donor_matrix = donor_rows.pop(key)
    if key == "head" and solved.pop("matrix", None) is donor_matrix:  # a tied donor: the embedding's problem again
        idx, coef, error, products = solved.pop("solution")
        coef, record[f"{key}.error"] = coef.clone(), error.clone()  # a safetensors file holds no shared tensors
    else:
        idx, coef, record[f"{key}.error"], products = _solve(method, key, plan, donor_matrix, k, device)
    if key == "embed" and donor_rows.get("head") is donor_matrix:
        solved.update(matrix=donor_matrix, solution=(idx, coef, record[f"{key}.error"], products))
    del donor_matrix  # 113 MB for SmolLM2 in float32, free during OMP (unless the head pass still needs it)
    record[f"{key}.anchors"] = shared_donor_ids[idx.cpu()]
    record[f"{key}.coefficients"] = coef.cpu()
    used, idx = idx.unique(return_inverse=True)  # read only the base rows of atoms OMP picked
    anchor_rows = base_rows.rows(shared_base_ids[used.cpu()]).to(device)
    rows = combine(coef, anchor_rows, idx).cpu()
    return rows, record, products


def _solve(method, key, plan, donor_matrix, k, device):
    """Anchors and coefficients of the new tokens (kNN or OMP) in the donor's matrix ``key``, their
    reconstruction errors, and which correlation products OMP ran."""
    shared_donor_ids = torch.tensor(plan.shared, dtype=torch.long).view(-1, 2)[:, 0]
    dictionary = donor_matrix[shared_donor_ids].float().to(device)
    targets = donor_matrix[plan.new].float().to(device)
    broken = int((~torch.isfinite(dictionary).all(dim=1)).sum() + (~torch.isfinite(targets).all(dim=1)).sum())
    if broken:
        raise VocabLabError(
            f"the donor's {key} matrix has {broken:,} row{'s' * (broken != 1)} with NaN or infinite values "
            "among the tokens this transplant uses: the weights file is damaged"
        )
    products = ""
    if method == "knn":
        idx, coef = baselines.knn_weights(targets.cpu(), dictionary.cpu(), k)
        idx, coef = idx.to(device), coef.to(device)
    else:
        screen = screen_pays(dictionary)
        products = "bfloat16 screen" if screen else "float32"
        idx, coef = batch_omp(targets, dictionary, k, desc=f"OMP ({key})", screen=screen)
    return idx, coef, reconstruction_error(targets, dictionary, idx, coef).cpu(), products


def _assemble(plan: _Plan, base_rows: EmbeddingRows, new_rows: torch.Tensor) -> torch.Tensor:
    out = torch.empty(plan.rows, base_rows.shape[1], dtype=base_rows.dtype)
    filled = torch.zeros(plan.rows, dtype=torch.bool)
    donor_ids, base_ids = torch.tensor(plan.copied, dtype=torch.long).view(-1, 2).T
    base_rows.rows_into(out, base_ids, donor_ids)  # shared rows: bit-identical copies
    out[plan.new] = new_rows.to(out.dtype)
    filled[donor_ids] = filled[plan.new] = True
    if not filled.all():  # ids with no donor row get the base's mean row
        out[~filled] = base_rows.mean().to(out.dtype)
    return out


def _write_output(base_src, donor_src, out, new_matrices, anchors, donor_vocab, result, overwrite) -> None:
    dtype = None if result.dtype == "auto" else getattr(torch, result.dtype)

    def fill(work: Path) -> None:
        write_with_replacements(base_src.path, work, new_matrices, dtype)
        _write_config(base_src.path, work, donor_vocab, result.dtype)
        _copy_tokenizer(donor_src, work)
        save_file({k: v.contiguous() for k, v in anchors.items()}, str(work / ANCHORS))
        _write_records(work, result)

    write_folder(out, fill, overwrite=overwrite)


def _write_records(folder: Path, result: TransplantResult) -> None:
    """``transplant.json`` and the model card made from it."""
    (folder / REPORT).write_text(report_text(result))
    (folder / CARD).write_text(model_card(json.loads(report_text(result))), encoding="utf-8")


def _write_config(base_dir: Path, work: Path, donor: Vocabulary, dtype: str) -> None:
    config = json.loads((base_dir / "config.json").read_text())
    targets = [config] + ([config["text_config"]] if isinstance(config.get("text_config"), dict) else [])
    for cfg in targets:
        cfg["vocab_size"] = len(donor)
        if dtype != "auto":  # transformers 5 reads "dtype", older ones "torch_dtype"
            for key in {"dtype", "torch_dtype"} & set(cfg) or {"dtype"}:
                cfg[key] = dtype
        for role in ("bos", "eos", "pad"):
            cfg[f"{role}_token_id"] = donor.roles.get(role)
    (work / "config.json").write_text(json.dumps(config, indent=2))
    generation = base_dir / "generation_config.json"
    if generation.is_file():
        gen = json.loads(generation.read_text())
        for role in ("bos", "eos", "pad"):
            if f"{role}_token_id" in gen or donor.roles.get(role) is not None:
                gen[f"{role}_token_id"] = donor.roles.get(role)
        (work / "generation_config.json").write_text(json.dumps(gen, indent=2))


def _copy_tokenizer(donor_src: Source, work: Path) -> None:
    if not copy_tokenizer_files(donor_src.path, work):
        raise VocabLabError(f"{donor_src.spec}: no tokenizer files to copy")
