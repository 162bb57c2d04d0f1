"""Lossless vocabulary reduction and generation over sub-vocabularies."""
