"""Share links (vocablab.ui.links): every field each view registers goes into a link and comes back
out unchanged; links written by hand read as expected; what a link brings is checked."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import gradio as gr
import pytest

from vocablab.ui import align_tab, generate_tab, links, numbers_tab, speculate_tab, tokenizers_tab, transplant_tab

PAGE = "http://127.0.0.1:7860/"
VIEWS = {
    "tokenizers": (tokenizers_tab, 4),
    "numbers": (numbers_tab, 2),
    "transplant": (transplant_tab, 0),
    "generate": (generate_tab, 2),
    "align": (align_tab, 2),
    "speculate": (speculate_tab, 2),
}


def built(tab: str) -> tuple[dict, dict]:
    """The view's shared pickers (name -> component) and the fields its build() registers."""
    module, used = VIEWS[tab]
    with gr.Blocks():
        pickers = [gr.Dropdown(["gpt2", "llama3"], value="gpt2", allow_custom_value=True) for _ in links.PICKERS]
        with gr.Tabs() as tabs:
            fields = module.build(pickers, tabs) if tab == "transplant" else module.build(pickers)
    return dict(zip(links.PICKERS[:used], pickers[:used], strict=True)), fields


def other_value(field):
    """A valid value of ``field`` that is not its default, chosen from the field's own description."""
    if isinstance(field, gr.Checkbox):
        return not field.value
    if isinstance(field, gr.Slider):
        return field.maximum if field.value != field.maximum else field.minimum
    if isinstance(field, gr.Number):
        return (field.value or 0) + 3
    if isinstance(field, gr.Radio) or (isinstance(field, gr.Dropdown) and not field.allow_custom_value):
        values = [c[1] if isinstance(c, tuple) else c for c in field.choices]
        return next(v for v in values if v != field.value)
    if isinstance(field, gr.Dropdown):
        return "org/model@main"
    return "a text & more = 100% ?#é 🙂\nline two"


def query_of(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query, keep_blank_values=True)


@pytest.mark.parametrize("tab", VIEWS)
def test_every_field_of_every_view_goes_into_a_link_and_comes_back(tab):
    pickers, fields = built(tab)
    assert fields, f"the {tab} view registers no field"
    chosen = {"a": "gpt2", "b": "org/model@main", "c": "llama3", "d": "mistral"}
    models = {name: chosen[name] for name in pickers}
    values = {name: other_value(field) for name, field in fields.items()}
    link, note = links.make_link(PAGE, tab, pickers, fields, [*models.values(), *values.values()])
    assert note == ""
    query = query_of(link)
    assert query["tab"] == [tab]
    assert set(query) == {"tab", *models, *values}  # every field, each different from its default
    assert links.read_query(query, pickers) == models
    assert links.read_query(query, fields) == values


@pytest.mark.parametrize("tab", VIEWS)
def test_a_view_left_at_its_defaults_makes_a_link_with_only_its_models(tab):
    pickers, fields = built(tab)
    defaults = [field.value for field in fields.values()]
    link, _ = links.make_link(PAGE, tab, pickers, fields, [*("gpt2" for _ in pickers), *defaults])
    assert link == PAGE + f"?tab={tab}" + "".join(f"&{name}=gpt2" for name in pickers)


def test_a_generate_link_written_by_hand():
    pickers, fields = built("generate")
    values = {name: field.value for name, field in fields.items()}
    values.update(text="Once upon a time", exact=True, sample=True, temperature=0.7, k=50, seed=42)
    link, _ = links.make_link(PAGE, "generate", pickers, fields, ["gpt2", "llama3", *values.values()])
    assert link == (
        "http://127.0.0.1:7860/?tab=generate&a=gpt2&b=llama3&text=Once+upon+a+time&k=50&exact=1&sample=1"
        "&temperature=0.7&seed=42"
    )
    query = parse_qs("tab=generate&b=llama3&k=50&exact=1&sample=true&temperature=0.7&seed=42&heal=0")
    assert links.read_query(query, fields) == {
        "k": 50,
        "exact": True,
        "sample": True,
        "temperature": 0.7,
        "seed": 42,
        "heal": False,
    }
    assert links.read_query(query, pickers) == {"b": "llama3"}


