"""Subcommands for scoring: rank, weights."""
from __future__ import annotations

import argparse
from typing import IO

import yaml

from engine.api import Engine
from engine.cli.common import EXIT_BAD_ROWS, EXIT_OK, EXIT_USAGE, dump_json, warn
from engine.io.readers import read_proposals
from engine.io.writers import write_ranking, write_xlsx


def rank(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"pmo: error: no such file: {', '.join(missing)}", file=stderr)
        return EXIT_USAGE
    if args.top is not None and args.top < 1:
        print("pmo: error: --top must be at least 1", file=stderr)
        return EXIT_USAGE
    engine = Engine.load(args.policies, rules=args.rules, today=args.today)
    warn(engine, stderr)
    inputs = [read_proposals(path, args.sheet) for path in args.files]
    ranking = engine.rank((row for rows in inputs for row in rows), top=args.top, sensitivity=args.sensitivity)
    if args.format == "xlsx":
        if not args.out:
            print("pmo: error: --format xlsx needs --out FILE.xlsx", file=stderr)
            return EXIT_USAGE
        try:
            write_xlsx([], args.out, ranking)
        except OSError as exc:
            print(f"pmo: error: cannot write {args.out}: {exc.strerror or exc}", file=stderr)
            return EXIT_USAGE
    else:
        try:
            out = args.out.open("w", encoding="utf-8", newline="") if args.out else stdout
        except OSError as exc:
            print(f"pmo: error: cannot write {args.out}: {exc.strerror or exc}", file=stderr)
            return EXIT_USAGE
        try:
            write_ranking(ranking, out, args.format)
        finally:
            if args.out:
                out.close()
    if args.sensitivity and not ranking.sensitivity.get("available"):
        print(f"pmo: note: sensitivity needs a weighted-sum scoring policy; method {ranking.method} has no weights",
              file=stderr)
    bad = sum(1 for e in ranking.entries if e.decision == "error")
    if bad:
        print(f"pmo: {bad} input row(s) could not be decided; see the end of the list", file=stderr)
        return EXIT_BAD_ROWS
    return EXIT_OK


def weights(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine import ahp
    try:
        data = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        print(f"pmo: error: cannot read {args.file}: {exc}", file=stderr)
        return EXIT_USAGE
    if not isinstance(data, dict) or not isinstance(data.get("criteria"), list) or not isinstance(
            data.get("matrix"), list):
        print(f"pmo: error: {args.file} needs 'criteria: [...]' and 'matrix: [[...]]'", file=stderr)
        return EXIT_USAGE
    items = [str(c) for c in data["criteria"]]
    try:
        result = ahp.weights(items, ahp.matrix_from_rows(items, data["matrix"]), args.method)
    except ahp.AhpError as exc:
        print(f"pmo: error: {args.file}: {exc}", file=stderr)
        return EXIT_USAGE
    if args.format == "json":
        dump_json(result.as_dict(), stdout, 2)
    else:
        for item, weight in zip(result.items, result.weights):
            stdout.write(f"{item:<30} {weight:8.4f}\n")
        verdict = "consistent" if result.consistent else "INCONSISTENT (CR > 0.10): revisit the judgements"
        stdout.write(f"lambda_max {result.lambda_max:.4f}   CI {result.ci:.4f}   CR {result.cr:.4f}   {verdict}\n")
    return EXIT_OK
