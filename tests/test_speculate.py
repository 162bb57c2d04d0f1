"""Speculative decoding across tokenizers: its law of texts against brute-force enumeration of the
target's token sequences on tiny models; greedy against plain reduced generation; the acceptance
rate against the alpha formula; bad input through the command line."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch
from tokenizers import Tokenizer, models

from vocablab.cli import main
from vocablab.reduce.ensemble import shared_space
from vocablab.reduce.lvr import ReducedModel
from vocablab.reduce.speculate import CountingModel, SeededDraws, Speculator, acceptance
from vocablab.vocab import Vocabulary

from .conftest import tiny_llama

# The target has "ab", the draft lacks it; the draft has "ba", the target lacks it; both have "aa"
# (their MCV: a, b, aa).
TARGET_PIECES = ["a", "b", "ab", "aa"]
DRAFT_PIECES = ["a", "b", "ba", "aa"]


def word_vocab(pieces: list[str], name: str) -> Vocabulary:
    table = {"<eos>": 0, **{p: i + 1 for i, p in enumerate(pieces)}}
    tokenizer = Tokenizer(models.WordLevel(table, unk_token="<eos>"))
    tokenizer.add_special_tokens(["<eos>"])
    return Vocabulary.from_backend(tokenizer, name, roles={"eos": 0})


class TableModel:
    """Explicit next-token probabilities for every prefix of fewer than ``max_tokens`` tokens (then
    EOS only), drawn once from a seed; some tokens get none, so some texts have probability zero
    under one model and not under the other."""

    def __init__(self, size: int, max_tokens: int, seed: int) -> None:
        self.size, self.max_tokens, self.table = size, max_tokens, {}
        gen = torch.Generator().manual_seed(seed)
        frontier = [()]
        while frontier:
            prefix = frontier.pop()
            if len(prefix) >= max_tokens:
                continue
            weights = torch.rand(size, generator=gen, dtype=torch.float64) ** 2
            weights[torch.rand(size, generator=gen) < 0.2] = 0.0  # tokens this prefix never continues with
            weights[0] += 0.05  # EOS is always possible, so every prefix ends
            self.table[prefix] = weights / weights.sum()
            frontier.extend((*prefix, t) for t in range(1, size) if weights[t] > 0)

    def start(self, prompt_ids):
        return tuple(prompt_ids)

    def logprobs(self, state):
        if state not in self.table:
            out = torch.full((self.size,), -math.inf, dtype=torch.float64)
            out[0] = 0.0
            return out
        return self.table[state].log()

    def extend(self, requests):
        return [(*state, token) for state, token in requests]


def text_law(model: TableModel, vocab: Vocabulary) -> dict[bytes, float]:
    """Brute force: every token sequence to EOS, its probability summed by the text it spells."""
    law: dict[bytes, float] = defaultdict(float)
    stack = [((), 1.0)]
    while stack:
        prefix, p = stack.pop()
        probs = model.logprobs(prefix).exp()
        for token in (probs > 0).nonzero().flatten().tolist():
            if token == 0:
                law[b"".join(vocab.pieces[t] for t in prefix)] += p * probs[0].item()
            else:
                stack.append(((*prefix, token), p * probs[token].item()))
    return law


class Branch(Exception):
    def __init__(self, probs: torch.Tensor) -> None:
        self.probs = probs


class Script:
    """Draws that follow a list of choices, multiply their probabilities, and raise Branch at the
    first draw past the list: the procedure is run again once per outcome of that draw."""

    def __init__(self, choices: list[int]) -> None:
        self.choices, self.at, self.probability = choices, 0, 1.0

    def draw(self, probs: torch.Tensor) -> int:
        assert probs.min() >= 0 and probs.sum().item() == pytest.approx(1.0, abs=1e-12)
        if self.at == len(self.choices):
            raise Branch(probs)
        choice = self.choices[self.at]
        self.at += 1
        self.probability *= probs[choice].item()
        return choice


def round_outcomes(speculator: Speculator) -> list[tuple[float, Speculator]]:
    """Every outcome of one round with its probability, by running it once per path of its draws."""
    outcomes, stack = [], [[]]
    while stack:
        choices = stack.pop()
        trial, script = speculator.fork(), Script(choices)
        try:
            trial.round(script)
        except Branch as branch:
            stack.extend([*choices, c] for c in (branch.probs > 0).nonzero().flatten().tolist())
            continue
        outcomes.append((script.probability, trial))
    assert math.fsum(p for p, _ in outcomes) == pytest.approx(1.0, abs=1e-12)
    return outcomes


def speculative_law(speculator: Speculator, memo: dict) -> dict[bytes, float]:
    """The exact law of the texts the speculative procedure makes from here: each round's outcomes,
    then the law from each of them (memoized on the symbols emitted and whether the draft follows)."""
    key = (tuple(e.symbol for e in speculator.emitted), speculator.draft_lost_at is None)
    if key in memo:
        return memo[key]
    if speculator.ended_by is not None:
        sub = speculator.target.sub
        symbols = [e.symbol for e in speculator.emitted]
        assert symbols[-1] == sub.eos_symbol
        memo[key] = {sub.text(symbols): 1.0}
        return memo[key]
    law: dict[bytes, float] = defaultdict(float)
    for probability, after in round_outcomes(speculator):
        for text, p in speculative_law(after, memo).items():
            law[text] += probability * p
    memo[key] = law
    return law


def tiny_pair(seed: int = 0):
    vocab_t, vocab_d = word_vocab(TARGET_PIECES, "tiny-target"), word_vocab(DRAFT_PIECES, "tiny-draft")
    target = TableModel(len(vocab_t), max_tokens=3, seed=seed)
    draft = TableModel(len(vocab_d), max_tokens=3, seed=seed + 100)
    return vocab_t, vocab_d, target, draft


def speculator(vocab_t, vocab_d, target, draft, space, gamma, **decoding) -> Speculator:
    shared = shared_space([vocab_t, vocab_d], space)
    covers = [
        ReducedModel(CountingModel(model), sub, [], k=None, keep_closing=n == 1)
        for n, (model, sub) in enumerate(zip([target, draft], shared.subs, strict=True))
    ]
    return Speculator(*covers, shared, gamma, **decoding)


def test_the_pair_differs_both_ways_and_the_mcv_is_larger_than_bytes():
    vocab_t, vocab_d, _, _ = tiny_pair()
    assert b"ab" in vocab_t.byte_set - vocab_d.byte_set and b"ba" in vocab_d.byte_set - vocab_t.byte_set
    mcv = shared_space([vocab_t, vocab_d], "mcv")
    assert {s.data for s in mcv.symbols} == {None, b"a", b"b", b"aa"}


@pytest.mark.parametrize("space", ["mcv", "bytes"])
@pytest.mark.parametrize("gamma", [1, 2, 4])
@pytest.mark.parametrize("roles", ["as built", "swapped"])
def test_speculative_sampling_has_the_targets_law_of_texts(space, gamma, roles):
    vocab_t, vocab_d, target, draft = tiny_pair()
    if roles == "swapped":  # the draft's vocabulary as the target's: differences in the other direction
        vocab_t, vocab_d, target, draft = vocab_d, vocab_t, draft, target
    expected = text_law(target, vocab_t)
    assert math.fsum(expected.values()) == pytest.approx(1.0, abs=1e-12)
    got = speculative_law(speculator(vocab_t, vocab_d, target, draft, space, gamma), {})
    assert set(got) == set(expected)
    for text, probability in expected.items():
        assert got[text] == pytest.approx(probability, rel=1e-9, abs=1e-12), text


def test_with_temperature_and_top_p_the_law_is_the_targets_sampled_law():
    """Sampling at a temperature with a nucleus cut samples, at every step, the cut and sharpened
    next-symbol law: the brute-force conditionals of the target's reduced law, warped the same way."""
    vocab_t, vocab_d, target, draft = tiny_pair(seed=3)
    temperature, top_p = 0.7, 0.8
    spec = speculator(vocab_t, vocab_d, target, draft, "bytes", 2, temperature=temperature, top_p=top_p)
    sub = spec.target.sub
    prefixes: dict[tuple[int, ...], float] = defaultdict(float)  # brute force: the reduced law of symbol prefixes
    stack = [((), 1.0)]
    while stack:
        tokens, p = stack.pop()
        probs = target.logprobs(tokens).exp()
        for token in (probs > 0).nonzero().flatten().tolist():
            if token == 0:
                symbols = (*[s for t in tokens for s in sub.nested[t]], sub.eos_symbol)
                for n in range(len(symbols) + 1):
                    prefixes[symbols[:n]] += p * probs[0].item()
            else:
                stack.append(((*tokens, token), p * probs[token].item()))

    def warped(prefix):  # written from the definition: p^(1/T), then the smallest head of mass >= top_p
        conditional = {s: prefixes.get((*prefix, s), 0.0) / prefixes[prefix] for s in range(len(sub.symbols))}
        powered = {s: p ** (1 / temperature) for s, p in conditional.items() if p > 0}
        total, kept, mass = sum(powered.values()), {}, 0.0
        for s, p in sorted(powered.items(), key=lambda sp: -sp[1]):
            if mass >= top_p:
                break
            kept[s], mass = p / total, mass + p / total
        return {s: p / sum(kept.values()) for s, p in kept.items()}

    expected: dict[bytes, float] = defaultdict(float)
    stack = [((), 1.0)]
    while stack:
        prefix, p = stack.pop()
        for s, q in warped(prefix).items():
            if s == sub.eos_symbol:
                expected[sub.text(list(prefix))] += p * q
            else:
                stack.append(((*prefix, s), p * q))
    got = speculative_law(spec, {})
    assert set(got) == set(expected)
    for text, probability in expected.items():
        assert got[text] == pytest.approx(probability, rel=1e-9, abs=1e-12), text


