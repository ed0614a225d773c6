"""Runs every .feature file in this folder (each scenario on both back ends)."""
from pytest_bdd import scenarios

scenarios(".")
