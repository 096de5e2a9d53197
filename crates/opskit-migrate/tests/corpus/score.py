#!/usr/bin/env python3
"""Score opskit's migration linter, and squawk, against postgres.tsv.

Run from the repository root after `cargo build --release -p opskit-migrate --features cli`
and `pip install squawk-cli`:

    python3 crates/opskit-migrate/tests/corpus/score.py [--opskit PATH] [--squawk PATH]

Each statement becomes its own numbered .sql file. opskit lints the whole directory once
(`lint DIR --dialect postgres --format json`) and each file's findings become a class:
any `error` finding -> error, else any `contract`/`unknown` -> contract, else any
`lock_risk` -> lock, else safe. squawk lints a copy of the files with
`--assume-in-transaction` (a file whose first line is `-- no-transaction` also gets
`-- squawk-disable-assume-in-transaction`, squawk's spelling of the same fact); a file
with any violation is flagged.

squawk has no classes, so the comparison is binary: a statement should be flagged when
its expected class is not `safe`. squawk is scored twice: with its default rules, and
without its hygiene rules (timeouts, robust statements, preferred types), which fire
whatever the statement's risk. The table of misses uses the second.

This is a report, not a test: it always exits 0.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

CLASSES = ("safe", "lock", "contract", "error")
NO_TRANSACTION = "-- no-transaction"
SQUAWK_NO_TRANSACTION = "-- squawk-disable-assume-in-transaction"

# squawk rules about hygiene rather than about what the statement does: the timeout
# rules fire on every statement of a file without `SET lock_timeout`, the others are
# type and idempotence preferences.
SQUAWK_HYGIENE = {
    "require-lock-timeout",
    "require-statement-timeout",
    "require-timeout-settings",
    "prefer-robust-stmts",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-big-int",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamptz",
    "ban-char-field",
}


def read_corpus(path):
    cases = []
    with open(path, encoding="utf-8") as corpus:
        for number, line in enumerate(corpus, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                print(f"{path}:{number}: expected 3 tab-separated columns, found {len(parts)}")
                continue
            expected, sql, source = (p.strip() for p in parts)
            if expected not in CLASSES:
                print(f"{path}:{number}: unknown class {expected!r}")
                continue
            cases.append(
                {
                    "line": number,
                    "expected": expected,
                    "sql": sql.replace("\\n", "\n"),
                    "source": source,
                }
            )
    return cases


def file_text(sql):
    sql = sql.rstrip()
    return sql + ("\n" if sql.endswith(";") else ";\n")


def write_files(cases, directory, squawk):
    os.makedirs(directory)
    for i, case in enumerate(cases, 1):
        text = file_text(case["sql"])
        if squawk and text.startswith(NO_TRANSACTION):
            text = SQUAWK_NO_TRANSACTION + "\n" + text
        name = f"{i:04d}_case.sql"
        case["file"] = name
        with open(os.path.join(directory, name), "w", encoding="utf-8") as out:
            out.write(text)


def opskit_verdict(findings):
    severities = {f["rule"]["severity"] for f in findings}
    if "error" in severities:
        return "error"
    if severities & {"contract", "unknown"}:
        return "contract"
    if "lock_risk" in severities:
        return "lock"
    return "safe"


def run_opskit(binary, directory, cases):
    try:
        proc = subprocess.run(
            [binary, "lint", directory, "--dialect", "postgres", "--format", "json"],
            capture_output=True,
            text=True,
        )
    except OSError as err:
        print(f"cannot run opskit ({binary}): {err}")
        return False
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        print(f"opskit exited {proc.returncode} without JSON:\n{proc.stderr.strip()}")
        return False
    by_file = {os.path.basename(entry["file"]): entry for entry in report}
    for case in cases:
        entry = by_file.get(case["file"])
        if entry is None:
            print(f"opskit did not report {case['file']}")
            case["opskit"], case["opskit_rules"] = "missing", []
            continue
        case["opskit"] = opskit_verdict(entry["findings"])
        case["opskit_rules"] = [f["rule"]["id"] for f in entry["findings"]]
    return True


def squawk_version(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return None


def run_squawk(binary, directory, cases, pg_version):
    base = [binary, "--reporter", "json", "--assume-in-transaction"]
    if pg_version:
        base += ["--pg-version", pg_version]
    rules = defaultdict(list)

    def lint(paths):
        proc = subprocess.run(base + paths, capture_output=True, text=True, cwd=directory)
        return json.loads(proc.stdout or "[]")

    names = [case["file"] for case in cases]
    try:
        violations = lint(names)
    except OSError as err:
        print(f"cannot run squawk ({binary}): {err}")
        return False
    except json.JSONDecodeError:
        # One file stopped the batch: lint the files one at a time.
        violations = []
        for name in names:
            try:
                violations += lint([name])
            except json.JSONDecodeError:
                rules[name].append("squawk-failed")
    for violation in violations:
        rules[os.path.basename(violation["file"])].append(violation["rule_name"])
    for case in cases:
        found = rules.get(case["file"], [])
        case["squawk_rules"] = sorted(set(found))
        case["squawk_all"] = bool(found)
        case["squawk"] = any(rule not in SQUAWK_HYGIENE for rule in found)
    return True


def binary_counts(cases, flagged):
    counts = Counter()
    for case in cases:
        should = case["expected"] != "safe"
        did = flagged(case)
        counts[("t" if did == should else "f") + ("p" if did else "n")] += 1
    return counts


def show_binary(name, counts, total):
    right = counts["tp"] + counts["tn"]
    print(
        f"  {name:<34} {right:>3}/{total} = {right / total:6.1%}   "
        f"flagged right {counts['tp']}, missed {counts['fn']}, "
        f"false alarms {counts['fp']}, quiet right {counts['tn']}"
    )


def excerpt(sql, width=78):
    text = " ".join(sql.replace("\n", " ").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opskit", default="target/release/opskit-migrate", help="opskit-migrate binary")
    parser.add_argument("--squawk", default="squawk", help="squawk binary")
    parser.add_argument("--corpus", default=os.path.join(here, "postgres.tsv"))
    parser.add_argument("--pg-version", default="18.0", help="passed to squawk's --pg-version ('' for none)")
    args = parser.parse_args()

    cases = read_corpus(args.corpus)
    if not cases:
        print("no statements read")
        return
    total = len(cases)
    with tempfile.TemporaryDirectory(prefix="opskit-corpus-") as tmp:
        write_files(cases, os.path.join(tmp, "opskit"), squawk=False)
        write_files(cases, os.path.join(tmp, "squawk"), squawk=True)
        have_opskit = run_opskit(os.path.abspath(args.opskit) if os.sep in args.opskit else args.opskit,
                                 os.path.join(tmp, "opskit"), cases)
        version = squawk_version(args.squawk)
        have_squawk = version is not None and run_squawk(
            args.squawk, os.path.join(tmp, "squawk"), cases, args.pg_version
        )

    expected = Counter(case["expected"] for case in cases)
    print(f"corpus: {args.corpus}")
    print(f"{total} statements: " + ", ".join(f"{expected[c]} {c}" for c in CLASSES))
    print(f"squawk: {version or 'not found'}" + (f" (--pg-version {args.pg_version})" if args.pg_version else ""))
    print()

    def opskit_wrong(case):
        return have_opskit and case["opskit"] != case["expected"]

    def squawk_wrong(case):
        return have_squawk and case["squawk"] != (case["expected"] != "safe")

    wrong = [case for case in cases if opskit_wrong(case) or squawk_wrong(case)]
    print(f"statements either tool gets wrong ({len(wrong)}); * marks the wrong verdict,")
    print("squawk's verdict ignores its hygiene rules (they are listed in parentheses):")
    print(f"  {'line':>4}  {'expected':<8}  {'opskit':<10} {'squawk':<8} statement / opskit rules / squawk rules")
    for case in wrong:
        ops = case.get("opskit", "-") + ("*" if opskit_wrong(case) else "")
        sq = ("flag" if case.get("squawk") else "quiet") + ("*" if squawk_wrong(case) else "") if have_squawk else "-"
        print(f"  {case['line']:>4}  {case['expected']:<8}  {ops:<10} {sq:<8} {excerpt(case['sql'])}")
        details = []
        if have_opskit:
            details.append("opskit: " + (" ".join(case["opskit_rules"]) or "none"))
        if have_squawk:
            shown = [r if r not in SQUAWK_HYGIENE else f"({r})" for r in case["squawk_rules"]]
            details.append("squawk: " + (" ".join(shown) or "none"))
        print(" " * 37 + "; ".join(details))
    print()

    if have_opskit:
        right = sum(case["opskit"] == case["expected"] for case in cases)
        print(f"opskit exact class: {right}/{total} = {right / total:.1%}")
        print("  expected \\ found   " + " ".join(f"{c:>8}" for c in CLASSES))
        for want in CLASSES:
            row = Counter(case["opskit"] for case in cases if case["expected"] == want)
            print(f"  {want:<18}" + " ".join(f"{row[c]:>8}" for c in CLASSES))
        print()
    print("binary score (should flag = expected class is not safe):")
    if have_opskit:
        show_binary("opskit", binary_counts(cases, lambda c: c["opskit"] != "safe"), total)
    if have_squawk:
        show_binary("squawk, default rules", binary_counts(cases, lambda c: c["squawk_all"]), total)
        show_binary("squawk, without hygiene rules", binary_counts(cases, lambda c: c["squawk"]), total)


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # a report: say what failed, never fail the caller
        print(f"score.py failed: {err!r}")
    sys.exit(0)
