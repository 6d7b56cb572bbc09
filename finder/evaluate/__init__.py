"""Judging hashes: accuracy against labelled groups (``metrics``, ``modes``, ``plot``), labelled sets made
from a user's photos (``synth``), and what hashing and matching cost (``bench``)."""