@pytest.mark.parametrize("space", ["mcv", "bytes"])
def test_greedy_is_the_targets_reduced_greedy_text(space):
    for seed in range(5):
        vocab_t, vocab_d, target, draft = tiny_pair(seed)
        spec = speculator(vocab_t, vocab_d, target, draft, space, 3, greedy=True)
        while spec.ended_by is None:
            spec.round(SeededDraws(0))
        alone, symbols = ReducedModel(target, spec.target.sub, [], k=None), []  # plain reduced greedy decoding
        while not alone.ended:
            symbols.append(int(alone.distribution().argmax()))
            alone.advance(symbols[-1])
        assert [e.symbol for e in spec.emitted] == symbols


def test_the_acceptance_rate_agrees_with_the_alpha_formula():
    """gamma = 1: each round proposes one symbol, accepted with probability alpha = sum_x min(p_T, p_D)
    at that prefix, with p_T and p_D the brute-force conditionals of the two reduced laws."""
    vocab_t, vocab_d, target, draft = tiny_pair(seed=5)
    predicted, accepted = [], 0
    for seed in range(300):
        spec, draws = speculator(vocab_t, vocab_d, target, draft, "bytes", 1), SeededDraws(seed)
        while spec.ended_by is None and spec.draft_lost_at is None:
            p, q = spec.target_probs(), spec.draft_probs(spec.draft)
            before = spec.accepted
            spec.round(draws)
            predicted.append(torch.minimum(p, q).sum().item())
            assert acceptance(p, q) == pytest.approx(predicted[-1], abs=1e-12)
            accepted += spec.accepted - before
    n, mean = len(predicted), sum(predicted) / len(predicted)
    sigma = math.sqrt(sum(a * (1 - a) for a in predicted)) / n
    assert n > 300 and 0.2 < mean < 0.95  # a test with room to fail either way
    assert abs(accepted / n - mean) < 4 * sigma


