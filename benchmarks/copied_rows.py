"""Why byte matching scores worse than string matching on one-line text: where the difference lives.

    python benchmarks/vs_mergekit.py --skip-mergekit --keep runs/vs
    python benchmarks/copied_rows.py runs/vs [--base gemma3-270m] [--donor smollm2-135m] [--limit 40]

Reads the two vocablab outputs that vs_mergekit.py keeps (vocablab-string, vocablab-bytes). Byte
matching copies a base row for some donor tokens that string matching leaves to OMP: tokens whose
bytes are equal but whose strings are written in different alphabets ("ĊĊ" = "\\n\\n", "âĢĻ" = "’",
whitespace runs). This script puts the string run's OMP rows for exactly those tokens into the
byte run's model and scores it again, on the last --limit lee_background articles as they are (one
line each) and ten to a document with a blank line between them. It then prints the probability
the byte run's model gives those tokens at each position of the one-line text, on average, and
the tokens that take most of it. The base model is tied, so one row serves as input and output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from vocablab.evaluate import bits_per_byte, read_documents
from vocablab.presets import ensure_text
from vocablab.sources import load_vocabulary, resolve
from vocablab.surgery.checkpoint import find_embeddings, read_tensor
from vocablab.surgery.matching import match_tokens
from vocablab.vocab import display_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, help="the --keep folder of benchmarks/vs_mergekit.py")
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--donor", default="smollm2-135m")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    string_dir, bytes_dir = args.runs / "vocablab-string", args.runs / "vocablab-bytes"
    base = load_vocabulary(resolve(args.base, need="tokenizer"))
    donor = load_vocabulary(resolve(args.donor, need="tokenizer"))
    by_string, by_bytes = match_tokens(base, donor, "string"), match_tokens(base, donor, "bytes")
    only_bytes = [d for d in range(len(donor)) if by_bytes.base_id[d] >= 0 and by_string.base_id[d] < 0]
    documents = read_documents(ensure_text("lee_background"))[-args.limit :]
    paragraphs = ["\n\n".join(documents[i : i + 10]) for i in range(0, len(documents), 10)]

    model = AutoModelForCausalLM.from_pretrained(str(bytes_dir), dtype=torch.float32).eval()
    rows = model.get_input_embeddings().weight
    copied = rows.data.clone()
    omp_rows = read_tensor(string_dir, find_embeddings(string_dir)[0]).float()
    print(
        f"{args.base} with {args.donor}'s tokenizer: {len(only_bytes)} tokens copied by byte matching "
        "and approximated by string matching\n"
    )
    print("| byte run's model, rows of those tokens | one line per article | 10 articles per document |")
    print("|---|---|---|")
    for label, values in (
        ("copied (as written)", copied[only_bytes]),
        ("OMP rows of the string run", omp_rows[only_bytes]),
    ):
        rows.data[only_bytes] = values.to(rows.dtype)
        scores = [bits_per_byte(str(bytes_dir), texts, model=model).bits_per_byte for texts in (documents, paragraphs)]
        print(f"| {label} | {scores[0]:.4f} | {scores[1]:.4f} |")
    rows.data.copy_(copied)

    mass, positions = torch.zeros(len(only_bytes), dtype=torch.float64), 0
    with torch.no_grad():
        for document in documents:
            ids = torch.tensor([[donor.start_id, *donor.encode(document)]])
            probs = model(ids).logits[0, :-1].float().softmax(dim=-1)
            mass += probs[:, only_bytes].double().sum(dim=0)
            positions += probs.shape[0]
    order = mass.argsort(descending=True)[:8].tolist()
    print(f"\nprobability on those tokens per position of the one-line text: {mass.sum() / positions:.4f}; most:")
    print(", ".join(f"{display_token(donor.display_bytes(only_bytes[i]))} {mass[i] / positions:.4f}" for i in order))


if __name__ == "__main__":
    main()
