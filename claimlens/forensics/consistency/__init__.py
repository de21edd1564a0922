"""Consistency of a claim photo with reference photos: registration, relation, edit map."""

from .registration import Registration, register
from .relation import Relation, relate

__all__ = ["Registration", "register", "Relation", "relate"]