class ChainingTableModel(TableModel):
    """Runs several tokens after each of several states in one call, as ChainedHFModel does."""

    def extend_chains(self, chains):
        return [[(*state, *tokens[: n + 1]) for n in range(len(tokens))] for state, tokens in chains]


def test_batched_verification_saves_target_calls():
    """The target's tokens along the drafted symbols run ahead in one call, so verifying several
    drafted symbols costs fewer target calls."""
    vocab_t, _, table, _ = tiny_pair(seed=2)
    target = ChainingTableModel(len(vocab_t), 3, seed=2)
    calls, texts = {}, set()
    for gamma in (1, 4):  # the target as its own draft: every proposal is accepted
        spec = speculator(vocab_t, vocab_t, target, table, "bytes", gamma, greedy=True)
        while spec.ended_by is None:
            spec.round(SeededDraws(0))
        calls[gamma] = spec.target.model.calls
        texts.add(spec.target.sub.text([e.symbol for e in spec.emitted]))
    assert len(texts) == 1 and calls[4] < calls[1]


@pytest.mark.real  # preset tokenizers or models
def test_chains_of_tokens_in_one_batch_give_the_states_of_one_token_at_a_time(tmp_path):
    from transformers import AutoModelForCausalLM

    from vocablab.reduce.model import HFTokenModel
    from vocablab.reduce.speculate import ChainedHFModel

    model = AutoModelForCausalLM.from_pretrained(tiny_llama("gpt2", tmp_path / "m", tied=True)).eval()
    chained, plain = ChainedHFModel(model), HFTokenModel(model)
    starts = [chained.start([50256, 464, 3797]), chained.start([50256, 40])]
    chains = [(starts[0], [318, 257, 1332]), (starts[1], [716]), (starts[0], [373, 11])]
    for (state, tokens), row in zip(chains, chained.extend_chains(chains), strict=True):
        assert len(row) == len(tokens)
        for token, got in zip(tokens, row, strict=True):
            (state,) = plain.extend([(state, token)])
            assert got.length == state.length
            assert torch.allclose(got.logprobs, state.logprobs, atol=1e-4)
            # a state from a chain extends like any other
            (after_got,), (after_plain,) = plain.extend([(got, 13)]), plain.extend([(state, 13)])
            assert torch.allclose(after_got.logprobs, after_plain.logprobs, atol=1e-4)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A 1-layer Llama with GPT-2's tokenizer (the target) and one with Mistral's (the draft)."""
    root = tmp_path_factory.mktemp("speculate")
    return str(tiny_llama("gpt2", root / "target", tied=True)), str(tiny_llama("mistral", root / "draft", tied=True))


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("space", ["mcv", "bytes"])
@pytest.mark.real  # preset tokenizers or models
def test_cli_greedy_equals_generate_over_the_mcv_on_tiny_models(tiny_models, capsys, space):
    import json

    target, draft = tiny_models
    prompt = ["--prompt", "the cat sat on", "--max-new-bytes", "12", "--json"]
    code, out, _ = run_cli(["speculate", target, draft, "--space", space, "--gamma", "3", *prompt], capsys)
    assert code == 0
    result = json.loads(out)
    subvocab = f"mcv:{draft}" if space == "mcv" else "bytes"
    code, out, _ = run_cli(["generate", target, "--subvocab", subvocab, *prompt], capsys)
    assert code == 0
    assert result["text"] == json.loads(out)["text"] == result["alone"]["text"] and result["same_as_alone"]
    assert sum(result["piece_bytes"]) >= 12 and result["drafted"] >= result["accepted"]
    assert result["target_calls"] > 0 and result["draft_calls"] > 0


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--gamma", "0"], "gamma (symbols drafted per round) must be a whole number from 1 to 16"),
        (["--gamma", "17"], "gamma (symbols drafted per round) must be a whole number from 1 to 16"),
        (["--max-new-bytes", "0"], "byte budget"),
    ],
)
@pytest.mark.real  # preset tokenizers or models
def test_cli_refuses_bad_decoding_options(tiny_models, capsys, argv, reason):
    code, _, err = run_cli(["speculate", *tiny_models, "--prompt", "the", *argv], capsys)
    assert code == 2 and reason in err and "Traceback" not in err


@pytest.mark.real  # preset tokenizers or models
def test_cli_refuses_a_draft_that_is_the_target(tiny_models, tmp_path, capsys):
    target, _ = tiny_models
    (tmp_path / "text.txt").write_text("the cat", encoding="utf-8")
    fit = ["draft-fit", target, target, "--text", str(tmp_path / "text.txt")]
    for command in (["speculate", target, target, "--prompt", "the"], fit):
        code, _, err = run_cli(command, capsys)
        assert code == 2 and "is the target itself" in err


@pytest.mark.real  # preset tokenizers or models
def test_cli_drafts_with_a_normalizing_tokenizer(tiny_models, tmp_path, capsys):
    """Qwen3's NFC normalizer is no reason to refuse (docs/methods.md §4): its model drafts over bytes,
    and the greedy text is the target's own reduced greedy text."""
    import json

    normalizing = str(tiny_llama("qwen3", tmp_path / "qwen", tied=True))
    common = ["--space", "bytes", "--prompt", "the cat", "--max-new-bytes", "6", "--json"]
    code, out, err = run_cli(["speculate", tiny_models[0], normalizing, *common], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["text"] == result["alone"]["text"] and result["same_as_alone"]


def without_decoder(folder: str, out) -> str:
    """A copy of a model folder whose tokenizer has no decoder: its text puts a space between every two
    tokens, so it cannot be reduced and no MCV with it can be built."""
    import json
    import shutil

    shutil.copytree(folder, out)
    spec = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    spec["decoder"] = None
    (out / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    return str(out)


@pytest.mark.real  # preset tokenizers or models
def test_cli_refuses_a_pair_whose_mcv_cannot_be_built(tiny_models, tmp_path, capsys):
    target, draft = tiny_models
    broken = without_decoder(draft, tmp_path / "no-decoder")
    (tmp_path / "text.txt").write_text("the cat", encoding="utf-8")
    for command in (
        ["speculate", target, broken, "--prompt", "the"],
        ["speculate", broken, target, "--prompt", "the", "--space", "bytes"],
        ["draft-fit", target, draft, broken, "--text", str(tmp_path / "text.txt")],
    ):
        code, _, err = run_cli(command, capsys)
        assert code == 2 and "cannot be reduced: its tokenizer has no decoder" in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.real  # preset tokenizers or models
def test_cli_refuses_a_draft_on_another_device(tiny_models, capsys):
    code, _, err = run_cli(["speculate", *tiny_models, "--prompt", "the", "--draft-device", "cuda"], capsys)
    assert code == 2 and "no CUDA GPU" in err


@pytest.mark.real  # preset tokenizers or models
def test_a_draft_loaded_on_another_device_is_refused(tiny_models):
    from transformers import AutoModelForCausalLM

    from vocablab.errors import VocabLabError
    from vocablab.reduce.speculate import speculate

    target, draft = tiny_models
    on_meta = AutoModelForCausalLM.from_pretrained(draft).to("meta")
    with pytest.raises(VocabLabError, match="the draft is on meta and the target on cpu: put both on one device"):
        speculate(target, draft, "the", draft_model=on_meta, device="cpu")


@pytest.mark.real  # preset tokenizers or models
def test_draft_fit_on_tiny_models(tiny_models, tmp_path, capsys):
    """alpha along the text from the exact reduced laws; the own-token route for a draft with the
    target's tokenizer, where alpha is the overlap of the two next-token distributions."""
    import json

    target, draft = tiny_models
    same_tokenizer = str(tiny_llama("gpt2", tmp_path / "sibling", tied=True, seed=1))
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat\n", encoding="utf-8")
    code, out, _ = run_cli(["draft-fit", target, draft, same_tokenizer, "--text", str(text), "--json"], capsys)
    assert code == 0
    reduced, own = json.loads(out)["drafts"]
    assert reduced["route"] == "mcv" and own["route"] == "own tokens"
    for row in (reduced, own):
        assert all(0 <= a <= 1 + 1e-9 for a in row["alphas"]) and row["positions"] == len(row["alphas"])
        a, c = row["alpha_mean"], row["cost_ratio"]
        assert row["speed_up"]["4"] == pytest.approx((1 - a**5) / (1 - a) / (4 * c + 1), rel=1e-3)
    assert own["bytes_per_symbol"] == pytest.approx(22 / own["positions"], rel=1e-3)
    code, out, _ = run_cli(["draft-fit", target, draft, "--text", str(text)], capsys)
    assert code == 0 and "g=8" in out and "alpha needed" in out


PROMPTS = [
    "The capital of France is",
    "Once upon a time",
    "def fibonacci(n):",
    "The weather today is",
    "1, 2, 3, 4,",
    "My favourite food is",
    "In 1969, astronauts",
    "The quick brown fox",
    "Water boils at",
    "import numpy as",
]


@pytest.mark.slow
def test_greedy_on_the_presets_is_the_targets_reduced_greedy_text():
    """gemma3-270m drafted by smollm2-135m: the same text as generate_reduced over the MCV, for 10 prompts."""
    from vocablab.options import Decoding
    from vocablab.reduce.generate import generate_reduced
    from vocablab.reduce.speculate import speculate
    from vocablab.sources import load_causal_lm

    target, draft = load_causal_lm("gemma3-270m", device="cpu"), load_causal_lm("smollm2-135m", device="cpu")
    drafted = accepted = 0
    for prompt in PROMPTS:
        result = speculate(
            "gemma3-270m",
            "smollm2-135m",
            prompt,
            decoding=Decoding(max_new_bytes=16),
            alone=False,
            target_model=target,
            draft_model=draft,
        )
        alone = generate_reduced(
            "gemma3-270m", prompt, subvocab="mcv:smollm2-135m", decoding=Decoding(max_new_bytes=16), model=target
        )
        assert result.text == alone.text, prompt
        drafted, accepted = drafted + result.drafted, accepted + result.accepted
    assert 0 < accepted < drafted  # the draft's proposals were tested both ways


@pytest.mark.real  # preset tokenizers or models
@pytest.mark.parametrize("draft", ["copy", "sibling"])
def test_a_draft_with_the_targets_tokenizer_drafts_its_own_tokens(tiny_models, tmp_path, draft):
    """With one tokenizer the MCV is the whole vocabulary: greedy speculation without prompt healing
    gives transformers' own token-level greedy text; a copy of the target has every proposal accepted."""
    import shutil

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from vocablab.options import Decoding
    from vocablab.reduce.speculate import speculate

    target = tiny_models[0]
    if draft == "copy":
        shutil.copytree(target, tmp_path / draft)
    else:
        tiny_llama("gpt2", tmp_path / draft, tied=True, seed=1)
    decoding = Decoding(max_new_bytes=16, heal=False)
    result = speculate(target, str(tmp_path / draft), "the cat sat on", gamma=3, decoding=decoding)
    model, tok = AutoModelForCausalLM.from_pretrained(target), AutoTokenizer.from_pretrained(target)
    ids = tok("the cat sat on", return_tensors="pt").input_ids
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, do_sample=False)
    own = tok.decode(out[0, ids.shape[1] :])
    assert len(result.data) >= 16 and own.startswith(result.text) and result.same_as_alone
    if draft == "copy":
        assert result.accepted == result.drafted > 0 and result.draft_lost_at is None


@pytest.mark.real  # preset tokenizers or models
def test_draft_fit_of_a_copy_of_the_target_accepts_everything(tiny_models, tmp_path):
    """A draft with the target's weights and tokenizer proposes from the target's own law: alpha = 1."""
    import shutil

    from vocablab.reduce.draft_fit import draft_fit

    copy = tmp_path / "copy"
    shutil.copytree(tiny_models[0], copy)
    (row,) = draft_fit(tiny_models[0], [str(copy)], "the cat sat on the mat", device="cpu").drafts
    assert row.route == "own tokens" and row.alphas == pytest.approx([1.0] * row.positions, abs=1e-6)
    assert row.expected_symbols[4] == pytest.approx(5.0, abs=1e-4)


@pytest.mark.real  # preset tokenizers or models
def test_the_view_fits_runs_and_refuses_bad_input(tiny_models, tmp_path):
    """The app's handlers, called as Gradio calls them: a fit (chart and table), a run (the speculative
    output and the target alone), and messages, not tracebacks, for bad input."""
    import gradio as gr

    from vocablab.ui import speculate_tab
    from vocablab.ui.app import VIEWS, build_app

    target, draft = tiny_models
    broken = without_decoder(draft, tmp_path / "no-decoder")
    chart, table = speculate_tab.fit(target, draft, "the cat sat on the mat", "mcv", None)
    assert len(chart.data[0].y) > 3 and "predicted speed-up" in table
    html = speculate_tab.run(target, draft, "the cat", 2, "bytes", False, 1.0, 1.0, 0, 8, None)
    assert "the target alone" in html and "the same text" in html and "drafted by" in html
    for args, reason in [
        ((target, target, "the cat", 2, "mcv", False, 1.0, 1.0, 0, 8), "pick two different models"),
        ((target, draft, "the cat", 0, "mcv", False, 1.0, 1.0, 0, 8), "gamma"),
        ((target, draft, "", 2, "mcv", False, 1.0, 1.0, 0, 8), "type a prompt"),
        ((target, broken, "the cat", 2, "mcv", False, 1.0, 1.0, 0, 8), "cannot be reduced"),
    ]:
        with pytest.raises(gr.Error, match=reason):
            speculate_tab.run(*args, None)
    with pytest.raises(gr.Error, match="cannot be reduced"):
        speculate_tab.fit(broken, draft, "the cat", "mcv", None)
    assert "the same text" in speculate_tab.run(target, draft, "the cat", 2, "bytes", False, 1.0, 1.0, 0, 8, None)
    assert "speculate" in [tab for tab, *_ in VIEWS]
    build_app()  # the view assembles with the others
