"""Transplant view: run an OMP transplant, inspect the anchors of any new token, see the
embeddings on a map, compare the model before and after, download or push the result."""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from vocablab import outputs
from vocablab.errors import VocabLabError
from vocablab.evaluate import compare_before_after
from vocablab.isolated import remove_partial
from vocablab.numbers import digit_scheme_warning
from vocablab.options import (
    ANCHOR_METHODS,
    CORPUS,
    CORPUS_DOCUMENTS,
    MAP_POINTS,
    MATCH_HELP,
    MAX_CORPUS_DOCUMENTS,
    METHOD_HELP,
    METHODS,
    OUTPUT_DTYPE_HELP,
    TRANSPLANT_K,
    TRANSPLANT_MATCH,
    TRANSPLANT_METHOD,
)
from vocablab.plots import anchor_chart, embedding_map_figure
from vocablab.scorecard import Scorecard, score_models
from vocablab.sources import load_vocabulary, resolve
from vocablab.surgery import transplant
from vocablab.surgery.card import write_model_card
from vocablab.surgery.engine import resolve_pair
from vocablab.surgery.report import TransplantReport, project_rows, push_to_hub, write_archive
from vocablab.ui import outputs_panel
from vocablab.ui.common import (
    HEAVY,
    MAPS,
    cached_model,
    gpu,
    in_worker,
    lock,
    model_picker,
    report_failures,
    typed,
    unlock,
    user_errors,
)

INTRO = """Give the **base** model the **donor**'s tokenizer without training: tokens both have keep the
base's rows; every other donor token is built from *k* shared anchor tokens by orthogonal matching
pursuit in the donor's embedding space, and the same coefficients are applied to the base's rows
(Goddard & Fernandes Neto 2025, arXiv 2506.06607). Gemma-3-270M with SmolLM2's tokenizer takes
about a minute on 2 CPU cores with AVX512-BF16 (2.5 minutes without); the reverse direction (216k
new tokens) is for a GPU."""
NEAREST_COLUMNS = ["token", "cosine"]
SAMPLE_TEXT = (
    "The central bank raised interest rates by 0.25 percentage points on Wednesday, its third increase "
    "this year, saying inflation remained well above its 2% target."
)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text)[-40:]


def output_size(base: str, base_vocab, donor_vocab) -> int:
    """About what a transplant writes: the base's weights, larger by at most the vocabulary ratio."""
    weights = sum(f.stat().st_size for f in resolve(base, need="model").path.glob("*.safetensors"))
    return int(weights * max(1.0, len(donor_vocab) / len(base_vocab)))


def kept_note(out: Path) -> str:
    hours = (outputs.kept_until(out) - time.time()) / 3600
    until = time.strftime("%H:%M UTC on %d %b", time.gmtime(outputs.kept_until(out)))
    return (
        f"Kept on this server for at most {hours:.0f} hours (until {until}; sooner if the server runs short "
        "of room): download it or push it to the hub before then."
    )


def run_folder(out: str) -> Path:
    """The visitor's last transplant, or a message when there is none or it has been deleted."""
    if not out:
        raise VocabLabError("run a transplant first")
    if not Path(out).is_dir():
        raise VocabLabError(
            f"{outputs.handle(out)} is no longer on this server (results are kept "
            f"{outputs.max_age_seconds() / 3600:.0f} hours at most); run the transplant again"
        )
    return Path(out)


@user_errors
def check_pair(base, donor, method):
    """Before the transplant runs: refuses a pair it cannot use (weights missing where the method
    reads them), and warns about different digit schemes at once, with the button to the Numbers
    view already shown."""
    warning = digit_scheme_warning(*map(load_vocabulary, resolve_pair(base, donor, method)))
    if warning:
        gr.Warning(warning, duration=30, title="Different digit schemes")
    return gr.update(visible=warning is not None)