def test_a_transplant_link_written_by_hand():
    pickers, fields = built("transplant")
    assert pickers == {}  # its own base and donor, not the shared pickers
    values = {name: field.value for name, field in fields.items()}
    values.update(base="org/base", k=16, method="knn", match="string", dtype="bfloat16")
    link, _ = links.make_link("https://x.hf.space/?tab=numbers", "transplant", pickers, fields, list(values.values()))
    assert link == "https://x.hf.space/?tab=transplant&base=org%2Fbase&k=16&method=knn&match=string&dtype=bfloat16"


def test_an_align_link_written_by_hand_reads_back():
    _, fields = built("align")
    query = parse_qs("tab=align&cost=embedding&reg=0.1&top_k=30&alignment=index&transplant=output%3Amine&x=1")
    assert links.read_query(query, fields) == {
        "cost": "embedding",
        "reg": 0.1,
        "top_k": 30,
        "alignment": "index",
        "transplant": "output:mine",
    }


def test_values_a_link_brings_are_checked_and_clamped():
    _, fields = built("generate")
    query = {
        "temperature": ["9"],  # the slider's range is 0.05..2
        "top_p": ["0.731"],  # its step is 0.05
        "bytes": ["-5"],  # 4..400 in steps of 4
        "weight": ["nan"],
        "k": ["1e400"],  # infinite
        "seed": ["1e300"],  # a number box without bounds
        "exact": ["maybe"],
        "subvocab": ["rm -rf"],  # not one of the choices
        "maxlen": ["7.6"],  # a whole number box
        "unknown": ["1"],
    }
    clamped = {"temperature": 2.0, "top_p": 0.75, "bytes": 4, "seed": 2**53, "maxlen": 8}
    assert links.read_query(query, fields) == clamped
    _, fields = built("tokenizers")
    long_text = "x" * 30_000
    assert links.read_query({"text": [long_text]}, fields) == {"text": "x" * 20_000}  # the box's own limit


def test_a_public_app_takes_no_file_path_from_a_link(monkeypatch):
    _, transplant_fields = built("transplant")
    _, align_fields = built("align")
    query = {"base": ["/srv/models/secret"], "donor": ["~/x"], "transplant": ["../runs/a"]}
    local = {"base": "/srv/models/secret", "donor": "~/x"}
    assert links.read_query(query, transplant_fields) == local
    monkeypatch.setenv("VOCABLAB_PUBLIC", "1")
    assert links.read_query(query, transplant_fields) == {}
    assert links.read_query(query, align_fields) == {}
    assert links.read_query({"base": ["org/name"], "donor": ["gpt2"]}, transplant_fields) == {
        "base": "org/name",
        "donor": "gpt2",
    }
    values = {name: field.value for name, field in transplant_fields.items()}
    values["base"] = "/srv/models/secret"
    link, _ = links.make_link(PAGE, "transplant", {}, transplant_fields, list(values.values()))
    assert "srv" not in link


def test_a_long_text_is_cut_and_said_so():
    pickers, fields = built("numbers")
    link, note = links.make_link(PAGE, "numbers", pickers, fields, ["gpt2", "llama3", "1234 " * 500])
    assert query_of(link)["text"] == [("1234 " * 500)[:2000]]
    assert "first 2,000 characters" in note


def test_a_field_of_any_kind_a_view_may_add_is_carried():
    with gr.Blocks():
        fields = {
            "bos": gr.Checkbox(False),
            "specials": gr.CheckboxGroup(["bos", "eos", "pad"], value=["bos"]),
            "pick": gr.Dropdown(["x", "y"], value=["x"], multiselect=True),
            "mode": gr.Radio([("Label one", 1), ("Label two", 2)], value=1),
            "ratio": gr.Slider(0, 1, value=0.5, step=0.1),
        }
    values = {"bos": True, "specials": ["eos", "pad"], "pick": [], "mode": 2, "ratio": 0.3}
    link, _ = links.make_link(PAGE, "tokenizers", {}, fields, list(values.values()))
    assert link == PAGE + "?tab=tokenizers&bos=1&specials=eos&specials=pad&pick=&mode=2&ratio=0.3"
    assert links.read_query(query_of(link), fields) == values
    assert links.read_query({"specials": ["eos", "root"]}, fields) == {}  # one value not a choice: none taken
    with gr.Blocks(), pytest.raises(TypeError, match="cannot carry a File"):
        links.kind(gr.File())
