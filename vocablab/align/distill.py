"""Cross-tokenizer distillation with the ULD loss: a small, real training loop.

    distill("gemma3-270m", "smollm2-135m", "train.txt", DistillSettings(steps=8), out="smol-distilled")

Each step reads one document of the training file (one per line, cut to ``block_bytes``) with both
models. The student's loss is its own next-token cross-entropy plus ``uld_weight`` times the ULD
between the teacher's and its next-token distributions at the paired positions (by byte offset
unless ``alignment="index"``, the paper's choice). The teacher is frozen. Before and after training
the mean ULD and cross-entropy over every training document are measured, and the student is saved
as a safetensors model folder with its tokenizer and ``distill.json`` (settings and the per-step log).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from vocablab.align.engine import byte_ends, check_encodes, next_token_logits
from vocablab.align.positions import align_positions
from vocablab.align.uld import uld_loss
from vocablab.errors import VocabLabError
from vocablab.evaluate import read_documents
from vocablab.options import Alignment, DistillSettings
from vocablab.pretty import plural
from vocablab.progress import track
from vocablab.sources import load_causal_lm, load_vocabulary, resolve, torch_device
from vocablab.surgery.checkpoint import check_output_folder, copy_tokenizer_files, write_folder
from vocablab.vocab import Vocabulary

LOG = logging.getLogger(__name__)

LOG_FILE = "distill.json"


@dataclass
class DistillStep:
    step: int
    ce: float  # the student's mean next-token cross-entropy (nats per token)
    uld: float  # mean ULD over the paired positions
    loss: float  # ce + uld_weight * uld
    positions: int
    seconds: float


@dataclass
class DistillResult:
    teacher: str
    student: str
    out_dir: str | None
    alignment: str
    uld_weight: float
    temperature: float
    lr: float
    documents: int
    before: dict  # mean ULD and cross-entropy over the training documents, before training
    after: dict
    steps: list[DistillStep] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The loss, a row per step, the training text's ULD and cross-entropy before and after."""
        out = [
            f"{self.student} learning from {self.teacher} on {plural(self.documents, 'document')}; loss = ce + "
            f"{self.uld_weight:g} x ULD ({self.alignment} alignment, temperature {self.temperature:g}), "
            f"lr {self.lr:g}",
            f"{'step':>4} {'ce':>8} {'uld':>8} {'loss':>8} {'positions':>9} {'s':>6}",
        ]
        for s in self.steps:
            out.append(f"{s.step:>4} {s.ce:8.4f} {s.uld:8.4f} {s.loss:8.4f} {s.positions:>9} {s.seconds:6.1f}")
        before, after = self.before, self.after
        out.append(
            f"on the training text: ULD {before['uld']:.4f} -> {after['uld']:.4f}, "
            f"ce {before['ce']:.4f} -> {after['ce']:.4f} nats per token ({self.seconds:.0f} s)"
        )
        out.append(f"student saved to {self.out_dir}" if self.out_dir else "student not saved (no --out)")
        return out


@dataclass
class _Document:
    ids_teacher: list[int]
    ids_student: list[int]
    index_teacher: list[int]  # paired positions
    index_student: list[int]


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")[:limit]
    return data.decode("utf-8", errors="ignore")  # never end inside a character


def _prepare(text: str, teacher: Vocabulary, student: Vocabulary, alignment: Alignment) -> _Document:
    text_t, text_s = check_encodes(teacher, text), check_encodes(student, text)
    pairs = align_positions(byte_ends(teacher, text_t), byte_ends(student, text_s), alignment)
    return _Document(
        [teacher.start_id] + text_t,
        [student.start_id] + text_s,
        [p.index_a for p in pairs],
        [p.index_b for p in pairs],
    )


