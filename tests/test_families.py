"""The family matrix (issue 32 item 3): every command and every view's library function on tiny
random models of eight real architectures with real preset tokenizers (tests/families.py), each
paired with another family's tiny model (GPT-2's; Qwen2's for GPT-2) where a command takes two models.

Each cell either works, checked on what it produced (against transformers run directly where a
number can be recomputed), or refuses with a VocabLabError naming the true reason; EXPECT says
which. Commands run in-process through the CLI's entry point, ``vocablab.cli.main(argv)``.

The transplant cells use the kNN method (k = 2): OMP's per-target work on 100k-token donors takes
minutes today (issue 32 item 6), and every part a family can break (tensor names, tied and padded
heads, the output folder) is shared by both anchor methods.

Kept to a few minutes (docs/benchmarks.md, "The test suite"): each family is built once per session
(shared with tests/test_speculate_families.py), each transplant runs once for the cells that read it,
the views' library functions get the models loaded once (as the app passes its loaded models), and
the texts and byte budgets are as short as the assertions allow, and the partner is a tiny model: scoring
or generating over bytes costs the partner forward passes over the covers of every byte, which a 135M
partner (SmolLM2, the matrix's first partner) made most of the tier's time.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from vocablab.cli import main
from vocablab.errors import VocabLabError

from .families import FAMILIES, FamilyFolders

pytestmark = [pytest.mark.slow, pytest.mark.families]

# the partner of a family where a command takes two models: another family's tiny model with a byte-level
# BPE tokenizer (GPT-2's; Qwen's for the GPT-2 family), so every cell costs the partner next to nothing
PARTNER, PARTNER_OF_GPT2 = "gpt2", "qwen2"
RING = list(FAMILIES)  # transplants: each family is the base of the next one's tokenizer
PROMPT = "The capital of France is"
NEW_BYTES = 3  # the budget generations fill: a few steps over bytes, more than one piece of maxlen:3
TEXT = "The cat sat on the mat, 12,345 naïve."  # tokenized only (compare, transplants): cheap
DOCUMENT = "The cat sat."  # scored: each byte costs the partner a cover's forward passes
SIDE_BY_SIDE = ("A as is", "A reduced", "B as is", "B reduced", "MCV ensemble", "byte ensemble")


@dataclass(frozen=True)
class Expect:
    refusal: str | None = None  # None: the cell works; else a substring of the true reason


CELLS = (
    "compare",
    "numbers",
    "transplant-base",
    "transplant-donor",
    "before-after",
    "eval",
    "eval-subvocab-bytes",
    "eval-space-bytes",
    "eval-space-mcv",
    "generate-bytes",
    "generate-maxlen",
    "generate-mcv",
    "generate-chat",
    "ensemble-mcv",
    "ensemble-bytes",
    "side-by-side",
    "align",
    "distill",
    "view-tokenizers",
    "view-numbers",
    "view-transplant",
    "view-before-after",
    "view-generation",
    "view-align",
)
NO_CHAT = "has no chat template"
EXPECT: dict[tuple[str, str], Expect] = {
    **{(f, "generate-chat"): Expect(NO_CHAT) for f in ["mistral", "gpt2", "gptneox"]},
}


def expectation(family: str, cell: str) -> Expect:
    return EXPECT.get((family, cell), Expect())


def matrix():
    for family in FAMILIES:
        for cell in CELLS:
            yield pytest.param(family, cell, id=f"{family}-{cell}")


# ---------------------------------------------------------------- fixtures


class Families:
    """The family models of this session, built on first use; the transplants, run once."""

    def __init__(self, folders: FamilyFolders, root: Path) -> None:
        self.root, self.folders = root, folders
        self.transplants: dict[tuple[str, str], tuple[int, str, str, Path]] = {}
        self.document = root / "document.txt"
        self.document.write_text(DOCUMENT + "\n", encoding="utf-8")

    def __call__(self, name: str) -> str:
        return self.folders(name)

    def transplant(self, base: str, donor: str) -> tuple[int, str, str, Path]:
        """The CLI's transplant of family ``base`` given family ``donor``'s tokenizer."""
        if (base, donor) not in self.transplants:
            out = self.root / f"{base}-with-{donor}"
            argv = ["transplant", "--base", self(base), "--donor", self(donor), "--out", str(out)]
            self.transplants[base, donor] = (*cli([*argv, "--method", "knn", "--k", "2", "--json"]), out)
        return self.transplants[base, donor]


@pytest.fixture(scope="session")
def families(family_folders: FamilyFolders, tmp_path_factory) -> Families:
    return Families(family_folders, tmp_path_factory.mktemp("family-matrix"))


@functools.cache  # the views' models, loaded once as the app loads them (the library reads them only)
def loaded(spec: str):
    from vocablab.sources import load_causal_lm

    return load_causal_lm(spec, device="cpu")


def cli(argv: list[str]) -> tuple[int, str, str]:
    """``vocablab ARGV`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def partner_of(families: Families, family: str) -> str:
    return families(PARTNER_OF_GPT2 if family == PARTNER else PARTNER)


def neighbours(family: str) -> tuple[str, str]:
    n = RING.index(family)
    return RING[n - 1], RING[(n + 1) % len(RING)]


# ---------------------------------------------------------------- oracles (transformers, run directly)


@functools.cache  # read-only oracles: one load per folder for the whole matrix
def hf_pair(folder: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return tokenizer, model


@functools.cache
@torch.no_grad()
def own_bits_per_byte(folder: str, text: str) -> float:
    """Bits per byte of ``text`` after the model's BOS (else its EOS) token, from the definition."""
    tokenizer, model = hf_pair(folder)
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    ids = torch.tensor([[start, *tokenizer(text, add_special_tokens=False)["input_ids"]]])
    logprobs = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
    nats = -logprobs.gather(1, ids[0, 1:, None]).sum().item()
    return nats / math.log(2) / len(text.encode("utf-8"))


def positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def generated(result: dict, longest: int | None = None) -> None:
    """A generation's JSON: the byte budget reached (or an EOS), no piece longer than ``longest``."""
    sizes = result["piece_bytes"]
    assert result["steps"] == len(sizes) > 0
    assert sum(sizes) >= NEW_BYTES or result["ended_by"] == "eos", result
    if longest is not None:
        assert max(sizes) <= longest, sizes


# ---------------------------------------------------------------- cells: the commands


def run_compare(families: Families, family: str):
    status, out, err = cli(["compare", families(family), partner_of(families, family), "--text", TEXT, "--json"])
    if status:
        return status, err
    tokenized = json.loads(out)["tokenizers"]
    tokenizer, _ = hf_pair(families(family))
    assert tokenized[0]["ids"] == tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert tokenized[0]["round_trips"]
    return status, err


def run_numbers(families: Families, family: str):
    status, out, err = cli(["numbers", families(family), partner_of(families, family), "--json"])
    if status:
        return status, err
    result = json.loads(out)
    tokenizer, _ = hf_pair(families(family))
    # the longest run of digits in one token of a long number, as transformers' tokenizer cuts it
    pieces = [tokenizer.decode([i]) for i in tokenizer(" 1234567890123", add_special_tokens=False)["input_ids"]]
    longest = max(len(p.strip()) for p in pieces if p.strip().isdigit())
    assert (result["scheme_a"]["kind"] == "single") == (longest == 1), (result["scheme_a"], pieces)
    assert result["samples_total"] > 0
    return status, err


def check_transplant(families: Families, base: str, donor: str):
    status, out, err, folder = families.transplant(base, donor)
    if status:
        return status, err
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    result = json.loads(out)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)  # once: not cached
    base_tokenizer, base_model = hf_pair(families(base))
    # the tokenizers as their files say, read by transformers' class that takes tokenizer.json as is
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder))
    donor_tokenizer = PreTrainedTokenizerFast.from_pretrained(families(donor))
    assert model.get_input_embeddings().num_embeddings == len(donor_tokenizer) == len(tokenizer) == result["rows"]
    assert tokenizer.get_vocab() == donor_tokenizer.get_vocab()
    # AutoTokenizer chooses its class by the base's model type (transformers 5): where that loads
    # another tokenizer, the transplant says so, naming the class and the loader that reads the file
    auto = AutoTokenizer.from_pretrained(str(folder))
    same = auto.get_vocab() == donor_tokenizer.get_vocab() and all(
        auto(t, add_special_tokens=False)["input_ids"] == donor_tokenizer(t, add_special_tokens=False)["input_ids"]
        for t in (TEXT, "12345 cafe\u0301")
    )
    if not same:
        assert any(type(auto).__name__ in w and "PreTrainedTokenizerFast" in w for w in result["warnings"]), result
    # a token both spell the same way keeps the base's rows, bit for bit (the head's too when untied)
    shared = "a"
    new_id, base_id = tokenizer.convert_tokens_to_ids(shared), base_tokenizer.convert_tokens_to_ids(shared)
    for get in ("get_input_embeddings", "get_output_embeddings"):
        row, base_row = getattr(model, get)().weight[new_id], getattr(base_model, get)().weight[base_id]
        assert torch.equal(row, base_row), get
    assert result["tied"] == bool(base_model.config.tie_word_embeddings)
    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        assert all(torch.isfinite(handle.get_tensor(name)).all() for name in handle.keys())
    return status, err


def run_transplant_base(families: Families, family: str):
    return check_transplant(families, family, neighbours(family)[1])


def run_transplant_donor(families: Families, family: str):
    return check_transplant(families, neighbours(family)[0], family)


def run_before_after(families: Families, family: str):
    status, _, err, folder = families.transplant(family, neighbours(family)[1])
    assert status == 0, err  # the transplant-base cell says why
    argv = ["before-after", families(family), str(folder), "--text", DOCUMENT, "--prompt", "The cat", "--json"]
    status, out, err = cli(argv)
    if status:
        return status, err
    result = json.loads(out)
    assert result["bits_per_byte"]["base"] == pytest.approx(own_bits_per_byte(families(family), DOCUMENT), rel=1e-4)
    assert all(positive(x) for x in result["bits_per_byte"].values())
    assert set(result["continuations"]) == {"base", "transplanted"}
    return status, err


def run_eval(families: Families, family: str):
    status, out, err = cli(["eval", families(family), "--text", str(families.document), "--json"])
    if status:
        return status, err
    result = json.loads(out)
    assert result["bits_per_byte"] == pytest.approx(own_bits_per_byte(families(family), DOCUMENT), rel=1e-4)
    return status, err


def run_eval_subvocab_bytes(families: Families, family: str):
    argv = ["eval", families(family), "--text", str(families.document), "--subvocab", "bytes", "--json"]
    status, out, err = cli(argv)
    if status:
        return status, err
    result = json.loads(out)
    assert positive(result["reduced_bits_per_byte"])
    assert result["steps"] == len(DOCUMENT.encode("utf-8"))  # one byte per step
    assert result["canonical_bits_per_byte"] == pytest.approx(own_bits_per_byte(families(family), DOCUMENT), rel=1e-4)
    return status, err


def eval_space(families: Families, family: str, space: str):
    argv = [
        "eval",
        families(family),
        partner_of(families, family),
        "--text",
        str(families.document),
        "--space",
        space,
        "--json",
    ]
    status, out, err = cli(argv)
    if status:
        return status, err
    result = json.loads(out)
    assert result["space"] == space
    assert positive(result["ensemble_bits_per_byte"])
    assert all(positive(x) for x in result["alone_bits_per_byte"])
    assert result["canonical_bits_per_byte"][0] == pytest.approx(
        own_bits_per_byte(families(family), DOCUMENT), rel=1e-4
    )
    if space == "bytes":
        assert result["steps"] == len(DOCUMENT.encode("utf-8"))
    return status, err


def run_eval_space_bytes(families: Families, family: str):
    return eval_space(families, family, "bytes")


def run_eval_space_mcv(families: Families, family: str):
    return eval_space(families, family, "mcv")


def generate(families: Families, family: str, subvocab: str, *extra: str):
    argv = ["generate", families(family), "--subvocab", subvocab, "--prompt", PROMPT]
    status, out, err = cli([*argv, "--max-new-bytes", str(NEW_BYTES), *extra, "--json"])
    return status, (json.loads(out) if status == 0 else None), err


def run_generate_bytes(families: Families, family: str):
    status, result, err = generate(families, family, "bytes")
    if result:
        generated(result, longest=1)
    return status, err


def run_generate_maxlen(families: Families, family: str):
    status, result, err = generate(families, family, "maxlen:3")
    if result:
        generated(result, longest=3)
    return status, err


def run_generate_mcv(families: Families, family: str):
    from transformers import AutoTokenizer

    status, result, err = generate(families, family, f"mcv:{partner_of(families, family)}")
    if result:
        generated(result)
        # every piece is one of the partner's tokens (a byte-level BPE: token strings map to bytes by
        # GPT-2's byte-to-character table)
        other = AutoTokenizer.from_pretrained(partner_of(families, family))
        table = {c: b for b, c in byte_characters().items()}
        spelled = {bytes(table[c] for c in t) for t in other.get_vocab() if all(c in table for c in t)}
        data = result["text"].encode("utf-8")
        if len(data) == sum(result["piece_bytes"]):  # no cut character in the text
            ends = list(itertools.accumulate(result["piece_bytes"]))
            pieces = [data[end - n : end] for end, n in zip(ends, result["piece_bytes"], strict=True)]
            assert all(p in spelled for p in pieces), pieces
    return status, err


def byte_characters() -> dict[int, str]:
    """GPT-2's table from bytes to the printable characters its byte-level BPE spells them with."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def run_generate_chat(families: Families, family: str):
    status, result, err = generate(families, family, "bytes", "--chat")
    if result:
        generated(result, longest=1)
    return status, err


def ensemble(families: Families, family: str, space: str, other: str | None = None):
    argv = ["ensemble", families(family), other or partner_of(families, family), "--space", space, "--prompt", PROMPT]
    status, out, err = cli([*argv, "--max-new-bytes", str(NEW_BYTES), "--json"])
    if status:
        return status, err
    result = json.loads(out)
    assert result["subvocab"] == space
    assert result["weights"] == [0.5, 0.5]
    generated(result, longest=1 if space == "bytes" else None)
    return status, err


def run_ensemble_mcv(families: Families, family: str):
    return ensemble(families, family, "mcv")


def run_ensemble_bytes(families: Families, family: str):
    return ensemble(families, family, "bytes")


def run_side_by_side(families: Families, family: str):
    argv = ["side-by-side", families(family), partner_of(families, family), "--subvocab", "bytes", "--prompt", PROMPT]
    status, out, err = cli([*argv, "--max-new-bytes", str(NEW_BYTES), "--json"])
    if status:
        return status, err
    results = json.loads(out)
    assert tuple(results) == SIDE_BY_SIDE
    for title, result in results.items():
        generated(result, longest=1 if title in ("A reduced", "B reduced", "byte ensemble") else None)
    return status, err


def run_align(families: Families, family: str):
    status, out, err = cli(
        ["align", families(family), partner_of(families, family), "--text", DOCUMENT, "--top-k", "5", "--json"]
    )
    if status:
        return status, err
    result = json.loads(out)
    assert result["positions"]
    for p in result["positions"]:
        assert p["byte_a"] == p["byte_b"]  # paired by byte offset
        assert math.isfinite(p["uld"]) and p["uld"] >= 0
        plan = torch.tensor(p["plan"])
        assert plan.sum().item() == pytest.approx(1, abs=1e-3)
    return status, err


def run_distill(families: Families, family: str):
    argv = [
        "distill",
        "--teacher",
        partner_of(families, family),
        "--student",
        families(family),
        "--text",
        str(families.document),
    ]
    status, out, err = cli([*argv, "--steps", "1", "--lr", "1e-3", "--json"])
    if status:
        return status, err
    result = json.loads(out)
    assert len(result["steps"]) == 1
    step = result["steps"][0]
    assert positive(step["ce"]) and math.isfinite(step["uld"]) and step["positions"] > 0
    # the student's cross-entropy before training, recomputed (nats per token of the document)
    assert result["before"]["ce"] == pytest.approx(
        own_bits_per_byte(families(family), DOCUMENT) * math.log(2) * len(DOCUMENT) / tokens(families, family),
        rel=1e-3,
    )
    return status, err


def tokens(families: Families, family: str) -> int:
    tokenizer, _ = hf_pair(families(family))
    return len(tokenizer(DOCUMENT, add_special_tokens=False)["input_ids"])


# ---------------------------------------------------------------- cells: the views' library functions


def library(call):
    """A view's library call as (status, message): 0 and "" when it works, 2 and the message when refused."""
    try:
        call()
    except VocabLabError as exc:
        return 2, str(exc)
    return 0, ""


def run_view_tokenizers(families: Families, family: str):
    from vocablab.compare import compare_tokenization
    from vocablab.sources import load_vocabulary
    from vocablab.vocab import token_membership

    def call():
        mine, partner = load_vocabulary(families(family)), load_vocabulary(partner_of(families, family))
        result = compare_tokenization([mine, partner], TEXT)
        spans = [(t.start, t.end) for t in result.tokenized[0].tokens]  # tile the text's bytes
        assert [a for a, _ in spans[1:]] == [b for _, b in spans[:-1]]
        assert (spans[0][0], spans[-1][1]) == (0, len(TEXT.encode("utf-8")))
        shared = token_membership(mine, partner, "cat", "shared")
        assert shared and all("cat" in row["token"] for row in shared), shared[:3]

    return library(call)


def run_view_numbers(families: Families, family: str):
    from vocablab.numbers import compare_numbers, highlight_numbers
    from vocablab.sources import load_vocabulary

    def call():
        mine, partner = load_vocabulary(families(family)), load_vocabulary(partner_of(families, family))
        assert compare_numbers(mine, partner).samples_total > 0
        spans = highlight_numbers(mine, partner, "Pay 12,345 or 2024-01-05.")
        assert [s.text for s in spans] == ["12,345", "2024-01-05"]

    return library(call)


def run_view_transplant(families: Families, family: str):
    from vocablab.surgery.report import TransplantReport

    status, _, err, folder = families.transplant(family, neighbours(family)[1])
    assert status == 0, err  # the transplant-base cell says why

    def call():
        report = TransplantReport.load(folder)
        choices = report.search("")
        assert choices
        token_id = choices[0][1]
        assert report.token_text(token_id)
        rows = report.anchor_rows(token_id)
        assert 1 <= len(rows) <= 2  # k = 2
        assert report.nearest_shared(token_id)

    return library(call)


def run_view_before_after(families: Families, family: str):
    from vocablab.evaluate import compare_before_after

    status, _, err, folder = families.transplant(family, neighbours(family)[1])
    assert status == 0, err

    def call():
        result = compare_before_after(families(family), str(folder), DOCUMENT, "The cat", max_new_tokens=4)
        assert all(positive(x) for x in result.bits_per_byte.values())
        assert not result.warnings

    return library(call)


def run_view_generation(families: Families, family: str):
    from vocablab.options import Decoding
    from vocablab.reduce.generate import generate_side_by_side

    def call():
        decoding = Decoding(max_new_bytes=NEW_BYTES)
        models = (loaded(families(family)), loaded(partner_of(families, family)))
        results = generate_side_by_side(
            families(family), partner_of(families, family), PROMPT, subvocab="mcv", decoding=decoding, models=models
        )
        assert tuple(results) == SIDE_BY_SIDE
        for result in results.values():
            generated(result.to_dict())

    return library(call)


def run_view_align(families: Families, family: str):
    from vocablab.align import align_text
    from vocablab.options import AlignSettings

    def call():
        models = (loaded(families(family)), loaded(partner_of(families, family)))
        result = align_text(
            families(family), partner_of(families, family), DOCUMENT, AlignSettings(5, alignment="index"), models=models
        )
        assert result.positions and all(math.isfinite(p.uld) for p in result.positions)

    return library(call)


RUN = {cell: globals()[f"run_{cell.replace('-', '_')}"] for cell in CELLS}


@pytest.mark.parametrize(("family", "cell"), matrix())
def test_family_cell(families: Families, family: str, cell: str) -> None:
    status, message = RUN[cell](families, family)
    expect = expectation(family, cell)
    if expect.refusal is None:
        assert status == 0, message
    else:
        assert status == 2, f"expected a refusal naming {expect.refusal!r}"
        assert expect.refusal in message, message
        assert "Traceback" not in message


def test_transplant_onto_qwen2_keeps_the_donors_tokenizer(families: Families) -> None:
    """A Qwen2 base given Llama 3's tokenizer: vocablab reads the output's tokenizer as the donor's
    file says (oracle: the tokenizers library on the donor's own tokenizer.json), every id has a row,
    and the transplant warns that transformers' AutoTokenizer loads another tokenizer, which it does."""
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from vocablab.sources import load_vocabulary

    status, out, err, folder = families.transplant("qwen2", "llama3")
    assert status == 0, err
    donor = Tokenizer.from_file(str(Path(families("llama3")) / "tokenizer.json"))
    vocab = load_vocabulary(str(folder))
    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        rows = handle.get_slice("model.embed_tokens.weight").get_shape()[0]
    assert len(vocab) == donor.get_vocab_size(with_added_tokens=True) == rows
    for text in (TEXT, "In 2024, 12345 cafe\u0301s", "  x\n\n\ty", "日本の首都は"):
        assert vocab.encode(text) == donor.encode(text, add_special_tokens=False).ids, text
    auto = AutoTokenizer.from_pretrained(str(folder))
    assert auto("12345", add_special_tokens=False)["input_ids"] != donor.encode("12345", add_special_tokens=False).ids
    warning = next((w for w in json.loads(out)["warnings"] if "AutoTokenizer" in w), "")
    assert type(auto).__name__ in warning and "PreTrainedTokenizerFast" in warning, warning


@pytest.mark.parametrize("space", ["mcv", "bytes"])
def test_a_qwen_and_a_llama_3_model_ensemble(families: Families, space: str) -> None:
    """The announcement's kind of pair, Qwen's tokenizer (about 150k) with Llama 3's (about 128k): their
    ensemble generates over the MCV and over bytes, its bytes budget reached, no refusal."""
    status, message = ensemble(families, "qwen2", space, other=families("llama3"))
    assert status == 0, message
