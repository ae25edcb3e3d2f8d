"""Deletion requests with evidence: a model registry with versions, a ledger of
requests (SQLite or PostgreSQL) and evidence records chained by hash. The CLI
(``obliviate models`` / ``obliviate requests``) is a thin layer over
:mod:`obliviate.requests.workflow`."""

from obliviate.requests.ledger import Ledger, Request
from obliviate.requests.workflow import process, register, show, submit, verify

__all__ = ["Ledger", "Request", "process", "register", "show", "submit", "verify"]