@user_errors
def run_transplant(base, donor, k, method, match, dtype, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
    base_vocab, donor_vocab = load_vocabulary(base), load_vocabulary(donor)
    outputs.make_room(output_size(base, base_vocab, donor_vocab))
    out = outputs.workspace() / f"{_slug(base)}-with-{_slug(donor)}-{method}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        session = getattr(request, "session_hash", None)
        result = transplant_on_gpu(base, donor, str(out), int(k), method, match, dtype, session)
    except VocabLabError as exc:  # a full disk, say: named by its handle, not by the server's path
        raise VocabLabError(str(exc).replace(str(out), outputs.handle(out))) from exc
    warning = next(iter(result.warnings), None)  # the digit-scheme warning
    summary = transplant_summary(result, out)
    choices = TransplantReport.load(out).search("")
    # the full list of the new run: an earlier search's words and "N shown" would be stale above it
    token_choices = gr.update(choices=choices, value=choices[0][1] if choices else None, info="")
    return summary, str(out), token_choices, gr.update(visible=warning is not None), ""


def transplant_summary(result, out: Path) -> str:
    """What the run made and where: its handle, and when running locally (not in public mode) its
    folder, for the CLI, transformers or mergekit; a public app never shows its server's paths."""
    counts = result.counts
    lost = counts["no_donor_row"]
    where = f"`{outputs.handle(out)}` (type it in any model picker of this page: it is yours alone"
    where += ", and listed under Your outputs, across page reloads, until it expires)"
    if not outputs.public_mode():
        where += f"  \nFolder on this machine (for the CLI, transformers or mergekit): `{out.resolve()}`"
    summary = (
        f"**Done**: the transplant took {result.seconds:.1f} s → {where}  \n"
        f"{result.rows:,} rows: **{counts['exact']:,}** exact, **{counts['bytes']:,}** byte-matched, "
        f"**{counts['special']:,}** special (by role), **{counts['approximated']:,}** approximated"
        + (f", {lost:,} without a donor row (base mean)" if lost else "")
        + ("; tied embeddings kept tied." if result.tied else ".")
        + f" Weights: {result.dtype}; a model card (README.md) is in the folder."
    )
    if result.mean_error:
        errors = ", ".join(f"{m} {e:.3f}" for m, e in result.mean_error.items())
        summary += f"  \nMean relative reconstruction error in the donor space: {errors}."
    if result.warnings:
        summary += f"  \n⚠️ {result.warnings[0]}"
    return summary + f"  \n{kept_note(out)}"


@gpu(300)
def transplant_on_gpu(base, donor, out, k, method, match, dtype, session):
    try:  # in a worker process at a lower priority, so the light views stay quick (vocablab.isolated)
        return in_worker(transplant, base, donor, out, k=k, method=method, match=match, dtype=dtype, session=session)
    finally:
        remove_partial(out)  # what a stopped run left


@gpu(90)
def before_after_on_gpu(base, transplanted, text, prompt, session):
    with outputs.serving(session):
        return compare_before_after(base, transplanted, text, prompt)


@user_errors
def search_new_tokens(query, out):
    out = run_folder(out)
    choices = TransplantReport.load(out).search(query or "")
    if not choices:  # the list and the token shown stay as they were
        return gr.update(info=f"no new token contains {query!r}")
    # info "" clears an earlier "no new token" line (None would leave it)
    return gr.update(choices=choices, value=choices[0][1], info=f"{len(choices):,} shown" if query else "")


@user_errors
def show_token(token_id, out):
    if not out or token_id is None:
        return None, "", pd.DataFrame(columns=NEAREST_COLUMNS)
    report = TransplantReport.load(run_folder(out))
    token_id = int(token_id)
    text = report.token_text(token_id)
    nearest = pd.DataFrame(report.nearest_shared(token_id), columns=NEAREST_COLUMNS)
    if report.settings["method"] not in ANCHOR_METHODS:
        zero = "; its row is zero, so no shared token is nearer than another" if nearest.empty else ""
        return None, f"`{text}` was set by the {report.settings['method']} method (no anchors){zero}.", nearest
    # largest weight first (OMP records them in pick order); ids are the donor's, which the output now has
    rows = sorted(report.anchor_rows(token_id), key=lambda row: -abs(row["coefficient"]))
    error = report.error(token_id)
    anchors = f"{len(rows)} anchor" + ("s" if len(rows) != 1 else "")
    whose = f"ids in {report.settings['donor']}'s tokenizer, which the output has"
    note = (
        f"**`{text}`** (id {token_id}): {anchors}, largest |coefficient| first ({whose}); "
        f"relative reconstruction error {error:.4f} (donor space)"
    )
    return anchor_chart(rows, f"Anchors of {text!r} by |coefficient| ({whose})"), note, nearest


@user_errors
def draw_map(out, projection, points, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
    """The map of the last run's embeddings: PCA at once, in this process; UMAP in a worker process
    (slow, and ended by Stop), outside the model-run slot either way."""
    out, points = run_folder(out), int(points)
    progress(0.2, desc=f"{projection.upper()} of {points:,} sampled rows")
    session = getattr(request, "session_hash", None)
    worker = functools.partial(in_worker, project_rows, session=session) if projection == "umap" else None
    return embedding_map_figure(TransplantReport.load(out).embedding_map(points, projection, project=worker))


@user_errors
def before_after(out, text, prompt, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
    out = run_folder(out)
    base = TransplantReport.load(out).settings["base"]  # the run's own base, whatever the box shows now
    result = before_after_on_gpu(base, outputs.handle(out), text, prompt, getattr(request, "session_hash", None))
    # the model card says what was measured (the latest comparison), so it travels with the model
    write_model_card(
        out, {"bits_per_byte": result.bits_per_byte, "text_bytes": result.text_bytes, "tokens": result.tokens}
    )
    scores = pd.DataFrame(
        [
            {"model": f"{label}: {spec}", "bits per byte": round(result.bits_per_byte[label], 4), "tokens": n}
            for (label, n), spec in zip(result.tokens.items(), (base, outputs.handle(out)), strict=True)
        ]
    )
    return scores, result.continuations["base"], result.continuations["transplanted"]


SCORECARD_COLUMNS = ["model", "corpus bits per byte", "digit probe bits per byte", "digits exact"]
PROBE_COLUMNS = ["prompt", "answer", "base continues", "transplanted continues", "base bits", "transplanted bits"]


@gpu(240)
def scorecards_on_gpu(base, transplanted, documents, session) -> list[Scorecard]:
    with outputs.serving(session):
        models = [cached_model(base), cached_model(transplanted)]
        return score_models([base, transplanted], corpus=CORPUS, documents=documents, models=models)


@user_errors
def score_corpus_and_digits(out, documents, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
    """The base and the transplanted model on the corpus's first ``documents`` and on the digit probe."""
    out = run_folder(out)
    documents = typed(documents, f"{CORPUS} documents", int)
    if not 1 <= documents <= MAX_CORPUS_DOCUMENTS:
        raise VocabLabError(f"score 1 to {MAX_CORPUS_DOCUMENTS} documents of {CORPUS} here, not {documents}")
    base = TransplantReport.load(out).settings["base"]  # the run's own base, whatever the box shows now
    specs = (base, outputs.handle(out))
    for spec in specs:
        cached_model(spec)  # loaded in the app's own process, where the cache lives (ZeroGPU forks a worker)
    cards = scorecards_on_gpu(*specs, documents, getattr(request, "session_hash", None))
    labelled = list(zip(("base", "transplanted"), cards, strict=True))
    table = pd.DataFrame(
        [
            [
                f"{label}: {spec}",
                round(card.corpus.bits_per_byte, 4),
                round(card.digits.bits_per_byte, 4),
                f"{card.digits.exact}/{card.digits.n_probes}",
            ]
            for (label, card), spec in zip(labelled, specs, strict=True)
        ],
        columns=SCORECARD_COLUMNS,
    )
    items = zip(cards[0].digits.items, cards[1].digits.items, strict=True)
    rows = [
        [base_item["prompt"], base_item["answer"], base_item["greedy"], item["greedy"], base_item["bits"], item["bits"]]
        for base_item, item in items
    ]
    probes = pd.DataFrame(rows, columns=PROBE_COLUMNS).round(2)
    return table, probes, scorecard_note(*cards)


def scorecard_note(base: Scorecard, transplanted: Scorecard) -> str:
    """The transplant's cost on each score, and what was scored."""
    corpus = transplanted.corpus.bits_per_byte - base.corpus.bits_per_byte
    digits = transplanted.digits.bits_per_byte - base.digits.bits_per_byte
    return (
        f"Cost of the transplant: **{corpus:+.4f}** bits per byte on the first {base.corpus.n_documents} "
        f"documents of {CORPUS} ({base.corpus.n_bytes:,} bytes), **{digits:+.4f}** on the answers of "
        f"the digit probe ({base.digits.n_probes} prompts, {base.digits.n_bytes} bytes). Lower is better; "
        "each model reads the text with its own tokenizer."
    )


@user_errors
def download(out, progress=gr.Progress(track_tqdm=True)):
    out = run_folder(out)
    progress(0.1, desc="writing the archive")
    # room for the archive and for Gradio's copy of it, which the download is served from; the model stays
    outputs.make_room(2 * outputs.size_of(out), keep=out)
    return str(write_archive(out))


@user_errors
def push(out, repo_id, token):
    out = run_folder(out)
    return f"Pushed to {push_to_hub(out, repo_id, token)}"


def _before_after(out: gr.State) -> None:
    """The accordion that scores and continues with the base and the transplanted model."""
    with gr.Accordion("Before and after", open=False):
        with gr.Row():
            text = gr.Textbox(SAMPLE_TEXT, label="Text to score (bits per byte)", lines=3)
            prompt = gr.Textbox("The capital of France is", label="Prompt (greedy continuation)")
        compare = gr.Button("Compare base and transplanted", elem_id="transplant-compare")
        compare_failed = gr.Markdown(elem_id="transplant-compare-failed")
        scores = gr.Dataframe(
            headers=["model", "bits per byte", "tokens"],
            label="Bits per byte",
            interactive=False,
            elem_id="transplant-scores",
        )
        with gr.Row():
            before = gr.Textbox(label="Base model continues", interactive=False)
            after = gr.Textbox(label="Transplanted model continues", interactive=False)
    report_failures(compare_failed, compare.click(before_after, [out, text, prompt], [scores, before, after], **HEAVY))
    _scorecard(out)


def _scorecard(out: gr.State) -> None:
    """Inside "Before and after": the two models on a corpus and on the digit probe, with a Stop."""
    gr.Markdown(
        f"One sentence proves little: score both models on the first news articles of {CORPUS} and on a "
        "digit probe (arithmetic, years, counting: bits per byte of each right answer, and whether greedy "
        "decoding gives it), where a change in how numbers are split shows."
    )
    with gr.Row():
        documents = gr.Slider(
            1, MAX_CORPUS_DOCUMENTS, value=CORPUS_DOCUMENTS, step=1, label=f"{CORPUS} documents", scale=2
        )
        score = gr.Button("Score on the corpus and the digit probe", elem_id="transplant-scorecard", scale=2)
        stop = gr.Button("Stop", variant="stop", elem_id="transplant-scorecard-stop", scale=1)
    failed = gr.Markdown(elem_id="transplant-scorecard-failed")
    note = gr.Markdown(elem_id="transplant-scorecard-note")
    table = gr.Dataframe(headers=SCORECARD_COLUMNS, label="Corpus and digit probe", interactive=False)
    probes = gr.Dataframe(headers=PROBE_COLUMNS, label="Digit probe: greedy continuations", interactive=False)
    scored = score.click(lock, None, score, queue=False).then(
        score_corpus_and_digits, [out, documents], [table, probes, note], **HEAVY
    )
    report_failures(failed, scored)
    scored.then(unlock, None, score, queue=False)
    # the corpus is scored document by document and the probe prompt by prompt: Stop is heard between them
    stop.click(unlock, None, score, cancels=[scored], queue=False)


def _download(out: gr.State) -> None:
    """The accordion that zips the output or pushes it to the hub."""
    with gr.Accordion("Download or push", open=False):
        archive_button = gr.Button("Make a .zip of the model")
        archive = gr.File(label="Model archive")
        with gr.Row():
            repo_id = gr.Textbox(label="Hub repository (user/name)")
            hub_token = gr.Textbox(label="Hub token (write; never stored or logged)", type="password")
        push_button = gr.Button("Push to the hub (private repository)")
        push_note = gr.Markdown()
    archive_button.click(download, out, archive, **HEAVY)
    push_button.click(push, [out, repo_id, hub_token], push_note)


def _settings() -> tuple[gr.Slider, gr.Radio, gr.Radio, gr.Dropdown]:
    """The transplant's k, method, matching and output dtype, each with help that follows its choice."""
    with gr.Row():
        k = gr.Slider(
            1, 256, value=TRANSPLANT_K, step=1, label="k (anchors per new token; omp and knn)", elem_id="transplant-k"
        )
        method = gr.Radio(list(METHODS), value=TRANSPLANT_METHOD, label="method", info=METHOD_HELP[TRANSPLANT_METHOD])
        match = gr.Radio(list(MATCH_HELP), value=TRANSPLANT_MATCH, label="matching", info=MATCH_HELP[TRANSPLANT_MATCH])
        dtype = gr.Dropdown(
            list(OUTPUT_DTYPE_HELP),
            value="auto",
            label="output dtype",
            info=OUTPUT_DTYPE_HELP["auto"],
            elem_id="transplant-dtype",
        )
    method.change(
        lambda m: (gr.Radio(info=METHOD_HELP[m]), gr.Slider(interactive=m in ANCHOR_METHODS)), method, [method, k]
    )
    match.change(lambda m: gr.Radio(info=MATCH_HELP[m]), match, match)
    dtype.change(lambda d: gr.Dropdown(info=OUTPUT_DTYPE_HELP.get(d, "")), dtype, dtype)
    return k, method, match, dtype


def build(
    pickers: list[gr.Dropdown], tabs: gr.Tabs, panel: outputs_panel.Panel | None = None
) -> dict[str, gr.Component]:
    """The tab's components and events, inside an open ``gr.Tab``; ``pickers`` A and B and the
    ``tabs`` serve the button that opens the Numbers view on the base and the donor. Returns the
    fields a link carries."""
    gr.Markdown(INTRO)
    with gr.Row():
        base = model_picker("Base model (keeps its weights)", "gemma3-270m", "transplant-base")
        donor = model_picker("Donor (gives its tokenizer)", "smollm2-135m", "transplant-donor")
    k, method, match, dtype = _settings()
    with gr.Row():
        run = gr.Button("Transplant", variant="primary", elem_id="transplant-run", scale=4)
        stop = gr.Button("Stop", variant="stop", elem_id="transplant-stop", scale=1)
    failed = gr.Markdown(elem_id="transplant-failed")
    summary = gr.Markdown(elem_id="transplant-summary")
    to_numbers = gr.Button("Compare their numbers in the Numbers view", visible=False, elem_id="transplant-numbers")
    out = gr.State("")

    with gr.Row():
        with gr.Column(scale=1):
            query = gr.Textbox(label="Search new tokens", elem_id="transplant-search")
            token = gr.Dropdown(label="New token", choices=[], elem_id="transplant-token")
            token_note = gr.Markdown()
            nearest = gr.Dataframe(
                headers=NEAREST_COLUMNS, label="Nearest shared tokens (cosine, transplanted rows)", interactive=False
            )
        with gr.Column(scale=2):
            anchors = gr.Plot(label="Anchors", elem_id="transplant-anchors")
    with gr.Row():
        projection = gr.Radio(
            [("PCA (instant)", "pca"), ("UMAP (a minute or more on a CPU)", "umap")],
            value="pca",
            label="Embedding map",
            elem_id="transplant-projection",
            scale=2,
        )
        points = gr.Slider(200, 20000, value=MAP_POINTS, step=100, label="rows on the map", elem_id="transplant-points")
        draw = gr.Button("Draw map", elem_id="transplant-draw-map", scale=1)
    embedding_map = gr.Plot(label="Embedding map", elem_id="transplant-map")

    _before_after(out)
    _download(out)

    # one run at a time per page: the button is locked from the click until the run and its map end (a second
    # click used to start a second transplant, another 500 MB output, once the first had passed its check)
    locked = run.click(lock, None, run, queue=False)
    run.click(lambda: None, None, embedding_map, queue=False, show_progress="hidden")  # the last run's map goes
    checked = locked.then(check_pair, [base, donor, method], to_numbers)
    made = checked.success(
        run_transplant, [base, donor, k, method, match, dtype], [summary, out, token, to_numbers, query], **HEAVY
    )
    # the map, after a run or on demand, is not a model run: its own group, never holding the model-run slot
    mapped = made.success(draw_map, [out, projection, points], embedding_map, **MAPS)
    redrawn = draw.click(lock, None, draw, queue=False).then(draw_map, [out, projection, points], embedding_map, **MAPS)
    redrawn.then(unlock, None, draw, queue=False)
    if panel is not None:  # the new output joins the visitor's list at once
        made.success(outputs_panel.listing, None, panel.shown, show_progress="hidden")
    report_failures(failed, checked, made)
    for ended in (checked.failure, made.failure, mapped.then):
        ended(unlock, None, run, queue=False)
    # the transplant's and a UMAP's worker processes are ended (vocablab.isolated)
    stop.click(lambda: (unlock(), unlock()), None, [run, draw], cancels=[made, mapped, redrawn], queue=False)
    to_numbers.click(  # A and B were hidden in this view: the Numbers view shows them
        lambda b, d: (gr.update(value=b, visible=True), gr.update(value=d, visible=True), gr.Tabs(selected="numbers")),
        [base, donor],
        [*pickers[:2], tabs],
    )
    query.submit(search_new_tokens, [query, out], token)
    token.change(show_token, [token, out], [anchors, token_note, nearest])
    return {"base": base, "donor": donor, "k": k, "method": method, "match": match, "dtype": dtype}
