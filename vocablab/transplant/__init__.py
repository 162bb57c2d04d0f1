"""Tokenizer transplant by orthogonal matching pursuit (Goddard & Fernandes Neto 2025)."""