def _losses(teacher_model, student_model, doc: _Document, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    device = next(student_model.parameters()).device
    teacher_logits = next_token_logits(teacher_model, doc.ids_teacher, doc.index_teacher).to(device)
    ids = torch.tensor([doc.ids_student], device=device)
    logits = student_model(ids).logits[0].float()
    ce = F.cross_entropy(logits[:-1], ids[0, 1:])
    uld = uld_loss(teacher_logits, logits[doc.index_student], temperature)
    return ce, uld


@torch.no_grad()
def _measure(teacher_model, student_model, docs: list[_Document], temperature: float) -> dict:
    student_model.eval()
    ce, uld = zip(*(_losses(teacher_model, student_model, d, temperature) for d in docs), strict=True)
    return {"uld": float(torch.stack(uld).mean()), "ce": float(torch.stack(ce).mean())}


def distill(
    teacher: str,
    student: str,
    text: str | Path | list[str],
    settings: DistillSettings,
    *,
    out: str | Path | None = None,
    device: str = "auto",
    overwrite: bool = False,
    trust_remote_code: bool = False,
) -> DistillResult:
    """Train ``student`` on ``text`` (a UTF-8 file, one document per line, or a list of documents)
    with ``teacher``'s ULD, as ``settings`` say; see the module.

    >>> import pathlib, tempfile
    >>> text = pathlib.Path(tempfile.mkdtemp()) / "train.txt"
    >>> _ = text.write_text("The committee approved 1,250 new homes near the river on Tuesday.")
    >>> result = distill("gemma3-270m", "smollm2-135m", text, DistillSettings(steps=2))
    >>> [step.step for step in result.steps], sorted(result.after)
    ([1, 2], ['ce', 'uld'])
    >>> all(abs(step.loss - (step.ce + 1.5 * step.uld)) < 1e-4 for step in result.steps)  # loss = ce + 1.5 x ULD
    True
    """
    started = time.perf_counter()
    out = check_output_folder(out, overwrite=overwrite) if out else None
    device = str(torch_device(device))  # one device for both models: the student trains there
    documents = read_documents(text, settings.limit)
    teacher_src, student_src = (
        resolve(s, need="model", trust_remote_code=trust_remote_code) for s in (teacher, student)
    )
    vocab_t, vocab_s = (load_vocabulary(s, trust_remote_code=trust_remote_code) for s in (teacher_src, student_src))
    docs = [_prepare(_cut(t, settings.block_bytes), vocab_t, vocab_s, settings.alignment) for t in documents]
    docs = [d for d in docs if d.index_teacher]
    if not docs:
        where = "the documents given" if isinstance(text, list) else text
        raise VocabLabError(f"{where}: no document gives the two models a common position to compare")

    LOG.info("loading the models")
    torch.manual_seed(settings.seed)
    teacher_model = load_causal_lm(teacher_src, device=device, trust_remote_code=trust_remote_code)
    student_model = load_causal_lm(student_src, device=device, trust_remote_code=trust_remote_code)
    teacher_model.requires_grad_(False)
    result = DistillResult(
        teacher=teacher_src.spec,
        student=student_src.spec,
        out_dir=str(out) if out else None,
        alignment=settings.alignment,
        uld_weight=settings.uld_weight,
        temperature=settings.temperature,
        lr=settings.lr,
        documents=len(docs),
        before={},
        after={},
    )
    LOG.info("measuring ULD and cross-entropy on %d documents", len(docs))
    result.before = _measure(teacher_model, student_model, docs, settings.temperature)
    result.steps = _train(teacher_model, student_model, docs, settings, f"distilling {student_src.spec}")
    result.after = _measure(teacher_model, student_model, docs, settings.temperature)
    result.seconds = round(time.perf_counter() - started, 1)
    if out:
        _save(out, student_model, student_src, result, overwrite)
    return result


def _train(teacher_model, student_model, docs: list[_Document], settings: DistillSettings, label: str):
    """``settings.steps`` AdamW steps on the student, one document each, in turn; the per-step log."""
    optimizer = torch.optim.AdamW(student_model.parameters(), lr=settings.lr, weight_decay=0.0)
    log = []
    for step in track(range(settings.steps), label):
        tick = time.perf_counter()
        student_model.train()
        doc = docs[step % len(docs)]
        with torch.enable_grad():  # also when called from a no-grad context
            ce, uld = _losses(teacher_model, student_model, doc, settings.temperature)
            loss = ce + settings.uld_weight * uld
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(student_model.parameters(), 1.0)
        optimizer.step()
        seconds = round(time.perf_counter() - tick, 2)
        record = DistillStep(step + 1, ce.item(), uld.item(), loss.item(), len(doc.index_student), seconds)
        log.append(record)
        LOG.info("step %d/%d: ce %.4f  uld %.4f  loss %.4f", step + 1, settings.steps, record.ce, record.uld, loss)
    return log


def _save(out: Path, student_model, student_src, result: DistillResult, overwrite: bool) -> None:
    LOG.info("saving the student to %s", out)

    def fill(work: Path) -> None:
        student_model.save_pretrained(work)  # safetensors
        if not copy_tokenizer_files(student_src.path, work):  # a GGUF student: its tokenizer is inside
            from transformers import AutoTokenizer

            AutoTokenizer.from_pretrained(student_src.path, gguf_file=student_src.gguf_file).save_pretrained(work)
        (work / LOG_FILE).write_text(json.dumps(result.to_dict(), indent=1))

    write_folder(out, fill, overwrite=overwrite)
